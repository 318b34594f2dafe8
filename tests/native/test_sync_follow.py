"""A conversation is followed by the vendor's own ids, never by path and turn count; and
every turn that has an answer is adopted, its status decided from the evidence."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from clinvk.native import claude
from clinvk.native.adopt import SETTLED_S
from tests.conftest import run_clinvk
from tests.native.conftest import CLAUDE_ID, GEMINI_ID, transcript
from tests.native.test_sync_cli import sessions, sync

NEW_GEMINI_TURN = [
    {"id": "0a0a0a0a-new-prompt", "timestamp": "2026-11-30T03:30:00.000Z", "type": "user",
     "content": [{"text": "one more"}]},
    {"id": "0b0b0b0b-new-answer", "timestamp": "2026-11-30T03:30:01.000Z", "type": "gemini",
     "content": "MOCK gemini reply #5: one more", "model": "gemini-3.8-flash",
     "tokens": {"input": 123, "output": 45, "cached": 67, "thoughts": 0, "tool": 0}},
]


def rewrite_gemini(path: Path, *, drop_first_turn: bool, session_id: str | None = None) -> None:
    """gemini writes its whole file again: here without the first turn's two messages,
    and with one new turn at the end (and, given ``session_id``, as another conversation
    whose messages all have other ids)."""
    lines = path.read_text().splitlines()
    first_ids = {"19a9e393-cbca-4562-bcc9-749e5c1160ef", "b4d60d84-52f6-403e-a6b8-d3e41c4ca834"}
    kept = [line for line in lines
            if not (drop_first_turn and json.loads(line).get("id") in first_ids)]
    kept += [json.dumps(m) for m in NEW_GEMINI_TURN]
    text = "\n".join(kept) + "\n"
    if session_id is not None:
        text = text.replace(GEMINI_ID, session_id)
        for n, line in enumerate(kept):
            ident = json.loads(line).get("id")
            if ident:
                text = text.replace(f'"id": "{ident}"', f'"id": "other-{n}"').replace(
                    f'"id":"{ident}"', f'"id":"other-{n}"')
    path.write_text(text)


def test_a_rewritten_file_that_dropped_an_early_turn_gives_its_new_turn(
        native_home: Path, clinvk_home: Path) -> None:
    assert sync(native_home, "--from", "gemini").code == 0
    rewrite_gemini(transcript(native_home, "gemini"), drop_first_turn=True)
    ran = sync(native_home, "--from", "gemini", "--json")
    assert ran.code == 0, ran.err
    (change,) = json.loads(ran.out)["sessions"]
    assert (change["action"], change["turns_added"]) == ("updated", 1)
    s = sessions(clinvk_home)[GEMINI_ID]
    assert [t.prompt for t in s.turns] == ["say hi", "again", "read notes.txt", "bye",
                                           "one more"]
    assert s.turns[-1].response == "MOCK gemini reply #5: one more"
    # Nothing new: nothing added again.
    os.utime(transcript(native_home, "gemini"))
    again = sync(native_home, "--from", "gemini", "--json")
    assert json.loads(again.out)["sessions"] == []


def test_another_conversation_at_the_same_path_is_its_own_session(
        native_home: Path, clinvk_home: Path) -> None:
    assert sync(native_home, "--from", "gemini").code == 0
    rewrite_gemini(transcript(native_home, "gemini"), drop_first_turn=False,
                   session_id="another-conversation")
    ran = sync(native_home, "--from", "gemini", "--json")
    assert ran.code == 0, ran.err
    (change,) = json.loads(ran.out)["sessions"]
    assert (change["action"], change["backend_session_id"]) == ("new", "another-conversation")
    found = sessions(clinvk_home)
    assert len(found[GEMINI_ID].turns) == 4  # the first conversation is left as it was
    assert [t.prompt for t in found["another-conversation"].turns] == [
        "say hi", "again", "read notes.txt", "bye", "one more"]


def null_stop_reasons(path: Path, *, with_cost_records: bool) -> None:
    """As older claude writers (or a crashed session) leave it: no stop_reason."""
    lines = path.read_text().replace('"stop_reason":"end_turn"', '"stop_reason":null').replace(
        '"stop_reason":"tool_use"', '"stop_reason":null').splitlines(keepends=True)
    if not with_cost_records:
        lines = [line for line in lines if '"type":"cost-state"' not in line]
    path.write_text("".join(lines))


def test_null_stop_reasons_keep_every_answered_turn(native_home: Path) -> None:
    path = transcript(native_home, "claude")
    null_stop_reasons(path, with_cost_records=False)
    t = claude.parse(path)
    # A later prompt ends the turns before it; the last one waits while the file grows.
    turns = [d.to_turn(i, CLAUDE_ID) for i, d in enumerate(t.complete())]
    assert [(x.prompt, x.status) for x in turns] == [
        ("say hi", "ok"), ("again", "ok"), ("read notes.txt", "ok")]
    assert turns[2].response == "MOCK final answer: the first line is kiwi"
    # Once the file stops growing, the last answered turn is over too.
    last = claude.parse(path).complete(settled=True)[-1].to_turn(3, CLAUDE_ID)
    assert (last.prompt, last.status, last.error) == ("bye", "ok", None)


def test_a_final_cost_record_ends_a_turn_with_a_null_stop_reason(native_home: Path) -> None:
    path = transcript(native_home, "claude")
    null_stop_reasons(path, with_cost_records=True)
    turns = [d.to_turn(i, CLAUDE_ID) for i, d in enumerate(claude.parse(path).complete())]
    assert [x.status for x in turns] == ["ok"] * 4


def test_sync_adopts_every_answered_turn_of_a_finished_transcript(
        native_home: Path, clinvk_home: Path) -> None:
    path = transcript(native_home, "claude")
    null_stop_reasons(path, with_cost_records=False)
    old = time.time() - SETTLED_S - 60
    os.utime(path, (old, old))
    ran = sync(native_home, "--from", "claude")
    assert ran.code == 0, ran.err
    s = sessions(clinvk_home)[CLAUDE_ID]
    assert [(t.prompt, t.status) for t in s.turns] == [
        ("say hi", "ok"), ("again", "ok"), ("read notes.txt", "ok"), ("bye", "ok")]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_sync_on_a_read_only_store_is_the_writers_error() -> None:
    # /proc refuses new directories even to root, like a read-only mount.
    ran = run_clinvk("sessions", "sync", env={"CLINVK_HOME": "/proc/self", "CLINVK_CONFIG": ""})
    assert ran.code == 1 and ran.out == ""
    first = ran.err.splitlines()[0]
    assert first.startswith("clinvk: error: cannot write to the session store at /proc/self")
    assert "internal error" not in ran.err and "hint: " in ran.err


def test_the_sync_directory_is_private(native_home: Path, clinvk_home: Path) -> None:
    assert sync(native_home, "--from", "codex").code == 0
    assert (clinvk_home / "sync").stat().st_mode & 0o777 == 0o700
    assert (clinvk_home / "sync" / "state.lock").stat().st_mode & 0o777 == 0o600
