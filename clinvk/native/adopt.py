"""`clinvk sessions sync`: record the vendor CLIs' own transcripts as clinvk sessions.

Idempotent and incremental:

- ``<data dir>/sync/state.json`` remembers, per transcript path, its (size, mtime) when
  last read, the session it went to, the conversation it held (the vendor's session id)
  and the vendor's ids of the turns taken from it; a transcript whose size and mtime are
  unchanged is not opened again. Turns are followed by those ids, never by position: a
  file the vendor rewrote (an early turn dropped, a new one added) gives its new turns,
  and another conversation written at the same path becomes its own session.
- A conversation already in the store (same backend and backend session id, started
  through clinvk or adopted before; one query of the session catalog finds it) is
  updated in place: only new turns are appended,
  and clinvk's own fields (title, tags, status, workdir) are left as they are.
- A transcript turn that clinvk itself ran (same prompt, started within a few minutes
  after the clinvk turn) is not added twice.
- A transcript that cannot be read whole is skipped with one warning and read again
  once it changes (until then the warning is repeated from the state). A busy session
  (a turn running), or any other failure to adopt one transcript, skips it too, to be
  retried next time: it never stops the others. Nothing is ever written to a vendor's
  files.
- Memory stays flat whatever the files: each is streamed (transcript.records) and let go
  once recorded, and the catalog changes are put in batches (SessionStore.batch).
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

from clinvk.atomic import atomic_write, mkdir_private
from clinvk.errors import ClinvkError, SessionBusyError, UsageError
from clinvk.model import Dollars, Session, Turn, make_title, out_of_bounds
from clinvk.native import claude, codex, discover, gemini
from clinvk.native.transcript import Deferred, Draft, Limits, Transcript, TranscriptError
from clinvk.store import SessionStore, StoreWriteError, writing

if TYPE_CHECKING:
    from clinvk.catalog import Catalog

READERS: dict[str, Callable[[Path, Limits | None], Transcript]] = {
    "claude": claude.parse, "codex": codex.parse, "gemini": gemini.parse}
STATE_VERSION = 2
# How long after clinvk started a turn the vendor may record the same prompt.
SAME_TURN_WINDOW = timedelta(minutes=5)
# A transcript not written for this long is over: its last turn, if it has an answer,
# is taken even when the vendor wrote no end for it.
SETTLED_S = 300.0


class FileState(msgspec.Struct, array_like=True):
    size: int
    mtime_ns: int
    session: str | None
    # The vendor's session id the file held, and the ids (Draft.ident) of its turns taken.
    conversation: str | None = None
    taken: list[str] = msgspec.field(default_factory=list)
    # Why the file, as it is at (size, mtime_ns), cannot be read: said again, not read again.
    problem: str | None = None


class SyncState(msgspec.Struct):
    version: int = STATE_VERSION
    files: dict[str, FileState] = msgspec.field(default_factory=dict)
    # Transcripts a deadline stopped in the middle: read after the others next time, so
    # that one file too long for `sync.auto`'s budget never holds the rest back.
    later: list[str] = msgspec.field(default_factory=list)


@dataclass
class Change:
    backend: str
    backend_session_id: str
    transcript: str
    action: str  # "new" | "updated"
    turns_added: int
    id: str | None = None  # None in a dry run of a new session
    # What was left out of its turns (index, the turn's warning).
    warnings: list[tuple[int, str]] = field(default_factory=list)

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


def _new_turns(t: Transcript, drafts: list[Draft], session: Session | None,
               price: Callable[[Turn], None]) -> list[Turn]:
    existing = session.turns if session else []
    used: set[int] = set()
    out: list[Turn] = []
    for draft in drafts:
        turn = draft.to_turn(len(existing) + len(out), t.backend_session_id, t.backend)
        if existing and _is_clinvk_turn(turn, existing, used):
            continue
        price(turn)  # a reported cost stays: its requests get their shares of it
        if turn.cost_source != "reported" and turn.cost_usd is not None and (
                problem := out_of_bounds(turn.cost_usd, Dollars)):
            dropped = (f"its computed cost ({turn.cost_usd!r} USD) was out of range "
                       f"({problem}); the turn is unpriced")
            turn.warning = f"{turn.warning}; {dropped}" if turn.warning else dropped
            turn.cost_usd, turn.cost_source, turn.price_source = None, "unpriced", None
            turn.requests = None
        if problem := out_of_bounds(turn, Turn):
            # to_turn bounds every number: this is a last guard, never a corrupt session.
            raise TranscriptError(f"{t.path}: turn {turn.index} cannot be recorded ({problem})")
        out.append(turn)
    return out


def sync(store: SessionStore, backends: Sequence[str], *,
         homes: dict[str, list[Path]] | None = None, start: float | None = None,
         end: float | None = None, dry_run: bool = False,
         price: Callable[[Turn], None] = lambda turn: None,
         progress: Callable[[int, int], None] | None = None,
         deadline: float | None = None) -> Report:
    """Adopt new and grown transcripts of ``backends``; see the module doc.

    ``deadline`` (a time.monotonic() value): transcripts not reached by then, and the
    one being read when it comes, are left as they are, counted in
    ``Report.deferred``, and taken by the next sync.
    """
    from filelock import FileLock, Timeout

    report = Report(dry_run, {b: Counts() for b in backends})
    with writing(store.root):
        mkdir_private(store.root / "sync")
        lock = FileLock(str(store.root / "sync" / "state.lock"), mode=0o600)
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
                    if known.problem:
                        report.warnings.append(f"skipped {known.problem}")
                        report.counts[backend].skipped += 1
                    else:
                        report.counts[backend].unchanged += 1
                    continue
                todo.append((backend, path, st))
        later = set(state.later) & {str(path) for _b, path, _st in todo}
        state.later = [p for p in state.later if p in later]
        todo.sort(key=lambda item: str(item[1]) in later)  # stable: otherwise in order
        owners = _Owners(store)
        try:
            with store.batch():
                _adopt(store, todo, state, report, owners, dry_run, price, progress,
                       deadline)
        finally:
            owners.close()
        if not dry_run and todo:
            with writing(store.root):
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
        # What was left out of the file as it was read comes first, the outcome after.
        limits = Limits(deadline=deadline, warnings=report.warnings)
        try:
            _adopt_one(store, backend, path, st, state, report, owners, dry_run, price,
                       limits)
        except Deferred:
            report.deferred = len(todo) - n + 1
            if str(path) not in state.later:
                state.later.append(str(path))
            return
        except SessionBusyError as exc:
            report.warnings.append(f"skipped {path}: {exc.message}; it is synced next time")
            counts.skipped += 1
        except StoreWriteError:
            raise  # the store cannot be written: no other transcript can be adopted either
        except TranscriptError as exc:
            report.warnings.append(f"skipped {exc.message}")
            counts.skipped += 1
            # Read again once it changes (the vendor finished its last line, say).
            known = state.files.get(str(path)) or FileState(0, 0, None)
            state.files[str(path)] = msgspec.structs.replace(
                known, size=st.st_size, mtime_ns=st.st_mtime_ns, problem=exc.message)
        except (ClinvkError, ValueError, OverflowError) as exc:
            # E.g. the session it belongs to is damaged, or a date beyond the calendar.
            why = exc.message if isinstance(exc, ClinvkError) else str(exc)
            report.warnings.append(f"skipped {path}: {why}")
            counts.skipped += 1


def _adopt_one(store: SessionStore, backend: str, path: Path, st: os.stat_result,
               state: SyncState, report: Report, owners: _Owners, dry_run: bool,
               price: Callable[[Turn], None], limits: Limits) -> None:
    """Read one transcript and record what is new in it; what it read is let go on return."""
    t = READERS[backend](path, limits)
    known = state.files.get(str(path))
    same = known is not None and known.conversation == t.backend_session_id
    owner = known.session if known and same and known.session and store.exists(
        known.session) else None
    if owner is None:
        owner = owners.find(backend, t.backend_session_id)
    taken = set(known.taken) if known and same and known.session == owner else set()
    drafts = t.complete(settled=time.time() - st.st_mtime >= SETTLED_S)
    change = _apply(store, t, [d for d in drafts if d.ident() not in taken], owner,
                    dry_run, price)
    if change is not None:
        report.changes.append(change)
        if change.action == "new":
            report.counts[backend].new += 1
            if change.id:
                owners.created[(backend, t.backend_session_id)] = change.id
        else:
            report.counts[backend].updated += 1
        report.warnings.extend(f"{path}: turn {i}: {w}" for i, w in change.warnings)
        owner = change.id or owner
    state.files[str(path)] = FileState(st.st_size, st.st_mtime_ns, owner,
                                       t.backend_session_id, [d.ident() for d in drafts])
    if str(path) in state.later:
        state.later.remove(str(path))


def _apply(store: SessionStore, t: Transcript, drafts: list[Draft], owner: str | None,
           dry_run: bool, price: Callable[[Turn], None]) -> Change | None:
    """Record the turns of ``drafts`` in a new session or its ``owner``; the change
    made, or None."""
    where = str(t.path)
    if owner is None:
        turns = _new_turns(t, drafts, None, price)
        if not turns:
            return None  # nothing said yet: adopted once it holds a finished turn
        change = Change(t.backend, t.backend_session_id, where, "new", len(turns),
                        warnings=_warnings(turns))
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
        added = _new_turns(t, drafts, session, price)
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
                raise SessionBusyError(f"its session {owner} is busy (a turn is running)")
            added = grow(session)
            if added:
                store.save(session)
    if not added:
        return None
    return Change(t.backend, t.backend_session_id, where, "updated", len(added), owner,
                  warnings=_warnings(added))


def _warnings(turns: list[Turn]) -> list[tuple[int, str]]:
    return [(turn.index, turn.warning) for turn in turns if turn.warning]


def check_backends(names: Sequence[str]) -> list[str]:
    wrong = [n for n in names if n not in READERS]
    if wrong:
        raise UsageError(f"sync cannot read transcripts of {', '.join(map(repr, wrong))}",
                         hint="--from takes claude, codex, gemini (comma-separated)")
    return list(dict.fromkeys(names))

