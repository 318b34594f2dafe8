"""The store under real concurrent processes, kill -9, damaged files and hostile ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinvk.app import main
from clinvk.store import SessionStore
from tests.conftest import REPO, add_session, run_clinvk

CREATOR = """
import sys
from clinvk.store import SessionStore
from clinvk.model import Session, Turn, Usage, utcnow
store = SessionStore()
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
for i in range(int(sys.argv[1])):
    now = utcnow()
    s = Session(id="", backend="claude", workdir="/tmp", created_at=now, last_used_at=now,
                title=f"{sys.argv[2]}-{i}",
                turns=[Turn(index=1, prompt="p", started_at=now, status="ok", usage=Usage(1, 2))])
    store.create(s)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


READER = """
import os, subprocess, sys
failures = 0
runs = 0
while not os.path.exists(sys.argv[1]):
    for args in (["sessions", "list", "--json", "-n", "0"], ["sessions", "stats", "--json"]):
        ran = subprocess.run([sys.executable, "-m", "clinvk", *args], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL)
        runs += 1
        if ran.returncode != 0 or ran.stderr:
            failures += 1
            sys.stderr.write(f"{args}: exit {ran.returncode}: {ran.stderr}")
print(runs, failures)
"""


@pytest.mark.slow
def test_sixteen_processes_creating_twenty_sessions_each(store: SessionStore, tmp_path: Path) -> None:
    """While 16 writers create 320 sessions, 4 readers loop list and stats: no reader
    ever fails or sees a catalog error, and in the end catalog and files agree."""
    add_session(store, title="seed")  # so that the catalog exists and writers feed it
    assert run_clinvk("sessions", "list").code == 0
    done = tmp_path / "done"
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(done)], env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    procs = [
        subprocess.Popen([sys.executable, "-c", CREATOR, "20", f"p{n}"], env=_env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for n in range(16)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.wait(timeout=180) == 0
    done.write_text("")
    for r in readers:
        out, err = r.communicate(timeout=180)
        runs, failures = map(int, out.split())
        assert runs >= 2 and failures == 0, err
        assert "locked" not in err
    files = sorted(store.sessions_dir.glob("*/*.json"))
    assert len(files) == 321
    titles = set()
    for f in files:
        titles.add(store.read_file(f).title)  # none corrupt
    assert titles == {f"p{n}-{i}" for n in range(16) for i in range(20)} | {"seed"}
    ran = run_clinvk("sessions", "list", "--json", "-n", "0")
    data = json.loads(ran.out)
    assert ran.code == 0 and data["total"] == 321 and ran.err == ""
    assert {i["id"] for i in data["items"]} == {f.stem for f in files}
    doctor = run_clinvk("sessions", "doctor")  # the catalog agrees with the files
    assert doctor.code == 0 and "Healthy" in doctor.out, doctor.out + doctor.err


WRITER = """
import sys
from clinvk.store import SessionStore
store = SessionStore()
ident = sys.argv[1]
n = 0
sys.stdout.write("ready\\n"); sys.stdout.flush()
while True:
    n += 1
    with store.lock(ident):
        s = store.read(ident)
        s.title = f"v{n}"
        s.turns[0].response = str(n) * 50000  # large, so a write takes a while
        store.save(s)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.13, 0.31])
def test_kill_9_mid_write_leaves_old_or_new_never_torn(store: SessionStore, delay: float) -> None:
    s = add_session(store, title="v0")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, s.id], env=_env(),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    record = store.read(s.id)  # decodes: never torn
    n = int(record.title[1:])
    assert record.turns[0].response in ("hi there", str(n) * 50000)
    # The lock died with the process: a new writer gets it at once.
    with store.lock(s.id):
        pass
    ran = run_clinvk("sessions", "list", "--json")
    assert ran.code == 0
    assert [i["title"] for i in json.loads(ran.out)["items"]] == [record.title]
    # The catalog agrees with the files (a temp file of the killed write may be left).
    doctor = json.loads(run_clinvk("sessions", "doctor", "--json").out)
    assert [p for p in doctor["problems"] if p["kind"] != "temp"] == [], doctor


def test_damaged_files_do_not_break_list(store: SessionStore) -> None:
    add_session(store, title="good one")
    shard = store.sessions_dir / "qq"
    shard.mkdir()
    (shard / "qqaaaaaa.json").write_text("{nope")
    (shard / "qqbbbbbb.json").write_bytes(store.path_for(
        next(store.sessions_dir.glob("*/*.json")).stem).read_bytes()[:40])
    (shard / "qqcccccc.json").write_text(json.dumps({"version": 999, "id": "qqcccccc"}))
    (shard / "qqdddddd.json").mkdir()
    ran = run_clinvk("sessions", "list")
    assert ran.code == 0 and "good one" in ran.out
    warned = [line for line in ran.err.splitlines() if "skipped" in line]
    assert len(warned) == 4
    for name in ("qqaaaaaa", "qqbbbbbb", "qqcccccc", "qqdddddd"):
        assert sum(name in line for line in warned) == 1
    assert "newer" in ran.err and "directory" in ran.err
    shown = run_clinvk("sessions", "show", "qqaaaaaa")
    assert shown.code == 4 and "corrupt" in shown.err and "Traceback" not in shown.err


HOSTILE = ["../../etc/passwd", "/etc/passwd", "a/b", "", "x" * 4000, "..", "abcd/../../x",
           "~root", "ABCD%2F", "-rf"]


@pytest.mark.parametrize("bad", HOSTILE)
@pytest.mark.parametrize("command", [["sessions", "show"], ["sessions", "delete"],
                                     ["sessions", "pause"], ["sessions", "rename", "{id}", "t"],
                                     ["sessions", "tag", "{id}", "+x"]])
def test_hostile_ids_are_rejected(bad: str, command: list[str], tmp_path: Path,
                                  clinvk_home: Path) -> None:
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    args = [a.replace("{id}", bad) for a in command]
    if "{id}" not in command:
        args.append(bad)
    if bad.startswith("-"):
        args.insert(2, "--")
    ran = run_clinvk(*args)
    assert ran.code == 1, ran.err
    assert "Traceback" not in ran.err and ran.err.startswith("clinvk: error:")
    assert len(ran.err.splitlines()) <= 2
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before
    assert not (clinvk_home / "sessions").exists() or not any((clinvk_home / "sessions").iterdir())


def test_nul_in_id_is_rejected_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "show", "abcd\x00efg"]) == 1
    assert "invalid session id" in capsys.readouterr().err
