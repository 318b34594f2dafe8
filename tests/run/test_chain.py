"""`clinvk chain`: steps in order, answers substituted into later prompts, prompts on
the vendor's stdin only; clinvk as a real process with fake vendors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, run_proc, spawn

CLAUDE_ANSWER = "MOCK anthropic reply #1: say hi"
CODEX_ANSWER = "MOCK openai reply #1: say hi"


def steps_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_answers_are_substituted_and_sent_on_stdin_never_argv(
        fake: Fakes, workdir: Path, store: SessionStore) -> None:
    path = steps_file(workdir / "s.toml", """
[[steps]]
name = "plan"
prompt = "make a plan"
[[steps]]
backend = "codex"
prompt = "--model evil {{previous}} / {{ step.plan }} / {{unknown}}"
[[steps]]
backend = "gemini"
prompt = "review: {{previous}}"
""")
    r = run_proc("chain", "-f", str(path), "-o", "json")
    assert r.code == 0, r.err
    out = r.json()
    assert [u["name"] for u in out["results"]] == ["plan", "2", "3"]
    second = f"--model evil {CLAUDE_ANSWER} / {CLAUDE_ANSWER} / {{{{unknown}}}}"
    assert [u["prompt"] for u in out["results"]] == [
        "make a plan", second, f"review: {CODEX_ANSWER}"]
    runs = fake.starts()
    assert [s["name"] for s in runs] == ["claude", "codex", "gemini"]  # in order
    assert runs[1]["stdin"] == second
    assert not any("evil" in arg for arg in runs[1]["argv"])
    assert {s["cwd"] for s in runs} == {str(workdir)}  # one workdir for every step
    recorded = {s.id: s for _, s, _ in iter_sessions(store) if s is not None}
    assert recorded[out["results"][1]["id"]].turns[0].prompt == second


def test_stops_at_the_first_failure_with_its_exit_code(fake: Fakes, workdir: Path) -> None:
    path = steps_file(workdir / "s.toml", """
[[steps]]
prompt = "one"
[[steps]]
prompt = "two [fake hang=0]"
timeout = 0.5
[[steps]]
prompt = "three"
""")
    r = run_proc("chain", "-f", str(path), "-o", "json")
    assert r.code == 124
    assert [u["status"] for u in r.json()["results"]] == ["ok", "timeout"]  # three never ran
    assert [s["stdin"] for s in fake.starts()] == ["one", "two [fake hang=0]"]


def test_continue_on_error_runs_the_rest_and_keeps_the_first_failures_code(
        fake: Fakes, workdir: Path) -> None:
    path = steps_file(workdir / "s.jsonl",
                      '{"prompt": "one [fake exit=1]"}\n{"prompt": "two: {{previous}}"}\n')
    r = run_proc("chain", "-f", str(path), "--continue-on-error")
    assert r.code == 1
    assert [s["stdin"] for s in fake.starts()] == ["one [fake exit=1]", f"two: {CLAUDE_ANSWER}"]
    assert "chain: 2 steps · 1 succeeded · 1 failed" in r.err


def test_steps_from_stdin_and_a_step_with_its_own_workdir(fake: Fakes, workdir: Path,
                                                          tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    proc = spawn("chain", "-f", "-", "-o", "jsonl", stdin=-1)
    out, err = proc.communicate(json.dumps({"steps": [
        {"prompt": "here"}, {"prompt": "there", "workdir": str(other)}]}), timeout=60)
    assert proc.returncode == 0, err
    assert len(out.splitlines()) == 2
    assert [s["cwd"] for s in fake.starts()] == [str(workdir), str(other.resolve())]


@pytest.mark.parametrize(("content", "message"), [
    ("[[steps]]\nprompt = \"a {{previous}}\"\n",
     "step 1: field 'prompt' uses {{previous}} but is the first step"),
    ('[[steps]]\nprompt = "a"\n[[steps]]\nprompt = "b"\ncolour = "red"\n',
     "step 2: field 'colour' is not a step field"),
    ('[[steps]]\nname = "a"\nprompt = "a"\n[[steps]]\nname = "a"\nprompt = "b"\n',
     "step 2 (a): field 'name' repeats the name of step 1"),
    ('[[steps]]\nprompt = "a"\n[[steps]]\nprompt = "b"\nbackend = "nope"\n',
     "step 2: field 'backend' names an unknown backend 'nope'"),
    (('[[steps]]\nprompt = "a"\n[[steps]]\nprompt = "{{step.later}}"\n[[steps]]\n'
     'name = "later"\nprompt = "c"\n'), "no earlier step is named later"),
    ('[[tasks]]\nprompt = "a"\n', "unknown top-level key 'tasks' (expected steps"),
])
def test_bad_references_are_refused_before_anything_runs(
        fake: Fakes, workdir: Path, content: str, message: str) -> None:
    r = run_proc("chain", "-f", str(steps_file(workdir / "s.toml", content)))
    assert r.code == 1
    assert message in r.err
    assert "task " not in r.err  # a chain's errors name steps
    assert fake.starts() == []


def test_a_backend_that_takes_the_prompt_in_argv_is_refused(
        fake: Fakes, workdir: Path, clinvk_home: Path) -> None:
    (clinvk_home / "config.toml").write_text(
        '[backends.echoer]\nadapter = "command"\ncommand = "echo"\nargv = ["{prompt}"]\n')
    r = run_proc("chain", "-f", str(steps_file(workdir / "s.toml",
                                               '[[steps]]\nbackend = "echoer"\nprompt = "a"\n')))
    assert r.code == 1
    assert "takes the prompt in argv; a chain sends prompts on stdin only" in r.err
