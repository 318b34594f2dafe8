"""The session store: one JSON file per session under the data dir.

Layout (all under ``CLINVK_HOME`` or the platform user data dir)::

    sessions/<first two chars of the id>/<id>.json   the records (the truth)
    locks/<id>.lock                                   one sidecar lock per session
    locks/store.lock                                  guards the index while writing
    index/                                            a cache, see clinvk.index
    quarantine/                                       where `sessions doctor --fix` moves bad files

Writes are atomic (temp file in the same dir → fsync → os.replace → fsync the dir).
Writers hold the session's lock for the whole read-modify-write; readers never lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from clinvk import ids
from clinvk.errors import ClinvkError, NotFoundError, SessionBusyError, SessionError
from clinvk.index import (
    LOG_COMPACT_LINES,
    IndexState,
    Summary,
    TurnFact,
    _Base,
    _LogLine,
    apply_log,
    encode_base,
    encode_base_raw,
    read_base_file,
    read_log,
    shard_mtimes,
    shard_of,
    write_log_line,
)
from clinvk.model import SCHEMA_VERSION, Session

if TYPE_CHECKING:
    from filelock import BaseFileLock


class _VersionView(msgspec.Struct):
    version: int = 1


_version_decoder = msgspec.json.Decoder(_VersionView)
_session_decoder = msgspec.json.Decoder(Session)
_encoder = msgspec.json.Encoder()


class CorruptSessionError(SessionError):
    """A session file that cannot be read as a session."""


def encode_session(session: Session) -> bytes:
    return msgspec.json.format(_encoder.encode(session), indent=2) + b"\n"


def decode_session(data: bytes, name: str) -> Session:
    """Bytes of a session file → Session, or CorruptSessionError naming the problem."""
    try:
        version = _version_decoder.decode(data).version
    except msgspec.DecodeError as exc:
        raise CorruptSessionError(f"session file {name} is corrupt: {exc}") from None
    if version > SCHEMA_VERSION:
        raise CorruptSessionError(
            f"session file {name} has schema version {version}, newer than this clinvk "
            f"understands ({SCHEMA_VERSION})",
            hint="upgrade clinvk to read it",
        )
    try:
        return _session_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptSessionError(f"session file {name} is corrupt: {exc}") from None


def turn_facts(session: Session) -> list[TurnFact]:
    facts = []
    for t in session.turns:
        u = t.usage
        facts.append(TurnFact(
            started=t.started_at.timestamp(),
            duration=t.duration_s,
            model=t.model or session.model,
            status=t.status,
            usage=None if u is None else (u.input_tokens, u.output_tokens, u.cache_read_tokens,
                                          u.cache_write_tokens, u.reasoning_tokens),
            cost=t.cost_usd,
            cost_source=t.cost_source,
        ))
    return facts


def disk_bytes(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def summarize(session: Session, mtime_ns: int = 0,
              facts: list[TurnFact] | None = None, disk: int = 0) -> Summary:
    from clinvk.stats import session_sums

    if facts is None:
        facts = turn_facts(session)
    return Summary(
        id=session.id,
        backend=session.backend,
        status=session.status,
        created=session.created_at.timestamp(),
        last_used=session.last_used_at.timestamp(),
        model=session.model,
        tags=list(session.tags),
        title=session.title,
        workdir=session.workdir,
        tokens=session.tokens(),
        turns=len(session.turns),
        pid=session.pid,
        pid_start=session.pid_start,
        cost=session.cost(),
        mtime_ns=mtime_ns,
        sums=session_sums(facts, session.model),
        disk=disk,
    )


@dataclass
class Skipped:
    path: Path
    reason: str


def _mkdir_private(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def atomic_write(path: Path, data: bytes | list[bytes | memoryview]) -> None:
    chunks = data if isinstance(data, list) else [data]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


_WRITE_HINTS = {
    errno.ENOSPC: "free some disk space, then retry",
    errno.EDQUOT: "free some disk space (you are over quota), then retry",
}


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """The one place a failed write to the store (disk full, read-only file system, no
    permission, a file where a directory belongs) becomes a clear error."""
    try:
        yield
    except TimeoutError:
        raise  # a lock held by someone else (filelock.Timeout), not a failed write
    except OSError as exc:
        raise ClinvkError(
            f"cannot write to the session store at {root}: {exc.strerror or exc}",
            hint=_WRITE_HINTS.get(exc.errno or 0,
                                  "point CLINVK_HOME at a writable directory, or fix the "
                                  "permissions of this one"),
        ) from None


class SessionStore:
    def __init__(self, root: Path | None = None):
        if root is None:
            from clinvk.config import data_dir

            root = data_dir()
        self.root = root
        self.sessions_dir = root / "sessions"
        self._sessions_str = str(self.sessions_dir)
        self.locks_dir = root / "locks"
        self.index_dir = root / "index"
        self.quarantine_dir = root / "quarantine"
        self.skipped: list[Skipped] = []
        # While a turn streams, folding the index log (seconds at 100,000 sessions) waits
        # until the answer is out: see compact_if_due().
        self.defer_compaction = False
        self._index_warned = False

    # ---------------------------------------------------------------- paths
    def path_for(self, session_id: str) -> Path:
        if not ids.is_valid_id(session_id):
            # Ids reach here only after validation; this guards every path we build.
            raise ClinvkError(f"invalid session id: {session_id!r}")
        return self.sessions_dir / shard_of(session_id) / f"{session_id}.json"

    def _ensure_dirs(self) -> None:
        with writing(self.root):
            for d in (self.root, self.sessions_dir, self.locks_dir, self.index_dir):
                _mkdir_private(d)

    # ---------------------------------------------------------------- reading
    def exists(self, session_id: str) -> bool:
        return self.path_for(session_id).is_file()

    def read_file(self, path: Path) -> Session:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"session not found: {path.stem}",
                                hint="see `clinvk sessions list`") from None
        except IsADirectoryError:
            raise CorruptSessionError(f"session file {path} is a directory, not a file") from None
        except OSError as exc:
            raise CorruptSessionError(f"cannot read session file {path}: {exc.strerror}") from None
        session = decode_session(data, str(path))
        if session.id != path.stem:
            raise CorruptSessionError(
                f"session file {path} holds id {session.id!r}, not {path.stem!r}"
            )
        return session

    def read(self, session_id: str) -> Session:
        return self.read_file(self.path_for(session_id))

    def resolve(self, text: str, *, not_found_exit: int = 1) -> str:
        """A full id or unique prefix (≥ 4 chars) → the full id, from the files themselves."""
        prefix = ids.check_prefix(text)
        shard = self.sessions_dir / shard_of(prefix)
        candidates: list[str] = []
        try:
            with os.scandir(shard) as entries:
                for entry in entries:
                    name = entry.name
                    if name.endswith(".json") and name.startswith(prefix):
                        stem = name[:-5]
                        if ids.is_valid_id(stem):
                            candidates.append(stem)
        except (FileNotFoundError, NotADirectoryError):
            pass
        return ids.pick(prefix, candidates, not_found_exit=not_found_exit)

    def _entry_from_file(self, path: Path) -> tuple[Summary, list[TurnFact]] | None:
        try:
            session = self.read_file(path)
            st = path.stat()
        except NotFoundError:
            return None
        except ClinvkError as exc:
            self.skipped.append(Skipped(path, exc.message))
            return None
        facts = turn_facts(session)
        return summarize(session, st.st_mtime_ns, facts, disk_bytes(st)), facts

    def short_ids(self, idents: list[str], minimum: int = ids.SHOWN_PREFIX) -> dict[str, str]:
        """For each id, the shortest prefix (≥ ``minimum``) that names it alone, from the
        files as `resolve` reads them: ids sharing two or more characters share a shard
        directory, so one listing per shard is enough."""
        listed: dict[str, list[str]] = {}
        result: dict[str, str] = {}
        for ident in idents:
            shard = shard_of(ident)
            if shard not in listed:
                try:
                    listed[shard] = [n[:-5] for n in os.listdir(self.sessions_dir / shard)
                                     if n.endswith(".json")]
                except OSError:
                    listed[shard] = []
            need = minimum
            for other in listed[shard]:
                if other == ident:
                    continue
                common = 0
                while common < min(len(ident), len(other)) and ident[common] == other[common]:
                    common += 1
                need = max(need, common + 1)
            result[ident] = ident[:need]
        return result

    def _summary_from_file(self, path: Path, state: IndexState | None = None) -> Summary | None:
        entry = self._entry_from_file(path)
        if entry is None:
            return None
        if state is not None:
            state.facts[entry[0].id] = entry[1]
        return entry[0]

    def _scan_shard(self, shard: str) -> dict[str, Path]:
        found: dict[str, Path] = {}
        directory = self.sessions_dir / shard
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = entry.name
                    if name.endswith(".json") and ids.is_valid_id(name[:-5]):
                        found[name[:-5]] = directory / name
        except (FileNotFoundError, NotADirectoryError):
            pass
        return found

    def _current_gen(self) -> int | None:
        try:
            return int((self.index_dir / "current").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def index(self, *, persist: bool = True) -> IndexState:
        """The index, repaired against the files where it is stale (and saved, if it can be)."""
        self.skipped = []
        base_bytes: bytes | None = None
        lines: list[_LogLine] = []
        for _attempt in range(5):
            gen = self._current_gen()
            if gen is None:
                base_bytes, lines = None, []
                break
            base_bytes = read_base_file(self.index_dir / f"base-{gen}.bin")
            got = read_log(self.index_dir / f"log-{gen}.jsonl") if base_bytes is not None else None
            if base_bytes is not None and got is not None:
                lines = got
                break
        else:
            base_bytes, lines = None, []
        try:
            base = _Base(base_bytes, ids.ID_LENGTH)
        except (ValueError, TypeError, msgspec.DecodeError, struct.error):
            base = _Base(None, ids.ID_LENGTH)
            base_bytes = None
        recorded = dict(base.header.shards)
        facts: dict[str, list[TurnFact]] = {}
        overrides, pending, unsure = apply_log(lines, recorded, facts)
        state = IndexState(base=base, overrides=overrides, facts=facts, log_lines=len(lines))
        actual = shard_mtimes(self.sessions_dir)
        stale = set(unsure)
        stale.update(s for s, m in actual.items() if recorded.get(s) != m)
        stale.update(s for s in recorded if s not in actual)
        for shard in sorted(stale):
            present = self._scan_shard(shard)
            state.rescanned[shard] = set(present)
            for ident, path in present.items():
                if ident in overrides or base.contains(ident):
                    continue
                summary = self._summary_from_file(path, state)
                if summary is None:
                    state.rescanned[shard].discard(ident)
                else:
                    overrides[ident] = summary
            for ident in list(overrides):
                if shard_of(ident) == shard and ident not in present:
                    overrides[ident] = None
        for ident in pending:
            overrides[ident] = self._summary_from_file(self.path_for(ident), state)
        state.shard_mtimes = actual
        self._remember_bad(base, state)
        state.needs_persist = bool(stale or pending or base_bytes is None and actual) or (
            len(lines) > LOG_COMPACT_LINES
        )
        if persist and state.needs_persist:
            self._try_compact()
        return state

    def _remember_bad(self, base: _Base, state: IndexState) -> None:
        """Skipped files stay reported on every list until they are fixed or removed."""
        known = {str(s.path) for s in self.skipped}
        for rel, reason in base.header.bad.items():
            path = self.root / rel
            shard = path.parent.name
            if shard in state.rescanned:
                continue  # the rescan re-checked it
            if str(path) not in known and path.exists():
                self.skipped.append(Skipped(path, reason))

    def _unchanged(self, summary: Summary) -> bool | None:
        """Whether the session file is still the one the summary was made from; None
        when it is gone. A file that cannot be stat'ed counts as unchanged."""
        ident = summary.id
        if not ids.is_valid_id(ident):
            raise ClinvkError(f"invalid session id: {ident!r}")
        try:
            # A plain string path: pathlib costs more than the stat itself at 100k rows.
            st = os.stat(f"{self._sessions_str}/{ident[:2]}/{ident}.json")
        except FileNotFoundError:
            return None
        except OSError:
            return True
        return st.st_mtime_ns == summary.mtime_ns

    def verify_entry(self, summary: Summary, facts: list[TurnFact]
                     ) -> tuple[Summary, list[TurnFact]] | None:
        """Like verify, for a summary with its turn facts."""
        unchanged = self._unchanged(summary)
        if unchanged is None:
            return None
        return (summary, facts) if unchanged else self._entry_from_file(self.path_for(summary.id))

    def verify(self, summary: Summary) -> Summary | None:
        """The summary, re-read from its file if the file changed behind the index's back."""
        unchanged = self._unchanged(summary)
        if unchanged is None:
            return None
        return summary if unchanged else self._summary_from_file(self.path_for(summary.id))

    def iter_sessions(self) -> Iterator[tuple[Path, Session | None, str | None]]:
        """Every session file with its record, or None and the reason it cannot be read."""
        try:
            shards = sorted(os.listdir(self.sessions_dir))
        except FileNotFoundError:
            return
        for shard in shards:
            for _ident, path in sorted(self._scan_shard(shard).items()):
                try:
                    yield path, self.read_file(path), None
                except NotFoundError:
                    continue
                except ClinvkError as exc:
                    yield path, None, exc.message

    # ---------------------------------------------------------------- locking
    def _filelock(self, path: Path, timeout: float) -> BaseFileLock:
        from filelock import FileLock

        return FileLock(str(path), timeout=timeout, mode=0o600)

    @contextlib.contextmanager
    def _store_lock(self, timeout: float = 60) -> Iterator[None]:
        self._ensure_dirs()
        from filelock import Timeout

        lock = self._filelock(self.locks_dir / "store.lock", timeout)
        try:
            with writing(self.root):
                lock.acquire()
        except Timeout:
            raise ClinvkError(
                "the session store is busy: another clinvk process has held it for "
                f"{timeout:.0f}s", hint="try again; `clinvk sessions doctor` checks the store"
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def lock(self, session_id: str, *, wait: float = 0, waitable: bool = False) -> Iterator[None]:
        """Hold a session's sidecar lock; SessionBusyError when another process has it.

        ``waitable``: the command takes --wait, so the busy hint may suggest it.
        """
        self._ensure_dirs()
        from filelock import Timeout

        lock = self._filelock(self.locks_dir / f"{session_id}.lock", max(0, wait))
        try:
            with writing(self.root):
                lock.acquire(blocking=wait > 0, timeout=wait if wait > 0 else -1)
        except Timeout:
            holder = ""
            with contextlib.suppress(ClinvkError):
                pid = self.read(session_id).pid
                if pid:
                    holder = f" (pid {pid})"
            retry = "retry with --wait SECONDS" if waitable else "retry"
            raise SessionBusyError(
                f"session busy: {session_id} is in use by another clinvk process{holder}",
                hint=f"wait for it to finish and {retry}, or `clinvk cancel {session_id}`",
            ) from None
        try:
            yield
        finally:
            if not self.exists(session_id):
                # Deleted (or never written): its lock file goes now, while held.
                with contextlib.suppress(ClinvkError, OSError):
                    self._drop_leftovers(session_id)
            lock.release()

    # ---------------------------------------------------------------- writing
    def _log_path(self) -> Path:
        gen = self._current_gen()
        if gen is None:
            # No index yet: start one so that writers have a log to append to.
            self._compact_locked()
            gen = self._current_gen()
        return self.index_dir / f"log-{gen}.jsonl"

    def _shard_mtime(self, shard_dir: Path) -> int | None:
        try:
            return shard_dir.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _write(self, session_id: str, change: Callable[[Path], Summary | None],
               facts: list[TurnFact] | None = None) -> Summary | None:
        """Apply a file change under the store lock, logging it for the index."""
        with writing(self.root), self._store_lock():
            log = self._log_path()
            summary = self._logged_change(log, session_id, change, facts)
            if not self.defer_compaction and self._log_length(log) > LOG_COMPACT_LINES:
                self._compact_locked()
        return summary

    def _logged_change(self, log: Path, session_id: str,
                       change: Callable[[Path], Summary | None],
                       facts: list[TurnFact] | None) -> Summary | None:
        """One file change wrapped in the index log's begin and put/del lines, with the
        shard's mtime before and after (the store lock is held)."""
        path = self.path_for(session_id)
        m0 = self._shard_mtime(path.parent)
        _mkdir_private(path.parent)
        write_log_line(log, _LogLine(op="begin", id=session_id))
        summary = change(path)
        m1 = self._shard_mtime(path.parent)
        op = "put" if summary is not None else "del"
        write_log_line(log, _LogLine(op=op, id=session_id, shard=shard_of(session_id), m0=m0,
                                     m1=m1, s=summary, f=facts if summary is not None else None))
        return summary

    def compact_if_due(self) -> None:
        """Fold the index log into a new snapshot if it has grown past its limit."""
        gen = self._current_gen()
        if gen is None or self._log_length(self.index_dir / f"log-{gen}.jsonl") <= LOG_COMPACT_LINES:
            return
        with self._store_lock():
            log = self.index_dir / f"log-{self._current_gen()}.jsonl"
            if self._log_length(log) > LOG_COMPACT_LINES:
                self._compact_locked()

    def _log_length(self, log: Path) -> int:
        try:
            size = log.stat().st_size
        except FileNotFoundError:
            return 0
        # Cheap estimate: lines are rarely under 40 bytes; an exact count only near the limit.
        if size < LOG_COMPACT_LINES * 40:
            return 0
        with open(log, "rb") as f:
            return f.read().count(b"\n")

    def save(self, session: Session) -> None:
        """Write a session (the caller holds its lock for any read-modify-write)."""
        session.version = SCHEMA_VERSION
        data = encode_session(session)

        facts = turn_facts(session)

        def change(path: Path) -> Summary:
            atomic_write(path, data)
            st = path.stat()
            return summarize(session, st.st_mtime_ns, facts, disk_bytes(st))

        self._write(session.id, change, facts)

    def create(self, session: Session) -> Session:
        """Store a new session under a fresh id (the id in `session` is replaced)."""
        self._ensure_dirs()
        for _ in range(20):
            candidate = ids.new_id()
            if not self.exists(candidate):
                break
        else:  # pragma: no cover - 36**8 ids
            raise ClinvkError("could not find a free session id")
        session.id = candidate
        with self.lock(candidate):
            if self.exists(candidate):  # another process took it between our check and lock
                return self.create(session)
            self.save(session)
        return session

    def insert(self, session: Session) -> None:
        """Store a session under its own id; fails if that id is taken."""
        with self.lock(session.id):
            if self.exists(session.id):
                raise ClinvkError(f"session {session.id} already exists")
            self.save(session)

    def delete(self, session_id: str) -> None:
        def change(path: Path) -> None:
            _unlink(path)
            _fsync_dir(path.parent)

        self._write(session_id, change)

    def _drop_leftovers(self, session_id: str) -> None:
        """Remove a deleted session's lock file and its shard dir if now empty.

        Called by ``lock`` on the way out, so the session's lock is held. Why this
        opens no lock race: the lock file
        goes only while its lock is held (and the store lock, which every file change
        takes), and only once the data file is gone. A writer that opened the old lock
        file and waits on it gets it after us on an unlinked file, which the lock
        library notices and retries on the path; a writer that opens the path later
        creates a fresh lock file. Either way it then finds no session and fails
        cleanly. An empty shard dir is removed under the store lock, and every writer
        creates the shard dir under that same lock just before writing into it.
        """
        with self._store_lock():
            self._drop_leftovers_locked([session_id])

    def _drop_leftovers_locked(self, session_ids: list[str]) -> None:
        shards: set[str] = set()
        for ident in session_ids:
            if self.exists(ident):
                continue  # re-created meanwhile: its lock is still needed
            _unlink(self.locks_dir / f"{ident}.lock")
            shards.add(shard_of(ident))
        for shard in shards:
            with contextlib.suppress(OSError):
                os.rmdir(self.sessions_dir / shard)  # fails, as it should, unless empty

    def delete_many(self, session_ids: list[str],
                    progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Delete several sessions under one store lock; busy ones are kept. Returns the deleted ids."""
        from filelock import Timeout

        deleted: list[str] = []
        with self._store_lock():
            log = self._log_path()
            for n, ident in enumerate(session_ids, 1):
                lock = self._filelock(self.locks_dir / f"{ident}.lock", 0)
                try:
                    lock.acquire(blocking=False)
                except Timeout:
                    continue
                try:
                    # The directories are synced once at the end, not once per file.
                    self._logged_change(log, ident, _unlink, None)
                    deleted.append(ident)
                    # Both locks are held and the file is gone (see drop_leftovers).
                    _unlink(self.locks_dir / f"{ident}.lock")
                finally:
                    lock.release()
                if progress:
                    progress(n, len(session_ids))
            for shard in {shard_of(i) for i in deleted}:
                _fsync_dir(self.sessions_dir / shard)
            self._drop_leftovers_locked(deleted)
            if self._log_length(log) > LOG_COMPACT_LINES:
                self._compact_locked()
        return deleted

    def update(self, session_id: str, fn: Callable[[Session], Any], *, wait: float = 0,
               waitable: bool = False) -> Session:
        """Locked read-modify-write of one session (``waitable`` as for ``lock``)."""
        with self.lock(session_id, wait=wait, waitable=waitable):
            session = self.read(session_id)
            fn(session)
            self.save(session)
            return session

    # ---------------------------------------------------------------- index upkeep
    def _try_compact(self) -> None:
        """Save a repaired index if the store lock is free right now; a cache can wait."""
        from filelock import Timeout

        try:
            self._ensure_dirs()
            lock = self._filelock(self.locks_dir / "store.lock", 0)
            lock.acquire(blocking=False)
        except (Timeout, OSError):
            return
        try:
            self._compact_locked()
        except OSError as exc:
            self._warn_index(exc)
        finally:
            lock.release()

    def rebuild_index(self) -> None:
        with self._store_lock():
            self._compact_locked(from_scratch=True)

    def _compact_locked(self, *, from_scratch: bool = False) -> None:
        """Write a fresh snapshot of the whole index (the store lock is held).

        The index is derived: it must never stop the store from working. A snapshot
        that cannot be built from the current view is rebuilt from the files; if even
        that fails, an empty snapshot is written so that readers fall back to the files
        themselves, with one warning, and the command goes on."""
        failure: Exception | None = None
        skipped = self.skipped
        for scratch in ((True,) if from_scratch else (False, True)):
            try:
                self._write_snapshot(from_scratch=scratch)
                return
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure to build a cache is bypassed
                failure = exc
                self.skipped = skipped
        assert failure is not None
        self._warn_index(failure)
        self._write_snapshot(empty=True)

    def _warn_index(self, exc: BaseException) -> None:
        if self._index_warned:
            return
        self._index_warned = True
        why = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)
        print(f"clinvk: warning: could not save the session index ({why}); reading the "
              "session files instead. `clinvk sessions doctor` names the cause.",
              file=sys.stderr)

    def _write_snapshot(self, *, from_scratch: bool = False, empty: bool = False) -> None:
        """The snapshot itself: from the current view, from the files, or (``empty``) one
        that vouches for no shard, so every reader rescans the files."""
        saved_skipped = self.skipped
        entries: list[tuple[Summary, list[TurnFact]]] = []
        raw: list[tuple[str, bytes | memoryview, bytes | memoryview]] = []
        if empty:
            actual = {}
        elif from_scratch:
            self.skipped = []
            actual = shard_mtimes(self.sessions_dir)
            for shard in sorted(actual):
                for _ident, path in sorted(self._scan_shard(shard).items()):
                    entry = self._entry_from_file(path)
                    if entry is not None:
                        entries.append(entry)
        else:
            # Read the shard mtimes before the state: a change in between only makes the
            # next reader rescan, never miss something.
            actual = shard_mtimes(self.sessions_dir)
            state = self.index(persist=False)
            raw = list(state.iter_raw())
        bad = {str(s.path.relative_to(self.root)): s.reason for s in self.skipped
               if s.path.is_relative_to(self.root)}
        self.skipped = saved_skipped if not from_scratch else self.skipped
        _mkdir_private(self.index_dir)
        old = self._current_gen()
        gen = (old or 0) + 1
        snapshot = (encode_base(entries, actual, ids.ID_LENGTH, bad) if from_scratch or empty
                    else encode_base_raw(raw, actual, bad))
        atomic_write(self.index_dir / f"base-{gen}.bin", snapshot)
        atomic_write(self.index_dir / f"log-{gen}.jsonl", b"")
        atomic_write(self.index_dir / "current", f"{gen}\n".encode())
        if old is not None:
            for name in (f"base-{old}.bin", f"log-{old}.jsonl"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.index_dir / name)

