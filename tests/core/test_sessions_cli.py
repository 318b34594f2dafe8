"""`clinvk sessions list|show|delete|clean|pause|complete|tag|rename`, in-process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clinvk.app import main
from clinvk.model import SCHEMA_VERSION
from clinvk.store import SessionStore
from tests.conftest import add_session


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_columns_newest_first_and_humanized(store: SessionStore, capsys) -> None:
    add_session(store, title="older one", age_days=2, backend="codex")
    add_session(store, title="newest one", tokens=(1000, 234, 0, 0, 0))
    add_session(store, title="no usage", age_days=1, turns=0)
    code, out, _ = run(capsys, "sessions", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "BACKEND", "STATUS", "LAST", "USED", "TOKENS", "TITLE/PROMPT"]
    assert "newest one" in lines[1] and "1,234" in lines[1] and "now" in lines[1]
    assert "no usage" in lines[2] and " - " in lines[2] and "a day ago" in lines[2]
    assert "older one" in lines[3] and "2 days ago" in lines[3]
    assert "\033[" not in out  # plain when piped


def test_list_json_envelope(store: SessionStore, capsys) -> None:
    made = add_session(store, title="x", tags=["t1"], workdir="/w")
    code, out, _ = run(capsys, "sessions", "list", "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 1 and data["limit"] == 20 and data["offset"] == 0
    item = data["items"][0]
    assert item["id"] == made.id and item["tags"] == ["t1"] and item["workdir"] == "/w"
    assert item["tokens"] == 127 and item["turns"] == 1 and item["model"] == "test-model"
    for key in ("backend", "status", "created_at", "last_used_at", "title"):
        assert key in item


def test_limit_offset_footer_and_all(store: SessionStore, capsys) -> None:
    for i in range(25):
        add_session(store, title=f"s{i:02d}", age_days=25 - i)
    code, out, err = run(capsys, "sessions", "list")
    assert code == 0 and len(out.splitlines()) == 21
    assert "Showing 1-20 of 25 sessions" in err and "--offset 20" in err
    code, out, err = run(capsys, "sessions", "list", "-n", "0")
    assert code == 0 and len(out.splitlines()) == 26 and "Showing" not in err
    _code, out, _ = run(capsys, "sessions", "list", "--json", "-n", "5", "--offset", "20")
    data = json.loads(out)
    assert [i["title"] for i in data["items"]] == ["s04", "s03", "s02", "s01", "s00"]
    assert data["total"] == 25


def test_filters(store: SessionStore, capsys, tmp_path: Path, monkeypatch) -> None:
    add_session(store, title="a", backend="codex", tags=["red"])
    add_session(store, title="b", backend="claude", status="paused", tags=["red", "big"])
    add_session(store, title="c", backend="gemini", age_days=40, workdir=str(tmp_path))
    def titles(*args: str) -> list[str]:
        code, out, _ = run(capsys, "sessions", "list", "--json", *args)
        assert code == 0
        return sorted(i["title"] for i in json.loads(out)["items"])
    assert titles("-b", "codex") == ["a"]
    assert titles("--status", "paused") == ["b"]
    assert titles("--tag", "red") == ["a", "b"]
    assert titles("--tag", "red", "--tag", "big") == ["b"]
    assert titles("--range", "7d") == ["a", "b"]
    assert titles("--range", "all") == ["a", "b", "c"]
    monkeypatch.chdir(tmp_path)
    assert titles("--here") == ["c"]


def test_search_titles_prompts_answers_case_insensitive(store: SessionStore, capsys) -> None:
    add_session(store, title="Title Word", prompt="p", response="r")
    add_session(store, title="t2", prompt="Ünïcode PROMPT", response="r")
    add_session(store, title="t3", prompt="p", response='an "Answer" here')
    add_session(store, title="t4", prompt="nothing", response="nothing")
    def found(q: str) -> list[str]:
        _, out, _ = run(capsys, "sessions", "list", "--json", "-q", q)
        return sorted(i["title"] for i in json.loads(out)["items"])
    assert found("title word") == ["Title Word"]
    assert found("ünïcode prompt") == ["t2"]
    assert found('"answer"') == ["t3"]
    assert found("zzz") == []


def test_invalid_status_filter(capsys) -> None:
    code, _, err = run(capsys, "sessions", "list", "--status", "bogus")
    assert code == 1
    assert "invalid status filter" in err and "active, completed, error, paused, running" in err


def test_show_fields_and_turns(store: SessionStore, capsys) -> None:
    s = add_session(store, title="shown", tags=["q"], turns=2)
    code, out, _ = run(capsys, "sessions", "show", s.id[:6])
    assert code == 0
    for label in ("ID:", "Backend:", "Model:", "Status:", "Created:", "Last Used:",
                  "Working Directory:", "Backend Session:", "Turns:", "Token Usage:", "Cost:", "Tags:"):
        assert label in out
    assert "Input 200 / Output 40 / Cache 14 / Total 254" in out
    import re

    assert "$0.0200" in out
    assert re.search(r"Last Used:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ \((now|.+ ago)\)", out)
    code, out, _ = run(capsys, "sessions", "show", s.id, "--turns")
    assert out.count("--- turn") == 2 and "> hello" in out and "hi there" in out


def test_show_json_is_the_whole_record(store: SessionStore, capsys) -> None:
    s = add_session(store)
    _code, out, _ = run(capsys, "sessions", "show", s.id, "--json")
    data = json.loads(out)
    assert data["id"] == s.id and data["version"] == SCHEMA_VERSION and len(data["turns"]) == 1
    assert data["turns"][0]["usage"]["input_tokens"] == 100


def test_show_unknown(capsys) -> None:
    code, _, err = run(capsys, "sessions", "show", "abcdef12")
    assert code == 1
    assert "session not found: abcdef12" in err and "clinvk sessions list" in err


def test_delete_prints_and_checks_all_first(store: SessionStore, capsys) -> None:
    a = add_session(store)
    code, out, _err = run(capsys, "sessions", "delete", a.id, "zzzz9999")
    assert code == 1 and store.exists(a.id)  # nothing deleted when one id is unknown
    code, out, _ = run(capsys, "sessions", "delete", a.id[:6])
    assert code == 0 and out.strip() == f"Session {a.id} deleted." and not store.exists(a.id)


def test_delete_refuses_running_unless_forced(store: SessionStore, capsys) -> None:
    a = add_session(store)
    store.update(a.id, lambda s: (setattr(s, "status", "running"), setattr(s, "pid", os.getpid())))
    code, _, err = run(capsys, "sessions", "delete", a.id)
    assert code == 4 and "running" in err and store.exists(a.id)
    code, _, _ = run(capsys, "sessions", "delete", a.id, "--force")
    assert code == 0 and not store.exists(a.id)


def test_clean_window_and_protected_statuses(store: SessionStore, capsys) -> None:
    old = add_session(store, title="old", age_days=45)
    add_session(store, title="old paused", age_days=45, status="paused")
    running = add_session(store, title="old running", age_days=45)
    store.update(running.id, lambda s: (setattr(s, "status", "running"),
                                        setattr(s, "pid", os.getpid())))
    store.update(running.id, lambda s: None)
    # updating bumps nothing: last_used_at stays old
    fresh = add_session(store, title="fresh", age_days=1)
    code, out, _ = run(capsys, "sessions", "clean", "--dry-run")
    assert code == 0 and old.id in out and "Would delete 1 session(s) older than 30 days." in out
    assert store.exists(old.id)
    code, out, _ = run(capsys, "sessions", "clean")
    assert out.strip() == "Deleted 1 session(s) older than 30 days."
    assert not store.exists(old.id) and store.exists(running.id) and store.exists(fresh.id)
    code, out, _ = run(capsys, "sessions", "clean")
    assert code == 0 and out.strip() == "no sessions to clean"
    code, out, _ = run(capsys, "sessions", "clean", "--older-than", "12h")
    assert out.strip() == "Deleted 1 session(s) older than 12 hours." and not store.exists(fresh.id)


def test_clean_retention_from_config_and_zero_keeps(store: SessionStore, capsys, monkeypatch) -> None:
    a = add_session(store, age_days=10)
    monkeypatch.setenv("CLINVK_SESSION_RETENTION_DAYS", "0")
    code, out, _ = run(capsys, "sessions", "clean")
    assert code == 0 and "keep forever" in out and store.exists(a.id)
    monkeypatch.setenv("CLINVK_SESSION_RETENTION_DAYS", "7")
    code, out, _ = run(capsys, "sessions", "clean")
    assert out.strip() == "Deleted 1 session(s) older than 7 days." and not store.exists(a.id)


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "3x", "0d"])
def test_clean_bad_duration(bad: str, store: SessionStore, capsys) -> None:
    a = add_session(store, age_days=100)
    code, _, err = run(capsys, "sessions", "clean", f"--older-than={bad}")
    assert code == 1 and "30d" in err and "12h" in err and store.exists(a.id)


def test_pause_complete_tag_rename(store: SessionStore, capsys) -> None:
    a = add_session(store, tags=["old"])
    assert run(capsys, "sessions", "pause", a.id)[0] == 0
    assert store.read(a.id).status == "paused"
    assert run(capsys, "sessions", "complete", a.id)[0] == 0
    assert store.read(a.id).status == "completed"
    code, _out, _ = run(capsys, "sessions", "tag", a.id, "+new", "-old", "plain")
    assert code == 0 and store.read(a.id).tags == ["new", "plain"]
    code, _, err = run(capsys, "sessions", "tag", a.id, "+bad tag")
    assert code == 1 and "invalid tag" in err
    assert run(capsys, "sessions", "rename", a.id, "  new   title ")[0] == 0
    assert store.read(a.id).title == "new title"


def test_list_reports_skipped_files_and_still_lists(store: SessionStore, capsys) -> None:
    add_session(store, title="fine")
    shard = store.sessions_dir / "qq"
    shard.mkdir()
    (shard / "qqaaaaaa.json").write_text("{broken")
    code, out, err = run(capsys, "sessions", "list")
    assert code == 0 and "fine" in out
    assert err.count("skipped") == 1 and "qqaaaaaa.json" in err
