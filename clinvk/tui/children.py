"""The browser's actions, each a child `clinvk` process: the CLI's own code, checks,
messages and exit codes, never a second copy of them (as clinvk.childcli does for the
servers, with asyncio instead of anyio, which the tui extra does not bring).

A failure is clinvk.childcli.CommandFailed: the child's own `clinvk: error:` line, its
hint and its exit code, which the browser shows as a notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Awaitable, Callable

from clinvk.childcli import _STDERR_KEEP, CommandFailed, _argv, child_env

# How long a child gets to stop after SIGINT (a turn records itself interrupted).
STOP_GRACE = 10.0


async def run(*args: str, input: str | None = None,
              on_line: Callable[[str], Awaitable[None]] | None = None) -> str:
    """Run `clinvk ARGS` (``input`` on its stdin); hand each stdout line to ``on_line``
    as it comes. Returns all of stdout; CommandFailed when the child exits non-zero.
    Cancelled, it stops the child the way Ctrl-C would and waits for it."""
    proc = await asyncio.create_subprocess_exec(
        *_argv(args), env=child_env(), stdin=subprocess.PIPE if input is not None
        else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    out: list[str] = []
    errors = bytearray()

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
            if on_line is not None and line.strip():
                await on_line(line.rstrip("\n"))

    try:
        await asyncio.gather(feed(), drain(), lines())
        code = await proc.wait()
    except asyncio.CancelledError:
        await _stop(proc)
        raise
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
