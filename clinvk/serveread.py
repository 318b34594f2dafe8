"""The session listings of `clinvk serve`, answered in-process from the catalog.

`GET /v1/sessions` and `GET /v1/search` are what dashboards poll, so they are not run
as a child `clinvk sessions list --json` (about 150 ms of start-up each) but asked of
one catalog the server keeps open, with the same functions that command calls
(``make_filter``, ``Catalog.rows``, ``settled``, ``list_item``): the same JSON, in a few
milliseconds.

The catalog is touched by one worker thread at a time (SQLite and the GIL would
serialize the work anyway), so the event loop keeps accepting requests meanwhile.
Freshness: whatever clinvk itself writes (a turn, a tag, a delete, an import, another
process rebuilding the catalog) shows in the very next answer, as in a new `sessions
list`: each question first asks whether anything was written (``Catalog.written``: the
store's ``last-write`` stamp, the catalog's own change counter; a few microseconds) and,
if so, refreshes the catalog. The full freshness
check (``Catalog.poll``: every shard directory, every vendor process of a turn
recorded running) costs a few milliseconds at 100,000 sessions, so it runs at most once
every FULL_CHECK_S under load: a session file changed behind clinvk's back, or a
vendor process that died with its clinvk, shows within that second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, get_args

import anyio
import anyio.to_thread
import msgspec

from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.catalog import Catalog
    from clinvk.store import SessionStore

T = TypeVar("T")
# The longest a listing may go without the full freshness check (see above).
FULL_CHECK_S = 1.0


def _whole(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {value!r}") from None


class Reader:
    """One store's catalog, kept open and refreshed for each question (see above)."""

    def __init__(self) -> None:
        self.limiter = anyio.CapacityLimiter(1)
        self._store: SessionStore | None = None
        self._catalog: Catalog | None = None
        self._checked = float("-inf")  # when the last full check began (monotonic)

    async def ask(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(catalog, store, *args) in the worker thread, on a catalog as fresh as the
        module's docstring says."""
        return await anyio.to_thread.run_sync(self._run, fn, args, limiter=self.limiter)

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        from clinvk.catalog import Catalog
        from clinvk.store import SessionStore

        now = time.monotonic()
        if self._catalog is None or self._store is None:
            self._checked = now
            self._sync()
            self._store = SessionStore()
            self._catalog = Catalog.open(self._store)
            self._catalog.written()  # the starting point of the cheap check
        elif self._catalog.written() or now - self._checked >= FULL_CHECK_S:
            self._checked = now
            self._sync()
            self._catalog.poll()
            self._catalog.written()
        return fn(self._catalog, self._store, *args)

    @staticmethod
    def _sync() -> None:
        """What `sessions list` does first with `sync.auto = true`."""
        from clinvk.config import load

        config = load().config
        if config.sync.auto:
            from clinvk.native.auto import auto_sync

            auto_sync(config)

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()


def session_list(catalog: Catalog, store: SessionStore, q: dict[str, Any]) -> bytes:
    """`clinvk sessions list --json` with the filters of query ``q`` (`search` for
    `-q`, `workdir` for `--here` run there; `touched` relative to that workdir)."""
    from clinvk.commands.sessions import (
        OriginName,
        check_paging,
        list_item,
        make_filter,
        settled,
    )

    limit = _whole("limit", q.get("limit"), 20)
    offset = _whole("offset", q.get("offset"), 0)
    check_paging(limit, offset)
    origin = q.get("origin")
    if origin is not None and origin not in get_args(OriginName):
        raise UsageError(f"invalid origin: {origin!r}",
                         hint="valid origins: " + ", ".join(get_args(OriginName)))
    workdir = q.get("workdir")
    if workdir is not None:
        if not os.path.isdir(workdir):
            raise UsageError(f"no such directory: {workdir}")
        workdir = os.path.realpath(workdir)
    touched = q.get("touched")
    if touched is not None and touched:
        touched = os.path.join(workdir or os.getcwd(), touched)
    flt = make_filter(backend=q.get("backend"), status=q.get("status"), tags=q.get("tag"),
                      search=q.get("search"), range_=q.get("range"), since=q.get("since"),
                      workdir=workdir, origin=origin, touched=touched)
    page = catalog.rows(flt, offset, limit or None)
    items = [list_item(row) for row in settled(store, page.rows)]
    return msgspec.json.encode({"items": items, "total": page.total, "limit": limit,
                                "offset": offset})
