"""Tool calls through a real clinvk turn: recorded in the session, streamed as
tool_call / tool_result events, shown as dim lines on a terminal's stderr; the chatter
before a call is kept apart from the answer. The fake vendors replay the captured tool
turns of each CLI (tests/fixtures/vendor/tools/)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clinvk.model import SCHEMA_VERSION
from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, clinvk_env

FINAL = "MOCK tool result: kiwi-{}-7319 is the first line"
CHATTER = "MOCK pre-tool chatter: reading notes.txt"


@pytest.fixture
def project(tmp_path: Path, fake: Fakes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The captures name <TMP>/direct/proj-<cli>/notes.txt: <TMP> is this test's tmp dir."""
    fake.set(TMP=str(tmp_path))
    for cli in ("claude", "codex", "gemini"):
        (tmp_path / "direct" / f"proj-{cli}").mkdir(parents=True)
    return tmp_path


def use_sample(fake: Fakes, cli: str) -> None:
    fake.set(SAMPLE=f"tools/{cli}-tool-turn.jsonl")


def only_turn(store: SessionStore) -> Any:
    [session] = [s for _, s, _ in iter_sessions(store)]
    assert session.version == SCHEMA_VERSION
    return session.turns[-1]


@pytest.mark.parametrize("cli,name,kind,summary", [
    ("claude", "Read", "read", "notes.txt"),
    ("codex", "command_execution", "shell", "cat {tmp}/direct/proj-codex/notes.txt"),
    ("gemini", "read_file", "read", "notes.txt"),
])
def test_the_turn_records_its_tool_call(cli: str, name: str, kind: str, summary: str,
                                        fake: Fakes, project: Path, run,
                                        store: SessionStore) -> None:
    use_sample(fake, cli)
    workdir = project / "direct" / f"proj-{cli}"
    r = run("prompt", "-b", cli, "-w", str(workdir), "-o", "json", "read the notes")
    assert r.code == 0, r.err
    turn = only_turn(store)
    [call] = turn.tool_calls
    assert (call.name, call.kind, call.status) == (name, kind, "ok")
    assert call.summary == summary.format(tmp=project)
    assert call.started_at is not None
    if cli != "codex":
        assert call.paths == [str(workdir / "notes.txt")]
    if cli == "claude":  # vendor timestamps 01:21:40.371 → .403
        assert call.duration_s == pytest.approx(0.032)
        assert call.output_preview.startswith("1\tkiwi-claude-7319")
    if cli == "codex":
        assert call.exit_code == 0 and call.output_preview.startswith("kiwi-codex-7319")
    # The answer is only the final text; the chatter is kept on its own.
    assert turn.response == FINAL.format(cli)
    assert turn.chatter == [CHATTER]
    assert turn.files_changed == []
    out = r.json()
    assert out["text"] == FINAL.format(cli)
    assert [c["id"] for c in out["tool_calls"]] == [call.id]


@pytest.mark.parametrize("cli", ["claude", "codex", "gemini"])
def test_stream_json_has_tool_events_between_text_events(cli: str, fake: Fakes, project: Path,
                                                         run) -> None:
    use_sample(fake, cli)
    r = run("prompt", "-b", cli, "-w", str(project / "direct" / f"proj-{cli}"), "-o",
            "stream-json", "read the notes")
    assert r.code == 0, r.err
    events = r.events()
    types = [e["type"] for e in events if e["type"] != "usage"]
    first_tool = types.index("tool_call")
    assert types[0] == "session" and types[-1] == "result"
    assert types[first_tool - 1] == "text" and types[first_tool + 1] == "tool_result"
    assert types[first_tool + 2] == "text"
    call = next(e for e in events if e["type"] == "tool_call")
    done = next(e for e in events if e["type"] == "tool_result")
    assert set(call) == {"type", "id", "name", "kind", "summary", "input", "paths"}
    assert set(done) == {"type", "id", "status", "exit_code", "output_preview", "duration_s"}
    assert done["id"] == call["id"] and done["status"] == "ok"
    assert call["input"] and isinstance(call["input"], dict)


def run_on_terminal(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """clinvk with stderr on a pseudo-terminal (stdout piped); what each stream got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", *args], env=clinvk_env(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize("cli,line", [
    ("claude", "▸ Read notes.txt"),
    ("codex", "▸ bash: cat {tmp}/direct/proj-codex/notes.txt"),
    ("gemini", "▸ read_file notes.txt"),
])
def test_text_mode_shows_a_dim_line_per_call_on_a_terminal(cli: str, line: str, fake: Fakes,
                                                           project: Path) -> None:
    use_sample(fake, cli)
    env = {"NO_COLOR": "", "TERM": "xterm"}
    where = str(project / "direct" / f"proj-{cli}")
    code, out, err = run_on_terminal("prompt", "-b", cli, "-w", where, "read", env=env)
    assert code == 0, err
    assert f"\x1b[2m{line.format(tmp=project)}\x1b[0m" in err
    assert "▸" not in out  # stdout carries the answer only
    code, out, err = run_on_terminal("prompt", "-b", cli, "-w", where, "--quiet", "read", env=env)
    assert code == 0 and "▸" not in err and "resume:" not in err
    assert out.endswith(FINAL.format(cli) + "\n")


def test_text_mode_piped_shows_no_tool_lines(fake: Fakes, project: Path, run) -> None:
    use_sample(fake, "claude")
    r = run("prompt", "-b", "claude", "-w", str(project / "direct" / "proj-claude"), "read")
    assert r.code == 0 and "▸" not in r.err and "resume:" in r.err


def test_failing_shell_line_names_its_exit_code(fake: Fakes, project: Path, tmp_path: Path) -> None:
    stream = tmp_path / "fail.jsonl"
    stream.write_text("\n".join(json.dumps(e) for e in [
        {"type": "thread.started", "thread_id": "01a22a0b-1b4a-7bb2-b5b3-712b43f1ec4d"},
        {"type": "item.started", "item": {"id": "i", "type": "command_execution",
                                          "command": "/bin/bash -lc 'npm test'"}},
        {"type": "item.completed", "item": {"id": "i", "type": "command_execution",
                                            "command": "/bin/bash -lc 'npm test'",
                                            "aggregated_output": "boom", "exit_code": 1,
                                            "status": "failed"}},
        {"type": "item.completed", "item": {"id": "a", "type": "agent_message", "text": "failed"}},
        {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 1}},
    ]) + "\n")
    fake.set(SAMPLE=str(stream))
    code, _, err = run_on_terminal("prompt", "-b", "codex", "-w", str(project), "test",
                                   env={"NO_COLOR": "1"})
    assert code == 0 and "▸ bash: npm test (exit 1)\n" in err


def test_edits_fill_files_changed_and_failed_ones_do_not(fake: Fakes, project: Path,
                                                         tmp_path: Path, run,
                                                         store: SessionStore) -> None:
    def call(ident: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"type": "assistant", "message": {"id": f"m{ident}", "content": [
            {"type": "tool_use", "id": ident, "name": name, "input": args}]}}

    def result(ident: str, error: bool = False) -> dict[str, Any]:
        return {"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": ident, "content": "done", "is_error": error}]}}

    stream = tmp_path / "edits.jsonl"
    stream.write_text("\n".join(json.dumps(e) for e in [
        {"type": "system", "subtype": "init", "session_id": "ccb56b3e-eca8-4650-b4eb-ac45ba049f62"},
        call("a", "Write", {"file_path": "new.py", "content": "x"}), result("a"),
        call("b", "Edit", {"file_path": str(project / "old.py"), "old_string": "a",
                           "new_string": "b"}), result("b"),
        call("c", "Edit", {"file_path": "broken.py", "old_string": "zz", "new_string": "b"}),
        result("c", error=True),
        call("d", "Read", {"file_path": "new.py"}), result("d"),
        call("e", "Write", {"file_path": "new.py", "content": "y"}), result("e"),
        {"type": "result", "subtype": "success", "is_error": False, "result": "edited",
         "session_id": "ccb56b3e-eca8-4650-b4eb-ac45ba049f62", "num_turns": 2,
         "usage": {"input_tokens": 1, "output_tokens": 1}},
    ]) + "\n")
    fake.set(SAMPLE=str(stream))
    assert run("prompt", "-b", "claude", "-w", str(project), "edit").code == 0
    turn = only_turn(store)
    assert [c.status for c in turn.tool_calls] == ["ok", "ok", "error", "ok", "ok"]
    assert turn.files_changed == [str(project / "new.py"), str(project / "old.py")]


def test_a_call_cut_off_by_a_timeout_is_cancelled(fake: Fakes, project: Path, run,
                                                  store: SessionStore) -> None:
    use_sample(fake, "codex")
    fake.set(HANG_AFTER=4)  # after item.started of the shell command
    r = run("prompt", "-b", "codex", "-w", str(project), "-o", "stream-json", "--timeout", "1",
            "read")
    assert r.code == 124
    turn = only_turn(store)
    [call] = turn.tool_calls
    assert call.status == "cancelled" and call.kind == "shell"
    assert turn.chatter == [CHATTER] and turn.response == ""
    done = [e for e in r.events() if e["type"] == "tool_result"]
    assert [(e["id"], e["status"]) for e in done] == [(call.id, "cancelled")]
