"""Fixtures for prompt/resume/cancel/backends: fake vendor CLIs first on PATH."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import fakes

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Fakes:
    bin: Path
    log: Path
    monkeypatch: pytest.MonkeyPatch

    def starts(self) -> list[dict[str, Any]]:
        return fakes.starts(self.log)

    def last(self) -> dict[str, Any]:
        runs = self.starts()
        assert runs, "the fake vendor never ran"
        return runs[-1]

    def set(self, **knobs: str | float) -> None:
        """FAKE_* knobs for the next runs, e.g. set(EXIT=1, SAMPLE="extra/x.json")."""
        for key, value in knobs.items():
            self.monkeypatch.setenv(f"FAKE_{key.upper()}", str(value))

    def clear(self, *keys: str) -> None:
        for key in keys:
            self.monkeypatch.delenv(f"FAKE_{key.upper()}", raising=False)

    def remove(self, name: str) -> None:
        (self.bin / name).unlink()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    bin_dir = fakes.install(tmp_path / "fakebin")
    log = tmp_path / "fake-vendor.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_VENDOR_LOG", str(log))
    for name in list(os.environ):
        if name.startswith("FAKE_") and name != "FAKE_VENDOR_LOG":
            monkeypatch.delenv(name)
    yield Fakes(bin_dir, log, monkeypatch)
    # A failed test must not leave clinvk or a hanging fake behind.
    for proc in _spawned:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _spawned.clear()
    for record in fakes.starts(log):
        try:
            cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes()
        except OSError:
            continue
        # Still our fake (not a reused pid), and the leader of the group signalled.
        if str(bin_dir).encode() in cmdline and record["pid"] == record["pgid"]:
            with contextlib.suppress(OSError):
                os.killpg(record["pgid"], signal.SIGKILL)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, also the current directory."""
    where = tmp_path / "project"
    where.mkdir()
    monkeypatch.chdir(where)
    return Path(os.path.realpath(where))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """clinvk in-process: run("prompt", "hi") -> Result(code, out, err)."""
    from clinvk.app import main

    def go(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return go


def clinvk_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


_spawned: list[subprocess.Popen[str]] = []


def spawn(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
          stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """clinvk as a real process (for signals, locks and exit codes)."""
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", *args], cwd=cwd,
                            env=clinvk_env(env), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _spawned.append(proc)
    return proc


def run_proc(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
             timeout: float = 60) -> Result:
    proc = spawn(*args, cwd=cwd, env=env)
    out, err = proc.communicate(timeout=timeout)
    return Result(proc.returncode, out, err)


def wait_for(check: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped by init."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


def group_gone(pgid: int) -> bool:
    """No live (non-zombie) process left in the process group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return False
    return True
