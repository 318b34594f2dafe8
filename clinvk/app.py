"""The clinvk command line: the one place where errors become exit codes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from clinvk import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cyclopts import App

HELP = """Drive coding-agent CLIs (claude, codex, gemini, your own) headlessly and keep every
conversation as a session you can list, inspect, resume and clean.

Example: clinvk "explain this repository"   (same as: clinvk prompt "...")

Then: clinvk resume --last "now add tests" · clinvk sessions list --json
"""

# Lazily loaded commands: (import path, name, one-line help shown by `clinvk --help`).
COMMAND_SPECS = (
    ("clinvk.commands.run:prompt", "prompt",
     ("Send a prompt to a backend; records a new session.\n\n"
     "Example: clinvk prompt -b codex \"fix the failing test\"")),
    ("clinvk.commands.run:resume", "resume",
     ("Continue a recorded session with another prompt.\n\n"
     "Example: clinvk resume 3fk2a9 \"now add tests\"")),
    ("clinvk.commands.parallel:parallel", "parallel",
     ("Run a file of tasks concurrently, each a session of its own.\n\n"
      "Example: clinvk parallel -f tasks.toml --max-parallel 4 -o json")),
    ("clinvk.commands.compare:compare", "compare",
     ("Send one prompt to several backends at once and compare the answers.\n\n"
      "Example: clinvk compare -b claude,codex,gemini \"review this change\"")),
    ("clinvk.commands.chain:chain", "chain",
     ("Run steps one after another, each seeing the answers before it.\n\n"
      "Example: clinvk chain -f steps.toml -o json")),
    ("clinvk.commands.wait:wait", "wait",
     ("Wait until background turns (--detach) end; exit with the first failure's code.\n\n"
      "Example: clinvk wait 3fk2a9 8bq0zz --timeout 600")),
    ("clinvk.commands.cancel:cancel", "cancel", "Stop a running turn.\n\nExample: clinvk cancel 3fk2a9"),
    ("clinvk.commands.backends:backends", "backends",
     ("Show each backend: installed or not, path, version, default model.\n\n"
     "Example: clinvk backends --json")),
    ("clinvk.commands.sessions:app", "sessions",
     ("List, inspect, clean and account for recorded sessions.\n\n"
     "Example: clinvk sessions list --range 7d")),
    ("clinvk.commands.mcp:mcp", "mcp",
     ("Serve the session store to agents over MCP (stdio); --allow-run adds prompt, resume, "
      "cancel.\n\nExample: clinvk mcp   (register it: claude mcp add clinvk -- clinvk mcp)")),
    ("clinvk.commands.serve:serve", "serve",
     ("Serve the session store as an authenticated HTTP API (and MCP at /mcp); --allow-run "
      "adds prompt, resume, cancel.\n\nExample: clinvk serve --port 8765")),
    ("clinvk.commands.team:app", "team",
     ("Share sessions with a team through PostgreSQL: init, push, list, show, stats.\n\n"
      "Example: clinvk team stats --range 7d --by member")),
    ("clinvk.commands.config:app", "config",
     "Show and edit clinvk's settings.\n\nExample: clinvk config set session.retention_days 14"),
    ("clinvk.commands.completion:completion", "completion",
     ("Print the tab-completion script for bash, zsh or fish.\n\n"
      "Example: clinvk completion bash > ~/.local/share/bash-completion/completions/clinvk")),
    ("clinvk.commands.completion:install", "--install-completion",
     ("Install tab completion for bash, zsh or fish (default: your shell).\n\n"
      "Example: clinvk --install-completion bash")),
)


def build_app() -> App:
    from cyclopts import App, Parameter

    app = App(
        # Flags are plain switches: no generated --no-FLAG twins cluttering --help.
        default_parameter=Parameter(negative=()),
        name="clinvk",
        help=HELP,
        version=__version__,
        result_action="return_value",
        exit_on_error=False,
        print_error=False,
        help_on_error=False,
    )
    for path, name, help_text in COMMAND_SPECS:
        app.command(path, name=name, help=help_text)
    return app


COMMANDS = tuple(name for _path, name, _help in COMMAND_SPECS)
_ROOT_FLAGS = ("--help", "-h", "--version", "-V", "--install-completion")
_HELP_FLAGS = ("--help", "-h")
# The hidden first word the completion scripts call clinvk with (cyclopts' protocol).
COMPLETE = "__complete"
# The words the running main() was given (a background turn runs the same command again).
invoked: list[str] = []


def _route(args: list[str]) -> list[str]:
    """Bare `clinvk "PROMPT" [options]` means `clinvk prompt "PROMPT" [options]`."""
    if not args or args[0] in COMMANDS or args[0] in _ROOT_FLAGS:
        return args
    return ["prompt", *args]


def _command_names(app: App, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path under ``app`` (("sessions", "list"), …), from the app itself."""
    from cyclopts import App as CycloptsApp

    for name in app:
        if name.startswith("-"):
            continue
        path = (*prefix, name)
        yield path
        sub = app[name]
        if isinstance(sub, CycloptsApp) and sub is not app:
            yield from _command_names(sub, path)


# Single words that are commands of other CLIs (the vendors' own, git, package managers)
# or common CLI verbs: typed alone, they are a command the user expected, never a prompt
# worth paying for. Each names what clinvk offers instead (default: the help).
_VERBS: dict[str, str] = {
    "ls": "sessions list", "ll": "sessions list", "ps": "sessions list",
    "rm": "sessions delete", "del": "sessions delete", "remove": "sessions delete",
    "version": "--version", "statusline": "sessions current", "status": "sessions current",
    "whoami": "sessions current", "info": "sessions show", "cat": "sessions show",
    "view": "sessions show", "log": "sessions history", "logs": "sessions history",
    "cost": "sessions stats", "usage": "sessions stats", "find": "sessions list -q",
    "grep": "sessions list -q", "continue": "resume --last", "kill": "cancel",
    "stop": "cancel", "run": "prompt", "exec": "prompt", "ask": "prompt", "chat": "prompt",
    "new": "prompt", "models": "backends", "model": "backends", "login": "backends",
    "logout": "backends", "auth": "backends", "setup": "backends", "completions": "completion",
    "install": "--install-completion", "settings": "config show", "help": "--help",
    "search": "sessions list -q",
}
_HELP_VERBS = (
    "about", "add", "add-dir", "agents", "apply", "approvals", "audit", "branch", "bug",
    "build", "check", "checkout", "ci", "clear", "clone", "close", "commit", "compact",
    "compress", "copy", "create", "debug", "diff", "directory", "docs", "edit", "editor",
    "env", "exit", "extensions", "fetch", "fmt", "format", "hooks", "ide",
    "install-github-app", "lint", "memory", "mention", "merge", "migrate",
    "migrate-installer", "open", "output-style", "permissions", "ping", "plugin", "plugins",
    "pr-comments", "privacy", "privacy-settings", "proto", "publish", "pull", "quit",
    "rebase", "release-notes", "reset", "restart", "restore", "review", "security-review",
    "setup-github", "setup-token", "shell", "start", "stash", "terminal-setup", "test",
    "theme", "tools", "uninstall", "update", "upgrade", "vim",
)


def check_not_a_command(app: App, args: list[str]) -> None:
    """A bare first word that names (or nearly names) a command is not a prompt.

    `clinvk list`, `clinvk sesions` or `clinvk ls` would otherwise be sent to a paid
    model; the user meant a command. Multi-word prompts and other single words pass.
    """
    if not args or args[0] in COMMANDS or args[0] in _ROOT_FLAGS:
        return
    word = args[0]
    if word.startswith("-") or len(word.split()) != 1:
        return
    import difflib

    from clinvk.errors import UsageError

    paths = list(_command_names(app))
    by_name: dict[str, tuple[str, ...]] = {}
    for path in paths:
        by_name.setdefault(path[-1], path)
    lowered = word.lower().removeprefix("/")  # a vendor's slash command too: /status
    hint = f"to send it as a prompt: clinvk prompt {word}"
    if lowered in by_name:
        path = by_name[lowered]
    elif lowered in _VERBS or lowered in _HELP_VERBS:
        meant = "clinvk " + _VERBS.get(lowered, "--help")
        raise UsageError(f"'{word}' is not a clinvk command; did you mean '{meant}'?", hint=hint)
    else:
        close = difflib.get_close_matches(lowered, list(by_name), n=1, cutoff=0.8)
        if not close:
            return
        path = by_name[close[0]]
    full = " ".join(("clinvk", *path))
    where = f"a command of '{' '.join(('clinvk', *path[:-1]))}'" if len(path) > 1 else "a command"
    if path[-1] == lowered:
        message = f"'{word}' is {where}: did you mean '{full}'?"
    else:
        message = f"'{word}' is not a command; did you mean '{full}'?"
    raise UsageError(message, hint=hint)


def _load_for_help(app: App, args: list[str]) -> None:
    """Load the lazily registered commands of the group whose help is shown (asked with
    --help, or the group named alone: `clinvk sessions`), so the command list shows each
    one's summary (it lives in the command's docstring)."""
    from cyclopts import App as CycloptsApp

    group = app
    consumed = 0
    for token in args:
        if token.startswith("-") or token not in group:
            break
        sub = group[token]
        if not isinstance(sub, CycloptsApp):
            break
        group = sub
        consumed += 1
    if not (consumed == len(args) or any(a in _HELP_FLAGS for a in args)):
        return
    for name in list(group):
        if not name.startswith("-"):
            group[name]


def _error(message: str, hint: str | None = None) -> None:
    from clinvk.output import err

    try:
        err(f"clinvk: error: {message}")
        if hint:
            err(f"hint: {hint}")
    except OSError:
        pass  # stderr is gone (a terminal that hung up): the exit code still tells


def _dispatch(app: App, args: list[str]) -> object:
    """Parse, then call the command; a command that declares ``after_options`` (not parsed
    from the command line) receives the tokens the user put after `--`."""
    command, bound, ignored = app.parse_args(args)
    kwargs = dict(bound.kwargs)
    if "after_options" in ignored:
        kwargs["after_options"] = tuple(args[args.index("--") + 1:]) if "--" in args else ()
    try:
        return command(*bound.args, **kwargs)
    finally:
        from clinvk.team.pusher import kick

        kick()  # a team push that is due (docs/team.md, "Auto push"): one stat


def _complete(args: list[str]) -> int:
    """`clinvk __complete WORDS…`, what the completion scripts run when TAB is pressed:
    the argument under the cursor is found (from clinvk.completion.table, else by
    cyclopts) and its completer's values printed. Never an error: whatever fails offers
    nothing."""
    try:
        from clinvk.completion import table

        if not table.respond(args[1:]):
            app = build_app()
            _dispatch(app, args)
            sys.stdout.flush()
            table.remember(app)  # so that the next TAB press needs no cyclopts
        sys.stdout.flush()
    except Exception:  # a TAB press must never print a traceback
        if os.environ.get("CLINVK_DEBUG"):
            raise
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run clinvk with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    invoked[:] = args
    if args in (["--version"], ["-V"]):
        # The most common probe of a CLI; answer it without loading the framework.
        sys.stdout.write(f"{__version__}\n")
        return 0
    if args[:1] == [COMPLETE]:
        return _complete(args)
    from clinvk.errors import ClinvkError

    try:
        from cyclopts import CycloptsError

        try:
            app = build_app()
            if args[:1] == ["help"] and all(a in COMMANDS for a in args[1:2]):
                args = [*args[1:], "--help"]  # `clinvk help [COMMAND]`
            check_not_a_command(app, args)
            routed = _route(args)
            if routed:
                _load_for_help(app, routed)
            result = _dispatch(app, routed)
        except CycloptsError as exc:
            first = str(exc).strip().splitlines()
            _error(first[0] if first else type(exc).__name__,
                   "see `clinvk --help` (or `clinvk COMMAND --help`)")
            return 1
        sys.stdout.flush()
        return result if isinstance(result, int) and not isinstance(result, bool) else 0
    except ClinvkError as exc:
        _error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`clinvk sessions list | head`): not an error of ours.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except Exception as exc:
        if os.environ.get("CLINVK_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc}",
               "this is a bug in clinvk; rerun with CLINVK_DEBUG=1 for a traceback and report it")
        return 1


if __name__ == "__main__":
    sys.exit(main())
