"""Units: the turns `clinvk parallel`, `compare` and `chain` run, each an ordinary
recorded session (unless --ephemeral) going through the same turn code as
`clinvk prompt` / `clinvk resume` (clinvk.commands.run, clinvk.turn).

Units run as threads of the one clinvk process, at most N at a time (Pool). The main
thread owns the signals: Ctrl-C (or SIGHUP, SIGTERM, SIGQUIT, a `clinvk cancel` of any
unit) stops every running unit's vendor group, starts no more, and every unit is saved
as usual; a second signal kills the groups at once. Under a daily or monthly cap, a unit
starts only once the running ones leave room under it (clinvk.budget.Gate).
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinvk.budget import Gate, caps_set
from clinvk.config.schema import MAX_WORKERS
from clinvk.errors import ClinvkError

if TYPE_CHECKING:
    from types import FrameType

    from clinvk.config import Config
    from clinvk.model import Session, Turn
    from clinvk.runner import StopSignals
    from clinvk.turn import TurnPlan

# What the record of a unit stopped by --fail-fast says.
FAIL_FAST_NOTE = "cancelled: another unit failed (--fail-fast)"


@dataclass
class Unit:
    name: str
    backend: str
    prompt: str
    config: Config
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    model: str | None = None
    # Seconds (None: the backend's or the default); for a new session already resolved.
    timeout: float | None = None
    ignore_budget: bool = False
    ephemeral: bool = False
    workdir: str | None = None
    # The full id of the session this unit continues, or None for a new session.
    resume: str | None = None

    def build(self, session: Session | None) -> TurnPlan:
        """The turn's plan: a new session's, or (``session``) a resumed one's."""
        from clinvk.backends import Request
        from clinvk.commands.checks import pick_timeout
        from clinvk.commands.run import make_plan, resume_request

        config = self.config
        if session is not None:
            request = resume_request(session, self.prompt, model=self.model, backend_args=[],
                                     config=config)
            limit = pick_timeout(self.timeout, config.backend(session.backend), config)
            name = session.backend
        else:
            assert self.workdir is not None
            request = Request(prompt=self.prompt, workdir=self.workdir, model=self.model,
                              extra_args=list(config.backend(self.backend).args))
            limit, name = self.timeout, self.backend
        plan = make_plan(name=name, config=config, request=request, fmt="json", timeout=limit,
                         ephemeral=self.ephemeral, quiet=True, ignore_budget=self.ignore_budget)
        plan.silent = True
        return plan

    def check(self, session: Session | None) -> TurnPlan:
        """Build the plan once before anything runs: the backend is installed, its
        options are valid. Raises ClinvkError."""
        from clinvk.programs import check_executable

        plan = self.build(session)
        check_executable(plan.invocation, name=plan.backend.name,
                         install_hint=plan.backend.install_hint)
        return plan


@dataclass
class UnitResult:
    index: int
    name: str
    backend: str
    # A turn status (ok, error, timeout, cancelled, interrupted), or "skipped": never started.
    status: str
    # The exit code `clinvk prompt` would have had for this unit (None: skipped).
    exit_code: int | None
    id: str | None = None
    text: str | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    duration_s: float | None = None
    error: str | None = None
    prompt: str | None = None

    def to_json(self, *, with_prompt: bool = False) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "name": self.name, "id": self.id, "backend": self.backend, "status": self.status,
            "exit_code": self.exit_code, "text": self.text, "usage": self.usage,
            "cost_usd": self.cost_usd, "duration_s": self.duration_s, "error": self.error,
        }
        if with_prompt:
            obj["prompt"] = self.prompt
        return obj


def skipped(index: int, unit: Unit) -> UnitResult:
    return UnitResult(index=index, name=unit.name, backend=unit.backend, status="skipped",
                      exit_code=None, prompt=unit.prompt,
                      error="not started: the run was stopped first")


def run_unit(index: int, unit: Unit, signals: StopSignals | None = None) -> UnitResult:
    """Run one unit to the end (saved as any turn is); never raises a ClinvkError."""
    import msgspec

    from clinvk.commands.run import run_existing, run_new
    from clinvk.store import SessionStore

    ended: list[tuple[Session, Turn]] = []

    def on_end(session: Session, turn: Turn) -> None:
        ended.append((session, turn))

    started = time.monotonic()
    code, error = 0, None
    try:
        if unit.resume is not None:
            def build(session: Session) -> TurnPlan:
                plan = unit.build(session)
                plan.on_end = on_end
                return plan

            # One store object per unit: nothing of it is shared between threads.
            run_existing(SessionStore(), unit.resume, unit.prompt, wait=0, build=build,
                         signals=signals)
        else:
            plan = unit.build(None)
            plan.on_end = on_end
            run_new(None if unit.ephemeral else SessionStore(), unit.prompt, plan,
                    name=unit.backend, title=unit.title, tags=unit.tags, signals=signals)
    except ClinvkError as exc:
        code, error = exc.exit_code, exc.message
    except Exception as exc:  # noqa: BLE001 - one unit's bug must not lose the others
        code, error = 1, f"internal error: {type(exc).__name__}: {exc}"
    result = UnitResult(index=index, name=unit.name, backend=unit.backend,
                        status="ok" if code == 0 else "error", exit_code=code, error=error,
                        prompt=unit.prompt,
                        duration_s=round(time.monotonic() - started, 3))
    if ended:
        session, turn = ended[-1]
        result.id = None if unit.ephemeral else session.id
        result.status = turn.status
        result.text = turn.response
        result.usage = msgspec.to_builtins(turn.usage) if turn.usage is not None else None
        result.cost_usd = turn.cost_usd
        if turn.duration_s is not None:
            result.duration_s = turn.duration_s
        result.error = turn.error or error
    return result


def pick_workers(flag: int | None, from_file: int | None, config: Config) -> int:
    """--max-parallel > the file's max_parallel > parallel.max_workers > CPUs (≤ 16)."""
    for value in (flag, from_file, config.parallel.max_workers or None):
        if value is not None:
            return value
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


class Pool:
    """Run units on at most ``workers`` threads; ``on_result`` is called on the main
    thread with each result as its unit ends, in the order they end."""

    def __init__(self, units: list[Unit], *, workers: int, fail_fast: bool,
                 on_result: Callable[[UnitResult], None]) -> None:
        self.units = units
        self.workers = max(1, min(workers, len(units)))
        self.fail_fast = fail_fast
        self.on_result = on_result
        self.signum: int | None = None  # the signal that stopped the run
        self._signals_seen: list[int] = []
        self._next = 0
        self._stopping = False
        self._lock = threading.Lock()
        self._active: dict[int, StopSignals] = {}
        self._done: queue.Queue[UnitResult] = queue.Queue()
        # Concurrent units under a daily or monthly cap wait for room under it.
        self.gate: Gate | None = None
        if self.workers > 1 and units and caps_set(units[0].config.budget):
            self.gate = Gate(units[0].config.budget)

    def _take(self) -> tuple[int, StopSignals] | None:
        from clinvk.runner import StopSignals

        with self._lock:
            if self._stopping or self._next >= len(self.units):
                return None
            index = self._next
            self._next += 1
            signals = StopSignals()
            self._active[index] = signals
            return index, signals

    def _work(self) -> None:
        from clinvk.runner import CANCEL_SIGNAL

        while (taken := self._take()) is not None:
            index, signals = taken
            unit = self.units[index]
            try:
                if self.gate is None or unit.ignore_budget:
                    result = run_unit(index, unit, signals)
                else:
                    with self.gate.admit(unit.backend, lambda: self._stopping) as admitted:
                        result = run_unit(index, unit, signals) if admitted \
                            else skipped(index, unit)
            finally:
                with self._lock:
                    self._active.pop(index, None)
            if self.fail_fast and result.status != "ok":
                # Here, not on the main thread: this worker must not take another unit first.
                self._stop_all(CANCEL_SIGNAL, FAIL_FAST_NOTE, first=True)
            self._done.put(result)

    def _stop_all(self, signum: int, note: str | None = None, *, first: bool = False) -> None:
        """Start no more units and stop the running ones; ``first``: only if nothing
        stopped the run yet."""
        with self._lock:
            if first and self._stopping:
                return
            self._stopping = True
            active = list(self._active.values())
        for signals in active:
            signals.trigger(signum, note)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only noted here; the main loop (never inside a lock) forwards it to the units.
        self._signals_seen.append(signum)

    def run(self) -> list[UnitResult]:
        from clinvk.runner import CANCEL_SIGNAL, INTERRUPTING

        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for number in (*INTERRUPTING, CANCEL_SIGNAL):
                previous[number] = signal.signal(number, self._on_signal)
        results: dict[int, UnitResult] = {}
        threads = [threading.Thread(target=self._work, name=f"clinvk-unit-{n}", daemon=True)
                   for n in range(self.workers)]
        forwarded = 0
        try:
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads) or not self._done.empty():
                while forwarded < len(self._signals_seen):
                    seen = self._signals_seen[forwarded]
                    forwarded += 1
                    if self.signum is None:
                        self.signum = seen
                    self._stop_all(seen)
                try:
                    result = self._done.get(timeout=0.05)
                except queue.Empty:
                    continue
                results[result.index] = result
                self.on_result(result)
        finally:
            for restored, handler in previous.items():
                signal.signal(restored, handler)
        for index, unit in enumerate(self.units):
            if index not in results:
                results[index] = skipped(index, unit)
                self.on_result(results[index])
        return [results[i] for i in range(len(self.units))]
