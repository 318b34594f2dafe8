"""Vendor programs outside a recorded turn: whether one is installed, handing it the
terminal (`resume --interactive`), and running a short one to completion
(`--version` for `clinvk backends`).

A turn's own process is clinvk.runner's; nothing here is recorded or streamed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from typing import TYPE_CHECKING

import msgspec

from clinvk.errors import BackendError

if TYPE_CHECKING:
    from clinvk.backends import Invocation


def _which(program: str, path: str) -> str | None:
    """shutil.which for POSIX, without importing shutil."""
    def runnable(p: str) -> bool:
        return os.path.isfile(p) and os.access(p, os.X_OK)

    if os.sep in program:
        return program if runnable(program) else None
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, program)
        if runnable(candidate):
            return candidate
    return None


def check_executable(invocation: Invocation, *, name: str, install_hint: str) -> str:
    """The path the vendor's argv[0] resolves to, or BackendError with the install command.

    Checked before a session is created, so a missing CLI leaves no record behind.
    """
    program = invocation.argv[0]
    path = invocation.env.get("PATH", os.environ.get("PATH", os.defpath))
    found = _which(program, path)
    if found is None:
        if os.sep in program:
            raise BackendError(f"{name} CLI not found: {program!r} does not exist or is not executable",
                               hint=f"install it: {install_hint}" if install_hint else None)
        raise BackendError(f"{name} CLI not found: {program!r} is not on PATH",
                           hint=f"install it: {install_hint}" if install_hint else None)
    return found


def run_interactive(invocation: Invocation, *, name: str, install_hint: str) -> int:
    """Hand the terminal to the vendor (inherited stdio) and return its exit code."""
    if not os.path.isdir(invocation.cwd):
        raise BackendError(f"working directory does not exist: {invocation.cwd}")
    env = dict(os.environ)
    env.update(invocation.env)
    try:
        # Same process group as clinvk: the vendor must be in the terminal's foreground.
        proc = subprocess.Popen(invocation.argv, cwd=invocation.cwd, env=env)
    except FileNotFoundError:
        raise BackendError(
            f"{name} CLI not found: {invocation.argv[0]!r} is not on PATH",
            hint=f"install it: {install_hint}" if install_hint else None,
        ) from None
    except OSError as exc:
        raise BackendError(f"cannot run {invocation.argv[0]!r}: {exc.strerror or exc}") from None
    # Ctrl-C belongs to the vendor now (the terminal sends it to both of us); clinvk
    # ignores it like a shell does for its foreground job. Set after the spawn: an
    # ignored disposition would be inherited across exec.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover - only without the handler
                continue
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class Captured(msgspec.Struct):
    exit_code: int | None  # None: timed out (and killed)
    stdout: str
    stderr: str


def capture(argv: list[str], *, timeout: float = 10.0, env: dict[str, str] | None = None) -> Captured:
    """Run a short command (e.g. ``--version``) to completion; raise OSError if it cannot start.

    ``env`` is added to the inherited environment.
    """
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, env=full_env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Captured(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    return Captured(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
