"""`clinvk sessions list` stays cheap to start: no lock library, no TOML editor, no rich,
no MCP SDK, no Textual, no PostgreSQL driver, no humanize (clinvk.ago says "5 minutes
ago"). `clinvk prompt` takes a session lock (the lock library) but imports none of the
others, and no SQLite: a turn leaves the catalog to
its next reader; without team.auto_push it never touches the team store's push state.

Runs the real entry point (`python -m clinvk`) in a subprocess under `-X importtime`,
which logs every module the process imports, on a store with a few sessions and on an
empty one — and with the catalog in every state: up to date, missing (built by the
command), stale (files changed behind its back) and damaged (rebuilt).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import add_session

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("filelock", "tomlkit", "rich", "mcp", "anyio", "textual", "psycopg", "humanize")


def imported_modules(*args: str, home: Path, path: str | None = None,
                     cwd: Path | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CLINVK_HOME"] = str(home)
    env["CLINVK_CONFIG"] = str(home / "config.toml")
    env["NO_COLOR"] = "1"
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clinvk", *args],
        check=False, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
        cwd=cwd,
    )
    modules = set()
    for line in proc.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package"
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    return modules, proc


def offenders(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


@pytest.fixture
def small_store(store):  # type: ignore[no-untyped-def]
    add_session(store, title="first of three", backend="claude", age_days=2)
    add_session(store, title="second of three", backend="codex", tags=["x"], age_days=1)
    add_session(store, title="third of three", backend="gemini", status="paused")
    return store


def set_catalog(store, state: str) -> None:  # type: ignore[no-untyped-def]
    from clinvk.catalog import Catalog, catalog_path

    path = catalog_path(store.root)
    if state == "cold":
        return  # never built: the command builds it
    Catalog.open(store).close()
    if state == "stale":
        first = store.path_for(next(s.id for s in Catalog.open(store).rows().rows
                                    if s.title == "first of three"))
        data = first.read_bytes()
        first.unlink()
        first.write_bytes(data)  # a new inode: read again
        extra = store.sessions_dir / "zz" / "zzqqqqqq.json"
        extra.parent.mkdir(exist_ok=True)
        extra.write_bytes(data.replace(first.stem.encode(), b"zzqqqqqq"))
    elif state == "damaged":
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        path.write_bytes(b"\x13 not sqlite" * 300)


@pytest.mark.parametrize("state", ["warm", "cold", "stale", "damaged"])
@pytest.mark.parametrize("args", [("sessions", "list"), ("sessions", "list", "--json")])
def test_list_with_sessions_imports_no_heavy_modules(small_store, args, state) -> None:  # type: ignore[no-untyped-def]
    set_catalog(small_store, state)
    modules, proc = imported_modules(*args, home=small_store.root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The command really listed the store, and the import log really was read.
    for title in ("first of three", "second of three", "third of three"):
        assert title in proc.stdout
    assert {"clinvk.app", "clinvk.store", "clinvk.catalog", "sqlite3", "cyclopts"} <= modules
    if state == "stale":
        assert proc.stdout.count("first of three") == 2  # the file added behind its back
    if state == "damaged":
        assert "rebuilding it" in proc.stderr
    assert offenders(modules) == []


def test_list_on_empty_store_imports_no_heavy_modules(tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    modules, proc = imported_modules("sessions", "list", home=home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == ""
    assert "no sessions" in proc.stderr
    assert {"clinvk.app", "clinvk.store", "cyclopts"} <= modules
    assert "sqlite3" not in modules  # nothing to ask a catalog about
    assert offenders(modules) == []
    # The records on this path (the catalog's Filter and Page…) are msgspec Structs: a
    # dataclass compiles source text when its module is imported.
    assert "dataclasses" not in modules


@pytest.mark.parametrize("args", [("-o", "json"), ("-o", "text"), ("-o", "stream-json")])
def test_a_turn_imports_no_sqlite_and_nothing_heavy_but_the_lock(small_store, tmp_path: Path, args) -> None:  # type: ignore[no-untyped-def]
    from tests import fakes

    set_catalog(small_store, "warm")  # a catalog the turn could have written to
    bin_dir = fakes.install(tmp_path / "fakebin", ("claude",))
    work = tmp_path / "work"
    work.mkdir()
    modules, proc = imported_modules(
        "prompt", "-b", "claude", *args, "say hi", home=small_store.root, cwd=work,
        path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The turn really ran and was recorded, and the import log really was read.
    assert "MOCK anthropic reply #1: say hi" in proc.stdout
    assert len(list(small_store.sessions_dir.glob("*/*.json"))) == 4
    assert {"clinvk.app", "clinvk.store", "filelock", "clinvk.turn", "clinvk.runner",
            "cyclopts"} <= modules
    assert [m for m in offenders(modules) if m.split(".")[0] != "filelock"] == []
    assert not {m for m in modules if m.split(".")[0] == "sqlite3" or m.startswith("clinvk.catalog")}


@pytest.mark.parametrize("words", [("sessions", "show", ""), ("sessions", "list", "--tag", ""),
                                   ("config", "set", "session.")])
def test_tab_completion_imports_no_heavy_modules(small_store, words) -> None:  # type: ignore[no-untyped-def]
    set_catalog(small_store, "warm")
    # The first TAB press asks cyclopts and writes down its table; the next ones read
    # the table and need no cyclopts at all (clinvk.completion.table).
    answers = []
    for first in (True, False):
        modules, proc = imported_modules("__complete", *words, home=small_store.root)
        assert proc.returncode == 0, proc.stderr[-2000:]
        records = proc.stdout.split("\x1fbegin\n", 1)[1]
        assert records, proc.stdout  # it answered, and the import log was read
        answers.append(records)
        assert "clinvk.completion" in modules
        assert ("cyclopts" in modules) is first
        assert offenders(modules) == []
    assert answers[0] == answers[1]
    if words[-1] == "":
        assert "first of three" in answers[0] or "x\t1 session" in answers[0]


def test_prompt_without_auto_push_leaves_the_team_store_alone(tmp_path: Path) -> None:
    from tests import fakes

    home = tmp_path / "home"
    bin_dir = fakes.install(tmp_path / "fakebin", ("claude",))
    old_path, old_log = os.environ.get("PATH", ""), os.environ.get("FAKE_VENDOR_LOG")
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old_path}"
    os.environ["FAKE_VENDOR_LOG"] = str(tmp_path / "fake.jsonl")
    try:
        modules, proc = imported_modules("prompt", "-b", "claude", "hi", home=home)
    finally:
        os.environ["PATH"] = old_path
        if old_log is None:
            os.environ.pop("FAKE_VENDOR_LOG")
        else:
            os.environ["FAKE_VENDOR_LOG"] = old_log
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "clinvk.turn" in modules  # the turn really ran in this process
    # Only the stdlib-only look at whether a background push is due (one stat).
    assert not any(m.split(".")[0] == "psycopg" or m.startswith("clinvk.team")
                   and m not in ("clinvk.team", "clinvk.team.pusher") for m in modules)
    assert not (home / "team.db").exists()


def test_the_entry_point_skips_the_collector_at_exit_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """`python -m clinvk` and the console script run clinvk.__main__.run: the exit code is
    main()'s, and the objects alive at exit are frozen out of the cyclic collector first
    (gc.freeze), so the interpreter's teardown does not walk every imported module; the
    collector's youngest threshold is raised for the whole run."""
    import tomllib

    import clinvk.__main__ as entry

    script = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert script["clinvk"] == "clinvk.__main__:run"
    env = dict(os.environ, PYTHONPATH=str(REPO), CLINVK_HOME=str(tmp_path / "home"),
               CLINVK_CONFIG=str(tmp_path / "none.toml"))
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0,\n"
             "                              gc.get_threshold()[0]))\n"
             "import clinvk.__main__ as entry\n"
             "sys.argv = ['clinvk', *sys.argv[1:]]\n"
             "entry.run()\n")
    for args, code in ((["--version"], 0), (["resume", "zzzzzzzz", "hi"], 4),
                       (["sessions", "show", "zzzzzz"], 1)):
        proc = subprocess.run([sys.executable, "-c", probe, *args], check=False, capture_output=True,
                              text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == code, proc.stderr
        assert proc.stdout.endswith(f"frozen True {entry.GC_THRESHOLD}\n"), proc.stdout
    # Run as a module it behaves the same.
    proc = subprocess.run([sys.executable, "-m", "clinvk", "resume", "zzzzzzzz", "hi"], check=False,
                          capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 4 and "not found" in proc.stderr


def test_the_session_decoder_is_made_at_the_first_read(small_store) -> None:  # type: ignore[no-untyped-def]
    """Building the Session decoder walks every Struct of a record; listing from the
    catalog never reads a record, so importing the store does not build it."""
    probe = ("import clinvk.store as s\n"
             "print(s._session_decoder is None)\n"
             "store = s.SessionStore()\n"
             "ident = next(store.sessions_dir.glob('*/*.json')).stem\n"
             "print(store.read(ident).id == ident, s._session_decoder is not None)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), CLINVK_HOME=str(small_store.root))
    proc = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True"]
