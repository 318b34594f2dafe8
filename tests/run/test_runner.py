"""clinvk.runner: spawning, streaming, stdin, stderr, timeouts and group kills (real processes)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from clinvk.backends import Invocation
from clinvk.errors import BackendError
from clinvk.programs import capture, check_executable
from clinvk.runner import StopSignals, VendorProcess
from tests.run.conftest import group_gone, process_gone, wait_for


def py(code: str, tmp_path: Path, *, stdin: bytes | None = None,
       env: dict[str, str] | None = None) -> Invocation:
    return Invocation(argv=[sys.executable, "-c", textwrap.dedent(code)], cwd=str(tmp_path),
                      stdin=stdin, env=env or {})


def start(inv: Invocation, **kw: object) -> VendorProcess:
    return VendorProcess(inv, name="fake", install_hint="pip install fake", **kw)  # type: ignore[arg-type]


def test_lines_are_yielded_as_they_arrive(tmp_path: Path) -> None:
    # The child prints its second line only once the reader has answered the first (by
    # making the file ``gate``): had the first been held back, it would say "held".
    gate = tmp_path / "gate"
    inv = py(f"""
        import os, time
        print("first", flush=True)
        deadline = time.monotonic() + 30
        while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("second" if os.path.exists({str(gate)!r}) else "held", flush=True)
    """, tmp_path)
    seen: list[str] = []
    with start(inv) as proc:
        for line in proc.lines():
            seen.append(line)
            gate.touch()
        outcome = proc.wait()
    assert seen == ["first", "second"]
    assert outcome.exit_code == 0 and outcome.stop is None


def test_partial_last_line_crlf_and_invalid_utf8(tmp_path: Path) -> None:
    inv = py(r"""
        import sys
        sys.stdout.buffer.write(b"a\r\nb\xff\nno newline")
    """, tmp_path)
    with start(inv) as proc:
        lines = list(proc.lines())
        proc.wait()
    assert lines == ["a", "b\ufffd", "no newline"]


def test_big_stdin_arrives_whole_and_stderr_is_collected(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)
    inv = py("""
        import hashlib, sys
        blob = sys.stdin.buffer.read()
        print(len(blob), hashlib.sha256(blob).hexdigest(), flush=True)
        sys.stderr.write("oops on stderr\\n")
        sys.exit(3)
    """, tmp_path, stdin=data)
    import hashlib

    with start(inv) as proc:
        lines = list(proc.lines())
        outcome = proc.wait()
    assert lines == [f"{len(data)} {hashlib.sha256(data).hexdigest()}"]
    assert outcome.exit_code == 3 and outcome.stderr == "oops on stderr\n"


def test_stdin_is_devnull_when_there_is_none(tmp_path: Path) -> None:
    inv = py("import sys; print(repr(sys.stdin.read()))", tmp_path)
    with start(inv) as proc:
        assert list(proc.lines()) == ["''"]
        proc.wait()


def test_env_cwd_and_own_process_group(tmp_path: Path) -> None:
    inv = py("""
        import os
        print(os.environ["CLINVK_TEST_VAR"], os.environ.get("HOME") is not None)
        print(os.getcwd())
        print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid())
    """, tmp_path, env={"CLINVK_TEST_VAR": "set"})
    with start(inv) as proc:
        lines = list(proc.lines())
        proc.wait()
        assert proc.pgid == proc.pid
    assert lines == ["set True", os.path.realpath(tmp_path), "True True"]


def test_timeout_kills_the_group_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    inv = py("""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
        print(child.pid, flush=True)
        time.sleep(60)
    """, tmp_path)
    begun = time.monotonic()
    with start(inv, timeout=0.5) as proc:
        lines = list(proc.lines())
        outcome = proc.wait()
    assert outcome.stop == "timeout" and outcome.exit_code == -9
    assert time.monotonic() - begun < 10
    assert proc.pgid is not None and wait_for(lambda: group_gone(proc.pgid), timeout=5, what="group")
    assert process_gone(int(lines[0]))


def test_the_stream_ends_when_the_vendor_exits_even_if_a_grandchild_keeps_stdout(tmp_path: Path) -> None:
    inv = py("""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        print(child.pid, flush=True)
    """, tmp_path)
    begun = time.monotonic()
    with start(inv) as proc:
        (pid,) = list(proc.lines())
        outcome = proc.wait()
    assert outcome.exit_code == 0 and time.monotonic() - begun < 5
    os.kill(int(pid), 9)


def test_a_pending_stop_signal_stops_the_process_at_once(tmp_path: Path) -> None:
    signals = StopSignals()
    signals.reason = "interrupted"
    with start(py("import time; time.sleep(30)", tmp_path), signals=signals) as proc:
        list(proc.lines())
        outcome = proc.wait()
    # The child sleeps 30 s: it ended at once, by the signal (a negative exit code) or,
    # when the signal landed while Python was still starting, by its KeyboardInterrupt.
    assert outcome.stop == "interrupted" and outcome.exit_code not in (None, 0)
    assert outcome.duration_s < 10


def test_leaving_the_block_early_kills_the_vendor(tmp_path: Path) -> None:
    inv = py("import time; print('x', flush=True); time.sleep(30)", tmp_path)
    with pytest.raises(RuntimeError), start(inv) as proc:
        for _ in proc.lines():
            raise RuntimeError("consumer failed")
    assert proc.pid is not None and wait_for(lambda: process_gone(proc.pid or 0), timeout=5, what="kill")


def test_missing_executable_and_workdir_are_backend_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as info:
        start(Invocation(argv=["no-such-vendor-cli-xyz"], cwd=str(tmp_path))).start()
    assert "not on PATH" in info.value.message and info.value.hint == "install it: pip install fake"
    with pytest.raises(BackendError, match="working directory does not exist"):
        start(Invocation(argv=[sys.executable], cwd=str(tmp_path / "gone"))).start()


def test_check_executable_uses_the_invocations_path(tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "mytool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    inv = Invocation(argv=["mytool"], cwd=str(tmp_path), env={"PATH": str(tool.parent)})
    assert check_executable(inv, name="x", install_hint="") == str(tool)
    with pytest.raises(BackendError, match="x CLI not found"):
        check_executable(Invocation(argv=["mytool"], cwd=str(tmp_path)), name="x", install_hint="h")


def test_capture_returns_output_and_gives_up_on_a_hang(tmp_path: Path) -> None:
    got = capture([sys.executable, "-c", "print('v1.2')"])
    assert (got.exit_code, got.stdout) == (0, "v1.2\n")
    begun = time.monotonic()
    got = capture([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3)
    assert got.exit_code is None and time.monotonic() - begun < 5
