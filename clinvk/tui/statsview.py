"""The stats view (`3`): `sessions stats`'s figures for the browser's filter, and a bar
chart of cost (tokens when nothing is priced) per day, backend or model (tab cycles)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from clinvk.stats import Report, Totals
    from clinvk.tui.browser import Browser

GROUPS = ("day", "backend", "model")
BAR = "█"
PART = " ▏▎▍▌▋▊▉"  # eighths of a cell
DAYS_SHOWN = 30


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of ``value`` out of ``top`` in ``width`` cells, to an eighth."""
    if top <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    whole, part = divmod(eighths, 8)
    return BAR * whole + (PART[part] if part else "")


def chart(report: Report, width: int) -> list[str]:
    """One line per group: key, bar, figure. Days: the last DAYS_SHOWN, oldest first;
    backends and models: the largest first."""
    from clinvk.output import cut, money, tokens
    from clinvk.output import width as cells

    groups: list[Totals] = list(report.groups.values())
    if report.by == "day":
        groups = sorted(groups, key=lambda g: g.key)[-DAYS_SHOWN:]
    priced = any(g.cost for g in groups)

    def measure(g: Totals) -> float:
        return (g.cost or 0.0) if priced else float(g.total_tokens)

    if report.by != "day":
        groups.sort(key=lambda g: (-measure(g), g.key))
    if not groups:
        return ["(no turns)"]
    key_width = min(24, max(cells(g.key) for g in groups))
    figures = [money(g.cost) if priced else tokens(g.total_tokens) for g in groups]
    figure_width = max(cells(f) for f in figures)
    room = max(4, width - key_width - figure_width - 3)
    top = max(measure(g) for g in groups)
    lines = [f"{'cost' if priced else 'tokens'} per {report.by}"]
    for g, figure in zip(groups, figures, strict=True):
        key = cut(g.key, key_width)
        lines.append(f"{key:<{key_width}} {bar(measure(g), top, room):<{room}} "
                     f"{figure:>{figure_width}}")
    return lines


class StatsScreen(Screen[None]):
    """The stats of the sessions the browser's filter keeps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,1", "back", "Sessions"),
        Binding("tab", "next_group", "Day/backend/model"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
    ]
    DEFAULT_CSS = """
    StatsScreen #summary { margin-bottom: 1; }
    StatsScreen #chart { height: auto; }
    StatsScreen .title { text-style: bold; }
    StatsScreen #stats-body { scrollbar-size-vertical: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.group = GROUPS[0]

    @property
    def browser(self) -> Browser:
        return cast("Browser", self.app)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="stats-body"):
            yield Label("", id="stats-title", classes="title", markup=False)
            yield Static(id="summary", markup=False)
            yield Static(id="chart", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.refresh_figures()

    def on_resize(self) -> None:
        self.refresh_figures()

    def refresh_figures(self) -> None:
        from clinvk.commands.stats import summary
        from clinvk.output import fields

        source = self.browser.source
        catalog = source.catalog
        report = catalog.aggregate(self.group, None, None, source.filter)
        tools = catalog.tools(None, None, source.filter)
        scope = source.choice.describe() or "all sessions"
        self.query_one("#stats-title", Label).update(f"Stats · {scope}")
        self.query_one("#summary", Static).update(str(fields(summary(report, None, tools))))
        self.query_one("#chart", Static).update("\n".join(chart(report, self.size.width - 2)))

    def action_next_group(self) -> None:
        self.group = GROUPS[(GROUPS.index(self.group) + 1) % len(GROUPS)]
        self.refresh_figures()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_scroll(self, step: int) -> None:
        body = self.query_one("#stats-body", VerticalScroll)
        body.scroll_to(y=body.scroll_y + step, animate=False)
