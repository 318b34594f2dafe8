"""The browser: the sessions view, and the detail and stats views it opens.

Keys of the sessions view: j/k (arrows), g/G, PgUp/PgDn move; Enter opens the detail
view; `/` searches as you type (debounced); `f` opens the filter panel; `s` cycles the
sort; `3` (or tab) the stats view; `q` quits. The catalog's freshness check runs every
POLL_S, so a turn running anywhere shows up and moves on without a restart.

Every action is a child `clinvk` command (clinvk.childcli); a failure is a
notification carrying the command's own message and hint, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from clinvk.tui.source import SORT_LABELS, Source
from clinvk.tui.table import Clock, Columns, SessionTable, now_utc

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.timer import Timer

    from clinvk.catalog import Catalog
    from clinvk.store import SessionStore
    from clinvk.tui.detail import DetailScreen
    from clinvk.tui.source import Choice

POLL_S = 1.0
SEARCH_DEBOUNCE_S = 0.08


class TotalsLine(Static):
    """The header: the filtered sessions' count, tokens and cost, and the sort; the
    filter on a second line when there is one."""

    DEFAULT_CSS = "TotalsLine { height: auto; background: $boost; text-style: bold; }"

    def show(self, source: Source) -> None:
        from clinvk.output import money, tokens

        sums = source.sums()
        text = " · ".join([f"{sums.sessions:,} sessions", f"{tokens(sums.tokens)} tokens",
                           money(sums.cost), f"sort: {SORT_LABELS[source.sort]}"])
        described = source.choice.describe()
        self.update(text + (f"\nfilter: {described}" if described else ""))


class SessionsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("f", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("3", "app.stats", "Stats"),
        Binding("tab", "app.stats", "Stats", show=False),
        Binding("q", "app.quit", "Quit"),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]
    DEFAULT_CSS = """
    SessionsScreen #search { display: none; height: 1; }
    SessionsScreen #search.shown { display: block; }
    """

    def __init__(self, source: Source, clock: Clock) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield TotalsLine(id="totals", markup=False)
        yield Input(placeholder="search titles, prompts, answers, tool calls",
                    id="search", compact=True)
        yield Columns(id="columns", markup=False)
        yield SessionTable(self.source, self.clock, id="table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(SessionTable).focus()
        self.redraw()

    def on_resize(self) -> None:
        if self.query(SessionTable):
            self.query_one(Columns).show(self.source.sort, self.table.size.width)

    @property
    def table(self) -> SessionTable:
        return self.query_one(SessionTable)

    def redraw(self, keep: str | None = None) -> None:
        """The Source changed: header, columns and rows again."""
        self.query_one(TotalsLine).show(self.source)
        self.query_one(Columns).show(self.source.sort, self.table.size.width or self.size.width)
        self.table.reset(keep)

    def moved(self) -> None:
        """The store moved: the rows again, the cursor kept on its session."""
        current = self.table.current()
        self.redraw(keep=current.id if current else None)

    # ------------------------------------------------------------ search
    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "search":
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(SEARCH_DEBOUNCE_S, self._run_search)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._run_search()
        if not event.value:
            event.input.remove_class("shown")
        self.table.focus()

    def _run_search(self) -> None:
        self._debounce = None
        text = self.query_one("#search", Input).value
        if text == self.source.choice.search:
            return
        self.source.set_search(text)
        self.table.cursor = 0
        self.redraw()

    def action_clear_search(self) -> None:
        box = self.query_one("#search", Input)
        box.value = ""
        box.remove_class("shown")
        if self.source.choice.search:
            self.source.set_search("")
            self.table.cursor = 0
            self.redraw()
        self.table.focus()

    # ------------------------------------------------------------ filter, sort
    def action_filter(self) -> None:
        from clinvk.tui.screens import FilterPanel

        self.app.push_screen(FilterPanel(self.source.choice), self._filtered)

    def _filtered(self, choice: Choice | None) -> None:
        from clinvk.errors import ClinvkError

        if choice is None:
            return
        try:
            self.source.set_choice(choice)
        except ClinvkError as exc:
            from clinvk.tui.screens import failure_text

            self.app.notify(failure_text(exc), severity="error", markup=False)
            return
        self.table.cursor = 0
        self.redraw()

    def action_sort(self) -> None:
        self.source.next_sort()
        self.table.cursor = 0
        self.redraw()

    # ------------------------------------------------------------ open
    def on_session_table_opened(self, event: SessionTable.Opened) -> None:
        from clinvk.tui.detail import DetailScreen

        self.app.push_screen(DetailScreen(event.row.id))


class BrowserApp(App[None]):
    """`clinvk sessions browse`."""

    TITLE = "clinvk sessions"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, store: SessionStore, catalog: Catalog, *, clock: Clock = now_utc,
                 poll_s: float = POLL_S) -> None:
        super().__init__()
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.poll_s = poll_s
        self.source = Source(store, catalog)
        self.sessions_screen = SessionsScreen(self.source, clock)
        self.running: set[str] = set()  # sessions whose turn this browser started

    def on_mount(self) -> None:
        self.push_screen(self.sessions_screen)
        if self.poll_s:
            self.set_interval(self.poll_s, self.poll)

    # ------------------------------------------------------------ live
    def poll(self) -> None:
        """The catalog's freshness check; on a change every view shows it."""
        try:
            if not self.source.poll():
                return
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            self.fail(exc)
            return
        self.changed()

    def changed(self) -> None:
        """Something in the store moved: every open view redraws, on its own message
        loop — a view that is gone or going (popped, the app quitting) never runs it,
        so no background work queries a widget after its screen is unmounted."""
        from clinvk.tui.detail import DetailScreen
        from clinvk.tui.statsview import StatsScreen

        self.sessions_screen.call_later(self.sessions_screen.moved)
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen):
                screen.call_later(screen.changed)
            elif isinstance(screen, StatsScreen):
                screen.call_later(screen.refresh_figures)

    def fail(self, exc: BaseException) -> None:
        from clinvk.tui.screens import failure_text

        self.notify(failure_text(exc), title="clinvk", severity="error", markup=False,
                    timeout=8)

    async def action_quit(self) -> None:
        """Quit; a turn started here is stopped first, as Ctrl-C would (the turn is
        recorded as interrupted), and a running action is let finish."""
        from textual.worker import WorkerCancelled, WorkerFailed

        pending = [w for w in self.workers if w.group in ("turns", "actions") and w.is_running]
        if any(w.group == "turns" for w in pending):
            self.notify("Stopping the running turn…")
        for worker in pending:
            if worker.group == "turns":
                worker.cancel()
        for worker in pending:
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
        self.exit()

    def action_stats(self) -> None:
        from clinvk.tui.statsview import StatsScreen

        self.push_screen(StatsScreen())

    # ------------------------------------------------------------ actions
    def act(self, args: list[str], *, view: Screen[Any] | None = None,
            then: Callable[[], None] | None = None, input: str | None = None) -> None:
        """Run `clinvk ARGS` in the background; its output (or its error) as a
        notification, then ``then`` (on ``view``'s message loop: not at all once
        ``view`` is gone), then every view refreshed."""

        async def go() -> None:
            from clinvk.childcli import CommandFailed, clinvk

            try:
                said = await clinvk(*args, input=input, own_session=True)
            except CommandFailed as exc:
                self.fail(exc)
            else:
                if said.strip():
                    self.notify(said.strip(), markup=False)
            self.source.catalog.poll()
            self.source.reload()
            if then is not None:
                (view or self).call_later(then)
            self.changed()

        self.run_worker(go(), group="actions")

    def ask_resume(self, view: DetailScreen) -> None:
        from clinvk.tui.screens import Ask

        if view.status == "running" or view.ident in self.running:
            self.notify(f"Session {view.ident} is busy: a turn is running (c cancels it).",
                        severity="warning")
            return

        def answered(text: str | None) -> None:
            if text and text.strip():
                self.resume(view, text)

        self.push_screen(Ask(f"Resume {view.ident}: the prompt",
                             help="Enter sends it; the answer streams in below"), answered)

    def resume(self, view: DetailScreen, text: str) -> None:
        """`clinvk resume ID - -o stream-json`, its text streamed into the view."""
        ident = view.ident

        async def on_line(line: str) -> None:
            import json

            try:
                event = json.loads(line)
            except ValueError:
                return
            if event.get("type") == "text":
                view.call_later(view.stream, str(event.get("text", "")))
            elif event.get("type") == "tool_call":
                view.call_later(view.stream,
                                f"\n▸ {event.get('name', '')} {event.get('summary', '')}\n")

        async def go() -> None:
            from clinvk.childcli import CommandFailed, clinvk

            self.running.add(ident)
            view.call_later(view.stream, f"> {text}\n")
            try:
                await clinvk("resume", ident, "-", "-o", "stream-json", input=text,
                             on_line=on_line, own_session=True)
            except CommandFailed as exc:
                self.fail(exc)
            finally:
                self.running.discard(ident)
            self.source.catalog.poll()
            self.source.reload()
            view.call_later(view.stream_done)
            self.changed()

        self.run_worker(go(), group="turns")

    def ask_tags(self, view: DetailScreen) -> None:
        from clinvk.tui.screens import Ask

        tags = ", ".join(view.session.tags) if view.session else ""

        def answered(text: str | None) -> None:
            if text and text.split():
                self.act(["sessions", "tag", view.ident, *text.split()], view=view,
                         then=view.reload)

        self.push_screen(Ask(f"Tags of {view.ident}: {tags or '(none)'}",
                             help="+name adds, -name removes (several: space-separated)"),
                         answered)

    def ask_export(self, ident: str) -> None:
        from clinvk.tui.screens import Ask

        def answered(path: str | None) -> None:
            if path and path.strip():
                self.act(["sessions", "export", ident, "--format", "markdown", "-o",
                          path.strip()])

        self.push_screen(Ask(f"Export {ident} to Markdown: file", value=f"{ident}.md"),
                         answered)

    def ask_delete(self, view: DetailScreen) -> None:
        from clinvk.tui.screens import Confirm

        ident = view.ident

        def answered(yes: bool | None) -> None:
            if not yes:
                return

            def gone() -> None:
                if self.screen is view and not self.store.path_for(ident).exists():
                    self.pop_screen()

            self.act(["sessions", "delete", ident], view=view, then=gone)

        self.push_screen(Confirm(f"Delete session {ident}? This cannot be undone."), answered)
