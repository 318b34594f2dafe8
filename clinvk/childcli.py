"""clinvk commands run as child processes, for the servers (`clinvk mcp`, `clinvk serve`).

Every answer a server gives is what a clinvk command prints with `--json` (or `-o json`,
`-o stream-json`), so the servers hold no second copy of any command's logic: an error
is the command's own message, hint and exit code (`CommandFailed`). The child gets the
environment the CLI would have, minus the server's own token. `clinvk` and
`clinvk_lines` need anyio (a dependency of the `mcp` SDK, the `clinvk[server]` extra);
the rest (used by the terminal browser too) is stdlib.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

EXIT_MEANINGS = {1: "error", 4: "session error", 124: "timed out", 130: "interrupted"}
# Never handed to a child: the bearer token of `clinvk serve`.
SECRET_ENV = ("CLINVK_SERVER_TOKEN",)
_STDERR_KEEP = 64 * 1024


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


def _argv(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "clinvk", *args]


def _check_cwd(cwd: str | None) -> None:
    if cwd is not None and not os.path.isdir(cwd):
        raise CommandFailed(1, f"clinvk: error: no such directory: {cwd}")


async def clinvk(*args: str, cwd: str | None = None, input: str | None = None) -> str:
    """Run `clinvk ARGS` (input on its stdin) and return its stdout; CommandFailed when it
    exits non-zero."""
    import anyio

    _check_cwd(cwd)
    result = await anyio.run_process(
        _argv(args), cwd=cwd, check=False, env=child_env(),
        input=None if input is None else input.encode("utf-8"),
        stdin=None if input is not None else subprocess.DEVNULL)
    if result.returncode != 0:
        raise CommandFailed(result.returncode, result.stderr.decode("utf-8", "replace"))
    return result.stdout.decode("utf-8", "replace")


async def clinvk_lines(*args: str, on_line: Callable[[str], Awaitable[None]],
                       cwd: str | None = None, input: str | None = None) -> None:
    """Run `clinvk ARGS` and hand each stdout line to on_line as it comes;
    CommandFailed when it exits non-zero."""
    import anyio

    _check_cwd(cwd)
    stderr = bytearray()
    async with await anyio.open_process(
            _argv(args), cwd=cwd, env=child_env(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin, stdout, errout = proc.stdin, proc.stdout, proc.stderr

        async def feed() -> None:
            async with stdin:
                if input is not None:
                    await stdin.send(input.encode("utf-8"))

        async def drain() -> None:
            async for chunk in errout:
                if len(stderr) < _STDERR_KEEP:
                    stderr.extend(chunk)

        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            tg.start_soon(drain)
            pending = b""
            async for chunk in stdout:
                pending += chunk
                *whole, pending = pending.split(b"\n")
                for line in whole:
                    if line.strip():
                        await on_line(line.decode("utf-8", "replace"))
            if pending.strip():
                await on_line(pending.decode("utf-8", "replace"))
        code = await proc.wait()
    if code != 0:
        raise CommandFailed(code, stderr.decode("utf-8", "replace"))


def opt(flag: str, value: object) -> list[str]:
    """`[flag, value]`, `[flag]` for True, nothing for None or False."""
    if value is None or value is False:
        return []
    return [flag] if value is True else [flag, str(value)]


def tags(values: list[str] | None) -> list[str]:
    return [arg for tag in values or [] for arg in ("--tag", tag)]
