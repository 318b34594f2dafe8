"""A live codex turn's API requests, read from codex's own rollout of the thread.

``codex exec --json`` reports only the thread's running total, once, at the turn's end
(``turn.completed``). The rollout codex writes as it goes
(``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl``) has a
``token_count`` event after each API request, with the thread's running totals: this
turn's requests are the steps of those totals from the thread's total before the turn
to the one ``turn.completed`` reported, each at its event's time. Only the file's tail
is read (a long thread's rollout runs to many megabytes). Anything that does not add up
— no rollout, totals that never meet the turn's — gives no requests, never a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import msgspec

from clinvk.backends.codex import _Usage, _usage
from clinvk.model import ApiRequest, Usage

# Bytes read from the end at first; doubled until the turn's start is in them.
TAIL = 1 << 18


class _Info(msgspec.Struct):
    total_token_usage: _Usage | None = None


class _Payload(msgspec.Struct):
    type: str | None = None
    info: _Info | None = None


class _Line(msgspec.Struct):
    timestamp: datetime | None = None
    payload: _Payload | None = None


_decoder = msgspec.json.Decoder(_Line)


def home(env: Mapping[str, str]) -> Path:
    """The codex home a vendor process with these variables (over clinvk's) writes to."""
    value = env.get("CODEX_HOME") or os.environ.get("CODEX_HOME")
    if value:
        return Path(value)
    return Path(os.environ.get("HOME") or os.path.expanduser("~")) / ".codex"


def find(codex_home: Path, thread: str) -> Path | None:
    """The rollout of a thread: the newest date folders first (a new thread's is today's)."""
    suffix = f"-{thread}.jsonl"
    root = codex_home / "sessions"
    for year in _newest(root):
        for month in _newest(year):
            for day in _newest(month):
                try:
                    names = os.listdir(day)
                except OSError:
                    continue
                for name in names:
                    if name.startswith("rollout-") and name.endswith(suffix):
                        return day / name
    return None


def _newest(folder: Path) -> list[Path]:
    try:
        names = sorted((n for n in os.listdir(folder) if n.isdigit()), reverse=True)
    except OSError:
        return []
    return [folder / n for n in names]


def requests(path: Path, before: Usage, after: Usage) -> list[ApiRequest] | None:
    """The requests whose totals lead from ``before`` to ``after`` (both as clinvk counts
    them: see clinvk.backends.codex._usage), or None when the rollout does not say."""
    size = path.stat().st_size
    tail = TAIL
    while True:
        start = max(0, size - tail)
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(size - start)
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]  # cut mid-line
        totals: list[tuple[datetime | None, Usage]] = []
        for line in lines:
            if b'"token_count"' not in line:
                continue
            try:
                record = _decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            p = record.payload
            if p is None or p.type != "token_count" or p.info is None:
                continue
            raw = p.info.total_token_usage
            if raw is not None:
                totals.append((record.timestamp, _usage(raw)))
        first = max((i for i, (_, u) in enumerate(totals) if u == before), default=None)
        if first is None and start == 0 and before == Usage():
            first = -1  # a new thread: its first request starts from nothing
        if first is not None:
            break
        if start == 0:
            return None
        tail *= 2
    steps: list[ApiRequest] = []
    previous = before
    for at, total in totals[first + 1:]:
        if total == previous:
            continue  # the same totals again (codex repeats them with rate limits)
        step = total - previous
        steps.append(ApiRequest(step.input_tokens, step.output_tokens, step.cache_read_tokens,
                                step.cache_write_tokens, at))
        previous = total
    return steps if steps and previous == after else None
