"""The clinvk command line: the one place where errors become exit codes."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from clinvk import __version__

if TYPE_CHECKING:
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
    ("clinvk.commands.run:cancel", "cancel", "Stop a running turn.\n\nExample: clinvk cancel 3fk2a9"),
    ("clinvk.commands.backends:backends", "backends",
     ("Show each backend: installed or not, path, version, default model.\n\n"
     "Example: clinvk backends --json")),
    ("clinvk.commands.sessions:app", "sessions",
     ("List, inspect, clean and account for recorded sessions.\n\n"
     "Example: clinvk sessions list --range 7d")),
    ("clinvk.commands.config:app", "config",
     "Show and edit clinvk's settings.\n\nExample: clinvk config set session.retention_days 14"),
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


def _route(args: list[str]) -> list[str]:
    """Bare `clinvk "PROMPT" [options]` means `clinvk prompt "PROMPT" [options]`."""
    if not args or args[0] in COMMANDS or args[0] in _ROOT_FLAGS:
        return args
    return ["prompt", *args]


_argv: list[str] = []


def current_argv() -> list[str]:
    """The arguments main() is running, for the rare check that needs the raw tokens."""
    return _argv


def _error(message: str, hint: str | None = None) -> None:
    from clinvk.output import err

    try:
        err(f"clinvk: error: {message}")
        if hint:
            err(f"hint: {hint}")
    except OSError:
        pass  # stderr is gone (a terminal that hung up): the exit code still tells


def main(argv: list[str] | None = None) -> int:
    """Run clinvk with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        # The most common probe of a CLI; answer it without loading the framework.
        sys.stdout.write(f"{__version__}\n")
        return 0
    from clinvk.errors import ClinvkError

    try:
        from cyclopts import CycloptsError

        try:
            _argv[:] = args
            result = build_app()(_route(args))
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
