"""One turn of a conversation: run the vendor, stream its answer, record it.

``clinvk prompt`` and ``clinvk resume`` differ only in how they find (or make) the
session; everything from spawning the vendor to the final save lives here. The final
save happens whatever happens (success, vendor failure, timeout, Ctrl-C, cancel, a bug
in clinvk), and only after it does the turn's error become an exit code.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from clinvk.activity import Activity
from clinvk.backends import (
    ErrorEvent,
    SessionStarted,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnResult,
    UsageEvent,
)
from clinvk.emitter import Emitter, OutputFormat
from clinvk.errors import (
    BackendError,
    ClinvkError,
    InterruptedError_,
    SessionError,
    TimedOutError,
)
from clinvk.model import ApiRequest, Dollars, Seconds, Session, Turn, Usage, out_of_bounds, utcnow

if TYPE_CHECKING:
    from clinvk.backends import Backend, Invocation, Parser, Request
    from clinvk.config import BackendConfig, PriceConfig
    from clinvk.config.schema import BudgetConfig
    from clinvk.runner import Outcome, StopSignals
    from clinvk.store import SessionStore

_encoder = msgspec.json.Encoder()


# --------------------------------------------------------------------------- saving
class Recorder:
    """Saves the session during the turn without holding up the stream.

    Checkpoints (backend id known, pgid known) are written on a worker thread from a
    snapshot, so a slow disk never delays the first text on stdout. One write at a
    time, in order: a snapshot still waiting when a newer one comes is dropped (the
    newer holds all it held), and the final save drops a waiting one, waits for the
    one being written and is written after it. A session deleted (``sessions delete
    --force``) while the turn ran is never re-created.
    """

    def __init__(self, store: SessionStore | None, session: Session) -> None:
        self.store = store
        self.session = session
        self.deleted = False
        self._mutex = threading.Lock()
        self._waiting: Session | None = None  # the newest snapshot not being written yet
        self._worker: threading.Thread | None = None

    @property
    def stored(self) -> bool:
        """Whether the turn is (to be) in the store: not ephemeral, not deleted meanwhile."""
        return self.store is not None and not self.deleted

    def _save(self, snapshot: Session) -> None:
        assert self.store is not None
        if self.deleted or not self.store.exists(snapshot.id):
            self.deleted = True
            return
        self.store.save(snapshot)

    def checkpoint(self) -> None:
        if self.store is None:
            return
        snapshot = msgspec.json.decode(_encoder.encode(self.session), type=Session)
        with self._mutex:
            self._waiting = snapshot
            if self._worker is None:
                self._worker = threading.Thread(target=self._write_waiting, name="clinvk-save",
                                                daemon=True)
                self._worker.start()

    def _write_waiting(self) -> None:
        while True:
            with self._mutex:
                snapshot, self._waiting = self._waiting, None
                if snapshot is None:
                    self._worker = None
                    return
            # The final save supersedes a failed checkpoint and reports its own error.
            with contextlib.suppress(Exception):
                self._save(snapshot)

    def final(self) -> None:
        if self.store is None:
            return
        with self._mutex:
            self._waiting = None  # what it holds, the final save holds too
            worker = self._worker
        if worker is not None:
            worker.join()
        try:
            self._save(self.session)
        except OSError as exc:
            raise ClinvkError(f"could not save session {self.session.id}: {exc}") from None
        if self.deleted:
            from clinvk.output import warn

            warn(f"session {self.session.id} was deleted while the turn ran; the turn is not saved")


def turn_saved(store: SessionStore, session: Session, plan: TurnPlan) -> None:
    """What follows the final save of a stored turn, once its answer is out and while its
    session is still locked: the one place for work a finished turn hands on.

    The catalog is not written here, nor when the lock is let go: the save moved the
    session's shard directory, so the catalog's next reader takes the session from its
    file (docs/architecture.md, "A turn and the catalog"). Only the readers pay for it,
    once for every turn since the last of them. With team.auto_push the session goes to
    the team store's outbox (clinvk.team.auto: never waits for the network).
    """
    store.leave_to_readers(session.id)
    if plan.team_push:
        from clinvk.team.auto import after_turn

        after_turn(store.root, session.id)


# --------------------------------------------------------------------------- the turn
class TurnPlan(msgspec.Struct):
    """Everything a turn needs, decided by the command before anything runs.

    (A Struct, not a dataclass: a dataclass compiles source text when its module is
    imported, at every turn.)"""

    backend: Backend
    backend_config: BackendConfig
    request: Request
    invocation: Invocation
    fmt: OutputFormat
    timeout: float | None
    pricing: dict[str, PriceConfig] = msgspec.field(default_factory=dict)
    ephemeral: bool = False
    # No tool-call lines and no session footer on stderr (text mode).
    quiet: bool = False
    # Called with the session once the turn is over (e.g. to print the resume hint).
    footer: Callable[[Session], None] | None = None
    # Nothing on stdout (a unit of `clinvk parallel`: the command prints the results).
    silent: bool = False
    # Called with the session and the turn once the turn is saved, stored or not.
    on_end: Callable[[Session, Turn], None] | None = None
    # The spending caps checked before the turn starts; None checks nothing.
    budget: BudgetConfig | None = None
    # Queue the session for the team store once the turn is over (team.auto_push).
    team_push: bool = False


def new_turn(session: Session, prompt: str, model: str | None) -> Turn:
    turn = Turn(index=len(session.turns) + 1, prompt=prompt, started_at=utcnow(),
                status="running", model=model)
    session.turns.append(turn)
    return turn


def execute(store: SessionStore | None, session: Session, turn: Turn, plan: TurnPlan,
            signals: StopSignals) -> int:
    """Run the turn the session's last Turn describes; save; return 0 or raise the turn's error.

    The caller holds the session's lock and has already saved the session with this
    turn in status ``running`` (unless ephemeral), inside ``signals``.
    """
    from clinvk.runner import Outcome, VendorProcess

    emitter = Emitter(plan.fmt, quiet=plan.quiet, silent=plan.silent)
    activity = Activity(turn)
    recorder = Recorder(None if plan.ephemeral else store, session)
    parser: Parser | None = None
    outcome: Outcome | None = None
    result: TurnResult | None = None
    failure: BaseException | None = None

    def session_info() -> dict[str, Any]:
        return {"id": None if plan.ephemeral else session.id, "backend": session.backend,
                "backend_session_id": turn.backend_session_id or session.backend_session_id,
                "model": turn.model}

    try:
        if signals.reason is not None:
            # Stopped before the vendor could start: nothing to kill.
            outcome = Outcome(exit_code=None, stderr="", stop=signals.reason, duration_s=0.0)
            parser = plan.backend.parser(plan.request)
        else:
            proc = VendorProcess(plan.invocation, name=session.backend,
                                 install_hint=plan.backend.install_hint,
                                 timeout=plan.timeout, signals=signals)
            with proc:
                session.pgid, session.pgid_start = proc.pgid, proc.pgid_start
                recorder.checkpoint()
                # Made once the vendor is starting: what a parser reads first (codex's
                # own config, for its model) is read while the vendor starts up.
                parser = plan.backend.parser(plan.request)
                # Every turn is priced from the table at the end (a reported cost too:
                # its requests get their shares of it), so the table loads meanwhile.
                _warm_prices()
                for line in proc.lines():
                    for event in parser.feed(line):
                        _on_event(event, emitter, session, turn, recorder, session_info,
                                  activity)
                outcome = proc.wait()
        result = parser.finish(outcome.exit_code if outcome.exit_code is not None else -1,
                               outcome.stderr)
    except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised below
        failure = exc
    error = _settle(session, turn, plan, outcome, result, failure, activity, signals.signum,
                    signals.note)
    for call in activity.settle(turn.status):
        emitter.tool_result(call)  # every tool_call event gets its tool_result
    try:
        recorder.final()
    finally:
        if not emitter.session_sent:
            emitter.session(session_info())
        emitter.result(result_object(session, turn, plan.ephemeral))
        if plan.footer is not None and not plan.ephemeral and not recorder.deleted:
            with contextlib.suppress(OSError):  # stderr gone with a hung-up terminal
                plan.footer(session)
        if plan.on_end is not None:
            plan.on_end(session, turn)
    if recorder.stored:
        assert store is not None
        turn_saved(store, session, plan)  # once the answer is out
    if failure is not None and not isinstance(failure, ClinvkError):
        raise failure
    if error is not None:
        raise error
    return 0


def _warm_prices() -> None:
    """Load the built-in price table on a thread while the vendor works (the main thread
    only waits for its output then): a turn whose vendor reports no cost is priced from
    it at the end. Whatever fails here fails again, and is reported, at the end."""

    def load() -> None:
        from clinvk.pricing import builtin_table

        with contextlib.suppress(Exception):
            builtin_table()

    threading.Thread(target=load, name="clinvk-prices", daemon=True).start()


def _on_event(event: object, emitter: Emitter, session: Session, turn: Turn,
              recorder: Recorder, session_info: Callable[[], dict[str, Any]],
              activity: Activity) -> None:
    if isinstance(event, SessionStarted):
        turn.backend_session_id = event.backend_session_id
        # A resume may come back under a new id (claude --fork-session): the new one
        # is what the next resume must use.
        session.backend_session_id = event.backend_session_id
        if event.model:
            turn.model = event.model
            session.model = event.model
        emitter.session(session_info())
        recorder.checkpoint()
        return
    emitter.session(session_info())
    if isinstance(event, TextDelta):
        activity.text(event.text)
        emitter.text(event.text)
    elif isinstance(event, ToolCallEvent):
        call = activity.call(event)
        if call is not None:
            emitter.tool_call(call)
    elif isinstance(event, ToolResultEvent):
        call = activity.result(event)
        if call is not None:
            emitter.tool_result(call)
    elif isinstance(event, UsageEvent):
        # Out-of-range figures are dropped here as they are at the end of the turn.
        if not out_of_bounds(event.usage, Usage):
            cost = event.cost_usd
            emitter.usage(event.usage, None if out_of_bounds(cost, Dollars | None) else cost)
    elif isinstance(event, ErrorEvent):
        emitter.error(event.message)


def _settle(session: Session, turn: Turn, plan: TurnPlan, outcome: Outcome | None,
            result: TurnResult | None, failure: BaseException | None,
            activity: Activity, signum: int | None = None,
            note: str = "cancelled by `clinvk cancel`") -> ClinvkError | None:
    """Fill in the turn and session from what happened; the error to raise, if any.
    ``note``: what the record says stopped a cancelled turn."""
    now = utcnow()
    session.last_used_at = now
    session.clear_runner()
    turn.exit_code = outcome.exit_code if outcome is not None else None
    turn.duration_s = (outcome.duration_s if outcome is not None and outcome.exit_code is not None
                       else round((now - turn.started_at).total_seconds(), 3))
    warnings: list[str] = []
    if turn.duration_s is not None and out_of_bounds(turn.duration_s, Seconds):
        # The wall clock moved backwards (or leapt) during the turn.
        warnings.append(f"its duration ({turn.duration_s}s) was out of range and is not recorded")
        turn.duration_s = None
    if result is not None:
        # Never the chatter before a tool call: the vendor's answer, else the text after
        # the last call.
        turn.response = result.text or activity.answer()
        if result.backend_session_id:
            turn.backend_session_id = result.backend_session_id
            session.backend_session_id = result.backend_session_id
        turn.model = result.model or turn.model
        warnings += drop_out_of_range(result, session.backend)
        turn.usage = result.usage
        turn.usage_total = result.usage_total
        turn.usage_by_model = result.usage_by_model
        _price(turn, result, plan.pricing, warnings)
    else:
        turn.response = activity.answer()
    if activity.warning():
        warnings.append(activity.warning() or "")
    turn.warning = "; ".join(warnings) or None
    if turn.warning:
        from clinvk.output import warn

        warn(f"turn {turn.index} of session {session.id}: {turn.warning}")
    if turn.model:
        session.model = turn.model

    error: ClinvkError | None
    stop = outcome.stop if outcome is not None else None
    if failure is not None:
        message = failure.message if isinstance(failure, ClinvkError) else (
            f"internal error: {type(failure).__name__}: {failure}")
        turn.status, turn.error = "error", message
        error = failure if isinstance(failure, ClinvkError) else None
    elif stop == "timeout":
        turn.status = "timeout"
        turn.error = f"timed out after {_seconds(plan.timeout)}"
        error = TimedOutError(f"{session.backend} {turn.error}; its process group was killed",
                              hint=_resume_hint(session, plan))
    elif stop == "cancelled":
        turn.status, turn.error = "cancelled", note
        error = InterruptedError_(turn.error, hint=_resume_hint(session, plan))
    elif stop == "interrupted":
        turn.status = "interrupted"
        turn.error = f"interrupted ({_SIGNAL_NAMES.get(signum or 0, 'Ctrl-C')})"
        error = InterruptedError_(turn.error, hint=_resume_hint(session, plan),
                                  exit_code=128 + signum if signum else None)
    else:
        assert result is not None
        if result.status == "ok":
            turn.status, turn.error = "ok", None
            error = None
        elif result.session_not_found:
            turn.status, turn.error = "error", result.error
            error = SessionError(
                f"{session.backend} has no conversation {plan.request.resume_id} to resume "
                f"in {session.workdir}: {result.error}",
                hint="the vendor lost or never had it; start a new session with `clinvk prompt`")
        else:
            turn.status, turn.error = "error", result.error or "the vendor CLI failed"
            # Adapter messages often name the vendor already ("claude ended without …").
            said = turn.error.startswith(f"{session.backend} ")
            error = BackendError(turn.error if said else f"{session.backend}: {turn.error}",
                                 hint=_resume_hint(session, plan))
    if turn.status == "ok":
        session.status, session.reason = "active", None
    else:
        session.status = "error"
        session.reason = turn.status if turn.status in ("timeout", "interrupted", "cancelled") else "error"
    return error


# How the interrupting signals (clinvk.runner.INTERRUPTING) are named in the record.
_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGINT: "Ctrl-C", signal.SIGHUP: "SIGHUP: the terminal went away",
    signal.SIGTERM: "SIGTERM", signal.SIGQUIT: "SIGQUIT",
}


def drop_out_of_range(result: TurnResult, backend: str) -> list[str]:
    """Leave out what the vendor reported beyond the record's bounds (clinvk.model):
    out-of-range usage makes the turn's usage unknown, an out-of-range cost makes it
    unreported. Returns one warning per dropped figure; nothing out of range is stored."""
    warnings: list[str] = []
    problem = (out_of_bounds(result.usage, Usage | None)
               or out_of_bounds(result.usage_total, Usage | None)
               or out_of_bounds(result.usage_by_model, dict[str, Usage] | None)
               or out_of_bounds(result.requests, list[ApiRequest] | None))
    if problem:
        result.usage = result.usage_total = result.usage_by_model = result.requests = None
        warnings.append(f"{backend} reported token usage out of range ({problem}); "
                        "usage is unknown")
    if result.cost_usd is not None and (problem := out_of_bounds(result.cost_usd, Dollars)):
        warnings.append(f"{backend} reported a cost out of range ({result.cost_usd!r} USD: "
                        f"{problem}); it is not recorded")
        result.cost_usd, result.cost_source = None, "unpriced"
    return warnings


def _resume_hint(session: Session, plan: TurnPlan) -> str | None:
    # In text mode the footer line already says how to resume.
    if plan.ephemeral or not session.backend_session_id or plan.footer is not None:
        return None
    return f"the session is kept: `clinvk resume {session.id} \"…\"` continues it"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}s"


def _price(turn: Turn, result: TurnResult, pricing: dict[str, PriceConfig],
           warnings: list[str]) -> None:
    """The turn's cost: the vendor's, else from the price table, request by request."""
    from clinvk.pricing import fit_requests, price_turn

    turn.requests = fit_requests(result.usage, result.requests)
    reported = result.cost_usd is not None and result.cost_source == "reported"
    turn.cost_usd, turn.cost_source = (result.cost_usd, "reported") if reported else (
        None, "unpriced")
    turn.price_source = None
    price_turn(turn, pricing)
    cost = turn.cost_usd
    if cost is not None and out_of_bounds(cost, Dollars):
        warnings.append(f"its computed cost ({cost!r} USD) was out of range; the turn is unpriced")
        turn.cost_usd, turn.cost_source, turn.price_source = None, "unpriced", None
        for r in turn.requests or []:
            r.cost_usd = None


def result_object(session: Session, turn: Turn, ephemeral: bool) -> dict[str, Any]:
    """The json output object and the stream-json result event (minus its type)."""
    return {
        "id": None if ephemeral else session.id,
        "backend": session.backend,
        "backend_session_id": turn.backend_session_id or session.backend_session_id,
        "model": turn.model,
        "turn": turn.index,
        "text": turn.response,
        "usage": msgspec.to_builtins(turn.usage) if turn.usage is not None else None,
        "cost_usd": turn.cost_usd,
        "cost_source": turn.cost_source,
        "duration_s": turn.duration_s,
        "exit_code": turn.exit_code,
        "status": turn.status,
        "error": turn.error,
        "warning": turn.warning,
        "tool_calls": msgspec.to_builtins(turn.tool_calls),
        "files_changed": turn.files_changed,
    }
