"""What the turn commands check before anything runs: the prompt, the options, and
whether a session can be resumed.

The rules for what a session record may hold (UTF-8 text, titles, tags, working
directories) are shared with the commands that edit or import records, so a record
is held to the same rules however it arrives.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from clinvk.errors import ClinvkError, SessionError, UsageError

if TYPE_CHECKING:
    from clinvk.config import BackendConfig, Config
    from clinvk.model import Session
    from clinvk.store import SessionStore


# --------------------------------------------------------------------------- inputs
def read_prompt(value: str | None) -> str:
    """The prompt from the argument, or from stdin for `-` or when stdin is piped."""
    if value is None or value == "-":
        stdin = sys.stdin
        interactive = True
        try:
            interactive = stdin is None or stdin.isatty()
        except (ValueError, OSError):
            pass
        if value is None and interactive:
            raise UsageError("no prompt given",
                             hint='clinvk prompt "PROMPT", or pipe it in: echo "PROMPT" | clinvk prompt')
        try:
            buffer = getattr(stdin, "buffer", None)
            # Bytes that are not UTF-8 survive the trip to the vendor's stdin unchanged.
            text = (buffer.read().decode("utf-8", "surrogateescape") if buffer is not None
                    else stdin.read())
        except (OSError, ValueError, AttributeError):
            raise UsageError("cannot read the prompt from stdin") from None
    else:
        text = value
    if not text.strip():
        raise UsageError("the prompt is empty")
    return text


def check_not_an_option(text: str | None, after_options: tuple[str, ...]) -> None:
    """A prompt that looks like a flag must come after `--`, so a typo is not sent as a prompt.

    ``after_options`` are the tokens the user put after `--` (clinvk.app passes them).
    """
    if text is None or text == "-" or not text.startswith("-") or text in after_options:
        return
    raise UsageError(f"unknown option: {text.split()[0]}",
                     hint=f'to send it as the prompt, put -- before it: clinvk prompt -- "{text[:40]}"')


def check_text(value: str, what: str,
               hint: str = "re-encode it as UTF-8; a session records it as text") -> str:
    """Text that goes into the session record must be valid Unicode (JSON cannot hold
    the raw bytes of a non-UTF-8 argument)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text", hint=hint) from None
    return value


def check_title(title: str) -> str:
    """A session title as the record keeps it: UTF-8, whitespace runs collapsed to one
    space, not empty, and within model.title_problem's rules (its length)."""
    from clinvk.model import title_problem

    clean = " ".join(check_text(title, "the title").split())
    if not clean:
        raise UsageError("the title is empty")
    problem = title_problem(clean)
    if problem:
        raise UsageError(problem)
    return clean


def check_workdir(path: str | None) -> str:
    """An existing directory, absolute and with symlinks resolved (how sessions store it)."""
    try:
        resolved = os.path.realpath(os.path.expanduser(path) if path else os.getcwd())
    except OSError as exc:
        raise UsageError(f"cannot use the current directory: {exc.strerror or exc}") from None
    if not os.path.isdir(resolved):
        raise UsageError(f"working directory does not exist: {resolved}")
    return check_text(resolved, f"the working directory {resolved!r}",
                      hint="give the directory a UTF-8 name; a session records it as text")


def check_timeout(flag: float | None) -> float | None:
    """--timeout in seconds: a finite number ≥ 0 (0 means no limit), as the config demands."""
    import math

    if flag is not None and not (math.isfinite(flag) and flag >= 0):
        raise UsageError(f"--timeout {flag:g} is not valid: expected a number of seconds ≥ 0 "
                         "(0 means no limit)")
    return flag


def pick_timeout(flag: float | None, backend: BackendConfig, config: Config) -> float | None:
    """--timeout > backends.NAME.timeout > defaults.timeout; 0 means no limit."""
    if flag is not None:
        return check_timeout(flag) or None
    return backend.timeout or config.defaults.timeout or None


def workdir_problem(path: str) -> str | None:
    """Why a recorded working directory cannot be trusted to run a vendor in, or None:
    sessions record an absolute, normalized path (see check_workdir)."""
    if "\0" in path or not os.path.isabs(path):
        return "not an absolute path"
    if os.path.normpath(path) != path and not path.startswith("//"):
        return "not a normalized path (it holds . or .. parts)"
    return None


def check_tags(tags: list[str] | None) -> list[str]:
    from clinvk.model import TAG_PATTERN, TAG_RULE

    result: list[str] = []
    for tag in tags or []:
        if not TAG_PATTERN.fullmatch(tag):
            raise UsageError(f"invalid tag: {tag[:80]!r}", hint=TAG_RULE)
        if tag not in result:
            result.append(tag)
    return result


# --------------------------------------------------------------------------- sessions
def latest_resumable(store: SessionStore, *, workdir: str | None = None,
                     backend: str | None = None) -> str | None:
    """The most recently used session that can be resumed: not paused, not running,
    with a vendor conversation id; optionally of one workdir and backend."""
    from clinvk.catalog import Catalog, Filter
    from clinvk.liveness import effective_status

    catalog = Catalog.open(store)
    for row in catalog.rows(Filter(workdir=workdir, backend=backend)).rows:
        if row.status in ("paused", "running"):
            continue
        try:
            session = store.read(row.id)
        except ClinvkError:
            continue  # a vanished or corrupt file is just not a candidate
        if session.status in ("paused",) or not session.backend_session_id:
            continue
        if effective_status(session.status, session.pid, session.pid_start) == "running":
            continue
        return session.id
    return None


def check_resumable(session: Session) -> None:
    from clinvk.liveness import effective_status

    if effective_status(session.status, session.pid, session.pid_start) == "running":
        # We hold the lock, so this is a runner that lost it; never run two at once.
        from clinvk.errors import SessionBusyError

        raise SessionBusyError(f"session busy: {session.id} is running (pid {session.pid})",
                               hint=f"`clinvk cancel {session.id}` stops it")
    if not session.backend_session_id:
        raise SessionError(
            f"session {session.id} cannot be resumed: {session.backend} never reported a "
            "conversation id for it (its first turn failed before the conversation started)",
            hint='start a new session: clinvk prompt "…"')
    problem = workdir_problem(session.workdir)
    if problem:
        raise SessionError(
            f"session {session.id} cannot be resumed: its working directory "
            f"{session.workdir[:80]!r} is {problem}",
            hint="the record was altered or imported from an untrusted file; "
            "start a new session with `clinvk prompt`")
    if not os.path.isdir(session.workdir):
        raise SessionError(
            f"session {session.id} cannot be resumed: its working directory is gone: {session.workdir}",
            hint="recreate that directory to resume: the agent works in the session's own "
                 "directory")
