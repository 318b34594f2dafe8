"""`clinvk resume` in-process against the fake vendor CLIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import add_session
from tests.run.conftest import Fakes

CLAUDE_ID = "812a5f73-0013-4e7c-b123-31a5133d2aa6"


def new_session(run, *args: str) -> str:
    r = run("prompt", "-o", "json", *args)
    assert r.code == 0, r.err
    return str(r.json()["id"])


def test_resume_uses_the_sessions_backend_and_workdir_from_anywhere(
        fake: Fakes, workdir: Path, run, store: SessionStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, clinvk_home: Path) -> None:
    sid = new_session(run, "-b", "gemini", "say hi")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Neither the config default nor the environment may move a session to another backend.
    (clinvk_home / "config.toml").write_text('[defaults]\nbackend = "codex"\n')
    monkeypatch.setenv("CLINVK_DEFAULTS_BACKEND", "claude")
    r = run("resume", sid[:6], "again")
    assert r.code == 0, r.err
    assert r.out == "MOCK gemini reply #2: again\n"
    last = fake.last()
    assert last["name"] == "gemini" and last["cwd"] == str(workdir)
    assert last["argv"][last["argv"].index("--resume") + 1] == "b1347ebd-5585-47a6-8927-3f4230e16030"
    session = store.read(sid)
    assert [t.status for t in session.turns] == ["ok", "ok"]
    assert session.turns[1].index == 2 and session.status == "active"


def test_resume_does_not_accept_a_backend_flag(fake: Fakes, workdir: Path, run) -> None:
    sid = new_session(run, "hi")
    r = run("resume", sid, "-b", "codex", "again")
    assert r.code == 1 and fake.last()["name"] == "claude" and len(fake.starts()) == 1


def test_resume_last_skips_paused_and_here_uses_this_directory(
        fake: Fakes, workdir: Path, run, store: SessionStore, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    here_id = new_session(run, "-b", "codex", "here")
    older_id = new_session(run, "-b", "claude", "-w", str(other), "older")
    paused_id = new_session(run, "-b", "gemini", "-w", str(other), "newest but paused")
    assert run("sessions", "pause", paused_id).code == 0
    r = run("resume", "--last", "next")
    assert r.code == 0, r.err
    assert fake.last()["name"] == "claude" and len(store.read(older_id).turns) == 2
    assert len(store.read(paused_id).turns) == 1
    r = run("resume", "--here", "next")
    assert r.code == 0, r.err
    assert fake.last()["name"] == "codex" and len(store.read(here_id).turns) == 2
    r = run("resume", "--last", "x", "y")
    assert r.code == 1


def test_resume_last_with_nothing_resumable_is_exit_4(fake: Fakes, workdir: Path, run,
                                                      store: SessionStore) -> None:
    add_session(store, status="paused", workdir=str(workdir))
    r = run("resume", "--last", "hi")
    assert r.code == 4 and "no resumable session" in r.err


def test_resume_unknown_or_ambiguous_id_is_exit_4(fake: Fakes, workdir: Path, run,
                                                  store: SessionStore) -> None:
    r = run("resume", "zzzzzz", "hi")
    assert r.code == 4 and "session not found" in r.err
    for ident in ("abcd1111", "abcd2222"):
        session = add_session(store, workdir=str(workdir))
        store.delete(session.id)
        session.id = ident
        store.insert(session)
    r = run("resume", "abcd", "hi")
    assert r.code == 4 and "ambiguous" in r.err and "abcd1111" in r.err
    assert run("resume", "abcd1", "-o", "json", "hi").json()["id"] == "abcd1111"
    assert len(fake.starts()) == 1
    fake.log.unlink()
    r = run("resume", "not an id!", "hi")
    assert r.code == 1 and "invalid session id" in r.err
    assert fake.starts() == []


def test_resume_without_backend_session_id_or_workdir_is_exit_4(
        fake: Fakes, workdir: Path, run, store: SessionStore, tmp_path: Path) -> None:
    no_id = add_session(store, workdir=str(workdir), backend_session_id=None)
    r = run("resume", no_id.id, "hi")
    assert r.code == 4 and "never reported a conversation id" in r.err
    gone_dir = tmp_path / "gone"
    gone_dir.mkdir()
    gone = add_session(store, workdir=str(gone_dir))
    shutil.rmtree(gone_dir)
    r = run("resume", gone.id, "hi")
    assert r.code == 4 and "working directory is gone" in r.err
    assert fake.starts() == []


@pytest.mark.parametrize(("backend", "sample", "code"), [
    ("claude", "extra/claude-resume-badid.stderr.txt", 1),
    ("codex", "extra/codex-resume-badid.stderr.txt", 1),
    ("gemini", "extra/gemini-resume-badid.stderr.txt", 42),
])
def test_vendor_without_the_conversation_is_exit_4(backend: str, sample: str, code: int,
                                                    fake: Fakes, workdir: Path, run,
                                                    store: SessionStore) -> None:
    s = add_session(store, backend=backend, workdir=str(workdir),
                    backend_session_id="00000000-0000-4000-8000-000000000000")
    fake.set(sample=sample, exit=code)
    r = run("resume", s.id, "hi")
    assert r.code == 4, r.err
    assert f"{backend} has no conversation" in r.err
    record = store.read(s.id)
    assert record.turns[-1].status == "error" and record.status == "error"


def test_resume_reopens_a_completed_session_and_records_a_new_backend_id(
        fake: Fakes, workdir: Path, run, store: SessionStore) -> None:
    s = add_session(store, workdir=str(workdir), status="completed", backend_session_id=CLAUDE_ID)
    fake.set(session_id="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    r = run("resume", s.id, "-o", "json", "again")
    assert r.code == 0, r.err
    assert r.json()["backend_session_id"] == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    record = store.read(s.id)
    assert record.status == "active"
    assert record.backend_session_id == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    assert record.turns[-1].backend_session_id == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def test_resume_passes_previous_usage_total_for_codex(fake: Fakes, workdir: Path, run,
                                                      store: SessionStore) -> None:
    sid = new_session(run, "-b", "codex", "say hi")
    assert run("resume", sid, "again").code == 0
    assert run("resume", sid, "-o", "json", "third").code == 0
    turns = store.read(sid).turns
    # The fake replays the same thread total (246 in) for the third turn: nothing new used.
    assert turns[2].usage is not None and turns[2].usage.total == 0


def test_resume_reads_the_prompt_from_stdin(fake: Fakes, workdir: Path, run,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    sid = new_session(run, "hi")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"piped follow-up")))
    assert run("resume", sid).code == 0
    assert fake.last()["stdin"] == "piped follow-up"


def test_resume_dry_run_and_interactive_dry_run(fake: Fakes, workdir: Path, run,
                                                store: SessionStore) -> None:
    sid = new_session(run, "hi")
    r = run("resume", sid, "--dry-run", "again")
    assert r.code == 0 and f"--resume {CLAUDE_ID}" in r.out and f"cwd:     {workdir}" in r.out
    r = run("resume", sid, "-i", "--dry-run")
    assert r.code == 0 and r.out.startswith(f"argv:    claude --resume {CLAUDE_ID}")
    assert "stdin:   the terminal" in r.out
    assert len(fake.starts()) == 1 and len(store.read(sid).turns) == 1


def test_interactive_resume_runs_in_the_session_workdir(fake: Fakes, workdir: Path, run,
                                                        store: SessionStore, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sid = new_session(run, "-b", "codex", "hi")
    assert run("sessions", "complete", sid).code == 0
    before = store.read(sid)
    monkeypatch.chdir(tmp_path)
    fake.set(exit=3)
    r = run("resume", sid, "-i")
    assert r.code == 1  # mapped onto the documented contract
    assert "codex exited with code 3" in r.err
    last = fake.last()
    assert last["argv"][0] == "resume" and last["cwd"] == str(workdir)
    # The vendor's UI failed: not a use of the session, which stays as it was.
    after = store.read(sid)
    assert after.last_used_at == before.last_used_at and after.status == "completed"
    fake.set(exit=0)
    assert run("resume", sid, "-i").code == 0
    used = store.read(sid)
    assert used.last_used_at > before.last_used_at and used.status == "active"


def test_resume_json_result_fields(fake: Fakes, workdir: Path, run) -> None:
    sid = new_session(run, "-b", "codex", "hi")
    data = run("resume", sid, "-o", "json", "again").json()
    assert data["id"] == sid and data["turn"] == 2 and data["text"] == "MOCK openai reply #2: again"
    events = [json.loads(x) for x in run("resume", sid, "-o", "stream-json", "3").out.splitlines()]
    assert events[0]["type"] == "session" and events[0]["id"] == sid
    assert events[-1]["turn"] == 3
