"""The detail view (Enter on a session): `sessions show`'s fields, then every turn —
prompt, answer (Markdown), tokens, cost, duration, status and its tool calls (Enter on
a call shows its input and output). The actions of the view are the app's
(clinvk.tui.app), each a child `clinvk` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Markdown, Static

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from clinvk.model import Session, ToolCall, Turn
    from clinvk.tui.browser import Browser


def turn_head(turn: Turn) -> str:
    from clinvk.output import local_time, money, tokens

    used = turn.usage.total if turn.usage is not None else None
    duration = f"{turn.duration_s:.1f}s" if turn.duration_s is not None else "-"
    cost = money(turn.cost_usd) if turn.cost_usd is not None else turn.cost_source
    return (f"turn {turn.index} · {local_time(turn.started_at)} · {turn.status} · "
            f"tokens {tokens(used)} · cost {cost} · {duration}")


class CallLine(Static, can_focus=True):
    """One tool call: name, summary, status, duration; Enter opens it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open call")]
    DEFAULT_CSS = """
    CallLine { padding-left: 2; height: 1; }
    CallLine:focus { background: $accent 40%; text-style: bold; }
    """

    def __init__(self, call: ToolCall, turn: int) -> None:
        from clinvk.activity import line, took
        from clinvk.output import safe

        super().__init__(safe(f"{line(call)}  {call.status}  {took(call.duration_s)}"),
                         markup=False)
        self.call = call
        self.turn = turn

    def action_open(self) -> None:
        from clinvk.tui.screens import CallView

        self.app.push_screen(CallView(self.call, self.turn))


class DetailScreen(Screen[None]):
    """One session, read from its file; read again when the file changes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,1", "back", "Back"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("G", "bottom", "Bottom", show=False),
        Binding("r", "resume", "Resume"),
        Binding("c", "cancel", "Cancel"),
        Binding("p", "pause", "Pause"),
        Binding("m", "complete", "Complete"),
        Binding("t", "tags", "Tags"),
        Binding("e", "export", "Export"),
        Binding("y", "copy", "Copy"),
        Binding("d", "delete", "Delete"),
    ]
    DEFAULT_CSS = """
    DetailScreen #fields { margin-bottom: 1; }
    DetailScreen #turns { height: auto; }
    DetailScreen .turn { text-style: bold; background: $boost; }
    DetailScreen .prompt { color: $text-muted; }
    DetailScreen .error { color: $error; }
    DetailScreen Markdown { margin: 0; padding: 0 1; }
    DetailScreen #live { color: $text; padding: 0 1; }
    DetailScreen #body { scrollbar-size-vertical: 1; }
    """

    def __init__(self, ident: str) -> None:
        super().__init__()
        self.ident = ident
        self.session: Session | None = None
        self.status = "?"
        self._seen: tuple[int, int] | None = None
        self.live_text = ""

    @property
    def browser(self) -> Browser:
        return cast("Browser", self.app)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="body"):
            yield Static(id="fields", markup=False)
            yield Vertical(id="turns")
            yield Static(id="live", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    # ------------------------------------------------------------ reading
    def _identity(self) -> tuple[int, int] | None:
        try:
            st = self.browser.store.path_for(self.ident).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino

    def changed(self) -> None:
        """The catalog moved: read the session again if its file did."""
        if self._identity() != self._seen:
            self.reload()

    def reload(self) -> None:
        from clinvk.commands.sessions import show_fields
        from clinvk.errors import ClinvkError
        from clinvk.liveness import effective_status
        from clinvk.output import fields

        self._seen = self._identity()
        try:
            session = self.browser.store.read(self.ident)
        except ClinvkError as exc:
            self.session = None
            self.query_one("#fields", Static).update(f"Session {self.ident}: {exc.message}")
            self.query_one("#turns", Vertical).remove_children()
            return
        self.session = session
        self.status = effective_status(session.status, session.pid, session.pid_start)
        self.sub_title = session.title
        self.query_one("#fields", Static).update(
            str(fields(show_fields(session, self.status, self.browser.clock()))))
        self._show_turns(session)

    def _show_turns(self, session: Session) -> None:
        from clinvk.output import safe

        box = self.query_one("#turns", Vertical)
        box.remove_children()
        widgets: list[Static | Label | Markdown | CallLine] = []
        if not session.turns:
            widgets.append(Label("(no turns)"))
        for turn in session.turns:
            widgets.append(Label(turn_head(turn), classes="turn", markup=False))
            widgets.append(Static(safe("> " + turn.prompt, block=True), classes="prompt",
                                  markup=False))
            widgets.extend(CallLine(call, turn.index) for call in turn.tool_calls)
            if turn.files_changed:
                widgets.append(Label(safe("  files changed: " + ", ".join(turn.files_changed)),
                                     markup=False))
            if turn.response:
                widgets.append(Markdown(safe(turn.response, block=True)))
            if turn.error:
                widgets.append(Label(safe(f"error: {turn.error}"), classes="error",
                                     markup=False))
        box.mount_all(widgets)

    # ------------------------------------------------------------ live turn
    def stream(self, text: str) -> None:
        """A piece of the answer of the turn running from this browser."""
        self.live_text += text
        self.query_one("#live", Static).update(self.live_text)
        self.query_one("#body", VerticalScroll).scroll_end(animate=False)

    def stream_done(self) -> None:
        self.live_text = ""
        self.query_one("#live", Static).update("")
        self.reload()

    # ------------------------------------------------------------ keys
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_scroll(self, step: int) -> None:
        body = self.query_one("#body", VerticalScroll)
        body.scroll_to(y=body.scroll_y + step, animate=False)

    def action_top(self) -> None:
        self.query_one("#body", VerticalScroll).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#body", VerticalScroll).scroll_end(animate=False)

    def action_resume(self) -> None:
        self.browser.ask_resume(self)

    def action_cancel(self) -> None:
        self.browser.act(["cancel", self.ident], view=self, then=self.reload)

    def action_pause(self) -> None:
        self.browser.act(["sessions", "pause", self.ident], view=self, then=self.reload)

    def action_complete(self) -> None:
        self.browser.act(["sessions", "complete", self.ident], view=self, then=self.reload)

    def action_tags(self) -> None:
        self.browser.ask_tags(self)

    def action_export(self) -> None:
        self.browser.ask_export(self.ident)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.ident)
        self.app.notify(f"Copied {self.ident}")

    def action_delete(self) -> None:
        self.browser.ask_delete(self)
