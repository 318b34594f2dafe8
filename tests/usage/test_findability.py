"""`sessions list -q` search and per-turn history (`show --turns`, `history`)."""

from __future__ import annotations

import json

import pytest

from clinvk.store import SessionStore
from tests.usage.conftest import T, at, make


@pytest.fixture
def texts(store: SessionStore) -> dict[str, str]:
    ids = {}
    ids["title"] = make(store, title="Refactor the Tokenizer", turns=[
        T(at("2026-03-01 10:00"), prompt="start", response="ok")]).id
    ids["prompt"] = make(store, title="second", turns=[
        T(at("2026-03-01 11:00"), prompt="first turn", response="fine"),
        T(at("2026-03-01 11:05"), prompt='Why does "flaky_test" fail?', response="Timing.")]).id
    ids["answer"] = make(store, title="third", backend="codex", turns=[
        T(at("2026-03-01 12:00"), prompt="explain", response="It's the Größe of the BUFFER: ünïcode ✓")]).id
    ids["backslash"] = make(store, title="fourth", turns=[
        T(at("2026-03-01 13:00"), prompt=r"match C:\temp\new with a regex", response="done\ttab")]).id
    ids["none"] = make(store, title="unrelated", turns=[
        T(at("2026-03-01 14:00"), prompt="nothing here", response="nothing")]).id
    return ids


def found(run, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    ran = run("sessions", "list", "--json", "-n", "0", *args)
    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    assert data["total"] == len(data["items"])
    return [item["id"] for item in data["items"]]


@pytest.mark.parametrize(("query", "which"), [
    ("tokenizer", "title"),
    ("TOKENIZER", "title"),
    ("Flaky_Test", "prompt"),  # in the second turn's prompt
    ('"flaky_test"', "prompt"),  # with the double quotes, which JSON escapes
    ("it's the größe", "answer"),  # an apostrophe and non-ASCII
    ("GRÖSSE", None),  # lower() is not casefold(): ß is not ss
    ("ÜNÏCODE ✓", "answer"),
    ("buffer", "answer"),
    (r"c:\temp\new", "backslash"),  # backslashes, escaped in the file
    ("done\ttab", "backslash"),  # a tab, escaped as \t in the file
    ("no such text anywhere", None),
])
def test_search_titles_prompts_answers(run, texts, query, which) -> None:  # type: ignore[no-untyped-def]
    expected = [texts[which]] if which else []
    assert found(run, "-q", query) == expected


def test_search_matches_many_and_combines_with_filters(run, texts) -> None:  # type: ignore[no-untyped-def]
    everything = found(run, "-q", "t")
    assert set(everything) == set(texts.values())
    assert found(run, "-q", "nothing", "-b", "codex") == []
    assert found(run, "-q", "buffer", "-b", "codex") == [texts["answer"]]


def test_search_text_table_and_footer(run, texts) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "list", "-q", "flaky")
    assert ran.code == 0
    rows = ran.out.splitlines()
    assert len(rows) == 2 and texts["prompt"][:6] in rows[1]
    ran = run("sessions", "list", "-q", "zzz-nothing")
    assert ran.out == "" and "no sessions match" in ran.err


def test_search_finds_a_session_changed_since_indexing(run, store, texts) -> None:  # type: ignore[no-untyped-def]
    def add_turn(session):  # type: ignore[no-untyped-def]
        session.turns[0].response = "now mentions the Zeppelin"

    store.update(texts["none"], add_turn)
    assert found(run, "-q", "zeppelin") == [texts["none"]]


# --------------------------------------------------------------------------- history
@pytest.fixture
def talk(store: SessionStore) -> str:
    return make(store, model="claude-opus-4-8", title="two turns", turns=[
        T(at("2026-03-02 10:00"), (123, 45, 67, 8, 0), 0.0018235, "reported", 2.5,
          prompt="say hi", response="hi!"),
        T(at("2026-03-02 10:01"), (10, 5, 0, 0, 0), None, "unpriced", 61.25,
          prompt="and again", response="", status="error", exit_code=1,
          error="API Error: 400 bad request"),
    ]).id


def test_history_json_has_every_turn_field(run, talk) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "history", talk, "--json")
    assert ran.code == 0
    data = json.loads(ran.out)
    assert data["id"] == talk
    first, second = data["turns"]
    assert first["started_at"] == "2026-03-02T10:00:00Z"
    assert first["prompt"] == "say hi" and first["response"] == "hi!"
    assert first["usage"] == {"input_tokens": 123, "output_tokens": 45, "cache_read_tokens": 67,
                              "cache_write_tokens": 8, "reasoning_tokens": 0}
    assert first["cost_usd"] == 0.0018235 and first["cost_source"] == "reported"
    assert first["duration_s"] == 2.5 and first["exit_code"] == 0
    assert second["status"] == "error" and second["exit_code"] == 1
    assert second["cost_usd"] is None and second["cost_source"] == "unpriced"
    assert second["error"] == "API Error: 400 bad request"


def test_history_text_and_show_turns(run, talk, utc) -> None:  # type: ignore[no-untyped-def]
    text = run("sessions", "history", talk).out
    assert "--- turn 1  2026-03-02 10:00:00 UTC  ok  tokens 243  cost $0.0018  2.5s  exit 0" in text
    assert "> say hi\nhi!" in text
    assert "--- turn 2  2026-03-02 10:01:00 UTC  error  tokens 15  cost unpriced  61.2s  exit 1" in text
    assert "error: API Error: 400 bad request" in text
    shown = run("sessions", "show", talk, "--turns").out
    assert "Cost:" in shown and "(1 turn(s) unpriced)" in shown
    assert text.strip() in shown


def test_history_of_unknown_session_is_exit_1(run) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "history", "zzzzzzzz")
    assert ran.code == 1 and "session not found" in ran.err
