"""`clinvk prompt` in-process against the fake vendor CLIs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes

SAMPLE_TEXT = {
    "claude": "MOCK anthropic reply #1: say hi",
    "codex": "MOCK openai reply #1: say hi",
    "gemini": "MOCK gemini reply #1: say hi",
}
SAMPLE_ID = {
    "claude": "812a5f73-0013-4e7c-b123-31a5133d2aa6",
    "codex": "01a20093-0631-7903-acb4-875f3f4ace11",
    "gemini": "b1347ebd-5585-47a6-8927-3f4230e16030",
}
RESULT_KEYS = {"id", "backend", "backend_session_id", "model", "turn", "text", "usage", "cost_usd",
               "cost_source", "duration_s", "exit_code", "status", "error", "warning",
               "tool_calls", "files_changed"}


def only_session(store: SessionStore):
    found = [s for _, s, _ in iter_sessions(store)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_text_output_streams_answer_and_names_session(backend: str, fake: Fakes, workdir: Path,
                                                      run, store: SessionStore) -> None:
    r = run("prompt", "-b", backend, "say hi")
    assert r.code == 0, r.err
    assert r.out == SAMPLE_TEXT[backend] + "\n"
    session = only_session(store)
    assert f"session {session.id} ({backend}) · resume: clinvk resume {session.id[:6]} \"…\"" in r.err
    assert fake.last()["stdin"] == "say hi"
    assert fake.last()["cwd"] == str(workdir)


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_json_output_is_one_object(backend: str, fake: Fakes, workdir: Path, run,
                                   store: SessionStore) -> None:
    r = run("prompt", "-b", backend, "-o", "json", "say hi")
    assert r.code == 0, r.err
    data = r.json()
    session = only_session(store)
    assert set(data) == RESULT_KEYS
    assert data["id"] == session.id and data["backend"] == backend
    assert data["backend_session_id"] == SAMPLE_ID[backend]
    assert data["text"] == SAMPLE_TEXT[backend]
    assert data["status"] == "ok" and data["exit_code"] == 0 and data["error"] is None
    assert data["usage"]["output_tokens"] > 0
    assert "resume:" not in r.err  # the hint line is for people (text mode)


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_stream_json_has_the_same_schema_for_every_backend(backend: str, fake: Fakes,
                                                           workdir: Path, run) -> None:
    r = run("prompt", "-b", backend, "-o", "stream-json", "say hi")
    assert r.code == 0, r.err
    events = r.events()
    types = [e["type"] for e in events]
    assert types[0] == "session" and types[-1] == "result"
    assert types.count("session") == 1 and types.count("result") == 1
    assert set(types) <= {"session", "text", "usage", "error", "result"}
    assert set(events[0]) == {"type", "id", "backend", "backend_session_id", "model"}
    assert events[0]["backend_session_id"] == SAMPLE_ID[backend]
    assert "".join(e["text"] for e in events if e["type"] == "text") == SAMPLE_TEXT[backend]
    usage = [e for e in events if e["type"] == "usage"]
    assert usage and set(usage[0]) == {"type", "usage", "cost_usd"}
    assert set(events[-1]) == RESULT_KEYS | {"type"}
    assert events[-1]["text"] == SAMPLE_TEXT[backend]


def test_gemini_deltas_arrive_as_separate_text_events(fake: Fakes, workdir: Path, run) -> None:
    r = run("prompt", "-b", "gemini", "-o", "stream-json", "say hi")
    texts = [e["text"] for e in r.events() if e["type"] == "text"]
    assert texts == ["MOCK gemini ", "reply #1: ", "say hi"]


def test_stored_turn_usage_cost_and_model(fake: Fakes, workdir: Path, run,
                                          store: SessionStore) -> None:
    assert run("prompt", "--title", "greet", "--tag", "a", "--tag", "b", "say hi").code == 0
    s = only_session(store)
    assert (s.backend, s.status, s.title, s.tags, s.workdir) == ("claude", "active", "greet",
                                                                 ["a", "b"], str(workdir))
    assert s.backend_session_id == SAMPLE_ID["claude"] and s.model == "claude-opus-4-8"
    assert s.pid is None and s.pgid is None and s.reason is None
    (turn,) = s.turns
    assert turn.status == "ok" and turn.exit_code == 0 and turn.prompt == "say hi"
    assert turn.response == SAMPLE_TEXT["claude"]
    assert (turn.usage.input_tokens, turn.usage.output_tokens, turn.usage.cache_read_tokens,
            turn.usage.cache_write_tokens) == (123, 45, 67, 8)
    assert turn.cost_source == "reported" and turn.cost_usd == pytest.approx(0.0018235)
    assert turn.duration_s is not None and turn.duration_s >= 0


def test_cost_of_an_unreported_turn_comes_from_pricing(fake: Fakes, workdir: Path, run,
                                                       store: SessionStore) -> None:
    pricing = pytest.importorskip("clinvk.pricing")
    assert run("prompt", "-b", "codex", "-m", "gpt-5.5", "say hi").code == 0
    turn = only_session(store).turns[0]
    cost, source, price_source = pricing.compute_cost("gpt-5.5", turn.usage, {})
    assert (turn.cost_usd, turn.cost_source, turn.price_source) == (cost, source, price_source)
    assert turn.cost_source in ("computed", "unpriced")


def test_codex_usage_is_per_turn_across_two_turns(fake: Fakes, workdir: Path, run,
                                                  store: SessionStore) -> None:
    assert run("prompt", "-b", "codex", "say hi").code == 0
    session = only_session(store)
    assert run("resume", session.id, "again").code == 0
    first, second = store.read(session.id).turns
    # codex reports thread totals (123 then 246 input incl. 67/134 cached): each turn is the difference.
    assert (first.usage.input_tokens, first.usage.cache_read_tokens, first.usage.output_tokens) == (56, 67, 45)
    assert (second.usage.input_tokens, second.usage.cache_read_tokens, second.usage.output_tokens) == (56, 67, 45)
    assert second.usage_total is not None and second.usage_total.output_tokens == 90


def test_double_dash_lets_a_prompt_start_with_a_dash(fake: Fakes, workdir: Path, run) -> None:
    r = run("prompt", "--", "-rf is a prompt")
    assert r.code == 0, r.err
    assert fake.last()["stdin"] == "-rf is a prompt"
    assert "-rf is a prompt" not in fake.last()["argv"]


def test_bare_invocation_is_prompt(fake: Fakes, workdir: Path, run) -> None:
    r = run("-b", "gemini", "say hi")
    assert r.code == 0 and r.out == SAMPLE_TEXT["gemini"] + "\n"


def test_a_200kb_prompt_arrives_intact(fake: Fakes, workdir: Path, run, store: SessionStore) -> None:
    prompt = "".join(f"line {i}: {'é' * 40} {'x' * 50}\n" for i in range(2000))
    assert len(prompt.encode()) > 200_000
    r = run("prompt", "-b", "codex", prompt)
    assert r.code == 0, r.err
    assert fake.last()["stdin"] == prompt
    assert all(len(arg) < 1000 for arg in fake.last()["argv"])
    assert only_session(store).turns[0].prompt == prompt


def test_prompt_from_piped_stdin_and_dash(fake: Fakes, workdir: Path, run,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"from a pipe\n")))
    assert run("prompt", "-b", "codex").code == 0
    assert fake.last()["stdin"] == "from a pipe\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"dash prompt")))
    assert run("-b", "gemini", "-").code == 0
    assert fake.last()["stdin"] == "dash prompt"


def test_empty_prompt_is_an_error(fake: Fakes, workdir: Path, run, store: SessionStore,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    r = run("prompt", "   ")
    assert r.code == 1 and "prompt is empty" in r.err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert run("prompt").code == 1
    assert fake.starts() == [] and list(iter_sessions(store)) == []


def test_dry_run_prints_argv_cwd_and_env_names_only(fake: Fakes, workdir: Path, run,
                                                    store: SessionStore, clinvk_home: Path) -> None:
    (clinvk_home / "config.toml").write_text(
        '[backends.claude]\nenv = { ANTHROPIC_API_KEY = "sk-secret-value" }\ntimeout = 42\n')
    r = run("prompt", "--dry-run", "--backend-arg=--bare", "say hi")
    assert r.code == 0, r.err
    assert "argv:    claude -p --output-format stream-json --verbose --bare" in r.out
    assert f"cwd:     {workdir}" in r.out
    assert "ANTHROPIC_API_KEY" in r.out and "sk-secret-value" not in r.out + r.err
    assert "stdin:   the prompt (6 bytes)" in r.out and "timeout: 42s" in r.out
    assert fake.starts() == [] and list(iter_sessions(store)) == []
    data = run("prompt", "--dry-run", "-o", "json", "--timeout", "0", "say hi").json()
    assert data["argv"][0] == "claude" and data["env"] == ["ANTHROPIC_API_KEY"]
    assert data["timeout"] is None and data["cwd"] == str(workdir)


def test_ephemeral_stores_nothing(fake: Fakes, workdir: Path, run, store: SessionStore) -> None:
    r = run("prompt", "--ephemeral", "-o", "json", "say hi")
    assert r.code == 0, r.err
    assert r.json()["id"] is None and r.json()["text"] == SAMPLE_TEXT["claude"]
    assert list(iter_sessions(store)) == []
    assert fake.starts()


def test_new_session_is_the_default_and_continue_picks_this_workdir_and_backend(
        fake: Fakes, workdir: Path, run, store: SessionStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("prompt", "-b", "codex", "one").code == 0
    assert run("prompt", "-b", "codex", "two").code == 0
    assert len(list(iter_sessions(store))) == 2  # never an implicit continue
    latest = json.loads(run("sessions", "list", "--json").out)["items"][0]["id"]
    other = tmp_path / "other"
    other.mkdir()
    assert run("prompt", "-b", "codex", "-w", str(other), "elsewhere").code == 0
    assert run("prompt", "-b", "gemini", "other backend").code == 0
    r = run("prompt", "-b", "codex", "-c", "three")
    assert r.code == 0, r.err
    assert len(list(iter_sessions(store))) == 4
    assert [t.prompt for t in store.read(latest).turns] == ["two", "three"]
    assert fake.last()["argv"][:3] == ["exec", "resume", "--json"]
    assert fake.last()["cwd"] == str(workdir)


def test_continue_without_a_session_is_exit_4(fake: Fakes, workdir: Path, run) -> None:
    r = run("prompt", "-c", "hello")
    assert r.code == 4 and "no claude session to continue" in r.err
    assert fake.starts() == []


def test_workdir_must_exist_and_is_stored_resolved(fake: Fakes, workdir: Path, run,
                                                   store: SessionStore, tmp_path: Path) -> None:
    r = run("prompt", "-w", str(tmp_path / "nope"), "hi")
    assert r.code == 1 and "working directory does not exist" in r.err
    link = tmp_path / "link"
    link.symlink_to(workdir)
    assert run("prompt", "-w", str(link), "hi").code == 0
    assert only_session(store).workdir == str(workdir)
    assert fake.last()["cwd"] == str(workdir)


def test_backend_args_and_model_reach_the_vendor(fake: Fakes, workdir: Path, run) -> None:
    r = run("prompt", "-b", "codex", "-m", "gpt-5.5", "--backend-arg", "-c",
            "--backend-arg", "features.x=true", "hi")
    assert r.code == 0, r.err
    argv = fake.last()["argv"]
    assert argv[argv.index("-m") + 1] == "gpt-5.5"
    i = argv.index("features.x=true")
    assert argv[i - 1] == "-c" and argv[-1] == "-"


def test_missing_vendor_cli_is_exit_1_with_install_command(fake: Fakes, workdir: Path, run,
                                                           store: SessionStore,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake.bin))
    fake.remove("codex")
    r = run("prompt", "-b", "codex", "hi")
    assert r.code == 1
    assert "codex CLI not found" in r.err and "npm install -g @openai/codex" in r.err
    assert list(iter_sessions(store)) == []


def test_vendor_failure_is_exit_1_with_its_message_and_stays_resumable(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:
    fake.set(sample="extra/codex-err400.jsonl", exit=1)
    r = run("prompt", "-b", "codex", "hi")
    assert r.code == 1
    assert "mock injected HTTP 400" in r.err and "Traceback" not in r.err
    s = only_session(store)
    assert (s.status, s.reason, s.turns[0].status) == ("error", "error", "error")
    assert "mock injected HTTP 400" in (s.turns[0].error or "")
    assert s.turns[0].exit_code == 1
    fake.clear("sample", "exit")
    r = run("resume", s.id, "again")
    assert r.code == 0, r.err
    assert store.read(s.id).status == "active"


def test_vendor_failure_in_json_mode_still_prints_the_result(fake: Fakes, workdir: Path,
                                                             run) -> None:
    fake.set(sample="extra/claude-err400.json", exit=1)
    r = run("prompt", "-o", "json", "hi")
    assert r.code == 1
    data = r.json()
    assert data["status"] == "error" and "400" in data["error"] and data["exit_code"] == 1
    assert "API Error: 400" in r.err


def test_timeout_precedence_flag_backend_default(fake: Fakes, workdir: Path, run,
                                                 clinvk_home: Path) -> None:
    def shown(*args: str) -> str:
        return run("prompt", "--dry-run", *args, "hi").out.splitlines()[-1]

    assert shown() == "timeout: none"
    (clinvk_home / "config.toml").write_text("[defaults]\ntimeout = 30\n")
    assert shown() == "timeout: 30s"
    (clinvk_home / "config.toml").write_text(
        "[defaults]\ntimeout = 30\n[backends.claude]\ntimeout = 7\n")
    assert shown() == "timeout: 7s"
    assert shown("--timeout", "3") == "timeout: 3s"
    assert shown("--timeout", "0") == "timeout: none"
    assert run("prompt", "--timeout", "-1", "hi").code == 1


def test_output_format_default_comes_from_config(fake: Fakes, workdir: Path, run,
                                                 clinvk_home: Path) -> None:
    (clinvk_home / "config.toml").write_text('[defaults]\noutput_format = "json"\nbackend = "gemini"\n')
    data = run("prompt", "hi").json()
    assert data["backend"] == "gemini"


def test_invalid_tag_and_unknown_backend_are_exit_1(fake: Fakes, workdir: Path, run) -> None:
    assert run("prompt", "--tag", "bad tag!", "hi").code == 1
    r = run("prompt", "-b", "nosuch", "hi")
    assert r.code == 1 and "unknown backend" in r.err
    assert fake.starts() == []


def test_configured_command_backend_runs(fake: Fakes, workdir: Path, run, clinvk_home: Path,
                                         store: SessionStore) -> None:
    (clinvk_home / "config.toml").write_text(
        '[backends.echoer]\nadapter = "command"\ncommand = "echo"\nargv = ["{prompt}"]\n')
    r = run("prompt", "-b", "echoer", "hello there")
    assert r.code == 0, r.err
    assert r.out == "hello there\n"
    assert only_session(store).backend == "echoer"


def test_stdout_gets_only_the_answer(fake: Fakes, workdir: Path, run) -> None:
    r = run("prompt", "-b", "codex", "hi")
    assert r.out.strip() == SAMPLE_TEXT["codex"]
    assert os.linesep not in r.out[:-1]
