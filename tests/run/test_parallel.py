"""`clinvk parallel` and `clinvk compare`: clinvk as a real process, fake vendors with
per-task delays and failures (the `[fake …]` directive), overlap read from the fake's
start/end stamps."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, group_gone, run_proc, spawn, wait_for


def toml_tasks(path: Path, tasks: list[dict[str, Any]], **top: Any) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    for task in tasks:
        lines.append("[[tasks]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in task.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def intervals(fake: Fakes) -> list[tuple[float, float]]:
    from tests import fakes

    records = fakes.read_log(fake.log)
    ends = {r["pid"]: r["at"] for r in records if r.get("event") == "end"}
    return [(r["at"], ends[r["pid"]]) for r in records
            if r.get("event") == "start" and r["pid"] in ends]


def peak_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def sessions(store: SessionStore) -> list[Any]:
    return [s for _, s, _ in iter_sessions(store) if s is not None]


def test_units_overlap_and_each_is_a_recorded_session(fake: Fakes, workdir: Path,
                                                      store: SessionStore) -> None:
    tasks = toml_tasks(workdir / "t.toml", [
        {"name": f"u{i}", "prompt": f"task {i} [fake sleep=0.8]", "backend": b, "tags": ["batch"]}
        for i, b in enumerate(["claude", "codex", "gemini", "claude"])])
    r = run_proc("parallel", "-f", str(tasks), "--max-parallel", "4", "-o", "json")
    assert r.code == 0, r.err
    out = r.json()
    assert (out["succeeded"], out["failed"], out["timed_out"]) == (4, 0, 0)
    assert [u["name"] for u in out["results"]] == ["u0", "u1", "u2", "u3"]
    spans = intervals(fake)
    assert len(spans) == 4
    assert peak_overlap(spans) == 4  # all four vendors ran at the same time
    recorded = {s.id: s for s in sessions(store)}
    for unit, backend in zip(out["results"], ["claude", "codex", "gemini", "claude"], strict=True):
        assert unit["status"] == "ok" and unit["exit_code"] == 0 and unit["text"]
        session = recorded[unit["id"]]
        assert session.backend == backend == unit["backend"]
        assert session.turns[0].prompt.startswith(f"task {unit['name'][1]}")
        assert session.turns[0].response == unit["text"]
        assert session.tags == ["batch"]


def test_max_parallel_flag_beats_file_beats_config(fake: Fakes, workdir: Path,
                                                   clinvk_home: Path) -> None:
    (clinvk_home / "config.toml").write_text("[parallel]\nmax_workers = 4\n")
    body = [{"prompt": f"p{i} [fake sleep=0.4]"} for i in range(4)]
    tasks = toml_tasks(workdir / "t.toml", body, max_parallel=1)
    assert run_proc("parallel", "-f", str(tasks)).code == 0
    assert peak_overlap(intervals(fake)) == 1  # the file's 1 beats the config's 4
    fake.log.unlink()
    assert run_proc("parallel", "-f", str(tasks), "--max-parallel", "2").code == 0
    assert peak_overlap(intervals(fake)) == 2  # the flag beats the file
    fake.log.unlink()
    (clinvk_home / "config.toml").write_text("[parallel]\nmax_workers = 3\n")
    assert run_proc("parallel", "-f", str(toml_tasks(workdir / "u.toml", body))).code == 0
    assert peak_overlap(intervals(fake)) == 3  # no flag, no file setting: the config


@pytest.mark.parametrize(("content", "suffix", "message"), [
    ('[[tasks]]\nprompt = "ok"\n[[tasks]]\nname = "two"\nbackend = "codex"\n', "toml",
     "task 2 (two): field 'prompt' is required"),
    ('[{"prompt": "ok"}, {"prompt": "x", "colour": "red"}]', "json",
     "task 2: field 'colour' is not a task field"),
    ('{"prompt": "ok"}\n{"prompt": "x", "backend": "nope"}\n', "jsonl",
     "task 2: field 'backend' names an unknown backend 'nope'"),
    ('{"prompt": "ok"}\n{"prompt": "x", "timeout": -1}\n', "jsonl",
     "task 2: field 'timeout' must be a number of seconds"),
    ('[[tasks]]\nprompt = "ok"\n[[tasks]]\nprompt = "x"\nworkdir = "/no/such/dir"\n', "toml",
     "task 2: field 'workdir' working directory does not exist"),
    ('[[tasks]]\nprompt = "ok"\n[[tasks]]\nprompt = "x"\nresume = "zzzzzzzz"\n', "toml",
     "task 2: field 'resume'"),
    ('[[tasks]]\nprompt = "ok"\ntags = ["bad tag"]\n', "toml", "task 1: field 'tags' invalid tag"),
    ('[[tasks]]\nname = "a"\nprompt = "ok"\n[[tasks]]\nname = "a"\nprompt = "x"\n', "toml",
     "task 2 (a): field 'name' repeats the name of task 1"),
])
def test_the_whole_file_is_checked_before_anything_runs(
        fake: Fakes, workdir: Path, store: SessionStore, content: str, suffix: str,
        message: str) -> None:
    path = workdir / f"tasks.{suffix}"
    path.write_text(content, encoding="utf-8")
    r = run_proc("parallel", "-f", str(path))
    assert r.code == 1
    assert r.err.startswith(f"clinvk: error: {path}: {message}"), r.err
    assert fake.starts() == []  # not even the valid first task ran
    assert sessions(store) == []


def test_tasks_from_stdin_as_json_lines(fake: Fakes, workdir: Path) -> None:
    proc = spawn("parallel", "-f", "-", "-o", "jsonl", stdin=-1)
    out, err = proc.communicate('{"prompt": "one", "name": "a"}\n'
                                '{"prompt": "two", "name": "b", "backend": "gemini"}\n',
                                timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(u["name"] for u in lines) == ["a", "b"]
    assert {u["backend"] for u in lines} == {"claude", "gemini"}
    assert sorted(r["stdin"] for r in fake.starts()) == ["one", "two"]


def test_text_output_and_exit_1_when_a_unit_failed(fake: Fakes, workdir: Path) -> None:
    tasks = toml_tasks(workdir / "t.toml", [
        {"name": "good", "prompt": "fine"},
        {"name": "bad", "prompt": "break [fake exit=1]", "backend": "codex"}])
    r = run_proc("parallel", "-f", str(tasks))
    assert r.code == 1
    assert "── good · claude · ok · session " in r.out
    assert "── bad · codex · error · session " in r.out
    assert "error: codex" in r.out
    assert "parallel: 2 units · 1 succeeded · 1 failed" in r.err


def test_exit_124_when_none_failed_but_one_timed_out(fake: Fakes, workdir: Path,
                                                      store: SessionStore) -> None:
    tasks = toml_tasks(workdir / "t.toml", [
        {"name": "quick", "prompt": "fine"},
        {"name": "slow", "prompt": "hang [fake hang=0]", "timeout": 0.5},
        {"name": "flag", "prompt": "hang too [fake hang=0]"}])
    r = run_proc("parallel", "-f", str(tasks), "--timeout", "1", "-o", "json")
    assert r.code == 124, r.err
    out = r.json()
    by_name = {u["name"]: u for u in out["results"]}
    assert by_name["quick"]["status"] == "ok"
    assert by_name["slow"]["status"] == by_name["flag"]["status"] == "timeout"
    assert by_name["slow"]["exit_code"] == 124
    assert by_name["slow"]["duration_s"] < by_name["flag"]["duration_s"]  # its own 0.5 s
    assert (out["succeeded"], out["failed"], out["timed_out"]) == (1, 0, 2)
    assert {s.turns[0].status for s in sessions(store)} == {"ok", "timeout"}


def test_fail_fast_stops_the_running_units_and_starts_no_more(
        fake: Fakes, workdir: Path, store: SessionStore) -> None:
    tasks = toml_tasks(workdir / "t.toml", [
        {"name": "slow", "prompt": "slow [fake hang=0]"},
        {"name": "bad", "prompt": "break [fake sleep=0.5 exit=1]"},
        {"name": "later1", "prompt": "never"},
        {"name": "later2", "prompt": "never"}])
    started = time.monotonic()
    r = run_proc("parallel", "-f", str(tasks), "--max-parallel", "2", "--fail-fast",
                 "-o", "json")
    assert time.monotonic() - started < 8
    assert r.code == 1, r.err
    by_name = {u["name"]: u for u in r.json()["results"]}
    assert by_name["bad"]["status"] == "error"
    assert by_name["slow"]["status"] == "cancelled"
    assert "--fail-fast" in by_name["slow"]["error"]
    assert by_name["later1"]["status"] == by_name["later2"]["status"] == "skipped"
    assert by_name["later1"]["id"] is None
    assert len(fake.starts()) == 2
    assert all(group_gone(s["pgid"]) for s in fake.starts())
    slow = next(s for s in sessions(store) if s.id == by_name["slow"]["id"])
    assert slow.turns[0].status == "cancelled"


def test_ctrl_c_stops_every_unit_and_saves_each(fake: Fakes, workdir: Path,
                                                store: SessionStore) -> None:
    tasks = toml_tasks(workdir / "t.toml", [
        {"prompt": f"hang {i} [fake hang=1]"} for i in range(3)])
    proc = spawn("parallel", "-f", str(tasks), "--max-parallel", "3", "-o", "json")
    wait_for(lambda: len(fake.starts()) == 3 and all(
        s is not None and s.pgid for s in sessions(store)) and len(sessions(store)) == 3,
        what="three running units")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert [u["status"] for u in json.loads(out)["results"]] == ["interrupted"] * 3
    recorded = sessions(store)
    assert len(recorded) == 3
    assert {s.turns[0].status for s in recorded} == {"interrupted"}
    assert all(s.status == "error" and s.pid is None for s in recorded)
    assert all(group_gone(s["pgid"]) for s in fake.starts())


def test_a_task_resumes_its_session(fake: Fakes, workdir: Path, store: SessionStore) -> None:
    first = run_proc("prompt", "-o", "json", "start")
    assert first.code == 0, first.err
    ident = first.json()["id"]
    tasks = toml_tasks(workdir / "t.toml", [{"prompt": "continue", "resume": ident[:6]},
                                           {"prompt": "fresh", "backend": "gemini"}])
    r = run_proc("parallel", "-f", str(tasks), "-o", "json")
    assert r.code == 0, r.err
    assert r.json()["results"][0]["id"] == ident
    assert [t.prompt for t in store.read(ident).turns] == ["start", "continue"]
    resumed = next(s for s in fake.starts() if s["stdin"] == "continue")
    assert "--resume" in resumed["argv"]


def test_compare_asks_each_backend_and_tags_the_set(fake: Fakes, workdir: Path) -> None:
    r = run_proc("compare", "-b", "claude,codex,gemini", "-m", "codex=gpt-5",
                 "review this")
    assert r.code == 0, r.err
    for backend in ("claude", "codex", "gemini"):
        assert f"── {backend} · ok · session " in r.out
    table = r.out[r.out.index("BACKEND  STATUS"):].splitlines()
    assert [line.split()[0] for line in table[1:]] == ["claude", "codex", "gemini"]
    assert {s["name"] for s in fake.starts()} == {"claude", "codex", "gemini"}
    assert {s["stdin"] for s in fake.starts()} == {"review this"}
    assert {s["cwd"] for s in fake.starts()} == {str(workdir)}
    codex = next(s for s in fake.starts() if s["name"] == "codex")
    assert "gpt-5" in codex["argv"]
    assert peak_overlap(intervals(fake)) >= 1
    js = run_proc("compare", "-b", "claude,gemini", "-o", "json", "again")
    group = js.json()["group"]
    listed = run_proc("sessions", "list", "--tag", f"compare:{group}", "--json")
    assert sorted(s["backend"] for s in listed.json()["items"]) == ["claude", "gemini"]


@pytest.mark.parametrize(("args", "message"), [
    (["-b", "claude,claude", "x"], "-b names a backend twice"),
    (["-b", "claude", "-m", "codex=o3", "x"], "names codex, which is not in -b"),
    (["-b", "claude", "-m", "sonnet", "x"], "expected backend=model"),
    (["-b", "claude,nope", "x"], "unknown backend 'nope'"),
])
def test_compare_refuses_bad_flags_before_running(fake: Fakes, workdir: Path,
                                                  args: list[str], message: str) -> None:
    r = run_proc("compare", *args)
    assert r.code == 1
    assert message in r.err
    assert fake.starts() == []


def test_a_terminal_sees_a_live_progress_line(fake: Fakes, workdir: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    from tests.run.conftest import clinvk_env

    tasks = toml_tasks(workdir / "t.toml", [
        {"prompt": "one"}, {"prompt": "two [fake sleep=0.5 exit=1]"}, {"prompt": "three [fake sleep=1]"}])
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", "parallel", "-f", str(tasks),
                             "--max-parallel", "3"],
                            env=clinvk_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave, text=True)
    os.close(slave)
    out, _ = proc.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 1
    err = seen.decode()
    assert "1/3 done · 0 failed" in err
    assert "2/3 done · 1 failed" in err
    assert "\r\x1b[K" in err  # each update replaces the last
    assert re.search(r"\r\x1b\[Kparallel: 3 units · 2 succeeded · 1 failed · [0-9.]+s\s*$", err)
    assert "done ·" not in out  # stdout holds the answers only
