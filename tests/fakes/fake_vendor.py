"""A stand-in for the claude, codex and gemini CLIs: replays captured output.

Installed by ``tests.fakes.install`` as real executables named after the vendor (the
name it was run as picks the vendor). It reads all of stdin, records what it was
given, then replays a sample from tests/fixtures/vendor/ line by line, flushing each.

Knobs (environment variables):

    FAKE_VENDOR_LOG      append one JSON line per run: {"event": "start", name, argv,
                         cwd, stdin, pid, pgid, child_pid} and, at the end,
                         {"event": "end", pid, "wrote_at": [epoch seconds per line]}
    FAKE_SAMPLE          sample file (relative to the samples dir) to replay instead
                         of the default; FAKE_SAMPLE_<NAME> (e.g. FAKE_SAMPLE_CODEX)
                         overrides it for one vendor. A *.stderr.* sample goes to stderr.
    FAKE_SESSION_ID      replace every UUID in the sample with this
    FAKE_TMP             replace the <TMP> placeholder of captured paths with this
    FAKE_EXIT            exit code (default 0)
    FAKE_STDERR          text written to stderr before exiting
    FAKE_SLEEP_BEFORE    seconds to sleep before the first line
    FAKE_SLEEP_BETWEEN   seconds to sleep between lines
    FAKE_SLEEP_AFTER     seconds to sleep after the last line
    FAKE_HANG_AFTER      after writing this many lines, sleep until killed
    FAKE_WAIT_FOR        after the last line, wait until this file exists (at most 60 s):
                         a test lets the turn end once what it does meanwhile is done
    FAKE_IGNORE          comma list of signals to ignore: INT,TERM
    FAKE_CHILD           "1": start a child process in the same process group that
                         sleeps (and ignores the same signals), to prove group kills

Per-run knobs, for runs that must differ within one clinvk (parallel units): a prompt
(stdin or argv) holding ``[fake sleep=0.5 exit=1 hang=2 sample=NAME]`` sets
SLEEP_BEFORE, EXIT, HANG_AFTER and SAMPLE for that run only. Start and end records
carry "at" (epoch seconds), so tests can tell which runs overlapped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SAMPLES = Path(os.environ.get("FAKE_VENDOR_SAMPLES") or Path(__file__).resolve().parents[1] / "fixtures" / "vendor")
VERSIONS = {
    "claude": "2.1.197 (Claude Code)",
    "codex": "codex-cli 0.169.0",
    "gemini": "0.61.0",
}
DIRECTIVE = re.compile(r"\[fake ([^\]]*)\]")
DIRECTIVE_KNOBS = {"sleep": "FAKE_SLEEP_BEFORE", "exit": "FAKE_EXIT", "hang": "FAKE_HANG_AFTER",
                   "sample": "FAKE_SAMPLE"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def default_sample(name: str, argv: list[str]) -> str:
    if name == "codex":
        resume = argv[:2] == ["exec", "resume"]
        return f"codex-exec-{'resume' if resume else 'new'}.jsonl"
    resume = "--resume" in argv or "-r" in argv
    stream = "stream-json" in argv
    kind = "resume" if resume else "new"
    if name == "claude":
        return f"claude-stream-{kind}.jsonl" if stream else f"claude-json-{kind}.json"
    return f"gemini-stream-{kind}.jsonl" if stream else f"gemini-json-{kind}.json"


def log(record: dict[str, object]) -> None:
    path = os.environ.get("FAKE_VENDOR_LOG")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def main() -> int:
    name = os.path.basename(sys.argv[0])
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print(VERSIONS.get(name, "0.0.0"))
        return 0
    ignored = [s.strip().upper() for s in os.environ.get("FAKE_IGNORE", "").split(",") if s.strip()]
    for sig in ignored:
        signal.signal(getattr(signal, "SIG" + sig), signal.SIG_IGN)
    if "INT" not in ignored:
        # Like the real CLIs: Ctrl-C ends the run quietly, no Python traceback.
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read().decode(
        "utf-8", "surrogateescape")
    for found in DIRECTIVE.finditer(stdin + "\n" + "\n".join(argv)):
        for pair in found[1].split():
            key, _, value = pair.partition("=")
            if key in DIRECTIVE_KNOBS:
                os.environ[DIRECTIVE_KNOBS[key]] = value
    child = None
    if os.environ.get("FAKE_CHILD") == "1":
        code = ("import signal, time\n"
                + "".join(f"signal.signal(signal.SIG{s}, signal.SIG_IGN)\n" for s in ignored)
                + "time.sleep(600)\n")
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log({"event": "start", "name": name, "argv": argv, "cwd": os.getcwd(), "stdin": stdin,
         "pid": os.getpid(), "pgid": os.getpgid(0), "child_pid": child.pid if child else None,
         "at": time.time()})
    sample = (os.environ.get(f"FAKE_SAMPLE_{name.upper()}") or os.environ.get("FAKE_SAMPLE")
              or default_sample(name, argv))
    text = (SAMPLES / sample).read_text(encoding="utf-8")
    session_id = os.environ.get("FAKE_SESSION_ID")
    if session_id:
        text = UUID.sub(session_id, text)
    if os.environ.get("FAKE_TMP"):
        text = text.replace("<TMP>", os.environ["FAKE_TMP"])
    to_stderr = ".stderr." in sample
    stream = sys.stderr if to_stderr else sys.stdout
    time.sleep(float(os.environ.get("FAKE_SLEEP_BEFORE", "0")))
    between = float(os.environ.get("FAKE_SLEEP_BETWEEN", "0"))
    wrote_at: list[float] = []
    lines = text.splitlines(keepends=True)
    hang_after = int(os.environ.get("FAKE_HANG_AFTER", "-1"))
    for i, line in enumerate(lines):
        if i == hang_after:
            log({"event": "hang", "pid": os.getpid(), "wrote_at": wrote_at})
            time.sleep(3600)
        if i and between:
            time.sleep(between)
        stream.write(line)
        stream.flush()
        wrote_at.append(time.time())
    time.sleep(float(os.environ.get("FAKE_SLEEP_AFTER", "0")))
    gate = os.environ.get("FAKE_WAIT_FOR")
    if gate:
        until = time.monotonic() + 60
        while not os.path.exists(gate) and time.monotonic() < until:
            time.sleep(0.01)
    extra = os.environ.get("FAKE_STDERR")
    if extra:
        sys.stderr.write(extra + ("" if extra.endswith("\n") else "\n"))
        sys.stderr.flush()
    log({"event": "end", "pid": os.getpid(), "wrote_at": wrote_at, "at": time.time()})
    return int(os.environ.get("FAKE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
