"""A program on the far side of a real pseudo-terminal (stdlib pty): what it draws, and
when. Used by tests/tui/test_pty.py and benchmarks/bench_tui.py (stdlib only)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """A clinvk process on the far side of a pty of ``cols``×``rows``."""

    def __init__(self, *args: str, cols: int = 80, rows: int = 24,
                 env: dict[str, str] | None = None, drop: tuple[str, ...] = (),
                 repo: Path = REPO) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full = dict(os.environ)
        full.update({"PYTHONPATH": str(repo), "TERM": "xterm-256color", "COLUMNS": str(cols),
                     "LINES": str(rows)})
        full.update(env or {})
        for name in drop:
            full.pop(name, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "clinvk", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=full,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def read_until(self, want: bytes | re.Pattern[bytes], timeout: float = 20) -> float:
        """Read until ``want`` shows up; the moment it did (time.monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            if (want.search(self.seen) if isinstance(want, re.Pattern) else want in self.seen):
                return time.monotonic()
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {want!r}; got {self.seen[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the terminal closed before {want!r}")
                self.seen += chunk

    def quiet(self, gap: float = 0.3, timeout: float = 10) -> float:
        """Read until nothing comes for ``gap`` s; the moment the last byte came."""
        last = time.monotonic()
        deadline = last + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], gap)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
            last = time.monotonic()
        return last

    def type(self, text: str | bytes) -> float:
        os.write(self.master, text.encode() if isinstance(text, str) else text)
        return time.monotonic()

    def finish(self, timeout: float = 20) -> int:
        """Wait for the process to exit, draining the terminal; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.quiet(0.1, 0.5)
        code = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        os.close(self.master)
        return code

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
