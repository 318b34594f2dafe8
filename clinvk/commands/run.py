"""`clinvk prompt` and `clinvk resume`: start a turn, continue one.

These functions only decide *what* to run (which session, backend, workdir, options);
clinvk.commands.checks checks what the user gave, clinvk.turn runs the turn and records
it, clinvk.runner owns the process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Literal

from cyclopts import Parameter

from clinvk import completion
from clinvk.commands.checks import (
    check_not_an_option,
    check_resumable,
    check_tags,
    check_text,
    check_timeout,
    check_title,
    check_workdir,
    latest_resumable,
    pick_timeout,
    read_prompt,
)
from clinvk.commands.params import BackendName, NewTags
from clinvk.errors import BackendError, SessionError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from clinvk.backends import Backend, Request
    from clinvk.config import Config
    from clinvk.model import Session
    from clinvk.runner import StopSignals
    from clinvk.store import SessionStore
    from clinvk.turn import TurnPlan

__all__ = ["prompt", "resume"]

OutputFormat = Literal["text", "json", "stream-json"]
Approval = Literal["default", "auto-edit", "full-auto", "plan", "read-only"]


# --------------------------------------------------------------------------- sessions
def open_store() -> SessionStore:
    from clinvk.store import SessionStore

    return SessionStore()


def footer(store: SessionStore) -> Callable[[Session], None]:
    def show(session: Session) -> None:
        from clinvk.output import err

        if session.backend_session_id:
            err(f"session {session.id} ({session.backend}) · resume: "
                f"clinvk resume {store.short_ids([session.id])[session.id]} \"…\"")
        else:
            err(f"session {session.id} ({session.backend}) · not resumable: "
                f"{session.backend} never reported a conversation id")

    return show


# --------------------------------------------------------------------------- planning
def make_plan(*, name: str, config: Config, request: Request, fmt: OutputFormat,
              timeout: float | None, ephemeral: bool = False, quiet: bool = False,
              ignore_budget: bool = False) -> TurnPlan:
    from clinvk.backends import get_backend
    from clinvk.backends.argv import check_owned
    from clinvk.turn import TurnPlan

    backend_config = config.backend(name)
    backend: Backend = get_backend(name, backend_config)
    check_owned(request.extra_args, backend.owned_flags, name)
    if request.model is None and backend_config.model:
        # The configured model is the requested one: recorded and priced as such.
        request.model = backend_config.model
    invocation = backend.invocation(request, backend_config)
    return TurnPlan(backend=backend, backend_config=backend_config, request=request,
                    invocation=invocation, fmt=fmt, timeout=timeout, pricing=config.pricing,
                    ephemeral=ephemeral, quiet=quiet,
                    budget=None if ignore_budget else config.budget,
                    team_push=config.team.auto_push and not ephemeral)


def print_dry_run(plan: TurnPlan) -> int:
    import shlex

    from clinvk.output import out, print_json

    inv = plan.invocation
    names = sorted(inv.env)
    if plan.fmt != "text":
        print_json({"argv": inv.argv, "cwd": inv.cwd, "env": names,
                    "stdin_bytes": len(inv.stdin) if inv.stdin is not None else None,
                    "timeout": plan.timeout})
        return 0
    out(f"argv:    {shlex.join(inv.argv)}")
    out(f"cwd:     {inv.cwd}")
    # Names only: values are often API keys.
    out(f"env:     {' '.join(names) if names else '(none added)'}")
    out("stdin:   " + (f"the prompt ({len(inv.stdin)} bytes)" if inv.stdin is not None else "/dev/null"))
    out(f"timeout: {f'{plan.timeout:g}s' if plan.timeout else 'none'}")
    return 0


def _announce(session_id: str) -> None:
    """A detached turn (--detach) tells the command that started it its session id."""
    if "CLINVK_DETACH_FD" in os.environ:
        from clinvk.detach import announce

        announce(session_id)


def _within_budget(plan: TurnPlan, store: SessionStore | None, session: Session | None) -> None:
    if plan.budget is not None:
        from clinvk.budget import enforce

        enforce(plan.budget, store, session)


def _ready(plan: TurnPlan) -> None:
    from clinvk.programs import check_executable

    check_executable(plan.invocation, name=plan.backend.name, install_hint=plan.backend.install_hint)


def run_new(store: SessionStore | None, text: str, plan: TurnPlan, *, name: str,
            title: str | None, tags: list[str], signals: StopSignals | None = None) -> int:
    """Record a new session and run its first turn. ``signals``: the StopSignals of a
    turn run on a worker thread (its command forwards Ctrl-C to it); else a new one."""
    from clinvk.liveness import process_start_time
    from clinvk.model import Session, make_title, utcnow
    from clinvk.runner import StopSignals
    from clinvk.turn import execute, new_turn

    _ready(plan)
    _within_budget(plan, store, None)
    now = utcnow()
    pid = os.getpid()
    model = plan.request.model or plan.backend_config.model or None
    session = Session(id="", backend=name, workdir=plan.request.workdir, created_at=now,
                      last_used_at=now, title=title or make_title(text), tags=tags, model=model,
                      status="running", pid=pid, pid_start=process_start_time(pid))
    turn = new_turn(session, text, model)
    with signals or StopSignals() as stop:
        if store is None:
            return execute(None, session, turn, plan, stop)
        if plan.fmt == "text" and not plan.quiet:
            plan.footer = footer(store)
        store.create(session)
        with store.lock(session.id):
            _announce(session.id)
            return execute(store, session, turn, plan, stop)


def settle_dead_runner(store: SessionStore, session: Session) -> None:
    """A turn left `running` by a clinvk that died: stop its vendor (never two vendors
    on one conversation) and record the turn as interrupted. The caller holds the lock."""
    from clinvk.recovery import settle_dead_turn

    if settle_dead_turn(session):
        store.save(session)


def run_existing(store: SessionStore, ident: str, text: str, *, wait: float,
                 build: Callable[[Session], TurnPlan], waitable: bool = True,
                 signals: StopSignals | None = None) -> int:
    """Resume session ``ident``: lock it for the whole turn, check it, run, save.

    ``waitable``: whether the command takes --wait (the busy hint offers it only then).
    """
    from clinvk.errors import NotFoundError
    from clinvk.liveness import process_start_time
    from clinvk.runner import StopSignals
    from clinvk.turn import execute, new_turn

    with store.lock(ident, wait=wait, waitable=waitable):
        try:
            session = store.read(ident)
        except NotFoundError as exc:
            raise SessionError(exc.message, hint=exc.hint) from None
        settle_dead_runner(store, session)
        check_resumable(session)
        plan = build(session)
        _ready(plan)
        _within_budget(plan, store, session)
        if plan.fmt == "text" and not plan.quiet:
            plan.footer = footer(store)
        with signals or StopSignals() as stop:
            pid = os.getpid()
            session.status, session.reason = "running", None
            session.pid, session.pid_start, session.pgid = pid, process_start_time(pid), None
            turn = new_turn(session, text, plan.request.model or plan.backend_config.model
                            or session.model)
            store.save(session)
            _announce(session.id)
            return execute(store, session, turn, plan, stop)


def resume_request(session: Session, text: str, *, model: str | None, backend_args: list[str],
                   config: Config) -> Request:
    from clinvk.backends import Request

    previous = next((t.usage_total for t in reversed(session.turns) if t.usage_total is not None),
                    None)
    return Request(prompt=text, workdir=session.workdir, model=model,
                   resume_id=session.backend_session_id,
                   extra_args=[*config.backend(session.backend).args, *backend_args],
                   previous_usage_total=previous)


# --------------------------------------------------------------------------- commands
def prompt(
    prompt: Annotated[str | None, Parameter(name="PROMPT", allow_leading_hyphen=True)] = None,
    /,
    *,
    backend: BackendName = None,
    model: Annotated[str | None, Parameter(name=["--model", "-m"])] = None,
    workdir: Annotated[str | None, Parameter(name=["--workdir", "-w"])] = None,
    output_format: Annotated[OutputFormat | None, Parameter(name=["--output-format", "-o"])] = None,
    continue_: Annotated[bool, Parameter(name=["--continue", "-c"], negative="")] = False,
    ephemeral: Annotated[bool, Parameter(negative="")] = False,
    dry_run: Annotated[bool, Parameter(negative="")] = False,
    timeout: float | None = None,
    tag: NewTags = None,
    title: str | None = None,
    backend_arg: Annotated[list[str] | None,
                           Parameter(name="--backend-arg", allow_leading_hyphen=True)] = None,
    system_prompt: str | None = None,
    approval: Approval | None = None,
    quiet: Annotated[bool, Parameter(negative="")] = False,
    ignore_budget: Annotated[bool, Parameter(negative="")] = False,
    detach: Annotated[bool, Parameter(negative="")] = False,
    after_options: Annotated[tuple[str, ...], Parameter(parse=False)] = (),
) -> int:
    """Send a prompt to a coding-agent CLI and record the conversation as a new session.

    The answer streams to stdout; a line on stderr names the session and how to resume
    it. `clinvk "PROMPT"` is the same as `clinvk prompt "PROMPT"`.

    Example: clinvk prompt -b codex -w ~/src/app "add a --verbose flag"

    Parameters
    ----------
    prompt
        The prompt; `-` (or no PROMPT with stdin piped) reads it from stdin. Put `--`
        before a prompt that starts with `-`.
    backend
        claude, codex, gemini or a backend from the config (default: defaults.backend).
    model
        The model to ask the vendor for (default: backends.NAME.model, else the vendor's).
    workdir
        Directory the agent works in (default: the current directory).
    output_format
        text (the answer, streamed), json (one object at the end) or stream-json
        (one event per line); default: defaults.output_format.
    continue_
        Continue the latest resumable session of this workdir and backend instead of
        starting a new one.
    ephemeral
        Store nothing: no session is recorded.
    dry_run
        Print the vendor command (argv, cwd, names of env vars set) and run nothing.
    timeout
        Seconds before the vendor's process group is killed (exit 124); 0 means none.
        Default: backends.NAME.timeout, else defaults.timeout.
    tag
        Tag the new session (repeatable).
    title
        Title of the new session (default: the prompt's first line).
    backend_arg
        An extra argument for the vendor CLI (repeatable), e.g. --backend-arg=--verbose.
    system_prompt
        Extra system instructions, where the vendor supports them.
    approval
        What the agent may do unasked: default, auto-edit, full-auto, plan, read-only.
    quiet
        Text mode: no tool-call lines and no session line on stderr (errors still show).
    ignore_budget
        Run even when a [budget] cap is reached (this command only).
    detach
        Run the turn in the background: print the session id at once (`clinvk wait ID`
        collects it).
    """
    from clinvk.backends import Request
    from clinvk.config import load

    check_not_an_option(prompt, after_options)
    text = read_prompt(prompt)
    if not ephemeral:
        check_text(text, "the prompt")
    check_timeout(timeout)
    config = load().config
    name = backend or config.defaults.backend
    fmt: OutputFormat = output_format or config.defaults.output_format
    where = check_workdir(workdir)
    tags = check_tags(tag)
    if ephemeral and continue_:
        raise UsageError("--ephemeral cannot be combined with --continue",
                         hint="--continue adds a turn to a stored session")
    clean_title = check_title(title) if title is not None else None
    limit = pick_timeout(timeout, config.backend(name), config)
    if detach:
        return _detach(prompt, text, fmt, ephemeral=ephemeral, dry_run=dry_run)
    if continue_:
        if tags or title or system_prompt or approval:
            raise UsageError("--tag, --title, --system-prompt and --approval apply to a new "
                             "session only; drop them with --continue")
        store = open_store()
        found = latest_resumable(store, workdir=where, backend=name)
        if found is None:
            raise SessionError(f"no {name} session to continue in {where}",
                               hint='start one with `clinvk prompt "…"` (without -c)')

        def build(session: Session) -> TurnPlan:
            request = resume_request(session, text, model=model, backend_args=backend_arg or [],
                                     config=config)
            return make_plan(name=session.backend, config=config, request=request, fmt=fmt,
                             timeout=limit, quiet=quiet, ignore_budget=ignore_budget)

        if dry_run:
            return print_dry_run(build(store.read(found)))
        return run_existing(store, found, text, wait=0, build=build, waitable=False)

    request = Request(prompt=text, workdir=where, model=model, system_prompt=system_prompt,
                      approval=approval,
                      extra_args=[*config.backend(name).args, *(backend_arg or [])])
    plan = make_plan(name=name, config=config, request=request, fmt=fmt, timeout=limit,
                     ephemeral=ephemeral, quiet=quiet, ignore_budget=ignore_budget)
    if dry_run:
        return print_dry_run(plan)
    return run_new(None if ephemeral else open_store(), text, plan, name=name,
                   title=clean_title, tags=tags)


def resume(
    ident: Annotated[str | None,
                     Parameter(name="ID", completer=completion.session_ids)] = None,
    prompt: Annotated[str | None, Parameter(name="PROMPT", allow_leading_hyphen=True)] = None,
    /,
    *,
    last: Annotated[bool, Parameter(negative="")] = False,
    here: Annotated[bool, Parameter(negative="")] = False,
    interactive: Annotated[bool, Parameter(name=["--interactive", "-i"], negative="")] = False,
    model: Annotated[str | None, Parameter(name=["--model", "-m"])] = None,
    output_format: Annotated[OutputFormat | None, Parameter(name=["--output-format", "-o"])] = None,
    timeout: float | None = None,
    backend_arg: Annotated[list[str] | None,
                           Parameter(name="--backend-arg", allow_leading_hyphen=True)] = None,
    wait: float = 0,
    dry_run: Annotated[bool, Parameter(negative="")] = False,
    quiet: Annotated[bool, Parameter(negative="")] = False,
    ignore_budget: Annotated[bool, Parameter(negative="")] = False,
    detach: Annotated[bool, Parameter(negative="")] = False,
    after_options: Annotated[tuple[str, ...], Parameter(parse=False)] = (),
) -> int:
    """Continue a recorded session with a new prompt.

    Runs the session's own backend in the session's own working directory, whatever
    the current directory and config say. A session another clinvk is using is busy
    (exit 4) unless --wait is given.

    Example: clinvk resume 3fk2a9 "now add tests"

    Parameters
    ----------
    ident
        The session id or a unique prefix (omit with --last or --here).
    prompt
        The prompt; `-` (or none, with stdin piped) reads it from stdin.
    last
        Resume the most recently used resumable session (paused ones are skipped).
    here
        Resume the most recently used resumable session of the current directory.
    interactive
        Hand the terminal to the vendor's own interactive resume instead.
    model
        The model to ask for (default: backends.NAME.model, else the vendor's).
    output_format
        text, json or stream-json (default: defaults.output_format).
    timeout
        Seconds before the vendor's process group is killed (exit 124); 0 means none.
    backend_arg
        An extra argument for the vendor CLI (repeatable).
    wait
        Wait up to this many seconds for a busy session instead of failing at once.
    dry_run
        Print the vendor command and run nothing.
    quiet
        Text mode: no tool-call lines and no session line on stderr (errors still show).
    ignore_budget
        Run even when a [budget] cap is reached (this command only).
    detach
        Run the turn in the background: print the session id at once (`clinvk wait ID`
        collects it).
    """
    from clinvk.config import load

    if last and here:
        raise UsageError("--last and --here cannot be combined")
    if last or here:
        if prompt is not None:
            raise UsageError(f"with --{'last' if last else 'here'}, give only the prompt (no ID)")
        ident, prompt = None, ident
    elif ident is None:
        raise UsageError("no session id given",
                         hint='clinvk resume ID "PROMPT", or --last / --here for the latest')
    from clinvk.timespec import check_wait

    check_wait(wait)
    check_timeout(timeout)
    store = open_store()
    if ident is not None:
        full = store.resolve(ident, not_found_exit=4)
    else:
        found = latest_resumable(store, workdir=os.path.realpath(os.getcwd()) if here else None)
        if found is None:
            raise SessionError("no resumable session" + (" in this directory" if here else ""),
                               hint='start one with `clinvk "PROMPT"`')
        full = found
    config = load().config
    if interactive and detach:
        raise UsageError("--detach cannot be combined with --interactive")
    if interactive:
        return _resume_interactive(store, full, prompt, model=model,
                                   backend_args=backend_arg or [], config=config, wait=wait,
                                   dry_run=dry_run)
    check_not_an_option(prompt, after_options)
    text = check_text(read_prompt(prompt), "the prompt")
    fmt: OutputFormat = output_format or config.defaults.output_format
    if detach:
        return _detach(prompt, text, fmt, ephemeral=False, dry_run=dry_run)

    def build(session: Session) -> TurnPlan:
        request = resume_request(session, text, model=model, backend_args=backend_arg or [],
                                 config=config)
        limit = pick_timeout(timeout, config.backend(session.backend), config)
        return make_plan(name=session.backend, config=config, request=request, fmt=fmt,
                         timeout=limit, quiet=quiet, ignore_budget=ignore_budget)

    if dry_run:
        session = store.read(full)
        check_resumable(session)
        return print_dry_run(build(session))
    return run_existing(store, full, text, wait=wait, build=build)


def _detach(prompt: str | None, text: str, fmt: OutputFormat, *, ephemeral: bool,
            dry_run: bool) -> int:
    if ephemeral or dry_run:
        raise UsageError("--detach cannot be combined with "
                         + ("--ephemeral" if ephemeral else "--dry-run"),
                         hint="a background turn is found again through its stored session")
    from clinvk.detach import start

    return start(text if prompt in (None, "-") else None, json_output=fmt != "text")


def _resume_interactive(store: SessionStore, ident: str, prompt: str | None, *,
                        model: str | None, backend_args: list[str], config: Config,
                        wait: float, dry_run: bool) -> int:
    from clinvk.backends import get_backend
    from clinvk.model import utcnow
    from clinvk.programs import check_executable, run_interactive

    with store.lock(ident, wait=wait, waitable=True):
        session = store.read(ident)
        settle_dead_runner(store, session)
        check_resumable(session)
        request = resume_request(session, prompt or "", model=model, backend_args=backend_args,
                                 config=config)
        request.interactive = True
        backend_config = config.backend(session.backend)
        backend = get_backend(session.backend, backend_config)
        invocation = backend.interactive_invocation(request, backend_config)
        if dry_run:
            import shlex

            from clinvk.output import out

            out(f"argv:    {shlex.join(invocation.argv)}")
            out(f"cwd:     {invocation.cwd}")
            out(f"env:     {' '.join(sorted(invocation.env)) or '(none added)'}")
            out("stdin:   the terminal")
            return 0
        check_executable(invocation, name=session.backend, install_hint=backend.install_hint)
        code = run_interactive(invocation, name=session.backend, install_hint=backend.install_hint)
        # What happened inside is the vendor's record; clinvk notes only that it was used:
        # left normally or by Ctrl-C. A vendor that failed (no terminal, an unknown
        # conversation, a bad flag) was not a use: the session stays as it was.
        if code in (0, 130, -2) and store.exists(ident):
            session.last_used_at = utcnow()
            if session.status in ("completed", "error"):
                session.status, session.reason = "active", None
            store.save(session)
        # Keep the documented contract whatever the vendor's own codes are.
        if code == 0:
            return 0
        if code in (130, -2):
            return 130
        raise BackendError(f"{session.backend} exited with code {code}")
