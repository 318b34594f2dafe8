#!/usr/bin/env python3
"""Capture real tool-use turns of claude, codex and gemini, offline, as test fixtures.

    .venv/bin/python scripts/capture_tool_turns.py [--out DIR] [--vendor-bin DIR] [CASE ...]

Runs each pinned vendor CLI directly (no clinvk) against scripts/mockapi.py in a
throwaway sandbox (scripts/vendor_sandbox.py), with the approval flags clinvk
passes for the case's approval mode. The mock answers the first model request
with scripted tool calls (real tool names and argument shapes of each CLI), and
the request that brings the results back with the final text.

For every case it writes ``<cli>-<case>.jsonl``: the CLI's stdout, with the temp
dir shown as ``<TMP>`` and the mock's port as ``<PORT>``. ``mock-log.json`` holds,
per file, the exit code, the tool calls the mock sent and the tool results it
got back (scrubbed the same way).

CASES (``claude-read`` ...) restrict the run; default: all. The case table is
also what tests/e2e/test_tool_calls_e2e.py runs through clinvk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "vendor" / "tools"

# The project every case runs in: two lines, so a read has something to show.
NOTES = "kiwi-{cli}-7319 is the first line\nzebra-{cli}-4421 is the second line\n"
CLIS = ("claude", "codex", "gemini")
PROVIDER = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}


@dataclass
class Case:
    cli: str
    name: str
    approval: str  # clinvk's --approval mode ("default" adds no flag)
    prompt: str
    # Bodies for the mock's POST /_mock/tool, one per model request that answers
    # with tool calls, in order.
    rules: list[dict[str, Any]] = field(default_factory=list)
    # Files (relative to the project) the case's edit/write must leave behind.
    creates: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.cli}-{self.name}"

    @property
    def final(self) -> str:
        return f"MOCK final answer: {self.key}"


def chatter(what: str) -> str:
    return f"MOCK pre-tool chatter: {what}"


def cases(project: Path) -> list[Case]:
    """Every case for a CLI whose project dir (cwd) is ``project`` (absolute)."""
    notes = str(project / "notes.txt")
    new = str(project / "new.txt")
    missing = str(project / "missing-dir")
    edited = "zebra-{cli}-4421 was edited"

    def rule(
        calls: list[dict[str, Any]], text: str = "", final: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"calls": calls, "text": text, **extra}
        if final is not None:
            body["final"] = final
        return body

    def call(name: str, **args: Any) -> dict[str, Any]:
        return {"name": name, "input": args}

    out: list[Case] = []

    def add(
        cli: str,
        name: str,
        approval: str,
        prompt: str,
        rules: list[dict[str, Any]],
        creates: dict[str, str] | None = None,
    ) -> None:
        case = Case(cli, name, approval, prompt, rules, creates or {})
        # The last rule's final text answers the last tool results.
        case.rules[-1].setdefault("final", case.final)
        for r in case.rules:
            r["provider"] = PROVIDER[cli]
        out.append(case)

    # ---- claude: Read / Bash / Edit / Write; default mode allows Read and read-only
    # shell commands such as ls, denies the rest; acceptEdits allows Edit and Write.
    add(
        "claude",
        "read",
        "default",
        "Read notes.txt and tell me its first line.",
        [rule([call("Read", file_path=notes)], chatter("reading notes.txt"))],
    )
    add(
        "claude",
        "shell-fail",
        "default",
        "List the missing directory.",
        [
            rule(
                [call("Bash", command=f"ls {missing}", description="List a missing directory")],
                chatter("listing"),
            )
        ],
    )
    add(
        "claude",
        "shell-denied",
        "default",
        "Create a file with touch.",
        [rule([call("Bash", command=f"touch {new}", description="Create an empty file")])],
    )
    add(
        "claude",
        "write-denied",
        "default",
        "Write new.txt.",
        [rule([call("Write", file_path=new, content="brand new\n")])],
    )
    # Edit needs the file read first in the same session: read, then edit + write.
    add(
        "claude",
        "edit",
        "auto-edit",
        "Fix the second line of notes.txt and add new.txt.",
        [
            rule([call("Read", file_path=notes)], chatter("reading first")),
            rule(
                [
                    call(
                        "Edit",
                        file_path=notes,
                        old_string="zebra-claude-4421 is the second line",
                        new_string=edited.format(cli="claude"),
                    ),
                    call("Write", file_path=new, content="brand new\n"),
                ],
                chatter("editing now"),
            ),
        ],
        {
            "notes.txt": NOTES.format(cli="claude").replace(
                "zebra-claude-4421 is the second line", edited.format(cli="claude")
            ),
            "new.txt": "brand new\n",
        },
    )

    # ---- codex: exec_command runs in every sandbox (read-only by default);
    # apply_patch (a custom freeform tool) needs workspace-write (clinvk full-auto).
    patch = (
        "*** Begin Patch\n"
        f"*** Update File: {notes}\n"
        "@@\n"
        "-zebra-codex-4421 is the second line\n"
        f"+{edited.format(cli='codex')}\n"
        f"*** Add File: {new}\n"
        "+brand new\n"
        "*** End Patch\n"
    )
    add(
        "codex",
        "read",
        "default",
        "Read notes.txt and tell me its first line.",
        [rule([call("exec_command", cmd=f"cat {notes}")], chatter("reading notes.txt"))],
    )
    add(
        "codex",
        "shell-fail",
        "default",
        "List the missing directory.",
        [rule([call("exec_command", cmd=f"ls {missing}")], chatter("listing"))],
    )
    add(
        "codex",
        "edit",
        "full-auto",
        "Fix the second line of notes.txt and add new.txt.",
        [rule([{"name": "apply_patch", "input": patch}], chatter("patching"))],
        {
            "notes.txt": NOTES.format(cli="codex").replace(
                "zebra-codex-4421 is the second line", edited.format(cli="codex")
            ),
            "new.txt": "brand new\n",
        },
    )
    add(
        "codex",
        "edit-denied",
        "default",
        "Patch notes.txt.",
        [rule([{"name": "apply_patch", "input": patch}])],
    )

    # ---- gemini: headless default declares read-only tools only; auto_edit adds
    # replace/write_file, yolo (clinvk full-auto) adds run_shell_command.
    add(
        "gemini",
        "read",
        "default",
        "Read notes.txt and tell me its first line.",
        [rule([call("read_file", file_path=notes)], chatter("reading notes.txt"))],
    )
    add(
        "gemini",
        "shell-fail",
        "full-auto",
        "List the missing directory.",
        [
            rule(
                [
                    call(
                        "run_shell_command",
                        command=f"ls {missing}",
                        description="List a missing directory",
                    )
                ],
                chatter("listing"),
            )
        ],
    )
    add(
        "gemini",
        "edit",
        "auto-edit",
        "Fix the second line of notes.txt and add new.txt.",
        [
            rule(
                [
                    call(
                        "replace",
                        file_path=notes,
                        old_string="zebra-gemini-4421 is the second line",
                        new_string=edited.format(cli="gemini"),
                        instruction="Mark the second line as edited",
                    ),
                    call("write_file", file_path=new, content="brand new\n"),
                ],
                chatter("editing"),
            )
        ],
        {
            "notes.txt": NOTES.format(cli="gemini").replace(
                "zebra-gemini-4421 is the second line", edited.format(cli="gemini")
            ),
            "new.txt": "brand new\n",
        },
    )
    # write_file is not declared in default mode: the model calls it anyway.
    add(
        "gemini",
        "write-denied",
        "default",
        "Write new.txt.",
        [rule([call("write_file", file_path=new, content="brand new\n")], undeclared=True)],
    )
    return out


def vendor_argv(cli: str, approval: str) -> list[str]:
    """The argv clinvk runs for a new headless turn (prompt on stdin), by approval mode."""
    sys.path.insert(0, str(REPO))
    from clinvk.backends.claude import PERMISSION_MODES
    from clinvk.backends.codex import SANDBOX_MODES
    from clinvk.backends.gemini import APPROVAL_MODES

    if cli == "claude":
        argv = ["claude", "-p", "--output-format", "stream-json", "--verbose"]
        if approval != "default":
            argv += ["--permission-mode", PERMISSION_MODES[approval]]
    elif cli == "codex":
        argv = ["codex", "exec", "--json", "--skip-git-repo-check"]
        if approval != "default":
            argv += ["-c", f"sandbox_mode={json.dumps(SANDBOX_MODES[approval])}"]
        argv.append("-")
    else:
        argv = ["gemini", "--output-format", "stream-json", "--skip-trust"]
        if approval != "default":
            argv += ["--approval-mode", APPROVAL_MODES[approval]]
    return argv


def make_project(root: Path, cli: str) -> Path:
    project = (root / f"proj-{cli}").resolve()
    project.mkdir(parents=True, exist_ok=True)
    (project / "notes.txt").write_text(NOTES.format(cli=cli))
    return project


class Mock:
    """scripts/mockapi.py as a subprocess, with the calls this script needs."""

    def __init__(self, work: Path) -> None:
        port_file = work / "port"
        self.log = open(work / "mockapi.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPTS / "mockapi.py"),
                "--port",
                "0",
                "--port-file",
                str(port_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 15
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mockapi did not start; see {work / 'mockapi.log'}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self.log.close()


def scrub(text: str, tmp: Path, port: int) -> str:
    # claude also names its per-project dir after the cwd with "/" turned into "-".
    for raw in (str(tmp), str(tmp).replace("/", "-")):
        text = text.replace(raw, "<TMP>")
    return text.replace(f"127.0.0.1:{port}", "127.0.0.1:<PORT>")


def capture(selected: set[str], out: Path, vendor_bin: Path) -> int:
    sys.path.insert(0, str(SCRIPTS))
    import vendor_sandbox

    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "mock-log.json"
    summary: dict[str, Any] = json.loads(log_path.read_text()) if log_path.exists() else {}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="capture-tools-") as raw_tmp:
        tmp = Path(raw_tmp).resolve()
        mock = Mock(tmp)
        try:
            env = vendor_sandbox.sandbox_environ(
                vendor_sandbox.make_sandbox(tmp / "sandbox", mock.port)
            )
            env["PATH"] = os.pathsep.join([str(vendor_bin), env.get("PATH", os.defpath)])
            for cli in CLIS:
                for case in cases((tmp / f"proj-{cli}").resolve()):
                    if case.cli != cli or (selected and case.key not in selected):
                        continue
                    project = make_project(tmp, cli)
                    (project / "new.txt").unlink(missing_ok=True)
                    mock.call("POST", "/_mock/reset", {})
                    for body in case.rules:
                        mock.call("POST", "/_mock/tool", body)
                    ran = subprocess.run(  # exit code recorded, not raised
                        vendor_argv(cli, case.approval),
                        input=case.prompt.encode(),
                        cwd=project,
                        env=env,
                        capture_output=True,
                        timeout=120,
                        check=False,
                    )
                    stdout = scrub(ran.stdout.decode(), tmp, mock.port)
                    (out / f"{case.key}.jsonl").write_text(stdout)
                    requests = mock.call("GET", "/_mock/requests")
                    summary[f"{case.key}.jsonl"] = json.loads(
                        scrub(
                            json.dumps(
                                {
                                    "argv": vendor_argv(cli, case.approval)[1:],
                                    "exit_code": ran.returncode,
                                    "requests": [
                                        {
                                            "path": r["path"],
                                            "status": r["status"],
                                            "tool_calls": r["tool_calls"],
                                            "tool_results": r["tool_results"],
                                        }
                                        for r in requests
                                        if r["kind"] == "generate"
                                    ],
                                }
                            ),
                            tmp,
                            mock.port,
                        )
                    )
                    sent = sum(len(r["tool_calls"]) for r in requests)
                    wanted = sum(len(r["calls"]) for r in case.rules)
                    left = {
                        rel: (project / rel).read_text() if (project / rel).exists() else None
                        for rel in case.creates
                    }
                    ok = ran.returncode == 0 and sent == wanted and left == case.creates
                    failed += not ok
                    print(
                        f"{case.key}: exit {ran.returncode}, {sent}/{wanted} tool calls sent"
                        + ("" if left == case.creates else f", files left: {left}")
                        + ("" if ok else f"\n{ran.stderr.decode()[-2000:]}"),
                        file=sys.stderr,
                    )
        finally:
            mock.stop()
    log_path.write_text(json.dumps(dict(sorted(summary.items())), indent=1) + "\n")
    return 1 if failed else 0


def default_vendor_bin() -> Path:
    if os.environ.get("CLINVK_VENDOR_BIN"):
        return Path(os.environ["CLINVK_VENDOR_BIN"])
    out = subprocess.run(
        ["bash", str(SCRIPTS / "install-vendor-clis.sh"), "--print-bin-dir"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="e.g. claude-read (default: every case)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--vendor-bin", type=Path, default=None)
    args = parser.parse_args(argv)
    known = {c.key for c in cases(Path("/x"))}
    unknown = set(args.cases) - known
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {sorted(known)}")
    return capture(set(args.cases), args.out, args.vendor_bin or default_vendor_bin())


if __name__ == "__main__":
    sys.exit(main())
