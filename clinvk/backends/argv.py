"""Building a vendor argv that cannot be misread.

The rules every adapter follows: the prompt goes on stdin (never into argv, where a
prompt like ``--help`` could be taken as a flag and a big one hits the kernel's
per-argument limit); values clinvk puts after a flag (model, resume id) must not look
like flags themselves; free text after a flag is joined to it with ``=``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.backends import Request
    from clinvk.backends.settings import BackendConfig

# Linux refuses exec (E2BIG) when one argument, with its NUL, exceeds MAX_ARG_STRLEN.
MAX_ARG_BYTES = 32 * 4096 - 1


def command(config: BackendConfig, name: str) -> str:
    """The program to run: ``command`` from config, else the backend's name."""
    return config.command or name


def model(request: Request, config: BackendConfig) -> str | None:
    """The model to ask for: the request's (a flag) wins over the config's."""
    chosen = request.model or config.model or None
    if chosen is not None:
        check_value(chosen, "model")
    return chosen


def check_value(value: str, what: str) -> None:
    """Refuse a value that the vendor's option parser could take for a flag."""
    if not value or value.startswith("-") or "\x00" in value:
        raise UsageError(f"invalid {what} {value!r}: it must be non-empty and not start with '-'")


def check_argv(argv: list[str]) -> list[str]:
    """Refuse an argv the kernel would reject, with a message instead of E2BIG."""
    for arg in argv:
        if "\x00" in arg:
            raise UsageError("an argument for the vendor CLI contains a NUL character")
        if len(arg.encode("utf-8", "surrogateescape")) > MAX_ARG_BYTES:
            raise UsageError(
                f"an argument for the vendor CLI is longer than {MAX_ARG_BYTES} bytes "
                f"(it starts {arg[:40]!r}); Linux cannot pass it on the command line"
            )
    return argv


def check_owned(extra_args: list[str], owned: tuple[str, ...], name: str) -> None:
    """Refuse extra arguments that would switch the vendor out of the machine-readable
    mode clinvk reads (its answer would be lost as "ended without a result")."""
    for arg in extra_args:
        for flag in owned:
            short = not flag.startswith("--")
            if arg == flag or arg.startswith(flag + "=") or (
                    short and arg.startswith(flag) and not arg.startswith("--")):
                raise UsageError(
                    f"{flag} is set by clinvk for {name}: it runs {name} in the "
                    "machine-readable mode it parses",
                    hint="drop it from --backend-arg (and backends.NAME.args); choose "
                    "clinvk's own output with --output-format text|json|stream-json")


def prompt_bytes(prompt: str) -> bytes:
    # surrogateescape keeps bytes that came in undecodable (odd locales) as they were.
    return prompt.encode("utf-8", "surrogateescape")
