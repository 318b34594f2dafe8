"""The catalog: every derived view of the session store, in one SQLite file.

The session files are the truth; ``<store>/catalog.db`` is what clinvk knows about them,
kept so that listing, searching and adding up 100,000 sessions never means reading
100,000 files. Commands ask it (``rows``, ``aggregate``, ``storage``, ``check``) and
never look at the files to double-check an answer: ``open`` brings it up to date first
(clinvk.catalog.refresh).

Deleting ``catalog.db`` is always safe: the next command builds it again, with a
progress line on stderr when that takes more than a second. A catalog that cannot be
used (damaged, truncated, of another schema) is rebuilt with one warning; if even that
fails (say a read-only store), the answer is built from the files in memory, with one
warning, slowly. An SQLite error never reaches the user as such.

Writers (clinvk.store) put what they wrote right after writing the file
(``record``); a busy catalog makes them give up after a short wait, leaving the catalog
stale for the next reader to repair.

The package: ``schema`` (tables, versions), ``ingest`` (the rows of a session),
``refresh`` (freshness and builds), ``queries`` and ``aggregate`` (the questions),
``lookup`` (the quick ones shell completion asks).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from clinvk.catalog.queries import Filter, Mismatch, SessionRow, Storage

if TYPE_CHECKING:
    import sqlite3

    from clinvk.catalog.export import Rows as ExportRows
    from clinvk.catalog.queries import Dead, Sums
    from clinvk.catalog.refresh import Files
    from clinvk.catalog.tools import ToolReport
    from clinvk.model import Session
    from clinvk.stats import Report

__all__ = ["Catalog", "Filter", "Mismatch", "Page", "SessionRow", "Skipped", "Storage",
           "catalog_path", "record"]

# How long a writer waits for a busy catalog before leaving it stale.
WRITER_BUSY_MS = 2_000
# How long a reader keeps waiting for a busy catalog before it counts as broken.
BUSY_WAIT_S = 30.0
# `Catalog.peek` (shell completion): how long it waits for a busy catalog, how many
# changed shard directories it still brings up to date (each is one listing and a stat
# per file in it, about 80 files at 100,000 sessions), and up to how many session files
# it builds a missing or unusable catalog (about a tenth of a second).
PEEK_BUSY_MS = 50
PEEK_MAX_STALE_SHARDS = 16
PEEK_BUILD_UP_TO = 300


def catalog_path(root: Path) -> Path:
    return root / "catalog.db"


class Skipped(msgspec.Struct):
    """A session file that could not be read, and why."""

    path: Path
    reason: str


class Page(msgspec.Struct):
    """Some rows of a listing and how many rows the whole listing has."""

    rows: Iterator[SessionRow]
    total: int


class _Progress:
    """A progress line on stderr for a build that takes more than a second."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.began = time.monotonic()
        self.shown = False
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self.began < 1.0 and not self.shown:
            return
        if self.tty:
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\rclinvk: {self.what}: {done:,}/{total:,} session files{end}")
            sys.stderr.flush()
        elif not self.shown:
            sys.stderr.write(f"clinvk: {self.what} from {total:,} session files…\n")
        self.shown = True


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (5, 6) or "locked" in str(exc) or "busy" in str(exc)


def _shown_status(rows: Iterator[SessionRow]) -> Iterator[SessionRow]:
    """The rows, a `running` one whose runner is gone shown as `error` (as
    queries.dead_running would have it, for the rows read only)."""
    from clinvk.liveness import runner_dead

    for row in rows:
        if row.recorded_status == "running" and runner_dead("running", row.pid, row.pid_start):
            row.status = "error"
        yield row


class Catalog:
    """The catalog of one store, up to date as of ``open``."""

    def __init__(self, files: Files, conn: sqlite3.Connection | None) -> None:
        self.files = files
        self.path = catalog_path(files.root)
        self.conn = conn
        self.in_memory = False
        self.skipped: list[Skipped] = []
        self._dead: Dead | None = None
        # The search whose sessions temp.hits holds, and what its snippets look for.
        self._hits: tuple[str, str | None] | None = None
        self._data_version: int | None = None
        # What ``written`` saw last: the catalog file's inode, its change counter, the
        # store's write stamp.
        self._inode: int | None = None
        self._seen_version: int | None = None
        self._stamp: int | None = None

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, files: Files) -> Catalog:
        """The store's catalog, built or refreshed from the files as needed."""
        if not _has_shards(files.sessions_dir):
            return cls(files, None)  # no session yet: nothing to ask SQLite
        catalog = cls(files, None)
        catalog._guarded(catalog._open_file, again=False)
        return catalog

    @classmethod
    def peek(cls, files: Files) -> Catalog | None:
        """The catalog for an answer that cannot wait (shell completion). A usable one
        is brought up to date when at most PEEK_MAX_STALE_SHARDS shard directories
        changed (the usual case: the last few writes), else taken as it stands, as it is
        when another process holds it. A missing or unusable one is built (as `open`
        does) only for a store of at most PEEK_BUILD_UP_TO session files; for a larger
        store, or while another process builds it, the answer is None: nothing is
        waited for."""
        import sqlite3

        from clinvk.catalog import refresh, schema

        root = files.root
        if _being_built(root) or not _has_shards(files.sessions_dir):
            return None
        conn = None
        if catalog_path(root).is_file():
            try:
                conn = schema.connect(catalog_path(root), busy_ms=PEEK_BUSY_MS)
                schema.check_version(conn)
            except (sqlite3.Error, OSError, schema.Unusable):
                if conn is not None:
                    conn.close()
                conn = None
        if conn is None:
            if not _at_most(files.sessions_dir, PEEK_BUILD_UP_TO):
                return None
            return cls.open(files)
        try:
            refresh.refresh(conn, files, max_shards=PEEK_MAX_STALE_SHARDS)
        except (sqlite3.Error, OSError):
            pass  # busy or read-only: what it holds is still a fair answer
        return cls(files, conn)

    def _open_file(self) -> None:
        from clinvk.catalog import refresh, schema

        # Never touch a catalog that another process is building: wait for it.
        with self._build_lock(shared=True):
            conn = schema.connect(self.path)
            try:
                schema.check_version(conn)
                usable = True
            except schema.Unusable:
                conn.close()
                usable = False
        if not usable:
            conn = self._build_locked()
        self.conn = conn
        self._inode = self._file_inode()
        try:
            refresh.refresh(conn, self.files)
        except Exception as exc:
            if not _is_busy(exc):
                raise
            # Someone is writing it: answer from the last committed state.
        self._load_skipped()
        self._data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _file_inode(self) -> int | None:
        import os

        try:
            return os.stat(self.path).st_ino
        except OSError:
            return None

    def written(self) -> bool:
        """Whether the store or the catalog changed under this open catalog since the last
        call: a session written or deleted through the store (its ``stamp_path`` moved),
        another connection committed to the catalog (SQLite's ``data_version``), or
        another process replaced the file. Cheap; what it cannot see (a session file
        changed behind clinvk's back, a vendor process that died) only ``poll`` finds."""
        import os

        try:
            stamp: int | None = os.stat(self.files.stamp_path).st_mtime_ns
        except OSError:
            stamp = None
        seen_stamp, self._stamp = self._stamp, stamp
        if self.conn is None or self.in_memory or self._file_inode() != self._inode:
            return True
        try:
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        except Exception:  # noqa: BLE001 - unusable now: refresh sorts it out
            return True
        seen, self._seen_version = self._seen_version, version
        return (seen is not None and seen != version) or seen_stamp != stamp

    def _build_locked(self, reason: str | None = None, *, force: bool = False
                      ) -> sqlite3.Connection:
        """Build the catalog file anew (waiting for a process that is building it), with
        a warning naming ``reason`` if given. Unless ``force`` or ``reason``, a catalog
        that another process built meanwhile is used as it is."""
        from clinvk.catalog import refresh, schema

        with self._build_lock():
            if reason is None and not force:
                conn = schema.connect(self.path)
                try:
                    schema.check_version(conn)
                    return conn  # built by the process we waited for
                except schema.Unusable as exc:
                    reason = None if not self._had_rows(conn) else str(exc)
                except Exception as exc:
                    if _is_busy(exc):
                        raise
                    reason = str(exc)
                conn.close()
            if reason is not None:
                self._warn(f"the session catalog {self.path} cannot be used ({reason}); "
                           "rebuilding it from the session files")
            schema.remove(self.path)
            self._drop_legacy_index()
            conn = schema.connect(self.path, building=True)
            schema.create(conn)
            refresh.build(conn, self.files, _Progress("building the session catalog"))
            schema.finish_build(conn)
            return conn

    @staticmethod
    def _had_rows(conn: sqlite3.Connection) -> bool:
        """Whether the file held anything (an empty file is a first build, no warning)."""
        try:
            return bool(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        except Exception:  # noqa: BLE001 - unreadable: it held something
            return True

    @contextlib.contextmanager
    def _build_lock(self, *, shared: bool = False) -> Iterator[None]:
        """The lock a build holds (exclusive); readers take it shared while they open the
        file, so that they wait for a build in progress instead of meddling with it."""
        import fcntl
        import os

        kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fd = build_lock_fd(self.files.root, create=not shared)
        except OSError:
            if not shared:
                raise
            fd = None  # no locks dir, e.g. a read-only store: nobody builds there
        if fd is None:
            yield
            return
        try:
            try:
                fcntl.flock(fd, kind | fcntl.LOCK_NB)
            except BlockingIOError:
                self._note("waiting for another clinvk process to build the session catalog")
                fcntl.flock(fd, kind)
            yield
        finally:
            os.close(fd)

    def _drop_legacy_index(self) -> None:
        """The index of clinvk before the catalog: derived data nothing reads any more."""
        import shutil

        legacy = self.files.root / "index"
        if legacy.is_dir() and not legacy.is_symlink():
            shutil.rmtree(legacy, ignore_errors=True)

    def _guarded(self, fn: Callable[[], Any], *, again: bool = True) -> Any:
        """Run fn; on an SQLite failure rebuild the catalog once, then fall back to an
        in-memory catalog read from the files (each step with one warning), and run fn
        again on what it got (unless not ``again``: fn was the opening itself). fn takes
        no arguments: it reads ``self.conn`` when it runs, so a retry uses the new one."""
        import sqlite3

        from clinvk.catalog import schema

        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            try:
                return fn()
            except (sqlite3.Error, schema.Unusable, OSError) as exc:
                if _is_busy(exc) and time.monotonic() < deadline:
                    # Another process holds the catalog for a while (a long import, say):
                    # wait, it is not broken.
                    time.sleep(0.1)
                    continue
                if self.in_memory:
                    raise self._failed(exc) from None
                first = exc
                break
        try:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            self.conn = self._build_locked(reason=str(first))
            self._inode = self._file_inode()
            self._dead = self._hits = None
            self._load_skipped()
            return fn() if again else None
        except (sqlite3.Error, OSError, schema.Unusable) as exc:
            self._warn(f"cannot rebuild the session catalog ({exc}); reading the session "
                       "files directly, which is slow")
        try:
            self._open_memory()
            return fn() if again else None
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def _conn(self) -> sqlite3.Connection:
        """The connection as it is now (a rebuild replaces it)."""
        assert self.conn is not None
        return self.conn

    def _open_memory(self) -> None:
        from clinvk.catalog import refresh, schema

        self.in_memory = True
        self._dead = self._hits = None
        conn = schema.connect(":memory:")
        schema.create(conn)
        refresh.build(conn, self.files, _Progress("reading the session files"))
        self.conn = conn
        self._load_skipped()

    def _failed(self, exc: BaseException) -> Exception:
        from clinvk.errors import ClinvkError

        return ClinvkError(f"cannot read the session catalog: {exc}",
                           hint="`clinvk sessions doctor --fix` rebuilds it")

    def _warn(self, text: str) -> None:
        from clinvk.output import warn

        warn(text)

    def _note(self, text: str) -> None:
        sys.stderr.write(f"clinvk: {text}…\n")

    def _load_skipped(self) -> None:
        assert self.conn is not None
        self.skipped = [Skipped(self.files.root / path, reason) for path, reason in
                        self.conn.execute("SELECT path, reason FROM bad ORDER BY path")]

    def _dead_running(self) -> Dead:
        from clinvk.catalog.queries import dead_running

        if self._dead is None:
            assert self.conn is not None
            self._dead = dead_running(self.conn)
        return self._dead

    def _search(self, flt: Filter) -> str | None:
        """Put the sessions holding the filter's search text into temp.hits, unless they
        are there already (the catalog unchanged since); what snippets look for, if any."""
        if not flt.search:
            return None
        if self._hits is None or self._hits[0] != flt.search:
            from clinvk.catalog.queries import fill_hits

            assert self.conn is not None
            self._hits = (flt.search, fill_hits(self.conn, flt.search))
        return self._hits[1]

    # ------------------------------------------------------------ questions
    def rows(self, flt: Filter | None = None, offset: int = 0, limit: int | None = None,
             *, snippets: bool = False, order: str = "last_used") -> Page:
        """The sessions that pass the filter in ``order`` (queries.ORDERS; default
        newest last use first): rows from ``offset``, at most ``limit`` (None: all),
        and the total. With a search and ``snippets``, each row carries the fragment of
        its text that matched."""
        flt = flt or Filter()
        if self.conn is None:
            return Page(iter(()), 0)
        return self._guarded(  # type: ignore[no-any-return]
            lambda: self._rows(flt, offset, limit, snippets, order))

    def _rows(self, flt: Filter, offset: int, limit: int | None, snippets: bool,
              order: str) -> Page:
        from clinvk.catalog import queries

        assert self.conn is not None
        # Only a status filter needs every dead runner first (status_sql); otherwise the
        # few rows shown that say running are checked as they are read (_shown_status).
        dead = self._dead_running() if flt.status is not None else self._dead
        expr = self._search(flt)
        hits = bool(flt.search)
        total = queries.count(self.conn, flt, dead or {}, hits=hits)
        found = queries.rows(self.conn, flt, dead or {}, offset, limit, hits=hits, order=order)
        if dead is None:
            found = _shown_status(found)
        if snippets and expr is not None:
            page = list(found)
            ids = [r.id for r in page]
            marks = self._guarded(lambda: queries.snippets(self._conn(), expr, ids))
            for row in page:
                row.snippet = marks.get(row.id)
            return Page(iter(page), total)
        return Page(self._safely(found), total)

    def _safely(self, rows: Iterator[SessionRow]) -> Iterator[SessionRow]:
        """Rows as they are read; an SQLite failure midway becomes a clean error."""
        import sqlite3

        try:
            yield from rows
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def sums(self, flt: Filter | None = None) -> Sums:
        """How many sessions pass the filter, with their tokens and cost added up."""
        from clinvk.catalog.queries import Sums, sums

        flt = flt or Filter()
        if self.conn is None:
            return Sums(0, 0, None)

        def run() -> Sums:
            assert self.conn is not None
            self._search(flt)
            return sums(self.conn, flt, self._dead_running())

        return self._guarded(run)  # type: ignore[no-any-return]

    def poll(self) -> bool:
        """The freshness check again, for a long-lived reader (`sessions browse`): bring
        the catalog up to date with the files; True if anything may have changed since
        the last call (a file, another process's write, a runner that died). A catalog
        file that another process replaced (rebuilt) is opened anew."""
        had = self.conn is not None
        replaced = had and not self.in_memory and self._file_inode() != self._inode
        if self.conn is None or replaced:
            self.close()
            self._dead = self._hits = None
            if not _has_shards(self.files.sessions_dir):
                return had
            self._guarded(self._open_file, again=False)
            return True

        def run() -> bool:
            from clinvk.catalog import refresh

            assert self.conn is not None
            try:
                changed = refresh.refresh(self.conn, self.files)
            except Exception as exc:
                if not _is_busy(exc):
                    raise
                changed = False  # being written: next time
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
            changed = changed or version != self._data_version
            self._data_version = version
            if changed:
                self._dead = self._hits = None
                self._load_skipped()
                return True
            # Nothing written: only a runner that died since changes what is shown.
            from clinvk.catalog.queries import dead_running

            dead = dead_running(self.conn)
            if dead == self._dead_running():
                return False
            self._dead, self._hits = dead, None
            return True

        return self._guarded(run)  # type: ignore[no-any-return]

    def aggregate(self, by: str | None, start: float | None, end: float | None,
                  flt: Filter | None = None) -> Report:
        """The stats of the filtered sessions' turns started in [start, end), per group
        (``tool``: the totals only; the tool calls are counted by ``tools``)."""
        from clinvk.stats import TOOL_GROUP, Report, check_group

        check_group(by)
        if self.conn is None:
            return Report(by, start, end)
        from clinvk.catalog.aggregate import aggregate

        def run() -> Report:
            assert self.conn is not None
            self._search(flt or Filter())
            report = aggregate(self.conn, None if by == TOOL_GROUP else by, start, end,
                               flt or Filter(), self._dead_running())
            report.by = by
            return report

        return self._guarded(run)  # type: ignore[no-any-return]

    def tools(self, start: float | None, end: float | None, flt: Filter | None = None
              ) -> ToolReport:
        """The tool calls of the filtered sessions' turns started in [start, end), per
        tool name and kind."""
        from clinvk.catalog.tools import ToolReport, tool_report

        if self.conn is None:
            return ToolReport()

        def run() -> ToolReport:
            assert self.conn is not None
            self._search(flt or Filter())
            return tool_report(self.conn, start, end, flt or Filter(), self._dead_running())

        return self._guarded(run)  # type: ignore[no-any-return]

    def recent_cost(self, backend: str, turns: int) -> float | None:
        """What a turn of ``backend`` cost lately: the average of its last ``turns``
        finished turns; None if it has none."""
        if self.conn is None:
            return None
        from clinvk.catalog.aggregate import recent_cost

        def run() -> float | None:
            assert self.conn is not None
            return recent_cost(self.conn, backend, turns)

        return self._guarded(run)  # type: ignore[no-any-return]

    def spent(self, start: float | None, end: float | None) -> tuple[float, int]:
        """The cost of the turns started in [start, end), and how many finished turns
        used tokens without a price (clinvk.spend's rules)."""
        if self.conn is None:
            return 0.0, 0
        from clinvk.catalog.aggregate import spent

        def run() -> tuple[float, int]:
            assert self.conn is not None
            return spent(self.conn, start, end)

        return self._guarded(run)  # type: ignore[no-any-return]

    def owner(self, backend: str, backend_sid: str) -> str | None:
        """The id of the session that holds this vendor conversation, if any."""
        if self.conn is None:
            return None
        from clinvk.catalog.queries import owner

        return self._guarded(  # type: ignore[no-any-return]
            lambda: owner(self._conn(), backend, backend_sid))

    def storage(self, cutoff: float | None) -> Storage:
        """Counts and sizes for `sessions storage`; ``cleanable`` counts the sessions
        last used before ``cutoff`` that `clean` would remove."""
        if self.conn is None:
            return Storage(0, 0, 0, {}, {}, None, None, 0)
        from clinvk.catalog.queries import storage

        def run() -> Storage:
            assert self.conn is not None
            return storage(self.conn, self._dead_running(), cutoff)

        return self._guarded(run)  # type: ignore[no-any-return]

    def check(self, truth: dict[str, tuple[int, int, int]], unreadable: set[str]) -> Mismatch:
        """How the rows differ from the files (see queries.check); refreshes nothing."""
        if self.conn is None:
            return Mismatch(sorted(truth), [], [])
        from clinvk.catalog.queries import check

        return self._guarded(  # type: ignore[no-any-return]
            lambda: check(self._conn(), truth, unreadable))

    def identities(self) -> list[tuple[int, str, int, int, int, float]]:
        """(sid, id, size, mtime_ns, inode, last_used) of every session (clinvk.catalog.export)."""
        if self.conn is None:
            return []
        from clinvk.catalog.export import identities

        return self._guarded(lambda: list(identities(self._conn())))  # type: ignore[no-any-return]

    def export(self, ids: list[str]) -> ExportRows:
        """The rows of the sessions with these ids, to copy them elsewhere (clinvk.catalog.export)."""
        from clinvk.catalog.export import Rows, rows_of

        if self.conn is None:
            return Rows()
        return self._guarded(lambda: rows_of(self._conn(), ids))  # type: ignore[no-any-return]

    def rebuild(self) -> None:
        """Build the catalog again from every session file."""
        if self.conn is not None:
            self.conn.close()
        self.conn = self._build_locked(force=True)
        self._inode = self._file_inode()
        self._dead = self._hits = None
        self._load_skipped()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _has_shards(sessions_dir: Path) -> bool:
    """Whether any shard directory (where session files live) exists."""
    import os

    try:
        with os.scandir(sessions_dir) as entries:
            return any(len(e.name) == 2 and e.is_dir(follow_symlinks=False) for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _at_most(sessions_dir: Path, limit: int) -> bool:
    """Whether the store holds at most ``limit`` entries in its shard directories
    (listing stops as soon as it knows)."""
    import os

    seen = 0
    try:
        with os.scandir(sessions_dir) as shards:
            for shard in shards:
                if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(shard.path) as entries:
                    for _entry in entries:
                        seen += 1
                        if seen > limit:
                            return False
    except OSError:
        return False
    return True


def build_lock_fd(root: Path, *, create: bool) -> int | None:
    """An open descriptor of the build lock file (None if it does not exist and
    ``create`` is False)."""
    import os

    from clinvk.atomic import mkdir_private

    locks = root / "locks"
    if create:
        mkdir_private(locks)
    try:
        return os.open(locks / "catalog.lock", os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        if create:
            raise
        return None


def _being_built(root: Path) -> bool:
    import fcntl
    import os

    try:
        fd = build_lock_fd(root, create=False)
    except OSError:
        return False
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def inspect(path: Path) -> str | None:
    """Why the catalog file cannot be used as it is, or None (`sessions doctor`)."""
    import sqlite3

    from clinvk.catalog import schema

    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            schema.check_version(conn)
            problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            return None if problem == "ok" else f"damaged ({problem})"
        finally:
            conn.close()
    except schema.Unusable as exc:
        return str(exc)
    except sqlite3.Error as exc:
        return f"damaged ({exc})"


def record(root: Path, changes: Iterable[tuple[str, Session | None, Path]]) -> None:
    """Put what a writer just did into the store's catalog (see refresh.put_written):
    quietly nothing when there is no usable catalog, or it stays busy too long.
    ``changes`` is only read when there is a catalog to put them in."""
    import sqlite3

    from clinvk.catalog import refresh, schema

    path = catalog_path(root)
    if not path.exists() or _being_built(root):
        return  # the next reader (or the build) takes the change from the file
    changes = list(changes)
    if not changes:
        return
    try:
        conn = schema.connect(path, busy_ms=WRITER_BUSY_MS)
    except (sqlite3.Error, OSError):
        return
    try:
        refresh.put_written(conn, changes)
    except (sqlite3.Error, OSError, schema.Unusable):
        pass  # stale until the next reader repairs it
    finally:
        conn.close()
