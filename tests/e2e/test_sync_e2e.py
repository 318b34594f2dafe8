"""`clinvk sessions sync` over transcripts the real vendor CLIs wrote by themselves.

For each of claude, codex and gemini: two turns run directly in the vendor CLI (not
through clinvk) in a project whose name holds ``_``, ``.`` and a space → ``sync``
adopts one session with both turns, their usage and the workdir → ``clinvk resume``
of the adopted session continues the same vendor conversation (the mock sees the
earlier turns in its history) → one more direct turn, then ``sync`` adds exactly that
turn (the one clinvk ran is in the transcript too, and is not added twice).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e

PROVIDER = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}
# One answered main call as clinvk counts it (docs/testing.md: input 123 of which 67
# cache reads and 8 cache writes, output 45): codex's and gemini's input include the
# cached tokens, gemini records no cache writes.
PER_CALL = {"claude": [123, 45, 67, 8, 0], "codex": [48, 45, 67, 8, 0],
            "gemini": [56, 45, 67, 0, 0]}
USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
         "reasoning_tokens")


def direct(backend: str, prompt: str, session: str | None) -> list[str]:
    """The vendor CLI's own headless command for a new turn or a resumed one."""
    if backend == "claude":
        return ["claude", *(["--resume", session] if session else []), "-p", prompt,
                "--output-format", "stream-json", "--verbose"]
    if backend == "codex":
        return ["codex", "exec", *(["resume"] if session else []), "--json",
                "--skip-git-repo-check", *([session] if session else []), prompt]
    return ["gemini", *(["--resume", session] if session else []), "-p", prompt,
            "--output-format", "stream-json", "--skip-trust"]


def run_direct(backend: str, prompt: str, session: str | None, env: dict[str, str],
               cwd: Path) -> str:
    done = subprocess.run(direct(backend, prompt, session), cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    first = json.loads(done.stdout.splitlines()[0])
    return str(first["thread_id"] if backend == "codex" else first["session_id"])


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_sync_adopts_resumes_and_grows(backend: str, cli: Any, vendor_env: dict[str, str],
                                       mock_api: MockAPI, tmp_path: Path,
                                       clinvk_home: Path) -> None:
    env = dict(vendor_env, CLINVK_HOME=str(clinvk_home),
               CLINVK_CONFIG=str(clinvk_home / "config.toml"))
    project = (tmp_path / "my_proj.v2 x").resolve()
    project.mkdir()
    elsewhere = (tmp_path / "elsewhere").resolve()
    elsewhere.mkdir()

    # 1. Two turns straight in the vendor CLI.
    vendor_id = run_direct(backend, "say hi", None, env, project)
    assert run_direct(backend, "again", vendor_id, env, project) == vendor_id

    # 2. sync adopts them.
    ran = cli.run("sessions", "sync", "--json", env=env, cwd=elsewhere)
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    (change,) = report["sessions"]
    assert (change["action"], change["backend"], change["backend_session_id"],
            change["turns_added"]) == ("new", backend, vendor_id, 2)
    assert report["backends"][backend] == {"new": 1, "updated": 0, "skipped": 0,
                                           "unchanged": 0}
    ident = change["id"]
    record = json.loads(cli.run("sessions", "show", ident, "--json", env=env).out)
    assert (record["origin"], record["workdir"], record["title"]) == (
        "native", str(project), "say hi")
    provider = PROVIDER[backend]
    assert [(t["prompt"], t["response"], t["status"]) for t in record["turns"]] == [
        ("say hi", f"MOCK {provider} reply #1: say hi", "ok"),
        ("again", f"MOCK {provider} reply #2: again", "ok")]
    for turn in record["turns"]:
        assert [turn["usage"][k] for k in USAGE] == PER_CALL[backend]

    # 3. Resume through clinvk, from another dir: the same vendor conversation.
    before = len(mock_api.requests())
    ran = cli.run("resume", ident, "-o", "json", "continue here", env=env, cwd=elsewhere,
                  timeout=120)
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)
    assert result["text"] == f"MOCK {provider} reply #3: continue here"
    assert result["backend_session_id"] == vendor_id
    seen = [r for r in mock_api.requests()[before:] if r["last_user_text"] == "continue here"]
    assert seen and all(r["user_turns"] == 3 for r in seen)

    # 4. One more turn straight in the vendor CLI; sync adds exactly that one.
    assert run_direct(backend, "one more", vendor_id, env, project) == vendor_id
    ran = cli.run("sessions", "sync", "--json", "--from", backend, env=env, cwd=elsewhere)
    assert ran.code == 0, ran.err
    (change,) = json.loads(ran.out)["sessions"]
    assert (change["id"], change["action"], change["turns_added"]) == (ident, "updated", 1)
    record = json.loads(cli.run("sessions", "show", ident, "--json", env=env).out)
    assert [t["prompt"] for t in record["turns"]] == [
        "say hi", "again", "continue here", "one more"]
    assert record["turns"][3]["response"] == f"MOCK {provider} reply #4: one more"
    # And a sync with nothing new changes nothing.
    ran = cli.run("sessions", "sync", "--json", env=env, cwd=elsewhere)
    assert json.loads(ran.out)["sessions"] == []
