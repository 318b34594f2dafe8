"""Every key of `clinvk sessions browse`, driven by Textual's pilot against stores made
by real clinvk commands; what the browser shows is checked against what the CLI says
(`sessions list --json`, the session files)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.conftest import iter_sessions
from tests.tui.conftest import SNAP_COUNT, Made, cli_json, make_app, screen_text

Steps = Callable[[Any, Any], Awaitable[None]]


def drive(steps: Steps, *, size: tuple[int, int] = (100, 30), poll_s: float = 0,
          wait_actions: bool = True) -> Any:
    """Run the browser headless, hand it and its pilot to ``steps``; returns the app.
    Then, as quitting does, the actions still running (their child commands) are let
    finish — unless ``wait_actions`` is false: the app is torn down with them in flight."""
    app = make_app(poll_s=poll_s)

    async def main() -> None:
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            await steps(app, pilot)
            if wait_actions:
                await settle(pilot, lambda: not [w for w in app.workers if w.is_running
                                                 and w.group in ("actions", "turns")])

    asyncio.run(main())
    return app


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def settle(pilot: Any, check: Callable[[], bool], timeout: float = 20) -> None:
    """Let the app run until ``check`` holds (background actions, polls)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


def listed(*args: str) -> list[dict[str, Any]]:
    return list(cli_json("sessions", "list", "-n", "0", *args)["items"])


# ----------------------------------------------------------------- sessions view
def test_moving_j_k_arrows_g_G_and_pages(fixed: Path) -> None:
    order = [item["id"] for item in listed()]
    assert len(order) == SNAP_COUNT
    seen: list[tuple[str, int, str]] = []
    heights: list[int] = []

    async def steps(app: Any, pilot: Any) -> None:
        table = app.sessions_screen.table
        heights.append(table.size.height)
        for key in ("j", "j", "down", "k", "up", "G", "g", "pagedown", "pagedown", "pageup",
                    "end", "home"):
            await pilot.press(key)
            seen.append((key, table.cursor, table.current().id))
        # The cursor stays on screen: at the bottom the last rows are drawn.
        await pilot.press("G")
        await pilot.pause()
        assert order[-1] in screen_text(app)
        assert order[0] not in screen_text(app)

    drive(steps, size=(100, 30))
    page = heights[0] - 1
    expected = [1, 2, 3, 2, 1, SNAP_COUNT - 1, 0, page, 2 * page, page, SNAP_COUNT - 1, 0]
    assert [cursor for _, cursor, _ in seen] == expected
    assert [ident for _, _, ident in seen] == [order[i] for i in expected]


def test_a_click_moves_the_cursor_and_a_double_click_opens(fixed: Path) -> None:
    order = [item["id"] for item in listed()]

    async def steps(app: Any, pilot: Any) -> None:
        from clinvk.tui.table import SessionTable

        table = app.sessions_screen.table
        await pilot.click(SessionTable, offset=(3, 4))
        assert (table.cursor, table.current().id) == (4, order[4])
        assert type(app.screen).__name__ == "SessionsScreen"
        await pilot.click(SessionTable, offset=(3, 2), times=2)
        await pilot.pause()
        assert type(app.screen).__name__ == "DetailScreen"
        assert app.screen.ident == order[2]

    drive(steps)


def test_an_empty_store_and_an_empty_search_say_so(clinvk_home: Path) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        assert app.source.total == 0
        assert 'no sessions yet: start one with `clinvk "PROMPT"`' in screen_text(app)
        await pilot.press("j", "G", "enter", "s")  # nothing to move to or open: no error
        assert type(app.screen).__name__ == "SessionsScreen"

    drive(steps)


def test_a_search_nothing_holds_says_no_sessions_match(made: Made) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("slash", *"qqzzxxnothing", "enter")
        await settle(pilot, lambda: app.source.total == 0)
        assert "no sessions match" in screen_text(app)

    drive(steps)


def test_rows_are_fetched_a_page_at_a_time(fixed: Path) -> None:
    from clinvk.tui.source import PAGE_SIZE

    async def steps(app: Any, pilot: Any) -> None:
        held = app.source._pages
        assert list(held) == [0]  # only the first page, though the store holds more
        assert all(len(page) <= PAGE_SIZE for page in held.values())

    drive(steps)


def test_header_shows_the_filtered_totals(made: Made) -> None:
    items = listed()
    tokens = sum(i["tokens"] or 0 for i in items)

    async def steps(app: Any, pilot: Any) -> None:
        head = screen_text(app).splitlines()[0]
        assert head.startswith(f"{len(items)} sessions · {tokens:,} tokens · $")
        assert "sort: last used" in head

    drive(steps)


def test_enter_opens_the_detail_view_with_every_turn(made: Made) -> None:
    first = listed()[0]

    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("enter")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert type(app.screen).__name__ == "DetailScreen"
        assert app.screen.ident == first["id"]
        assert f"ID:                {first['id']}" in text
        assert f"Backend:           {first['backend']}" in text
        assert "turn 1 · " in text
        await pilot.press("escape")
        assert type(app.screen).__name__ == "SessionsScreen"

    drive(steps)


def test_slash_searches_as_you_type(made: Made) -> None:
    expected = listed("-q", "release")
    assert [i["id"] for i in expected] == [made.ids["notes"]]

    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("slash", *"release")
        await settle(pilot, lambda: app.source.total == 1)  # no Enter needed
        assert app.sessions_screen.table.current().id == made.ids["notes"]
        assert "write the release notes" in screen_text(app)
        await pilot.press("enter")  # keeps the search, back in the table
        assert app.sessions_screen.table.has_focus
        assert app.source.total == 1
        await pilot.press("escape")  # clears it
        assert app.source.total == 3

    drive(steps)


def test_f_filters_by_backend_status_tag_range_origin(made: Made) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("f")
        assert type(app.screen).__name__ == "FilterPanel"
        await pilot.press(*"codex", "tab", *"active", "tab", "tab", *"7d", "tab",
                          *"clinvk", "enter")
        await pilot.pause()
        assert app.source.total == len(listed("-b", "codex", "--status", "active",
                                              "--range", "7d", "--origin", "clinvk")) == 1
        assert app.sessions_screen.table.current().id == made.ids["tools"]
        assert "backend codex · status active · range 7d · origin clinvk" in screen_text(app)
        # A tag: ctrl+r clears the panel first.
        await pilot.press("f", "ctrl+r", "tab", "tab", *"release", "enter")
        await pilot.pause()
        assert app.source.total == 1
        assert app.sessions_screen.table.current().id == made.ids["notes"]

    drive(steps)


def test_a_bad_filter_is_a_notification_and_changes_nothing(made: Made) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("f", "tab", *"sleeping", "enter")
        await pilot.pause()
        assert any("invalid status filter: 'sleeping'" in n for n in notes(app))
        assert app.source.total == 3
        assert app.source.choice.status == ""

    drive(steps)


def test_s_cycles_the_sort(made: Made) -> None:
    items = listed()
    by_tokens = sorted(items, key=lambda i: (-(i["tokens"] or 0), i["id"]))
    by_created = sorted(items, key=lambda i: i["created_at"], reverse=True)
    sorts: list[tuple[str, list[str]]] = []

    async def steps(app: Any, pilot: Any) -> None:
        for _ in range(5):
            await pilot.press("s")
            rows = [app.source.row(i).id for i in range(app.source.total)]
            sorts.append((app.source.sort, rows))
        assert "sort: last used" in screen_text(app)

    drive(steps)
    assert [s for s, _ in sorts] == ["created", "tokens", "cost", "duration", "last_used"]
    assert sorts[0][1] == [i["id"] for i in by_created]
    assert sorts[1][1] == [i["id"] for i in by_tokens]
    assert sorts[4][1] == [i["id"] for i in items]


def test_3_shows_the_stats_of_the_filter_and_tab_changes_the_chart(made: Made) -> None:
    stats = cli_json("sessions", "stats", "-b", "claude")

    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("f", *"claude", "enter")
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "Stats · backend claude" in text
        assert f"Sessions:    {stats['totals']['sessions']} (" in text
        assert "cost per day" in text
        await pilot.press("tab")
        text = screen_text(app)
        assert "cost per backend" in text
        assert "claude █" in text
        assert "codex" not in text.split("cost per backend")[1]
        await pilot.press("tab")
        assert "cost per model" in screen_text(app)
        await pilot.press("1")
        assert type(app.screen).__name__ == "SessionsScreen"
        await pilot.press("tab")  # tab opens it too
        assert type(app.screen).__name__ == "StatsScreen"

    drive(steps)


def test_the_stats_follow_a_search(made: Made) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("slash", *"release", "enter")
        await settle(pilot, lambda: app.source.total == 1)
        await pilot.press("3")
        text = screen_text(app)
        assert "Stats · /release" in text
        assert "Sessions:    1 (active 1)" in text
        await pilot.press("tab")
        assert "gemini █" in screen_text(app)
        assert "claude █" not in screen_text(app)

    drive(steps)


def test_q_quits(made: Made) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        await pilot.press("q")

    app = drive(steps)
    assert app.return_code == 0
    assert not app.is_running


# ----------------------------------------------------------------- detail view
async def open_session(app: Any, pilot: Any, ident: str) -> Any:
    table = app.sessions_screen.table
    while table.current().id != ident:
        await pilot.press("j")
    await pilot.press("enter")
    await settle(pilot, lambda: getattr(app.screen, "ident", None) == ident
                 and app.screen.session is not None)
    return app.screen


def record(made: Made, ident: str) -> Any:
    [session] = [s for _, s, _ in iter_sessions(_store(made)) if s.id == ident]
    return session


def _store(made: Made) -> Any:
    from clinvk.store import SessionStore

    return SessionStore(made.root)


def test_enter_on_a_tool_call_shows_its_input_and_output(made: Made) -> None:
    async def steps(app: Any, pilot: Any) -> None:
        view = await open_session(app, pilot, made.ids["tools"])
        assert "command_execution" in screen_text(app) or "bash:" in screen_text(app)
        await pilot.press("tab")
        assert type(app.focused).__name__ == "CallLine"
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert type(app.screen).__name__ == "CallView"
        assert "Turn 1 · command_execution (shell) · ok" in text
        assert '"command":' in text  # the input
        assert "kiwi-codex-7319 is the first line" in text  # the output preview
        await pilot.press("escape")
        assert app.screen is view

    drive(steps, size=(120, 40))


def test_r_resumes_in_the_background_and_streams_the_answer(made: Made, fake: Any) -> None:
    ident = made.ids["parser"]
    # The vendor's last line (its result) comes 1.5 s after the answer's text.
    fake.set(SLEEP_BETWEEN=0.75)
    live: list[str] = []

    async def steps(app: Any, pilot: Any) -> None:
        view = await open_session(app, pilot, ident)
        await pilot.press("r")
        assert type(app.screen).__name__ == "Ask"
        await pilot.press(*"and the lexer", "enter")
        # The answer shows while the turn still runs…
        await settle(pilot, lambda: "MOCK anthropic reply #2" in view.live_text)
        assert ident in app.running
        assert record(made, ident).status == "running"
        live.append(screen_text(app))
        # …then the view shows it as a recorded turn, the live text gone.
        await settle(pilot, lambda: not app.running and view.session is not None
                     and len(view.session.turns) == 2)
        assert view.live_text == ""
        await pilot.pause(0.3)  # the answer's Markdown is laid out
        assert "turn 2 · " in screen_text(app)
        assert "MOCK anthropic reply #2" in screen_text(app)

    drive(steps, size=(100, 40))
    assert "> and the lexer" in live[0]
    assert "MOCK anthropic reply #2" in live[0]
    session = record(made, ident)
    assert [t.prompt for t in session.turns] == ["explain the parser module", "and the lexer"]
    assert session.turns[1].status == "ok"


def test_r_on_a_busy_session_says_so_and_c_cancels_its_turn(made: Made, fake: Any) -> None:
    import subprocess
    import sys

    from tests.run.conftest import clinvk_env, wait_for

    ident = made.ids["parser"]
    # A turn running in another process (the fake vendor hangs after its first line).
    turn = subprocess.Popen([sys.executable, "-m", "clinvk", "resume", ident, "go on"],
                            env=clinvk_env({"FAKE_HANG_AFTER": "1"}),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: record(made, ident).status == "running", what="the turn to start")

        async def steps(app: Any, pilot: Any) -> None:
            await open_session(app, pilot, ident)
            assert "Status:            running" in screen_text(app)
            await pilot.press("r")
            assert type(app.screen).__name__ == "DetailScreen"  # no prompt asked
            assert any(f"Session {ident} is busy" in n for n in notes(app))
            await pilot.press("c")
            await settle(pilot, lambda: turn.poll() is not None)
            await settle(pilot, lambda: app.screen.status != "running")

        drive(steps, poll_s=0.2)
        assert turn.wait(timeout=30) == 130
    finally:
        if turn.poll() is None:
            turn.kill()
            turn.wait()
    assert record(made, ident).status == "error"
    assert record(made, ident).reason == "cancelled"


def test_p_pauses_and_m_completes(made: Made) -> None:
    ident = made.ids["notes"]
    statuses: list[str] = []

    async def steps(app: Any, pilot: Any) -> None:
        view = await open_session(app, pilot, ident)
        await pilot.press("p")
        await settle(pilot, lambda: view.status == "paused")
        statuses.append(record(made, ident).status)
        assert any(f"Session {ident} paused." in n for n in notes(app))
        await pilot.press("m")
        await settle(pilot, lambda: view.status == "completed")
        statuses.append(record(made, ident).status)

    drive(steps)
    assert statuses == ["paused", "completed"]


def test_t_edits_tags(made: Made) -> None:
    ident = made.ids["notes"]

    async def steps(app: Any, pilot: Any) -> None:
        view = await open_session(app, pilot, ident)
        await pilot.press("t")
        await pilot.press(*"+review -release", "enter")
        await settle(pilot, lambda: view.session.tags == ["review"])
        assert "Tags:              review" in screen_text(app)

    drive(steps)
    assert record(made, ident).tags == ["review"]


def test_a_bad_tag_is_the_commands_own_error(made: Made) -> None:
    ident = made.ids["notes"]

    async def steps(app: Any, pilot: Any) -> None:
        await open_session(app, pilot, ident)
        await pilot.press("t", *"+no!", "enter")
        await settle(pilot, lambda: any("invalid tag" in n for n in notes(app)))

    drive(steps)
    assert record(made, ident).tags == ["release"]


def test_e_exports_markdown(made: Made, tmp_path: Path, monkeypatch: Any) -> None:
    ident = made.ids["tools"]
    monkeypatch.chdir(tmp_path)

    async def steps(app: Any, pilot: Any) -> None:
        await open_session(app, pilot, ident)
        await pilot.press("e", "enter")  # the proposed file name: ID.md
        await settle(pilot, lambda: (tmp_path / f"{ident}.md").exists())

    drive(steps)
    text = (tmp_path / f"{ident}.md").read_text(encoding="utf-8")
    assert "read the notes" in text
    assert "kiwi-codex-7319" in text


def test_y_copies_the_id(made: Made) -> None:
    ident = made.ids["tools"]

    async def steps(app: Any, pilot: Any) -> None:
        await open_session(app, pilot, ident)
        await pilot.press("y")
        assert app.clipboard == ident
        assert f"Copied {ident}" in notes(app)

    drive(steps)


def test_d_deletes_after_confirmation(made: Made) -> None:
    ident = made.ids["notes"]

    async def steps(app: Any, pilot: Any) -> None:
        await open_session(app, pilot, ident)
        await pilot.press("d", "n")  # no: nothing happens
        await pilot.pause(0.3)
        assert _store(made).exists(ident)
        await pilot.press("d", "y")
        await settle(pilot, lambda: type(app.screen).__name__ == "SessionsScreen")
        assert app.source.total == 2

    drive(steps)
    assert not _store(made).exists(ident)
    assert ident not in [i["id"] for i in listed()]


def test_d_is_refused_for_a_running_session(made: Made, fake: Any) -> None:
    import subprocess
    import sys

    from tests.run.conftest import clinvk_env, wait_for

    ident = made.ids["tools"]
    turn = subprocess.Popen([sys.executable, "-m", "clinvk", "resume", ident, "go on"],
                            env=clinvk_env({"FAKE_HANG_AFTER": "1"}),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: record(made, ident).status == "running", what="the turn to start")

        async def steps(app: Any, pilot: Any) -> None:
            await open_session(app, pilot, ident)
            await pilot.press("d", "y")
            await settle(pilot, lambda: any("is running" in n for n in notes(app)))
            # the command's hint comes along
            assert any("clinvk cancel" in n for n in notes(app))
            await pilot.press("p")  # pausing it is refused too: its turn holds it
            await settle(pilot, lambda: any(f"session busy: {ident}" in n for n in notes(app)))

        drive(steps)
        assert _store(made).exists(ident)
        assert record(made, ident).status == "running"
    finally:
        turn.kill()
        turn.wait()


# ----------------------------------------------------------------- live
def test_a_turn_started_elsewhere_shows_up_running_then_done(made: Made, fake: Any) -> None:
    import subprocess
    import sys

    from tests.run.conftest import clinvk_env

    ident = made.ids["parser"]
    states: list[str] = []

    async def steps(app: Any, pilot: Any) -> None:
        def shown() -> Any:
            rows = [app.source.row(i) for i in range(app.source.total)]
            return next(r for r in rows if r.id == ident)

        assert shown().status == "active"
        turn = await asyncio.to_thread(
            subprocess.Popen, [sys.executable, "-m", "clinvk", "resume", ident, "more"],
            env=clinvk_env({"FAKE_SLEEP_BEFORE": "2"}), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await settle(pilot, lambda: shown().status == "running")
            states.append(shown().status)
            assert "running" in screen_text(app)
            await settle(pilot, lambda: turn.poll() is not None)
            await settle(pilot, lambda: shown().status == "active")
            states.append(shown().status)
            assert shown().turns == 2
            assert app.source.row(0).id == ident  # now the last used
        finally:
            if turn.poll() is None:
                turn.kill()
            turn.wait()

    drive(steps, poll_s=0.3)
    assert states == ["running", "active"]


def test_a_session_recorded_elsewhere_appears_without_a_restart(made: Made) -> None:
    from tests.run.conftest import run_proc

    async def steps(app: Any, pilot: Any) -> None:
        assert app.source.total == 3
        ran = await asyncio.to_thread(run_proc, "prompt", "-b", "claude", "-o", "json",
                                      "a brand new question")
        assert ran.code == 0, ran.err
        new = json.loads(ran.out)["id"]
        await settle(pilot, lambda: app.source.total == 4)
        assert app.source.row(0).id == new
        assert "a brand new question" in screen_text(app)

    drive(steps, poll_s=0.3)


def test_quitting_while_r_runs_stops_the_turn_first(made: Made, fake: Any) -> None:
    from tests.run.conftest import process_gone

    ident = made.ids["parser"]
    fake.set(HANG_AFTER=1)  # the resumed turn's vendor hangs until stopped
    pids: list[int] = []

    async def steps(app: Any, pilot: Any) -> None:
        await open_session(app, pilot, ident)
        await pilot.press("r", *"more", "enter")
        await settle(pilot, lambda: record(made, ident).status == "running")
        pids.append(record(made, ident).pid)
        await pilot.press("escape", "q")

    drive(steps)
    session = record(made, ident)
    assert (session.status, session.reason) == ("error", "interrupted")
    assert [t.status for t in session.turns] == ["ok", "interrupted"]
    assert process_gone(pids[0])  # the child clinvk was waited for, not left behind
