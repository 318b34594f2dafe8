"""Recorded tool calls as people and scripts read them back: `sessions history --tools`,
`sessions show --turns`, Markdown export, and export/import carrying (and checking) them.
Sessions come from real turns over the fake vendors replaying captured tool turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, run_proc


@pytest.fixture
def session_id(tmp_path: Path, fake: Fakes, run, store: SessionStore) -> str:
    """A claude session: turn 1 reads, edits and writes (claude-edit), turn 2 runs a
    shell command that fails (claude-shell-fail)."""
    project = tmp_path / "proj-claude"
    project.mkdir()
    fake.set(TMP=str(tmp_path), SAMPLE="tools/claude-edit.jsonl")
    first = run("prompt", "-b", "claude", "-w", str(project), "-o", "json", "edit notes")
    assert first.code == 0, first.err
    ident = first.json()["id"]
    fake.set(SAMPLE="tools/claude-shell-fail.jsonl")
    assert run("resume", ident, "list it").code == 0
    return str(ident)


def test_history_tools_table(session_id: str, tmp_path: Path) -> None:
    r = run_proc("sessions", "history", session_id, "--tools")
    assert r.code == 0, r.err
    header, *rows = r.out.splitlines()
    assert header.split() == ["TIME", "TURN", "TOOL", "SUMMARY", "STATUS", "DURATION"]
    cells = [row.split("  ") for row in rows]
    assert [[c.strip() for c in row if c.strip()][1:5] for row in cells] == [
        ["1", "Read", "notes.txt", "ok"],
        ["1", "Edit", "notes.txt", "ok"],
        ["1", "Write", "new.txt", "ok"],
        ["2", "Bash", f"ls {tmp_path}/proj-claude/missing-dir", "error (exit 2)"],
    ]
    assert all(row[:4].isdigit() and row[4] == "-" for row in rows)  # a date first


def test_history_last_is_the_most_recently_used_session(session_id: str, fake: Fakes,
                                                       run) -> None:  # type: ignore[no-untyped-def]
    fake.clear("SAMPLE")
    other = run("prompt", "-b", "codex", "-o", "json", "another").json()["id"]
    latest = run_proc("sessions", "history", "--last", "--json")
    assert latest.code == 0, latest.err
    assert json.loads(latest.out) == json.loads(run_proc("sessions", "history", other,
                                                         "--json").out)
    assert run("resume", session_id, "once more").code == 0  # now the latest again
    tools = run_proc("sessions", "history", "--last", "--tools")
    assert tools.code == 0 and "Bash" in tools.out, tools.err
    both = run_proc("sessions", "history", session_id, "--last")
    assert both.code == 1 and both.err.startswith("clinvk: error: with --last, give no session id")
    neither = run_proc("sessions", "history")
    assert neither.code == 1 and neither.err.startswith("clinvk: error: no session id given")


def test_history_tools_filters_and_json(session_id: str, tmp_path: Path) -> None:
    r = run_proc("sessions", "history", session_id, "--tools", "--status", "error")
    assert [line.split()[3] for line in r.out.splitlines()[1:]] == ["Bash"]
    r = run_proc("sessions", "history", session_id, "--tools", "--kind", "write", "--json")
    data = r.json()
    assert data["id"] == session_id
    assert [(c["turn"], c["name"], c["paths"]) for c in data["tool_calls"]] == [
        (1, "Write", [str(tmp_path / "proj-claude" / "new.txt")])]
    assert data["tool_calls"][0]["input"]["content"]
    r = run_proc("sessions", "history", session_id, "--tools", "--kind", "shell", "--status", "ok")
    assert r.code == 0 and r.out == "" and r.err == "no tool calls match\n"


@pytest.mark.parametrize("args,message", [
    (["--tools", "--kind", "bash"], "invalid tool kind: 'bash'"),
    (["--tools", "--status", "failed"], "invalid tool status: 'failed'"),
    (["--status", "error"], "--kind and --status filter tool calls: add --tools"),
])
def test_history_tools_bad_filters(session_id: str, args: list[str], message: str) -> None:
    r = run_proc("sessions", "history", session_id, *args)
    assert r.code == 1 and r.out == ""
    assert r.err.startswith(f"clinvk: error: {message}\n")


def test_show_turns_lists_tool_calls_under_each_turn(session_id: str, tmp_path: Path) -> None:
    r = run_proc("sessions", "show", session_id, "--turns")
    assert r.code == 0, r.err
    turn1 = r.out.split("--- turn 1")[1].split("--- turn 2")[0]
    turn2 = r.out.split("--- turn 2")[1]
    assert "  ▸ Read notes.txt  ok  " in turn1
    assert "  ▸ Edit notes.txt  ok  " in turn1
    assert "  ▸ Write new.txt  ok  " in turn1
    project = tmp_path / "proj-claude"
    assert f"  files changed: {project}/notes.txt, {project}/new.txt" in turn1
    assert f"  ▸ bash: ls {project}/missing-dir (exit 2)  error  " in turn2
    # The answer follows the calls; the chatter before them is not shown as the answer.
    assert turn2.index("▸ bash") < turn2.index("MOCK final answer: claude-shell-fail")


def test_markdown_export_carries_tool_calls(session_id: str) -> None:
    r = run_proc("sessions", "export", session_id, "-f", "markdown")
    assert r.code == 0, r.err
    turn1 = r.out.split("## Turn 1")[1].split("## Turn 2")[0]
    assert "**Tool calls**\n\n- `Read` `notes.txt` · ok" in turn1
    assert "- `Write` `new.txt` · ok" in turn1
    assert "**Files changed:** `" in turn1
    assert "- `Bash` `ls " in r.out and "· error (exit 2)" in r.out
    assert turn1.index("**Tool calls**") < turn1.index("**Answer**")


def test_export_import_round_trip_keeps_tool_calls(session_id: str, tmp_path: Path,
                                                   store: SessionStore) -> None:
    export = tmp_path / "out.json"
    assert run_proc("sessions", "export", session_id, "-o", str(export)).code == 0
    r = run_proc("sessions", "import", str(export), "--json")
    assert r.code == 0, r.err
    new = r.json()["imported"][0]["id"]
    source, copy = store.read(session_id), store.read(new)
    for a, b in zip(source.turns, copy.turns, strict=True):
        assert a.tool_calls == b.tool_calls and a.tool_calls
        assert (a.files_changed, a.chatter) == (b.files_changed, b.chatter)


def hostile(doc: dict, change: str) -> dict:
    call = doc["sessions"][0]["turns"][0]["tool_calls"][0]
    turn = doc["sessions"][0]["turns"][0]
    if change == "preview":
        call["output_preview"] = "x" * 10_000
    elif change == "summary":
        call["summary"] = "line one\nline two"
    elif change == "path":
        call["paths"] = ["relative/path.txt"]
    elif change == "input":
        call["input"] = {"content": "y" * 20_000}
    elif change == "status":
        call["status"] = "exploded"
    elif change == "changed":
        turn["files_changed"] = ["/ok", "x" * 5000]
    return doc


@pytest.mark.parametrize("change,message", [
    ("preview", "whose tool call 1 has an output preview over 2048 bytes"),
    ("summary", "whose tool call 1 has a summary over 200 characters or not on one line"),
    ("path", "whose tool call 1 names a path that is not absolute"),
    ("input", "whose tool call 1 has input over 8192 bytes"),
    ("status", "Invalid enum value 'exploded' - at `$.turns[0].tool_calls[0].status`"),
    ("changed", "whose files_changed names a path that is not absolute"),
])
def test_import_refuses_tool_calls_out_of_bounds(session_id: str, tmp_path: Path,
                                                 store: SessionStore, change: str,
                                                 message: str) -> None:
    export = tmp_path / "out.json"
    assert run_proc("sessions", "export", session_id, "-o", str(export)).code == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(hostile(json.loads(export.read_text()), change)))
    before = sorted(s.id for _, s, _ in iter_sessions(store))
    r = run_proc("sessions", "import", str(bad))
    assert r.code == 1 and message in r.err, r.err
    assert r.err.count("\n") <= 2
    assert sorted(s.id for _, s, _ in iter_sessions(store)) == before


def test_a_version_1_record_without_tool_fields_reads_as_before(tmp_path: Path,
                                                                store: SessionStore) -> None:
    from tests.conftest import add_session

    s = add_session(store)
    path = store.path_for(s.id)
    raw = json.loads(path.read_text())
    raw["version"] = 1
    for turn in raw["turns"]:
        for key in ("tool_calls", "files_changed", "chatter"):
            turn.pop(key)
    path.write_text(json.dumps(raw))
    r = run_proc("sessions", "show", s.id, "--json")
    assert r.code == 0, r.err
    assert r.json()["turns"][0]["tool_calls"] == [] and r.json()["version"] == 1
    r = run_proc("sessions", "history", s.id, "--tools")
    assert r.code == 0 and r.err == "no tool calls in this session\n"
    assert "▸" not in run_proc("sessions", "show", s.id, "--turns").out
