"""The session store: one JSON file per session under the data dir — files, locks and
atomic writes.

Layout (all under ``CLINVK_HOME`` or the platform user data dir)::

    sessions/<first two chars of the id>/<id>.json   the records (the truth)
    locks/<id>.lock                                   one sidecar lock per session
    catalog.db                                        derived views, see clinvk.catalog
    last-write                                        touched by every write (``stamp_path``)
    quarantine/                                       where `sessions doctor --fix` moves bad files

Writes are atomic (clinvk.atomic). Writers hold the session's lock for the whole
read-modify-write; readers never lock. Once a write is done and its lock released, the
change is put into the catalog (a busy catalog is left stale for its next reader), except
a finished turn's, which its next reader takes from the file (``leave_to_readers``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from clinvk import ids
from clinvk.atomic import atomic_write, fsync_dir, mkdir_private
from clinvk.errors import ClinvkError, NotFoundError, SessionBusyError, SessionError
from clinvk.model import SCHEMA_VERSION, Session

if TYPE_CHECKING:
    from filelock import BaseFileLock

# Catalog changes an import, a bulk delete or a sync gathers before putting them in one
# go: so many, or sooner once their session files add up to so many bytes (memory).
BATCH_FLUSH = 1000
BATCH_FLUSH_BYTES = 8 << 20


class _VersionView(msgspec.Struct):
    version: int = 1


_version_decoder = msgspec.json.Decoder(_VersionView)
# Made at the first read: building it walks every Struct of a session (~6 M instructions),
# which `sessions list` (the catalog answers it) never needs.
_session_decoder: msgspec.json.Decoder[Session] | None = None
_encoder = msgspec.json.Encoder()


class CorruptSessionError(SessionError):
    """A session file that cannot be read as a session."""


class StoreWriteError(ClinvkError):
    """The store cannot be written (disk full, read-only, no permission)."""


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
    global _session_decoder
    if _session_decoder is None:
        _session_decoder = msgspec.json.Decoder(Session)
    try:
        return _session_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptSessionError(f"session file {name} is corrupt: {exc}") from None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


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
        raise StoreWriteError(
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
        self.locks_dir = root / "locks"
        self.quarantine_dir = root / "quarantine"
        # Its mtime moves with every session written or deleted here: a process that keeps
        # the catalog open (clinvk serve) sees at a glance that it must look again.
        self.stamp_path = root / "last-write"
        # Ids whose lock this object holds, and the catalog changes not put yet: a change
        # waits for its lock's release (and a batch for its end), so that the catalog
        # never holds up a writer that others wait for.
        self._held: set[str] = set()
        self._pending: dict[str, tuple[bytes | None, Path]] = {}
        self._pending_bytes = 0
        self._batching = 0
        self._exit_hook = False
        self._mutex = threading.Lock()

    # ---------------------------------------------------------------- paths
    def path_for(self, session_id: str) -> Path:
        if not ids.is_valid_id(session_id):
            # Ids reach here only after validation; this guards every path we build.
            raise ClinvkError(f"invalid session id: {session_id!r}")
        return self.sessions_dir / session_id[:2] / f"{session_id}.json"

    def _ensure_dirs(self) -> None:
        with writing(self.root):
            for d in (self.root, self.sessions_dir, self.locks_dir):
                mkdir_private(d)

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

    def load(self, text: str) -> Session:
        """The session a full id or unique prefix names."""
        return self.read(self.resolve(text))

    def _shard_ids(self, shard: str) -> list[str]:
        try:
            names = os.listdir(self.sessions_dir / shard)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [i for i in (ids.file_id(n, shard) for n in names) if i is not None]

    def resolve(self, text: str, *, not_found_exit: int = 1) -> str:
        """A full id or unique prefix (≥ 4 chars) → the full id, from the files themselves."""
        prefix = ids.check_prefix(text)
        candidates = [i for i in self._shard_ids(prefix[:2]) if i.startswith(prefix)]
        return ids.pick(prefix, candidates, not_found_exit=not_found_exit)

    def short_ids(self, idents: list[str], minimum: int = ids.SHOWN_PREFIX) -> dict[str, str]:
        """For each id, the shortest prefix (≥ ``minimum``) that names it alone, from the
        files as `resolve` reads them: ids sharing two or more characters share a shard
        directory, so one listing per shard is enough. In a sorted listing the id sharing
        the longest prefix with another is one of its two neighbours, so only those are
        looked at (file names sort as their ids do: every id has the same length)."""
        from bisect import bisect_left

        listed: dict[str, list[str]] = {}
        result: dict[str, str] = {}
        for ident in idents:
            shard = ident[:2]
            if shard not in listed:
                try:
                    listed[shard] = sorted(os.listdir(self.sessions_dir / shard))
                except (FileNotFoundError, NotADirectoryError):
                    listed[shard] = []
            names = listed[shard]
            at = bisect_left(names, f"{ident}.json")
            need = minimum
            for step, start in ((-1, at - 1), (1, at)):
                index = start
                while 0 <= index < len(names):
                    other = ids.file_id(names[index], shard)
                    if other is not None and other != ident:
                        common = 0
                        while common < len(ident) and ident[common] == other[common]:
                            common += 1
                        need = max(need, common + 1)
                        break
                    index += step
            result[ident] = ident[:need]
        return result

    # ---------------------------------------------------------------- locking
    def _filelock(self, path: Path, timeout: float) -> BaseFileLock:
        from filelock import FileLock

        return FileLock(str(path), timeout=timeout, mode=0o600)

    @contextlib.contextmanager
    def lock(self, session_id: str, *, wait: float = 0, waitable: bool = False,
             flush: bool = True) -> Iterator[None]:
        """Hold a session's sidecar lock; SessionBusyError when another process has it.

        ``waitable``: the command takes --wait, so the busy hint may suggest it.
        ``flush`` False leaves the session's catalog change pending on release, for
        whoever writes it next in this process (or for the process's exit); inside a
        batch it goes with the batch's.
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
        with self._mutex:
            self._held.add(session_id)
        try:
            yield
        finally:
            if not self.exists(session_id):
                # Deleted (or never written): its lock file goes now, while held.
                with contextlib.suppress(ClinvkError, OSError):
                    self._drop_leftovers([session_id])
            with self._mutex:
                self._held.discard(session_id)
            lock.release()
            if flush or self._batching:
                self._flush()
            else:
                self._flush_at_exit()

    # ---------------------------------------------------------------- writing
    def save(self, session: Session) -> None:
        """Write a session (the caller holds its lock for any read-modify-write)."""
        session.version = SCHEMA_VERSION
        data = encode_session(session)
        path = self.path_for(session.id)
        with writing(self.root):
            for attempt in range(3):
                mkdir_private(path.parent)
                try:
                    atomic_write(path, data)
                    break
                except FileNotFoundError:
                    # The shard directory was removed as empty (_drop_leftovers) between
                    # our mkdir and our write: make it again.
                    if attempt == 2:
                        raise
        self._changed(session.id, data, path)

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
        # A new session is mostly written again at once (a turn's checkpoints and final
        # save): its catalog change goes with those, one catalog write, not two.
        with self.lock(candidate, flush=False):
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
        path = self.path_for(session_id)
        with writing(self.root):
            _unlink(path)
            with contextlib.suppress(FileNotFoundError):
                fsync_dir(path.parent)
        self._changed(session_id, None, path)

    def _drop_leftovers(self, session_ids: list[str]) -> None:
        """Remove deleted sessions' lock files, and their shard dirs if now empty.

        The caller holds each session's lock, and the data file is gone. A writer that
        opened the old lock file and waits on it gets it after us on an unlinked file,
        which the lock library notices and retries on the path; a writer that opens the
        path later creates a fresh lock file. Either way it then finds no session and
        fails cleanly. A shard dir goes only when empty (rmdir), and a writer that
        loses its shard dir this way between making it and writing into it makes it
        again (save).
        """
        shards: set[str] = set()
        for ident in session_ids:
            if self.exists(ident):
                continue  # re-created meanwhile: its lock is still needed
            _unlink(self.locks_dir / f"{ident}.lock")
            shards.add(ident[:2])
        for shard in shards:
            with contextlib.suppress(OSError):
                os.rmdir(self.sessions_dir / shard)  # fails, as it should, unless empty

    def delete_many(self, session_ids: list[str],
                    progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Delete several sessions; busy ones are kept. Returns the deleted ids."""
        from filelock import Timeout

        deleted: list[str] = []
        with self.batch():
            for n, ident in enumerate(session_ids, 1):
                lock = self._filelock(self.locks_dir / f"{ident}.lock", 0)
                try:
                    lock.acquire(blocking=False)
                except Timeout:
                    continue
                try:
                    path = self.path_for(ident)
                    with writing(self.root):
                        _unlink(path)
                    self._changed(ident, None, path)
                    deleted.append(ident)
                    # Both the lock and the file's absence hold (see _drop_leftovers).
                    _unlink(self.locks_dir / f"{ident}.lock")
                finally:
                    lock.release()
                if progress:
                    progress(n, len(session_ids))
            # The directories are synced once at the end, not once per file.
            for shard in {i[:2] for i in deleted}:
                with contextlib.suppress(FileNotFoundError):
                    fsync_dir(self.sessions_dir / shard)
            for shard in {i[:2] for i in deleted}:
                with contextlib.suppress(OSError):
                    os.rmdir(self.sessions_dir / shard)  # only if empty
        return deleted

    def update(self, session_id: str, fn: Callable[[Session], Any], *, wait: float = 0,
               waitable: bool = False) -> Session:
        """Locked read-modify-write of one session (``waitable`` as for ``lock``)."""
        with self.lock(session_id, wait=wait, waitable=waitable):
            session = self.read(session_id)
            fn(session)
            self.save(session)
            return session

    # ---------------------------------------------------------------- the catalog
    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Put the changes made in the block into the catalog together (in batches of
        BATCH_FLUSH), not one by one."""
        with self._mutex:
            self._batching += 1
        try:
            yield
        finally:
            with self._mutex:
                self._batching -= 1
            self._flush()

    def _stamp(self) -> None:
        """Move the mtime of ``stamp_path`` (made if missing); quietly nothing if it
        cannot be, since the catalog's full freshness check needs no stamp."""
        try:
            os.utime(self.stamp_path)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                os.close(os.open(self.stamp_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                                 0o600))
        except OSError:
            pass

    def leave_to_readers(self, session_id: str) -> None:
        """Put this session's pending catalog change nowhere: the catalog's next reader
        takes it from the file, since the write moved its shard directory's mtime (the
        freshness check, clinvk.catalog.refresh). For a finished turn, whose catalog
        write would cost it more than the rest of its bookkeeping."""
        with self._mutex:
            data, _path = self._pending.pop(session_id, (None, None))
            self._pending_bytes -= len(data or b"")

    def _flush_at_exit(self) -> None:
        """Put what is still pending when the process ends (a lost change is only a stale
        catalog: its next reader repairs it from the file)."""
        if not self._exit_hook:
            import atexit

            atexit.register(self._flush)
            self._exit_hook = True

    def _changed(self, session_id: str, data: bytes | None, path: Path) -> None:
        self._stamp()
        with self._mutex:
            old, _path = self._pending.get(session_id, (None, None))
            self._pending_bytes += len(data or b"") - len(old or b"")
            self._pending[session_id] = (data, path)
            held = session_id in self._held
        if not held:
            self._flush()

    def _flush(self) -> None:
        """Put the pending changes whose locks are released into the catalog (in a
        batch, only once BATCH_FLUSH of them, or BATCH_FLUSH_BYTES, have gathered)."""
        with self._mutex:
            if self._batching and len(self._pending) < BATCH_FLUSH and (
                    self._pending_bytes < BATCH_FLUSH_BYTES):
                return
            ready = {i: c for i, c in self._pending.items() if i not in self._held}
            for ident, (data, _path) in ready.items():
                del self._pending[ident]
                self._pending_bytes -= len(data or b"")
        if not ready:
            return
        from clinvk.catalog import record

        def changes() -> Iterator[tuple[str, Session | None, Path]]:
            # Decoded only if there is a catalog to put them in.
            for ident, (data, path) in ready.items():
                try:
                    session = None if data is None else decode_session(data, str(path))
                except SessionError:
                    continue
                yield ident, session, path

        record(self.root, changes())
