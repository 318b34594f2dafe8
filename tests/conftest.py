"""Every test runs against its own temporary store and config: nothing touches real data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run in parallel (pytest-xdist, scripts/test.sh), the team-store tests stay on one
    worker: they share one PostgreSQL cluster, whose roles are cluster-wide, and one of
    them stops and restarts it. Everything else is per test (store, sandbox, mock port)."""
    team = REPO / "tests" / "team"
    for item in items:
        if item.path.is_relative_to(team):
            item.add_marker(pytest.mark.xdist_group("team"))


@pytest.fixture(autouse=True)
def clinvk_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("clinvk-home")
    monkeypatch.setenv("CLINVK_HOME", str(home))
    monkeypatch.setenv("CLINVK_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("NO_COLOR", "1")
    # A vendor config of the developer's own (e.g. codex's default model) never leaks in.
    monkeypatch.setenv("CODEX_HOME", str(home / "no-codex-home"))
    # Caches (shell completion's table) stay out of the developer's own cache directory.
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    for name in list(os.environ):
        if name.startswith("CLINVK_") and name not in ("CLINVK_HOME", "CLINVK_CONFIG"):
            monkeypatch.delenv(name)
    yield home


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_clinvk(*args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None,
               input: str | None = None, timeout: float = 60) -> Ran:
    """clinvk as a real process, the way a user or a CI script runs it."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "clinvk", *args],
        check=False, capture_output=True, text=True, env=full_env, cwd=cwd, input=input,
        timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)



def cli_json(*args: str, cwd: str | Path | None = None) -> Any:
    """The JSON a successful `clinvk ARGS` printed (a real process)."""
    import json

    ran = run_clinvk(*args, cwd=cwd)
    assert ran.code == 0, ran.err
    return json.loads(ran.out)

@pytest.fixture
def cli() -> type:
    """Access to run_clinvk from tests without importing conftest."""

    class _Cli:
        run = staticmethod(run_clinvk)

    return _Cli


def add_session(
    store: object,
    *,
    backend: str = "claude",
    title: str = "a session",
    status: str = "active",
    age_days: float = 0,
    workdir: str = "/tmp",
    tags: list[str] | None = None,
    turns: int = 1,
    prompt: str = "hello",
    response: str = "hi there",
    tokens: tuple[int, int, int, int, int] = (100, 20, 3, 4, 0),
    cost: float | None = 0.01,
    model: str = "test-model",
    backend_session_id: str | None = "vendor-1",
):
    """Store a session with known contents and return it."""
    from datetime import timedelta

    from clinvk.model import Session, Turn, Usage, utcnow

    when = utcnow() - timedelta(days=age_days)
    session = Session(
        id="", backend=backend, workdir=workdir, created_at=when, last_used_at=when,
        title=title, status=status, tags=list(tags or []), model=model,
        backend_session_id=backend_session_id,
        turns=[
            Turn(index=i + 1, prompt=prompt, response=response, started_at=when, status="ok",
                 exit_code=0, duration_s=1.5, usage=Usage(*tokens), cost_usd=cost,
                 cost_source="reported" if cost is not None else "unpriced", model=model)
            for i in range(turns)
        ],
    )
    return store.create(session)  # type: ignore[attr-defined]


def iter_sessions(store: object) -> Iterator[tuple[Path, object, str | None]]:
    """Every session file of a store with its record, or None and why it cannot be read."""
    from clinvk.errors import ClinvkError, NotFoundError

    sessions_dir = store.sessions_dir  # type: ignore[attr-defined]
    for path in sorted(sessions_dir.glob("*/*.json")):
        try:
            yield path, store.read_file(path), None  # type: ignore[attr-defined]
        except NotFoundError:
            continue
        except ClinvkError as exc:
            yield path, None, exc.message


@pytest.fixture
def store(clinvk_home: Path):
    from clinvk.store import SessionStore

    return SessionStore(clinvk_home)
