"""`clinvk completion SHELL` and `clinvk --install-completion [SHELL]`: tab completion of
commands, options, session ids, backends, statuses, tags, config keys and groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from clinvk.completion.scripts import Shell


def completion(shell: Annotated[Shell, Parameter(name="SHELL")], /) -> int:
    """Print the completion script for bash, zsh or fish.

    Commands and options complete from the script itself; session ids (newest first),
    backends, statuses, tags, config keys and --by groups are looked up when TAB is
    pressed, so the script never goes stale as sessions come and go. docs/commands.md
    says how to load it in each shell; --install-completion does it for you.

    Example: clinvk completion bash > ~/.local/share/bash-completion/completions/clinvk

    Parameters
    ----------
    shell
        bash, zsh or fish.
    """
    import sys

    from clinvk.completion.scripts import script

    sys.stdout.write(script(shell))
    return 0


def install(
    shell: Annotated[Shell | None, Parameter(name="SHELL")] = None,
    /,
    *,
    output: Annotated[Path | None, Parameter(name=["--output", "-o"])] = None,
    no_startup: bool = False,
) -> int:
    """Install tab completion for bash, zsh or fish (default: the shell you are in).

    Writes the script where the shell looks for it (bash:
    ~/.local/share/bash-completion/completions/clinvk, zsh: ~/.zsh/completions, fish:
    ~/.config/fish/completions) and, for bash and zsh, adds the line that loads it to
    ~/.bashrc or ~/.zshrc (once). Open a new shell afterwards.

    Example: clinvk --install-completion bash

    Parameters
    ----------
    shell
        bash, zsh or fish; without it, the shell clinvk was started from.
    output
        Write the script to this file instead.
    no_startup
        Leave ~/.bashrc and ~/.zshrc alone (you load the script yourself).
    """
    from shlex import quote

    from clinvk.completion.scripts import install as install_script
    from clinvk.output import out

    chosen = shell or _detect()
    done = install_script(chosen, output, startup=not no_startup)
    # Paths printed shell-quoted (and terminal-safe): what is shown can be pasted.
    out(f"Installed the {chosen} completion script: {quote(str(done.path))}")
    rc = quote(str(done.startup)) if done.startup is not None else ""
    if done.startup is not None:
        out(f"Added the line that loads it to {rc}." if done.added
            else f"{rc} already loads it.")
    if chosen == "fish":
        out("fish loads it by itself: open a new shell to use it.")
    elif chosen == "zsh" and done.startup is not None:
        out("Open a new shell to use it (compinit must run after that line, as it does in "
            "most setups).")
    elif done.startup is not None:
        out(f"Open a new shell (or run: source {rc}) to use it.")
    else:
        out("Load it from your shell's startup file, then open a new shell.")
    return 0


def _detect() -> Shell:
    from cyclopts.completion import ShellDetectionError, detect_shell

    from clinvk.completion.scripts import SHELLS
    from clinvk.errors import UsageError

    hint = "name it: clinvk --install-completion bash (or zsh, fish)"
    try:
        found = detect_shell()
    except ShellDetectionError:
        raise UsageError("cannot tell which shell you use", hint=hint) from None
    for shell in SHELLS:
        if shell == found:
            return shell
    raise UsageError(f"no completion for {found}: bash, zsh and fish are supported", hint=hint)
