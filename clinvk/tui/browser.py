"""What the detail and stats views need of the browser that opened them.

The views ask the app (clinvk.tui.app) for the store, the sessions source, the clock
and its actions through this Protocol, so that the app imports the views and never the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from clinvk.store import SessionStore
    from clinvk.tui.source import Source
    from clinvk.tui.table import Clock


class Browser(Protocol):
    store: SessionStore
    source: Source
    clock: Clock

    def act(self, args: list[str], *, view: Any = None,
            then: Callable[[], None] | None = None, input: str | None = None) -> None: ...

    # ``view``: the detail view asking (clinvk.tui.detail.DetailScreen).
    def ask_resume(self, view: Any) -> None: ...

    def ask_tags(self, view: Any) -> None: ...

    def ask_export(self, ident: str) -> None: ...

    def ask_delete(self, view: Any) -> None: ...
