"""The sessions the browser shows: one filter, one sort, rows a page at a time.

Rows come from the catalog in pages of PAGE_SIZE as the table asks for them; only the
last KEEP_PAGES pages stay in memory, so 100,000 sessions cost what a screenful does.
Any change of filter or sort, and any change the poll sees, drops the pages.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from clinvk.catalog import Filter

if TYPE_CHECKING:
    from clinvk.catalog import Catalog, SessionRow
    from clinvk.catalog.queries import Sums
    from clinvk.store import SessionStore

PAGE_SIZE = 100
KEEP_PAGES = 16
# `s` goes through these in turn.
SORTS = ("last_used", "created", "tokens", "cost", "duration")
SORT_LABELS = {"last_used": "last used", "created": "created", "tokens": "tokens",
               "cost": "cost", "duration": "duration"}
ORIGINS = ("clinvk", "native")
# The filter panel's fields, in order.
PANEL_FIELDS = ("backend", "status", "tag", "range", "origin")


@dataclass
class Choice:
    """What the filter panel holds, as typed (checked by ``to_filter``)."""

    backend: str = ""
    status: str = ""
    tag: str = ""
    range: str = ""
    origin: str = ""
    search: str = ""

    def to_filter(self) -> Filter:
        """The catalog filter; UsageError for a value the CLI would refuse too."""
        from clinvk.commands.sessions import make_filter
        from clinvk.errors import UsageError
        from clinvk.timespec import RANGES

        if self.range and self.range not in RANGES:
            raise UsageError(f"invalid range: {self.range!r}",
                             hint="valid ranges: " + ", ".join(RANGES))
        if self.origin and self.origin not in ORIGINS:
            raise UsageError(f"invalid origin: {self.origin!r}",
                             hint="valid origins: " + ", ".join(ORIGINS))
        return make_filter(backend=self.backend or None, status=self.status or None,
                           tags=self.tag.split() or None, search=self.search or None,
                           range_=self.range or None, origin=self.origin or None)

    def describe(self) -> str:
        """The filter in a few words for the header ('' when nothing is filtered)."""
        parts = [f"{name} {getattr(self, name)}" for name in PANEL_FIELDS if getattr(self, name)]
        if self.search:
            parts.append(f"/{self.search}")
        return " · ".join(parts)


class Source:
    """The browser's view of the catalog."""

    def __init__(self, store: SessionStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self.choice = Choice()
        self.filter = Filter()
        self.sort = SORTS[0]
        self.total = 0
        self._pages: OrderedDict[int, list[SessionRow]] = OrderedDict()
        self._sums: Sums | None = None
        self.reload()

    # ------------------------------------------------------------ state
    def set_choice(self, choice: Choice) -> None:
        """Filter by ``choice`` (UsageError, nothing changed, if it is invalid)."""
        flt = choice.to_filter()
        self.choice, self.filter = choice, flt
        self.reload()

    def set_search(self, text: str) -> None:
        self.set_choice(replace(self.choice, search=text))

    def next_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.reload()
        return self.sort

    def reload(self) -> None:
        """Forget every page; count the rows again."""
        self._pages.clear()
        self._sums = None
        page = self.catalog.rows(self.filter, 0, PAGE_SIZE, order=self.sort)
        self._pages[0] = list(page.rows)
        self.total = page.total

    def poll(self) -> bool:
        """The catalog's freshness check; True (and pages dropped) if anything changed."""
        if not self.catalog.poll():
            return False
        self.reload()
        return True

    # ------------------------------------------------------------ reading
    def row(self, index: int) -> SessionRow | None:
        """The row at ``index`` of the listing, fetching its page if need be."""
        if not 0 <= index < self.total:
            return None
        number, at = divmod(index, PAGE_SIZE)
        page = self._pages.get(number)
        if page is None:
            page = list(self.catalog.rows(self.filter, number * PAGE_SIZE, PAGE_SIZE,
                                          order=self.sort).rows)
            self._pages[number] = page
            while len(self._pages) > KEEP_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        return page[at] if at < len(page) else None

    def index_of(self, ident: str) -> int | None:
        """Where a session is among the rows in memory, if it is."""
        for number, page in self._pages.items():
            for at, row in enumerate(page):
                if row.id == ident:
                    return number * PAGE_SIZE + at
        return None

    def sums(self) -> Sums:
        """Sessions, tokens and cost of the whole filtered listing (computed once per
        change)."""
        if self._sums is None:
            self._sums = self.catalog.sums(self.filter)
        return self._sums
