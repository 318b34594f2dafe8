"""The browser's small screens: the filter panel, a question, a confirmation, a tool call."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from clinvk.tui.source import ORIGINS, PANEL_FIELDS, Choice

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from clinvk.model import ToolCall



def modal_css(name: str) -> str:
    """A dialog in the middle of the screen (Textual scopes a screen's CSS to its type)."""
    return f"""
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; max-width: 100%; height: auto; max-height: 100%;
    border: round $accent; padding: 0 1; background: $surface;
}}
{name} Label.title {{ text-style: bold; }}
{name} Label.help {{ color: $text-muted; }}
{name} .field {{ height: 1; }}
{name} .field Label {{ width: 9; }}
{name} .field Input {{ width: 1fr; }}
"""


def _hints() -> dict[str, str]:
    from clinvk.model import STATUSES
    from clinvk.timespec import RANGES

    return {"backend": "claude, codex, gemini, …", "status": ", ".join(STATUSES),
            "tag": "one or more, space-separated (all must hold)",
            "range": ", ".join(RANGES), "origin": ", ".join(ORIGINS)}


class FilterPanel(ModalScreen[Choice | None]):
    """`f`: backend, status, tag, range, origin. Enter applies, Escape leaves it as it
    was, ctrl+r clears every field."""

    DEFAULT_CSS = modal_css("FilterPanel")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel"),
        Binding("ctrl+r", "clear", "Clear all"),
    ]

    def __init__(self, choice: Choice) -> None:
        super().__init__()
        self.choice = choice

    def compose(self) -> ComposeResult:
        hints = _hints()
        with Vertical():
            yield Label("Filter sessions  (Enter applies · Esc cancels · ctrl+r clears)",
                        classes="title")
            for name in PANEL_FIELDS:
                with Horizontal(classes="field"):
                    yield Label(name)
                    yield Input(getattr(self.choice, name), placeholder=hints[name],
                                id=f"filter-{name}", compact=True)

    def on_input_submitted(self) -> None:
        values = {name: self.query_one(f"#filter-{name}", Input).value.strip()
                  for name in PANEL_FIELDS}
        self.dismiss(replace(self.choice, **values))

    def action_clear(self) -> None:
        for name in PANEL_FIELDS:
            self.query_one(f"#filter-{name}", Input).value = ""

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class Ask(ModalScreen[str | None]):
    """One line of text (a prompt, tag changes, a file name); Escape gives None."""

    DEFAULT_CSS = modal_css("Ask")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, *, value: str = "", help: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.help_text = help

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            if self.help_text:
                yield Label(self.help_text, classes="help")
            yield Input(self.value, id="ask", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """A yes/no question: y confirms, n or Escape does not."""

    DEFAULT_CSS = modal_css("Confirm")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            yield Label("y: yes · n: no", classes="help")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class CallView(ModalScreen[None]):
    """One tool call: its input (as recorded, up to 8 KB of JSON) and the start of its
    output."""

    DEFAULT_CSS = modal_css("CallView") + """
    CallView > Vertical { width: 100%; height: 100%; }
    CallView VerticalScroll { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, call: ToolCall, turn: int) -> None:
        super().__init__()
        self.call = call
        self.turn = turn

    def compose(self) -> ComposeResult:
        import json

        from clinvk.activity import took
        from clinvk.output import safe

        call = self.call
        status = call.status + ("" if call.exit_code in (None, 0) else f" (exit {call.exit_code})")
        with Vertical():
            yield Label(safe(f"Turn {self.turn} · {call.name} ({call.kind}) · {status} · "
                             f"{took(call.duration_s)}"), classes="title", markup=False)
            with VerticalScroll():
                yield Label("Input", classes="help")
                yield Static(safe(json.dumps(call.input, indent=2, ensure_ascii=False)
                                  if call.input is not None else "-", block=True),
                             markup=False)
                yield Label("Output (preview)", classes="help")
                yield Static(safe(call.output_preview or "-", block=True), markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def failure_text(exc: Any) -> str:
    """A failed child's message and hint, as one notification."""
    hint = getattr(exc, "hint", None)
    message = getattr(exc, "message", None) or str(exc)
    return message + (f"\nhint: {hint}" if hint else "")
