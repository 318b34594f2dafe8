"""The browser's background work never touches a view that is gone: an action (export,
tags) or a catalog poll that finishes after its screen was left, or after the app quit,
is dropped — no `NoMatches`, no failed worker, nothing printed — however the timing falls.

The action's child command is stood in for by one that ends at the moment under test
(the view popped, the stats view open, the sessions view unmounted by the app's
shutdown), so that what the browser does after it runs then, every time; the last test
runs the real commands with real timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import Made
from tests.tui.test_keys import drive, open_session, settle

REPEAT = 3
# A child command left behind when the event loop closed shows up as this warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def hold_actions(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], bool]], None]:
    """The browser's child commands end (saying nothing) once the condition set by the
    returned function holds, re-checked at each turn of the event loop."""
    from clinvk import childcli

    until: list[Callable[[], bool]] = [lambda: True]

    async def held(*args: str, **kwargs: Any) -> str:
        while not until[0]():
            await asyncio.sleep(0)
        return ""

    monkeypatch.setattr(childcli, "clinvk", held)
    return lambda check: until.__setitem__(0, check)


def actions_done(app: Any) -> bool:
    return not [w for w in app.workers if w.group == "actions" and w.is_running]


Scenario = Callable[[Any, Any, Made, Callable[[Callable[[], bool]], None]], Awaitable[None]]


async def export_then_back(app: Any, pilot: Any, made: Made,
                           release: Callable[[Callable[[], bool]], None]) -> None:
    view = await open_session(app, pilot, made.ids["tools"])
    release(lambda: not view.is_attached)
    await pilot.press("e", "enter", "escape")
    await settle(pilot, lambda: actions_done(app))
    assert type(app.screen).__name__ == "SessionsScreen"


async def tags_then_stats(app: Any, pilot: Any, made: Made,
                          release: Callable[[Callable[[], bool]], None]) -> None:
    view = await open_session(app, pilot, made.ids["notes"])
    release(lambda: not view.is_attached)
    await pilot.press("t", *"+soon", "enter", "escape", "3")
    await settle(pilot, lambda: actions_done(app))
    assert type(app.screen).__name__ == "StatsScreen"


async def export_then_quit(app: Any, pilot: Any, made: Made,
                           release: Callable[[Callable[[], bool]], None]) -> None:
    await open_session(app, pilot, made.ids["tools"])
    release(lambda: not app.sessions_screen.is_attached)
    await pilot.press("e", "enter")
    # The test returns: the app shuts down with the export still held.


@pytest.mark.parametrize("scenario", [export_then_back, tags_then_stats, export_then_quit])
def test_an_action_ending_after_its_view_is_gone_is_dropped(
        made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> None:
    monkeypatch.chdir(tmp_path)
    release = hold_actions(monkeypatch)
    for _ in range(REPEAT):
        async def steps(app: Any, pilot: Any) -> None:
            await scenario(app, pilot, made, release)

        # A failed worker fails the app, and drive with it.
        app = drive(steps, poll_s=0.05, wait_actions=False)
        assert app.return_code in (0, None)


def test_quitting_switching_and_exporting_while_polls_are_in_flight(
        made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real commands, real timing: an export, back and forth between the views, then
    quit with the export still running or done, while the catalog is polled often."""
    monkeypatch.chdir(tmp_path)
    ident = made.ids["tools"]
    for n in range(4):
        async def steps(app: Any, pilot: Any, n: int = n) -> None:
            await open_session(app, pilot, ident)
            await pilot.press("e", "ctrl+u",
                              *f"out{n}.md", "enter", "escape", "3", "escape", "enter")
            if n % 2:  # half the runs wait for the file, half quit with it in flight
                await settle(pilot, lambda: (tmp_path / f"out{n}.md").exists())
            await pilot.press("escape", "q")  # q waits for the export, as for a user
            await settle(pilot, lambda: not app.is_running)

        app = drive(steps, poll_s=0.05)
        assert app.return_code in (0, None)
        assert (tmp_path / f"out{n}.md").exists()
