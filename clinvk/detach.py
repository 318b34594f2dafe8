"""Background turns (`prompt --detach`, `resume --detach`): the turn runs in a detached
clinvk process of its own, recorded in the store as usual, while the command that
started it prints the session id and returns at once.

The detached process is the same command without --detach, in a new session (no
terminal signal reaches it), with stdout on /dev/null. It tells the starting process
the session id through a pipe (CLINVK_DETACH_FD) the moment the session is recorded as
running; an error before that (a bad option, a budget cap, a busy session) is relayed
with its exit code as if the command had run in the foreground.
"""

from __future__ import annotations

import os
import sys

ENV = "CLINVK_DETACH_FD"


def announce(session_id: str) -> None:
    """In the detached process: the session is recorded; tell the starter its id."""
    fd = os.environ.pop(ENV, None)
    if fd is None:
        return
    try:
        os.write(int(fd), f"{session_id}\n".encode())
        os.close(int(fd))
    except (OSError, ValueError):
        pass  # the starter is gone: the turn runs on regardless


def command_args(argv: list[str]) -> list[str]:
    """The command line without --detach (a `--detach` after `--` is prompt text)."""
    end = argv.index("--") if "--" in argv else len(argv)
    return [a for a in argv[:end] if a != "--detach"] + argv[end:]


def start(prompt_text: str | None, *, json_output: bool) -> int:
    """Run this very command again, detached; print the session id once it is recorded.

    ``prompt_text``: the prompt, when it was read from stdin (the detached process gets
    it on its stdin); None when it is on the command line.
    """
    import subprocess
    import tempfile

    from clinvk.app import invoked
    from clinvk.errors import ClinvkError

    read_end, write_end = os.pipe()
    env = dict(os.environ)
    env[ENV] = str(write_end)
    with tempfile.TemporaryFile() as errors:
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "clinvk", *command_args(invoked)],
                stdin=subprocess.PIPE if prompt_text is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=errors, env=env, pass_fds=(write_end,),
                start_new_session=True)
        except OSError as exc:
            os.close(read_end)
            raise ClinvkError(f"cannot start the background turn: {exc.strerror or exc}") from None
        finally:
            os.close(write_end)
        if prompt_text is not None:
            assert child.stdin is not None
            try:
                child.stdin.write(prompt_text.encode("utf-8", "surrogateescape"))
            except OSError:
                pass  # it exited early; its error is relayed below
            finally:
                try:
                    child.stdin.close()
                except OSError:
                    pass
        with os.fdopen(read_end, "rb") as report:
            line = report.readline().decode("ascii", "replace").strip()
        if line:
            from clinvk.output import out, print_json

            if json_output:
                print_json({"id": line, "status": "running"})
            else:
                out(line)
            return 0
        # It ended before recording a session: its error is the command's.
        code = child.wait()
        errors.seek(0)
        sys.stderr.write(errors.read().decode("utf-8", "replace"))
        sys.stderr.flush()
        return code if code != 0 else 1
