"""clinvk commands run as child processes: the servers' (`clinvk mcp`, `clinvk serve`)
answers and the terminal browser's actions.

Every answer is what a clinvk command prints with `--json` (or `-o json`, `-o
stream-json`), so neither the servers nor the browser hold a second copy of any
command's logic: an error is the command's own message, hint and exit code
(`CommandFailed`). The child gets the environment the CLI would have, minus the server's
own token. Stdlib asyncio only, so that every extra can use it (the MCP SDK's anyio runs
on asyncio).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable

EXIT_MEANINGS = {1: "error", 4: "session error", 124: "timed out", 130: "interrupted"}
# Never handed to a child: the bearer token of `clinvk serve`.
SECRET_ENV = ("CLINVK_SERVER_TOKEN",)
_STDERR_KEEP = 64 * 1024
# How long a child that is called off gets to stop after SIGINT (a turn records itself
# interrupted) before it is killed.
STOP_GRACE = 10.0


class CommandFailed(Exception):
    """A clinvk command exited non-zero: its message, hint and exit code."""

    def __init__(self, code: int, stderr: str) -> None:
        lines = [line for line in stderr.splitlines() if line.strip()]
        said = [line for line in lines if line.startswith(("clinvk: error:", "hint:"))]
        text = "\n".join(said or lines[-3:]) or "clinvk failed"
        self.meaning = EXIT_MEANINGS.get(code, "error")
        super().__init__(f"{text}\n(exit code {code}: {self.meaning})")
        self.code = code
        errors = [line.removeprefix("clinvk: error:").strip() for line in said
                  if line.startswith("clinvk: error:")]
        self.message = errors[0] if errors else (lines[-1] if lines else "clinvk failed")
        hints = [line.removeprefix("hint:").strip() for line in said if line.startswith("hint:")]
        self.hint = hints[0] if hints else None


def child_env() -> dict[str, str]:
    """The environment of a child clinvk: the server's, without its secrets, no colour."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["NO_COLOR"] = "1"
    return env


async def clinvk(*args: str, cwd: str | None = None, input: str | None = None,
                 on_line: Callable[[str], Awaitable[None]] | None = None,
                 own_session: bool = False) -> str:
    """Run `clinvk ARGS` (``input`` on its stdin) and return its stdout, handing each
    non-blank line to ``on_line`` as it comes; CommandFailed when it exits non-zero.

    Called off (cancelled), it stops the child as Ctrl-C would and waits for it. If
    ``on_line`` fails (a client gone), the child is not stopped: the rest of its output
    is read but handed on no more, and once it has exited (a turn runs to its end and
    records itself) that failure is raised.
    ``own_session``: the child in a session of its own, out of reach of the terminal's
    Ctrl-C (the browser stops its children itself).
    """
    if cwd is not None and not os.path.isdir(cwd):
        raise CommandFailed(1, f"clinvk: error: no such directory: {cwd}")
    for text in (*args, input or "", cwd or ""):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (JSON's "\ud800"): no argv, stdin or session can carry it.
            raise CommandFailed(1, "clinvk: error: the request holds text that is not "
                                   "valid Unicode (a lone surrogate)") from None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clinvk", *args, cwd=cwd, env=child_env(),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=own_session)
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    out: list[str] = []
    errors = bytearray()
    failed: list[Exception] = []

    async def feed() -> None:
        if input is None or proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(input.encode("utf-8"))
            await proc.stdin.drain()
        proc.stdin.close()

    async def drain() -> None:
        while chunk := await stderr.read(65536):
            if len(errors) < _STDERR_KEEP:
                errors.extend(chunk)

    async def lines() -> None:
        while raw := await stdout.readline():
            line = raw.decode("utf-8", "replace")
            out.append(line)
            if on_line is not None and not failed and line.strip():
                try:
                    await on_line(line.rstrip("\n"))
                except Exception as exc:  # noqa: BLE001 - raised once the child is done
                    failed.append(exc)

    try:
        await asyncio.gather(feed(), drain(), lines())
        code = await proc.wait()
    except asyncio.CancelledError:
        await _stop(proc)
        raise
    if failed:
        raise failed[0]
    if code != 0:
        raise CommandFailed(code, errors.decode("utf-8", "replace"))
    return "".join(out)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def opt(flag: str, value: object) -> list[str]:
    """`[flag=value]`, `[flag]` for True, nothing for None or False. One word, so that a
    value beginning with `-` (a search for "--force", a title "--help") is never read as
    an option of its own."""
    if value is None or value is False:
        return []
    return [flag] if value is True else [f"{flag}={value}"]


def tags(values: list[str] | None) -> list[str]:
    return [arg for tag in values or [] for arg in opt("--tag", tag)]
