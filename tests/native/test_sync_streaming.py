"""Transcripts are streamed: a line past the cap is skipped with a warning and never read
whole, memory stays flat whatever the files, and the deadline holds inside a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinvk.native import claude
from clinvk.native.adopt import load_state
from clinvk.native.adopt import sync as run_sync
from clinvk.native.transcript import LINE_MAX, Deferred, Limits
from clinvk.store import SessionStore
from tests.conftest import REPO, run_clinvk
from tests.native.conftest import CLAUDE_ID, transcript
from tests.native.test_sync_cli import sessions, sync, vendor_env


def test_a_line_past_the_cap_is_skipped_with_a_warning_and_the_rest_adopted(
        native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "claude")
    lines = path.read_bytes().splitlines(keepends=True)
    # A record claude would never write this big (and not even JSON): past the cap.
    lines.insert(10, b"x" * (LINE_MAX + 5) + b"\n")
    path.write_bytes(b"".join(lines))
    ran = sync(native_home, "--from", "claude")
    assert ran.code == 0, ran.err
    assert ran.out.strip() == "Synced claude: 1 new, 0 updated, 0 skipped"
    assert ran.err.splitlines() == [
        f"clinvk: warning: {path} line 11 is longer than 16 MB; it was skipped"]
    assert len(sessions(clinvk_home)[CLAUDE_ID].turns) == 4


def peak_rss_mb(args: list[str], env: dict[str, str]
                ) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run clinvk in a fresh process and measure its peak RSS (MB)."""
    probe = ("import resource, subprocess, sys\n"
             "ran = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "sys.stderr.write(ran.stderr)\n"
             "print(ran.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    full = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    ran = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "clinvk", *args],
                         capture_output=True, text=True, env=full, timeout=120, check=False)
    code, kb = ran.stdout.split()
    return int(kb) / 1024, subprocess.CompletedProcess(args, int(code), "", ran.stderr)


def test_a_huge_file_with_no_newline_is_never_read_whole(
        native_home: Path, clinvk_home: Path) -> None:
    huge = transcript(native_home, "claude").parent / "huge.jsonl"
    with open(huge, "wb") as f:  # sparse: quick to write, 300 MB to read
        f.truncate(300 << 20)
    mb, ran = peak_rss_mb(["sessions", "sync", "--from", "claude"], vendor_env(native_home))
    assert ran.returncode == 0, ran.stderr
    assert f"{huge} line 1 is longer than 16 MB; it was skipped" in ran.stderr
    assert len(sessions(clinvk_home)) == 1  # the real transcript beside it, adopted
    assert mb <= 150, f"peak RSS {mb:.0f} MB"
    print(f"peak RSS {mb:.0f} MB")


def test_the_deadline_holds_inside_a_file(native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "claude")
    filler = json.dumps({"type": "mode", "mode": "normal", "sessionId": CLAUDE_ID}) + "\n"
    path.write_text(path.read_text() + filler * 5000)
    with pytest.raises(Deferred):
        claude.parse(path, Limits(deadline=time.monotonic()))
    assert len(claude.parse(path, Limits(deadline=time.monotonic() + 60)).drafts) == 4


def test_a_file_too_long_for_the_budget_never_holds_the_others_back(
        native_home: Path, clinvk_home: Path) -> None:
    # Sorted before the real transcript, and far longer to read than the budget.
    huge = native_home / ".claude" / "projects" / "-huge" / "huge.jsonl"
    huge.parent.mkdir(parents=True)
    with open(huge, "wb") as f:
        f.truncate(16 << 30)  # sparse
    store = SessionStore(clinvk_home)
    where = {"claude": [native_home / ".claude"]}
    started = time.monotonic()
    report = run_sync(store, ["claude"], homes=where, deadline=started + 1)
    # Stopped inside the huge file, long before its end; the other one not reached.
    assert report.deferred == 2 and report.changes == []
    assert time.monotonic() - started < 10
    assert load_state(store).later == [str(huge)]
    # The next short sync reads the others first.
    report = run_sync(store, ["claude"], homes=where, deadline=time.monotonic() + 1)
    assert [c.backend_session_id for c in report.changes] == [CLAUDE_ID]
    assert report.deferred == 1


@pytest.mark.parametrize(("count", "size", "most"), [
    (5, 1 << 30, 5),  # flushed once 5 changes are pending
    (1000, 1, 1),  # flushed once 1 byte is: at each new session
])
def test_a_sync_keeps_no_session_waiting_in_memory(
        native_home: Path, clinvk_home: Path, monkeypatch: pytest.MonkeyPatch,
        count: int, size: int, most: int) -> None:
    """Each new session's catalog change is put in a batch, not kept until the process
    exits (25: 3.35 GiB for 20,000 sessions)."""
    import sqlite3

    from clinvk import store as store_module
    from clinvk.catalog import catalog_path

    src = transcript(native_home, "claude")
    for n in range(12):
        other = src.parent / f"copy-{n}.jsonl"
        other.write_text(src.read_text().replace(CLAUDE_ID, f"copy-{n}"))
    store = SessionStore(clinvk_home)
    assert sync(native_home, "--from", "codex").code == 0  # a catalog to put changes in
    assert run_clinvk("sessions", "list", "--json").code == 0
    seen: list[int] = []
    flush = store._flush

    def watch() -> None:
        flush()
        seen.append(len(store._pending))

    monkeypatch.setattr(store_module, "BATCH_FLUSH", count)
    monkeypatch.setattr(store_module, "BATCH_FLUSH_BYTES", size)
    monkeypatch.setattr(store, "_flush", watch)
    where = {"claude": [native_home / ".claude"]}
    report = run_sync(store, ["claude"], homes=where)
    assert report.counts["claude"].new == 13
    assert seen and max(seen) < most and store._pending == {}
    # Put in the catalog by the sync itself, not left for its next reader.
    conn = sqlite3.connect(catalog_path(clinvk_home))
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 14
    conn.close()


def test_a_gemini_chat_keeps_no_raw_tool_results_while_it_is_read(native_home: Path) -> None:
    """gemini merges messages by id, so it keeps them to the end: what it keeps is what
    is read of them (texts, tool calls with their previews), never the raw results."""
    import tracemalloc

    from clinvk.native import gemini

    path = transcript(native_home, "gemini")
    lines = path.read_text().splitlines(keepends=True)
    tool = next(line for line in lines if '"toolCalls"' in line)
    big = "kiwi " * 200_000  # 1 MB of output per call
    more = []
    for n in range(40):
        record = json.loads(tool)
        record["id"] = f"big-{n}"
        record["toolCalls"][0]["id"] = f"call-{n}"
        record["toolCalls"][0]["result"][0]["functionResponse"]["response"]["output"] = big
        more.append(json.dumps(record) + "\n")
    at = lines.index(tool) + 1
    path.write_text("".join(lines[:at] + more + lines[at:]))
    tracemalloc.start()
    try:
        t = gemini.parse(path)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (turn,) = [d for d in t.complete() if d.prompt == "read notes.txt"]
    assert len(turn.tool_calls) == 41
    assert all(len(c.output_preview or "") < 4096 for c in turn.tool_calls)
    assert peak < 12 << 20, f"peak {peak >> 20} MB for 40 MB of tool results"


def test_a_bad_file_is_said_again_but_not_read_again_until_it_changes(
        native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "claude")
    good = path.read_bytes()
    lines = good.splitlines(keepends=True)
    lines[3] = b"x" + lines[3][1:]  # not JSON any more, same size
    path.write_bytes(b"".join(lines))
    first = sync(native_home, "--from", "claude")
    assert first.out.strip() == "Synced claude: 0 new, 0 updated, 1 skipped"
    (warning,) = first.err.splitlines()
    assert "line 4 is not a transcript record" in warning
    # Good again, but with the same size and time: it is not opened, the same words said.
    st = path.stat()
    path.write_bytes(good)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = sync(native_home, "--from", "claude")
    assert (again.out, again.err) == (first.out, first.err)
    assert sessions(clinvk_home) == {}
    # Once it changes it is read: adopted whole.
    os.utime(path)
    ran = sync(native_home, "--from", "claude")
    assert ran.out.strip() == "Synced claude: 1 new, 0 updated, 0 skipped" and ran.err == ""
    assert len(sessions(clinvk_home)[CLAUDE_ID].turns) == 4
