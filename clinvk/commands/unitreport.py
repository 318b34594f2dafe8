"""How the results of `clinvk parallel`, `compare` and `chain` are shown, and the exit
code they add up to.

text: each unit's answer under a header as it ends (a live `3/10 done · 1 failed` line
on stderr when stderr is a terminal) and a summary line on stderr; jsonl: one object a
line as each unit ends; json: one object at the end (docs/commands.md#clinvk-parallel).
"""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from clinvk.commands.units import UnitResult

UnitFormat = Literal["text", "json", "jsonl"]

FAILED = ("error", "interrupted")


def usage_total(usage: dict[str, Any] | None) -> int | None:
    if usage is None:
        return None
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "output_tokens",
                                                 "cache_read_tokens", "cache_write_tokens"))


def counts(results: list[UnitResult]) -> dict[str, int]:
    return {
        "succeeded": sum(r.status == "ok" for r in results),
        "failed": sum(r.status in FAILED for r in results),
        "timed_out": sum(r.status == "timeout" for r in results),
        "cancelled": sum(r.status == "cancelled" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
    }


def exit_code(results: list[UnitResult], signum: int | None) -> int:
    """130 when a signal stopped the run (128 + a SIGHUP/SIGTERM/SIGQUIT), else 1 when
    a unit failed, else 124 when one timed out, else 0."""
    from clinvk.runner import CANCEL_SIGNAL

    if signum is not None:
        return 130 if signum in (signal.SIGINT, CANCEL_SIGNAL) else 128 + signum
    tally = counts(results)
    if tally["failed"]:
        return 1
    if tally["timed_out"]:
        return 124
    return 0


class Reporter:
    """Shows each result as it arrives, then the whole run."""

    def __init__(self, fmt: UnitFormat, total: int, *, command: str,
                 with_prompt: bool = False) -> None:
        self.fmt = fmt
        self.total = total
        self.command = command
        self.with_prompt = with_prompt
        self.started = time.monotonic()
        self.seen: list[UnitResult] = []
        self.progress = fmt == "text" and _is_terminal(sys.stderr)

    def _clear_progress(self) -> None:
        if self.progress:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def add(self, result: UnitResult) -> None:
        self.seen.append(result)
        if self.fmt == "jsonl":
            import msgspec

            sys.stdout.buffer.write(msgspec.json.encode(result.to_json(
                with_prompt=self.with_prompt)) + b"\n")
            sys.stdout.flush()
        elif self.fmt == "text":
            self._clear_progress()
            self._text(result)
            if self.progress and len(self.seen) < self.total:
                tally = counts(self.seen)
                bad = tally["failed"] + tally["timed_out"]
                sys.stderr.write(f"{len(self.seen)}/{self.total} done · {bad} failed")
                sys.stderr.flush()

    def _text(self, result: UnitResult) -> None:
        from clinvk.output import money, out, safe, tokens

        if result.status == "skipped":
            return
        parts = [result.name, result.backend, result.status]
        if result.name == result.backend:
            parts = parts[1:]
        if result.id:
            parts.append(f"session {result.id}")
        if result.duration_s is not None:
            parts.append(f"{result.duration_s:.1f}s")
        total = usage_total(result.usage)
        if total is not None:
            parts.append(f"{tokens(total)} tokens")
        if result.cost_usd is not None:
            parts.append(money(result.cost_usd))
        out(f"── {' · '.join(safe(p) for p in parts)} ──")
        if result.text:
            out(result.text.rstrip("\n"))
        if result.status != "ok" and result.error:
            out(f"error: {result.error}")
        out()
        sys.stdout.flush()

    def finish(self, results: list[UnitResult], *, extra: dict[str, Any] | None = None) -> None:
        duration = round(time.monotonic() - self.started, 3)
        tally = counts(results)
        if self.fmt == "json":
            from clinvk.output import print_json

            print_json({"results": [r.to_json(with_prompt=self.with_prompt) for r in results],
                        **tally, "duration_s": duration, **(extra or {})})
            return
        if self.fmt == "text":
            from clinvk.output import err

            self._clear_progress()
            noun = "step" if self.command == "chain" else "unit"
            said = [f"{len(results)} {noun}{'s' if len(results) != 1 else ''}",
                    f"{tally['succeeded']} succeeded"]
            said += [f"{tally[k]} {k.replace('_', ' ')}" for k in
                     ("failed", "timed_out", "cancelled", "skipped") if tally[k]]
            err(f"{self.command}: {' · '.join(said)} · {duration:.1f}s")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
