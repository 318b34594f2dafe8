"""A real PostgreSQL server for the team-store tests, and fake vendors on PATH.

scripts/test.sh starts a throwaway cluster and exports CLINVK_TEST_PG_HOST, _PORT, _USER;
run directly with pytest, the session fixture starts one itself with the same script
(and stops it at the end). Each test gets a database of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import fakes

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "pg-test-cluster.sh"

_numbers = itertools.count(1)


@dataclass
class Server:
    host: str
    port: str
    user: str
    dir: str | None  # set when this run started the cluster (it can then stop and start it)

    def url(self, db: str, user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@/{db}?host={self.host}&port={self.port}"

    def sql(self, sql: str, db: str = "postgres", user: str | None = None) -> list[Any]:
        import psycopg

        with psycopg.connect(self.url(db, user), autocommit=True) as conn:
            cur = conn.execute(sql.encode())
            return cur.fetchall() if cur.description else []

    def down(self) -> None:
        assert self.dir is not None
        subprocess.run(["bash", str(SCRIPT), "down", self.dir], check=True)

    def up(self) -> None:
        assert self.dir is not None
        subprocess.run(["bash", str(SCRIPT), "up", self.dir], check=True)


def _has_initdb() -> bool:
    import glob

    return bool(shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    pytest.importorskip("psycopg")
    host = os.environ.get("CLINVK_TEST_PG_HOST")
    if host:
        yield Server(host, os.environ.get("CLINVK_TEST_PG_PORT", "5432"),
                     os.environ.get("CLINVK_TEST_PG_USER", "postgres"), host)
        return
    if not _has_initdb():
        why = "no PostgreSQL server installed (scripts/setup.sh installs one)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    where = tempfile.mkdtemp(prefix="clinvk-pg.")
    out = subprocess.run(["bash", str(SCRIPT), "start", where], check=True,
                         capture_output=True, text=True).stdout
    found = dict(line.removeprefix("export ").split("=", 1)
                 for line in out.splitlines() if line.startswith("export "))
    try:
        yield Server(found["CLINVK_TEST_PG_HOST"], found["CLINVK_TEST_PG_PORT"],
                     found["CLINVK_TEST_PG_USER"], where)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", where], check=False)


@dataclass
class TeamDb:
    server: Server
    name: str

    def url(self, user: str | None = None) -> str:
        return self.server.url(self.name, user)

    def sql(self, sql: str, user: str | None = None) -> list[Any]:
        return self.server.sql(sql, self.name, user)

    def role(self, name: str, *groups: str) -> str:
        """A login role (in ``groups``, default clinvk_member); its URL."""
        self.server.sql(f"DROP ROLE IF EXISTS {name}")
        self.server.sql(f"CREATE ROLE {name} LOGIN IN ROLE {', '.join(groups or ('clinvk_member',))}")
        self.roles.append(name)
        return self.url(name)

    roles: list[str]


@pytest.fixture
def team_db(pg_server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[TeamDb]:
    """A fresh database; CLINVK_TEAM_URL points at it as the cluster's superuser."""
    name = f"team_{os.getpid()}_{next(_numbers)}"
    pg_server.sql(f"CREATE DATABASE {name}")
    db = TeamDb(pg_server, name, [])
    monkeypatch.setenv("CLINVK_TEAM_URL", db.url())
    try:
        yield db
    finally:
        pg_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        for role in db.roles:
            pg_server.sql(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def fake_vendors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake claude, codex and gemini first on PATH; the working directory a project."""
    bin_dir = fakes.install(tmp_path / "fakebin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_VENDOR_LOG", str(tmp_path / "fake-vendor.jsonl"))
    for name in list(os.environ):
        if name.startswith("FAKE_") and name != "FAKE_VENDOR_LOG":
            monkeypatch.delenv(name)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return project


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
