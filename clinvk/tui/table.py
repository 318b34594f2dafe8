"""The sessions table: `sessions list`'s columns, drawn a line at a time.

A Line API widget (Textual's ScrollView): its virtual height is the number of rows the
filter keeps, and ``render_line`` asks the Source for just the rows on screen, so a move
or a scroll costs a few rows whatever the total. The fourth and fifth columns follow
the sort: CREATED instead of LAST USED, COST or DURATION instead of TOKENS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

if TYPE_CHECKING:
    from clinvk.catalog import SessionRow
    from clinvk.tui.source import Source

STATUS_STYLES = {
    "active": Style(color="green"),
    "running": Style(color="cyan", bold=True),
    "error": Style(color="red"),
    "paused": Style(color="yellow"),
    "completed": Style(dim=True),
}
ID_STYLE = Style(color="yellow")
DIM = Style(dim=True)
CURSOR = Style(reverse=True)
PLAIN = Style()
GAP = " "

Clock = Callable[[], datetime]


def now_utc() -> datetime:
    return datetime.now(UTC)


def _duration(seconds: float) -> str:
    from clinvk.commands.stats import span

    return span(seconds) if seconds else "-"


def columns(sort: str, width: int) -> list[tuple[str, int]]:
    """(header, width) of each column for a table ``width`` cells wide; the title
    takes what remains (at least 10)."""
    when = "CREATED" if sort == "created" else "LAST USED"
    figure = {"cost": "COST", "duration": "DURATION"}.get(sort, "TOKENS")
    fixed = [("ID", 8), ("BACKEND", 7), ("STATUS", 9), (when, 14), (figure, 9)]
    used = sum(w for _, w in fixed) + len(GAP) * len(fixed)
    if width - used < 24 and sort not in ("tokens", "cost", "duration"):
        fixed.pop()  # a narrow terminal loses the figure column first, as `list` does
        used -= 9 + len(GAP)
    return [*fixed, ("TITLE/PROMPT", max(10, width - used))]


def cells(row: SessionRow, sort: str, now: datetime) -> list[tuple[str, Style]]:
    from clinvk.output import money, one_line, relative, tokens

    when = row.created if sort == "created" else row.last_used
    if sort == "cost":
        figure = money(row.cost)
    elif sort == "duration":
        figure = _duration(row.duration)
    else:
        figure = tokens(row.tokens)
    return [(row.id, ID_STYLE), (row.backend, Style()),
            (row.status, STATUS_STYLES.get(row.status, Style())),
            (relative(when, now), DIM), (figure, Style()),
            (one_line(row.title or "(no prompt)", 200), Style())]


def fit(text: str, width: int, right: bool = False) -> str:
    from clinvk.output import cut
    from clinvk.output import width as cell_width

    text = cut(text, width)
    pad = " " * max(0, width - cell_width(text))
    return pad + text if right else text + pad


class Columns(Static):
    """The table's header line."""

    DEFAULT_CSS = "Columns { height: 1; text-style: bold; }"

    def show(self, sort: str, width: int) -> None:
        self.update(GAP.join(fit(name, w, name in ("TOKENS", "COST", "DURATION"))
                             for name, w in columns(sort, width)))


class SessionTable(ScrollView, can_focus=True):
    """Every session of the Source, one line each, with a cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "move(1)", "Down", show=False),
        Binding("k,up", "move(-1)", "Up", show=False),
        Binding("g,home", "jump(0)", "Top", show=False),
        Binding("G,end", "jump(-1)", "Bottom", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("enter", "open", "Open"),
    ]
    DEFAULT_CSS = ("SessionTable { height: 1fr; overflow-x: hidden; "
                   "scrollbar-size-vertical: 1; }")

    cursor = reactive(0, repaint=False)

    class Opened(Message):
        """Enter on a row."""

        def __init__(self, row: SessionRow) -> None:
            self.row = row
            super().__init__()

    def __init__(self, source: Source, clock: Clock = now_utc, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.source = source
        self.clock = clock
        self._now = clock()

    # ------------------------------------------------------------ data
    def reset(self, keep: str | None = None) -> None:
        """The Source changed (filter, sort, poll): size and repaint; the cursor stays on
        session ``keep`` if it is still among the first rows, else within the rows."""
        self._now = self.clock()
        self.virtual_size = Size(self.size.width, self.source.total)
        where = self.source.index_of(keep) if keep else None
        self.cursor = min(where if where is not None else self.cursor,
                          max(0, self.source.total - 1))
        self._follow()
        self.refresh()

    def current(self) -> SessionRow | None:
        return self.source.row(self.cursor)

    # ------------------------------------------------------------ drawing
    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.source.total)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        index = self.scroll_offset.y + y
        row = self.source.row(index)
        if row is None:
            if index == 0:  # nothing to show: say why, as `sessions list` does
                from clinvk.catalog.queries import filtered

                empty = ("no sessions match" if filtered(self.source.filter) else
                         'no sessions yet: start one with `clinvk "PROMPT"`')
                return Strip([Segment(fit(empty, width), DIM)])
            return Strip.blank(width, PLAIN)
        segments: list[Segment] = []
        picked = index == self.cursor
        for (text, style), (name, w) in zip(cells(row, self.source.sort, self._now),
                                            columns(self.source.sort, width), strict=False):
            if len(segments):
                segments.append(Segment(GAP, CURSOR if picked else PLAIN))
            right = name in ("TOKENS", "COST", "DURATION")
            segments.append(Segment(fit(text, w, right), style + CURSOR if picked else style))
        strip = Strip(segments)
        return strip.crop_extend(0, width, CURSOR if picked else PLAIN)

    # ------------------------------------------------------------ moving
    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(old)
        self.refresh_line(new)

    def _follow(self) -> None:
        """Scroll just enough to keep the cursor on screen."""
        height = max(1, self.size.height)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _go(self, index: int) -> None:
        if not self.source.total:
            return
        self.cursor = max(0, min(index, self.source.total - 1))
        self._follow()

    def action_move(self, step: int) -> None:
        self._go(self.cursor + step)

    def action_jump(self, where: int) -> None:
        self._go(where if where >= 0 else self.source.total - 1)

    def action_page(self, direction: int) -> None:
        self._go(self.cursor + direction * max(1, self.size.height - 1))

    def on_click(self, event: events.Click) -> None:
        """A click puts the cursor on the row; a double click opens it."""
        self._go(round(self.scroll_offset.y) + event.y)
        if event.chain >= 2:
            self.action_open()

    def action_open(self) -> None:
        row = self.current()
        if row is not None:
            self.post_message(self.Opened(row))
