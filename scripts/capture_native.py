#!/usr/bin/env python3
"""Capture the transcripts claude, codex and gemini write by themselves, as test fixtures.

    .venv/bin/python scripts/capture_native.py [--out DIR] [--vendor-bin DIR]

Runs each pinned vendor CLI directly (no clinvk) against scripts/mockapi.py in a
throwaway sandbox (scripts/vendor_sandbox.py): a new conversation, two resumed
plain turns and one resumed turn in which the model reads a file through a tool.
The project dir's name holds ``_``, ``.`` and a space, which claude's project dir
name turns into ``-``.

Then it copies every transcript the CLIs wrote (and gemini's ``.project_root``)
under DIR (default tests/fixtures/native/), keeping each vendor's layout below
its home, with the temp dir shown as ``<TMP>``. Tests turn ``<TMP>`` back into a
real dir before reading the copies.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "native"
PROJECT = "my_proj.v2 x"
PROVIDER = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}
READ_CALL = {"claude": ("Read", "file_path"), "codex": ("exec_command", "cmd"),
             "gemini": ("read_file", "file_path")}


def new_argv(cli: str, prompt: str) -> list[str]:
    if cli == "claude":
        return ["claude", "-p", prompt, "--output-format", "stream-json", "--verbose"]
    if cli == "codex":
        return ["codex", "exec", "--json", "--skip-git-repo-check", prompt]
    return ["gemini", "-p", prompt, "--output-format", "stream-json", "--skip-trust"]


def resume_argv(cli: str, session: str, prompt: str) -> list[str]:
    if cli == "claude":
        return ["claude", "--resume", session, "-p", prompt, "--output-format", "stream-json",
                "--verbose"]
    if cli == "codex":
        return ["codex", "exec", "resume", "--json", "--skip-git-repo-check", session, prompt]
    return ["gemini", "--resume", session, "-p", prompt, "--output-format", "stream-json",
            "--skip-trust"]


def session_of(cli: str, stdout: str) -> str:
    import json

    first = json.loads(stdout.splitlines()[0])
    return str(first["thread_id"] if cli == "codex" else first["session_id"])


def scrub(text: str, tmp: Path, port: int) -> str:
    for raw in (str(tmp), str(tmp).replace("/", "-")):
        text = text.replace(raw, "<TMP>")
    return text.replace(f"127.0.0.1:{port}", "127.0.0.1:<PORT>")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--vendor-bin", type=Path, default=os.environ.get("CLINVK_VENDOR_BIN"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SCRIPTS))
    import vendor_sandbox
    from capture_tool_turns import Mock

    with tempfile.TemporaryDirectory(prefix="capture-native-") as raw:
        tmp = Path(raw).resolve()
        mock = Mock(tmp)
        try:
            env = vendor_sandbox.sandbox_environ(vendor_sandbox.make_sandbox(tmp / "sb", mock.port))
            if args.vendor_bin:
                env["PATH"] = os.pathsep.join([str(args.vendor_bin), env.get("PATH", "")])
            for cli in ("claude", "codex", "gemini"):
                project = tmp / cli / PROJECT
                project.mkdir(parents=True)
                (project / "notes.txt").write_text(f"kiwi-{cli} is the first line\n")
                mock.call("POST", "/_mock/reset", {})

                def run(cmd: list[str], cwd: Path = project) -> str:
                    done = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                          capture_output=True, text=True, timeout=120,
                                          check=False)
                    if done.returncode != 0:
                        raise SystemExit(f"{cmd[0]} failed: {done.returncode}\n{done.stderr}")
                    return done.stdout

                session = session_of(cli, run(new_argv(cli, "say hi")))
                run(resume_argv(cli, session, "again"))
                name, key = READ_CALL[cli]
                target = project / "notes.txt"
                mock.call("POST", "/_mock/tool", {
                    "provider": PROVIDER[cli], "text": "MOCK pre-tool chatter",
                    "calls": [{"name": name,
                               "input": {key: f"cat {target}" if cli == "codex" else str(target)}}],
                    "final": "MOCK final answer: the first line is kiwi",
                })
                run(resume_argv(cli, session, "read notes.txt"))
                run(resume_argv(cli, session, "bye"))
                print(cli, session)
            home = tmp / "sb" / "home"
            if args.out.exists():
                shutil.rmtree(args.out)
            wanted = [*home.glob(".claude/projects/*/*.jsonl"),
                      *home.glob(".codex/sessions/*/*/*/*.jsonl"),
                      *home.glob(".gemini/tmp/*/chats/*.jsonl"),
                      *home.glob(".gemini/tmp/*/.project_root")]
            for path in wanted:
                rel = scrub(str(path.relative_to(home)), tmp, mock.port)
                dest = args.out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(scrub(path.read_text(), tmp, mock.port))
                print("wrote", dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest)
        finally:
            mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
