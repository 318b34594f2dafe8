"""The tool calls as store queries, through real clinvk processes: `sessions list -q`
matches tool summaries and paths, `sessions list --touched PATH`, `sessions stats --by
tool` and the `Tools:` line of plain stats. The sessions are recorded by fake vendors
replaying the captured tool turns of each CLI (tests/fixtures/vendor/tools/)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, Result, run_proc

# (captured sample, the CLI that made it, the project it ran in under <TMP>)
TURNS = [
    ("claude-edit", "claude", "proj-claude"),
    ("codex-edit", "codex", "proj-codex"),
    ("claude-shell-fail", "claude", "proj-claude"),
    ("codex-shell-fail", "codex", "proj-codex"),
    ("codex-read", "codex", "proj-codex"),  # reads notes.txt with `cat`
    ("gemini-read", "gemini", "proj-gemini"),
    ("claude-tool-turn", "claude", "direct/proj-claude"),
]


@pytest.fixture
def recorded(tmp_path: Path, fake: Fakes, store: SessionStore) -> dict[str, str]:
    """One session per captured turn (sample → session id), recorded by real clinvk
    processes; <TMP> in the captures is this test's tmp dir."""
    fake.set(TMP=str(tmp_path))
    ids: dict[str, str] = {}
    for sample, cli, project in TURNS:
        where = tmp_path / project
        where.mkdir(parents=True, exist_ok=True)
        (where / "notes.txt").write_text("kiwi is the first line\n")
        r = run_proc("prompt", "-b", cli, "-w", str(where), "-o", "json",
                     f"do the {sample} task", env={"FAKE_SAMPLE": f"tools/{sample}.jsonl"})
        assert r.code == 0, r.err
        ids[sample] = json.loads(r.out)["id"]
    return ids


def listed(*args: str, cwd: Path | None = None) -> tuple[Result, set[str]]:
    r = run_proc("sessions", "list", "-n", "0", "--json", *args, cwd=cwd)
    assert r.code == 0, r.err
    return r, {item["id"] for item in json.loads(r.out)["items"]}


def calls_of(store: SessionStore, ids: set[str] | None = None) -> list[Any]:
    """Every tool call in the records themselves (what the catalog must agree with)."""
    return [c for _, s, _ in iter_sessions(store) if ids is None or s.id in ids  # type: ignore[attr-defined]
            for t in s.turns for c in t.tool_calls]  # type: ignore[attr-defined]


def test_the_captured_turns_name_the_files_the_queries_look_for(recorded: dict[str, str],
                                                                store: SessionStore,
                                                                tmp_path: Path) -> None:
    by_id = {s.id: s for _, s, _ in iter_sessions(store)}  # type: ignore[attr-defined]
    edit = by_id[recorded["claude-edit"]]
    new = str(tmp_path / "proj-claude" / "new.txt")
    assert new in edit.turns[0].files_changed
    assert any(new in c.paths for c in edit.turns[0].tool_calls)
    assert [c.status for c in by_id[recorded["claude-shell-fail"]].turns[0].tool_calls] == [
        "error"]


def test_touched_lists_the_sessions_that_read_or_changed_the_file(
        recorded: dict[str, str], tmp_path: Path) -> None:
    # Relative to the current directory.
    _, found = listed("--touched", "new.txt", cwd=tmp_path / "proj-claude")
    assert found == {recorded["claude-edit"]}
    _, found = listed("--touched", "proj-codex/new.txt", cwd=tmp_path)
    assert found == {recorded["codex-edit"]}
    # A file only read (claude's Read of notes.txt in the shared read turn).
    _, found = listed("--touched", str(tmp_path / "direct" / "proj-claude" / "notes.txt"))
    assert found == {recorded["claude-tool-turn"]}
    # Exact paths only: a directory, or a name that is part of a touched path, is not one.
    _, found = listed("--touched", str(tmp_path / "proj-claude"))
    assert found == set()
    _, found = listed("--touched", "ew.txt", cwd=tmp_path / "proj-claude")
    assert found == set()
    # Combined with the other filters.
    _, found = listed("--touched", str(tmp_path / "proj-codex" / "new.txt"), "-b", "claude")
    assert found == set()


def test_touched_finds_a_file_read_through_the_shell(recorded: dict[str, str],
                                                    tmp_path: Path) -> None:
    # codex reads with `cat` (a shell call); codex-edit patched the same file.
    _, found = listed("--touched", "notes.txt", cwd=tmp_path / "proj-codex")
    assert found == {recorded["codex-read"], recorded["codex-edit"]}


def test_touched_follows_a_symlinked_directory(recorded: dict[str, str],
                                               tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "proj-codex")
    _, found = listed("--touched", str(link / "new.txt"))
    assert found == {recorded["codex-edit"]}


def test_touched_without_a_match_says_so(recorded: dict[str, str], tmp_path: Path) -> None:
    r = run_proc("sessions", "list", "--touched", "nothing-here.txt", cwd=tmp_path)
    assert r.code == 0 and r.out == ""
    assert "no sessions match" in r.err
    r = run_proc("sessions", "list", "--touched", "")
    assert r.code == 1
    assert r.err.startswith("clinvk: error: --touched needs a file path")


def test_search_matches_tool_summaries_and_paths(recorded: dict[str, str],
                                                 tmp_path: Path) -> None:
    # new.txt is named only by the edit turns' tool calls, never in a prompt or answer.
    _, found = listed("-q", "new.txt")
    assert found == {recorded["claude-edit"], recorded["codex-edit"]}
    # Case-insensitive and inside words, as for prompts and answers.
    _, found = listed("-q", "EW.TX")
    assert found == {recorded["claude-edit"], recorded["codex-edit"]}
    # A shell command's summary.
    _, found = listed("-q", "missing-dir")
    assert found == {recorded["claude-shell-fail"], recorded["codex-shell-fail"]}
    # An absolute path, whole.
    _, found = listed("-q", str(tmp_path / "proj-codex" / "new.txt"))
    assert found == {recorded["codex-edit"]}
    # Prompts still match as before.
    _, found = listed("-q", "the gemini-read task")
    assert found == {recorded["gemini-read"]}
    _, found = listed("-q", "no-such-words-anywhere")
    assert found == set()


def test_search_table_shows_the_matching_tool_text(recorded: dict[str, str]) -> None:
    r = run_proc("sessions", "list", "-q", "missing-dir")
    assert r.code == 0, r.err
    # The MATCH column marks the words that hold the text.
    assert recorded["codex-shell-fail"][:6] in r.out and "[missing-dir]" in r.out


def test_stats_by_tool_counts_calls_and_errors_per_tool(recorded: dict[str, str],
                                                        store: SessionStore) -> None:
    r = run_proc("sessions", "stats", "--by", "tool", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["by"] == "tool"
    calls = calls_of(store)
    want = Counter((c.name, c.kind) for c in calls)
    groups = {(g["name"], g["kind"]): g for g in report["groups"]}
    assert {k: g["calls"] for k, g in groups.items()} == dict(want)
    errors = Counter((c.name, c.kind) for c in calls if c.status == "error")
    assert {k: g["errors"] for k, g in groups.items() if g["errors"]} == dict(errors)
    assert groups[("Bash", "shell")]["errors"] == 1
    assert groups[("command_execution", "shell")]["errors"] == 1
    assert groups[("Write", "write")]["sessions"] == 1
    # Most called first; the usual totals are still there.
    assert [g["calls"] for g in report["groups"]] == sorted(want.values(), reverse=True)
    assert report["totals"]["sessions"] == len(TURNS)
    tools = report["tools"]
    assert tools["calls"] == len(calls) and tools["errors"] == sum(errors.values())
    assert tools["sessions"] == len(TURNS)
    assert tools["error_rate"] == pytest.approx(sum(errors.values()) / len(calls), abs=1e-6)


def test_stats_by_tool_follows_the_filters(recorded: dict[str, str], store: SessionStore
                                           ) -> None:
    r = run_proc("sessions", "stats", "--by", "tool", "--json", "-b", "codex")
    assert r.code == 0, r.err
    codex = {recorded["codex-edit"], recorded["codex-shell-fail"], recorded["codex-read"]}
    want = Counter((c.name, c.kind) for c in calls_of(store, codex))
    assert {(g["name"], g["kind"]): g["calls"] for g in json.loads(r.out)["groups"]} == dict(want)
    # No turn started in the range: no calls.
    r = run_proc("sessions", "stats", "--by", "tool", "--json", "--since", "2999-01-01")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["groups"] == [] and report["tools"]["calls"] == 0
    assert report["tools"]["error_rate"] is None


def test_stats_by_tool_as_text_and_csv(recorded: dict[str, str], store: SessionStore) -> None:
    r = run_proc("sessions", "stats", "--by", "tool")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("TOOL"))
    assert lines[header].split()[:4] == ["TOOL", "KIND", "CALLS", "ERRORS"]
    rows = {tuple(line.split()[:2]): line.split() for line in lines[header + 1:]}
    assert rows[("Bash", "shell")][2:4] == ["1", "1"]
    r = run_proc("sessions", "stats", "--by", "tool", "--csv")
    assert r.code == 0, r.err
    csv_lines = r.out.splitlines()
    assert csv_lines[0] == "tool,kind,calls,errors,denied,error_rate,sessions"
    assert "Bash,shell,1,1,0,1.0,1" in csv_lines
    assert len(csv_lines) - 1 == len({(c.name, c.kind) for c in calls_of(store)})


def test_plain_stats_has_a_tools_line(recorded: dict[str, str], store: SessionStore) -> None:
    r = run_proc("sessions", "stats")
    assert r.code == 0, r.err
    [line] = [x for x in r.out.splitlines() if x.startswith("Tools:")]
    calls = calls_of(store)
    errors = sum(c.status == "error" for c in calls)
    said = f"{errors} error{'' if errors == 1 else 's'}"
    assert f"{len(calls)} calls · {said} ({errors / len(calls):.1%})" in line
    counts = Counter(c.name for c in calls)
    most = max(counts.values())
    first = line.split("most used: ")[1].split(", ")[0]
    assert first in {f"{name} {most}" for name, n in counts.items() if n == most}
    report = json.loads(run_proc("sessions", "stats", "--json").out)
    assert report["tools"]["calls"] == len(calls)
    top = report["tools"]["most_used"][0]
    assert counts[top["name"]] == top["calls"] == most


@pytest.mark.parametrize(("calls", "errors", "said"), [
    (1, 1, "1 call · 1 error (100.0%)"), (1, 0, "1 call · 0 errors (0.0%)"),
    (2, 1, "2 calls · 1 error (50.0%)"), (1200, 2, "1,200 calls · 2 errors (0.2%)")])
def test_the_tools_line_counts_in_the_singular_and_the_plural(calls: int, errors: int,
                                                              said: str) -> None:
    from clinvk.catalog.tools import ToolGroup, ToolReport
    from clinvk.commands.stats import tools_text

    text = tools_text(ToolReport([ToolGroup("Bash", "shell", calls=calls, errors=errors)], 1))
    assert text == f"{said} · most used: Bash {calls:,}"


def test_stats_without_tool_calls(fake: Fakes, workdir: Path) -> None:
    assert run_proc("prompt", "-b", "claude", "hello", cwd=workdir).code == 0
    r = run_proc("sessions", "stats")
    assert r.code == 0, r.err
    assert "Tools:" in r.out and "no tool calls recorded" in r.out
    r = run_proc("sessions", "stats", "--by", "tool")
    assert r.code == 0 and "TOOL" not in r.out


def test_deleting_a_session_drops_its_tool_rows(recorded: dict[str, str], tmp_path: Path
                                                ) -> None:
    assert run_proc("sessions", "delete", recorded["codex-edit"]).code == 0
    _, found = listed("--touched", str(tmp_path / "proj-codex" / "new.txt"))
    assert found == set()
    _, found = listed("-q", "new.txt")
    assert found == {recorded["claude-edit"]}


def test_an_older_catalog_is_rebuilt_with_the_tool_calls(recorded: dict[str, str],
                                                         clinvk_home: Path, tmp_path: Path
                                                         ) -> None:
    listed()  # the catalog is built
    with sqlite3.connect(clinvk_home / "catalog.db") as conn:
        assert conn.execute("SELECT count(*) FROM touched").fetchone()[0] > 0
        conn.execute("DROP TABLE tool_calls")
        conn.execute("DROP TABLE touched")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    _, found = listed("--touched", str(tmp_path / "proj-claude" / "new.txt"))
    assert found == {recorded["claude-edit"]}
    assert os.path.exists(clinvk_home / "catalog.db")
