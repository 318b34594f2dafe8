"""`clinvk sessions sync`: record the vendor CLIs' own transcripts as clinvk sessions.

Idempotent and incremental:

- ``<data dir>/sync/state.json`` remembers, per transcript path, its (size, mtime) when
  last read, the session it went to and how many of its turns were taken; a transcript
  whose size and mtime are unchanged is not opened again.
- A conversation already in the store (same backend and backend session id, started
  through clinvk or adopted before; one query of the session catalog finds it) is
  updated in place: only new turns are appended,
  and clinvk's own fields (title, tags, status, workdir) are left as they are.
- A transcript turn that clinvk itself ran (same prompt, started within a few minutes
  after the clinvk turn) is not added twice.
- A transcript that cannot be read whole is skipped with one warning and retried next
  time; a busy session (a turn running) too. Nothing is ever written to a vendor's files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from clinvk.atomic import atomic_write
from clinvk.errors import SessionBusyError, UsageError
from clinvk.model import Session, Turn, make_title
from clinvk.native import claude, codex, discover, gemini
from clinvk.native.transcript import Transcript, TranscriptError
from clinvk.store import SessionStore

if TYPE_CHECKING:
    from clinvk.catalog import Catalog

READERS: dict[str, Callable[[Path], Transcript]] = {
    "claude": claude.parse, "codex": codex.parse, "gemini": gemini.parse}
STATE_VERSION = 1
# How long after clinvk started a turn the vendor may record the same prompt.
SAME_TURN_WINDOW = timedelta(minutes=5)


class FileState(msgspec.Struct, array_like=True):
    size: int
    mtime_ns: int
    session: str | None
    turns: int


class SyncState(msgspec.Struct):
    version: int = STATE_VERSION
    files: dict[str, FileState] = msgspec.field(default_factory=dict)


@dataclass
class Change:
    backend: str
    backend_session_id: str
    transcript: str
    action: str  # "new" | "updated"
    turns_added: int
    id: str | None = None  # None in a dry run of a new session

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "action": self.action, "backend": self.backend,
                "backend_session_id": self.backend_session_id,
                "transcript": self.transcript, "turns_added": self.turns_added}


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0


@dataclass
class Report:
    dry_run: bool
    counts: dict[str, Counts]
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Transcripts left for a later sync because the deadline came first.
    deferred: int = 0


def state_path(store: SessionStore) -> Path:
    return store.root / "sync" / "state.json"


def load_state(store: SessionStore) -> SyncState:
    try:
        state = msgspec.json.decode(state_path(store).read_bytes(), type=SyncState)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return SyncState()  # a lost or broken state only costs a full re-read
    return state if state.version == STATE_VERSION else SyncState()


class _Owners:
    """Which session holds a vendor conversation: one catalog query per transcript
    (the catalog opened on first need), and the sessions this sync created itself."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.catalog: Catalog | None = None
        self.created: dict[tuple[str, str], str] = {}

    def find(self, backend: str, backend_sid: str) -> str | None:
        mine = self.created.get((backend, backend_sid))
        if mine is not None:
            return mine
        if self.catalog is None:
            from clinvk.catalog import Catalog

            self.catalog = Catalog.open(self.store)
        found = self.catalog.owner(backend, backend_sid)
        return found if found is not None and self.store.exists(found) else None

    def close(self) -> None:
        if self.catalog is not None:
            self.catalog.close()


def _is_clinvk_turn(turn: Turn, done: list[Turn], used: set[int]) -> bool:
    """Whether ``turn`` (from a transcript) is one clinvk ran and recorded itself."""
    prompt = turn.prompt.strip()
    for i, mine in enumerate(done):
        if i in used or mine.prompt.strip() != prompt:
            continue
        if timedelta(seconds=-5) <= turn.started_at - mine.started_at <= SAME_TURN_WINDOW:
            used.add(i)
            return True
    return False


def _new_turns(t: Transcript, start: int, session: Session | None,
               price: Callable[[Turn], None]) -> list[Turn]:
    existing = session.turns if session else []
    used: set[int] = set()
    out: list[Turn] = []
    for draft in t.complete()[start:]:
        turn = draft.to_turn(len(existing) + len(out), t.backend_session_id)
        if existing and _is_clinvk_turn(turn, existing, used):
            continue
        if draft.cost_usd is not None:
            turn.cost_usd, turn.cost_source = draft.cost_usd, "reported"
        price(turn)  # a reported cost stays: its requests get their shares of it
        out.append(turn)
    return out


def sync(store: SessionStore, backends: Sequence[str], *,
         homes: dict[str, list[Path]] | None = None, start: float | None = None,
         end: float | None = None, dry_run: bool = False,
         price: Callable[[Turn], None] = lambda turn: None,
         progress: Callable[[int, int], None] | None = None,
         deadline: float | None = None) -> Report:
    """Adopt new and grown transcripts of ``backends``; see the module doc.

    ``deadline`` (a time.monotonic() value): transcripts not reached by then are left
    as they are, counted in ``Report.deferred``, and taken by the next sync.
    """
    from filelock import FileLock, Timeout

    report = Report(dry_run, {b: Counts() for b in backends})
    (store.root / "sync").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(store.root / "sync" / "state.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SessionBusyError("another `clinvk sessions sync` is running",
                               hint="wait for it to finish") from None
    try:
        state = load_state(store)
        todo: list[tuple[str, Path, os.stat_result]] = []
        for backend in backends:
            where = (homes or {}).get(backend) or discover.default_homes(backend)
            for path in discover.transcripts(backend, where):
                try:
                    st = path.stat()
                except OSError:
                    continue
                mtime = st.st_mtime
                if (start is not None and mtime < start) or (end is not None and mtime >= end):
                    continue
                known = state.files.get(str(path))
                if known and (known.size, known.mtime_ns) == (st.st_size, st.st_mtime_ns):
                    report.counts[backend].unchanged += 1
                    continue
                todo.append((backend, path, st))
        owners = _Owners(store)
        try:
            _adopt(store, todo, state, report, owners, dry_run, price, progress, deadline)
        finally:
            owners.close()
        if not dry_run and todo:
            atomic_write(state_path(store), msgspec.json.encode(state))
    finally:
        lock.release()
    return report


def _adopt(store: SessionStore, todo: list[tuple[str, Path, os.stat_result]],
           state: SyncState, report: Report, owners: _Owners, dry_run: bool,
           price: Callable[[Turn], None], progress: Callable[[int, int], None] | None,
           deadline: float | None = None) -> None:
    """Read each transcript of ``todo`` and record it (see sync)."""
    for n, (backend, path, st) in enumerate(todo, 1):
        if deadline is not None and time.monotonic() >= deadline:
            report.deferred = len(todo) - n + 1
            return
        if progress:
            progress(n, len(todo))
        counts = report.counts[backend]
        try:
            t = READERS[backend](path)
        except TranscriptError as exc:
            report.warnings.append(f"skipped {exc.message}")
            counts.skipped += 1
            continue
        known = state.files.get(str(path))
        owner = known.session if known and known.session and store.exists(
            known.session) else None
        if owner is None:
            owner = owners.find(backend, t.backend_session_id)
        taken = known.turns if known and known.session == owner else 0
        try:
            change = _apply(store, t, owner, taken, dry_run, price)
        except SessionBusyError:
            report.warnings.append(f"skipped {path}: its session {owner} is busy "
                                   "(a turn is running); it is synced next time")
            counts.skipped += 1
            continue
        if change is not None:
            report.changes.append(change)
            if change.action == "new":
                counts.new += 1
                if change.id:
                    owners.created[(backend, t.backend_session_id)] = change.id
            else:
                counts.updated += 1
            owner = change.id or owner
        state.files[str(path)] = FileState(st.st_size, st.st_mtime_ns, owner,
                                           len(t.complete()))


def _apply(store: SessionStore, t: Transcript, owner: str | None, taken: int,
           dry_run: bool, price: Callable[[Turn], None]) -> Change | None:
    """Record ``t`` in a new session or its ``owner``; the change made, or None."""
    where = str(t.path)
    if owner is None:
        turns = _new_turns(t, 0, None, price)
        if not turns:
            return None  # nothing said yet: adopted once it holds a finished turn
        change = Change(t.backend, t.backend_session_id, where, "new", len(turns))
        if dry_run:
            return change
        last = turns[-1]
        session = Session(
            id="", backend=t.backend, workdir=t.workdir,
            created_at=t.created_at or turns[0].started_at,
            last_used_at=last.started_at + timedelta(seconds=last.duration_s or 0),
            title=make_title(turns[0].prompt), backend_session_id=t.backend_session_id,
            model=t.model, turns=turns, origin="native")
        change.id = store.create(session).id
        return change

    def grow(session: Session) -> list[Turn]:
        added = _new_turns(t, taken, session, price)
        for turn in added:
            session.turns.append(turn)
            ended = turn.started_at + timedelta(seconds=turn.duration_s or 0)
            session.last_used_at = max(session.last_used_at, ended)
            session.model = turn.model or session.model
        return added

    if dry_run:
        added = grow(store.read(owner))
    else:
        with store.lock(owner):
            session = store.read(owner)
            if session.status == "running":
                raise SessionBusyError(f"session {owner} is running a turn")
            added = grow(session)
            if added:
                store.save(session)
    if not added:
        return None
    return Change(t.backend, t.backend_session_id, where, "updated", len(added), owner)


def check_backends(names: Sequence[str]) -> list[str]:
    wrong = [n for n in names if n not in READERS]
    if wrong:
        raise UsageError(f"sync cannot read transcripts of {', '.join(map(repr, wrong))}",
                         hint="--from takes claude, codex, gemini (comma-separated)")
    return list(dict.fromkeys(names))

