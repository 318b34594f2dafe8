"""Stores for the browser's tests, made by real `clinvk` commands.

* ``made``: three sessions recorded by `clinvk prompt` over the fake vendors (one with a
  tool call), one tagged by `clinvk sessions tag`; built once per test run and copied
  into each test's own CLINVK_HOME.
* ``fixed``: SNAP_COUNT sessions with fixed ids, times, titles and usage, brought in by
  `clinvk sessions import --keep-ids` — the same bytes every run, for snapshots and
  for moving through more rows than a screen holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import fakes
from tests.conftest import REPO
from tests.run.conftest import Fakes, fake  # noqa: F401 - the fixture, for `made`

# The browser's clock in the tests that draw relative times.
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SNAP_COUNT = 60
BACKENDS = ("claude", "codex", "gemini")
STATUSES = ("active", "completed", "paused", "error")


@dataclass
class Made:
    """The ``made`` store: where it is and the ids of its sessions."""

    root: Path
    ids: dict[str, str]  # "parser" (claude), "tools" (codex), "notes" (gemini) → id


def _env(home: Path, bin_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CLINVK_HOME": str(home), "CLINVK_CONFIG": str(home / "config.toml"),
                "NO_COLOR": "1", "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
                "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "CODEX_HOME": str(home / "no-codex-home")})
    for name in list(env):
        if name.startswith("FAKE_"):
            del env[name]
    env.update(extra or {})
    return env


def _clinvk(env: dict[str, str], *args: str, cwd: Path | None = None) -> Any:
    proc = subprocess.run([sys.executable, "-m", "clinvk", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if "-o" in args or "--json" in args else proc.stdout


@pytest.fixture(scope="session")
def made_template(tmp_path_factory: pytest.TempPathFactory) -> Made:
    base = tmp_path_factory.mktemp("tui-made")
    home = base / "home"
    bin_dir = fakes.install(base / "bin")
    env = _env(home, bin_dir)
    project = base / "project"
    project.mkdir()
    ids = {}
    ids["parser"] = _clinvk(env, "prompt", "-b", "claude", "-o", "json",
                            "explain the parser module", cwd=project)["id"]
    # The capture of a codex turn that reads <TMP>/direct/proj-codex/notes.txt.
    tools_dir = base / "direct" / "proj-codex"
    tools_dir.mkdir(parents=True)
    tool_env = {**env, "FAKE_SAMPLE": "tools/codex-tool-turn.jsonl", "FAKE_TMP": str(base)}
    ids["tools"] = _clinvk(tool_env, "prompt", "-b", "codex", "-w", str(tools_dir), "-o",
                           "json", "read the notes", cwd=project)["id"]
    ids["notes"] = _clinvk(env, "prompt", "-b", "gemini", "-o", "json",
                           "write the release notes", cwd=project)["id"]
    _clinvk(env, "sessions", "tag", ids["notes"], "+release")
    return Made(home, ids)


@pytest.fixture
def made(made_template: Made, clinvk_home: Path, fake: Fakes,  # noqa: F811
         monkeypatch: pytest.MonkeyPatch) -> Made:
    """A copy of the ``made`` store as this test's store; fake vendors on PATH and this
    checkout on PYTHONPATH for the browser's child clinvk processes."""
    shutil.copytree(made_template.root, clinvk_home, dirs_exist_ok=True)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return Made(clinvk_home, dict(made_template.ids))


def fixed_records() -> list[dict[str, Any]]:
    """SNAP_COUNT session records, the same every time."""
    records = []
    for n in range(SNAP_COUNT):
        when = NOW - timedelta(hours=7 * n + 1)
        backend = BACKENDS[n % 3]
        tokens = 1000 + (n * 7919) % 50000
        turn = {"index": 1, "prompt": f"task {n}: tidy module {n} of the parser",
                "started_at": when.isoformat(), "response": f"**Done** with module {n}.",
                "duration_s": 2.0 + n % 9, "exit_code": 0, "status": "ok",
                "model": f"{backend}-model",
                "usage": {"input_tokens": tokens, "output_tokens": 100,
                          "cache_read_tokens": 0, "cache_write_tokens": 0,
                          "reasoning_tokens": 0},
                "cost_usd": round(tokens / 1e6 * 3, 6), "cost_source": "reported"}
        records.append({
            "id": f"snap{n:04d}", "backend": backend, "workdir": "/srv/project",
            "created_at": (when - timedelta(minutes=5)).isoformat(),
            "last_used_at": when.isoformat(), "version": 2,
            "title": f"tidy module {n} of the parser", "model": f"{backend}-model",
            "status": STATUSES[n % 4], "tags": ["snap"] if n % 5 == 0 else [],
            "turns": [turn]})
    return records


@pytest.fixture
def fixed(clinvk_home: Path, tmp_path: Path) -> Path:
    """This test's store holds the fixed sessions (imported by clinvk)."""
    source = tmp_path / "fixed.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in fixed_records()), encoding="utf-8")
    ran = subprocess.run([sys.executable, "-m", "clinvk", "sessions", "import", str(source),
                          "--keep-ids"], env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=60, check=False,
                         stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    return clinvk_home


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local times print as UTC: the same screens on every machine."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def cli_json(*args: str) -> Any:
    """What `clinvk ARGS --json` says (a real process, this test's store)."""
    ran = subprocess.run([sys.executable, "-m", "clinvk", *args, "--json"],
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def make_app(*, poll_s: float = 0, clock: Any = None) -> Any:
    """The browser over this test's store; the clock fixed at NOW unless given."""
    from clinvk.catalog import Catalog
    from clinvk.store import SessionStore
    from clinvk.tui.app import BrowserApp

    store = SessionStore()
    return BrowserApp(store, Catalog.open(store), clock=clock or (lambda: NOW), poll_s=poll_s)


def screen_text(app: Any) -> str:
    """The screen as plain text, as a terminal shows it."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
