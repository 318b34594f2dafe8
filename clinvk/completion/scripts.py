"""The completion scripts: made by cyclopts from the whole command tree, and installed
where each shell looks for them.

cyclopts writes every command, option and fixed choice into the script, and makes the
arguments that have a completer (clinvk.completion) call ``clinvk __complete`` at TAB
time. One change is made to what it writes: the shell is told to keep the order clinvk
gives (newest sessions first, the most used tags first) instead of sorting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Shell = Literal["bash", "zsh", "fish"]
SHELLS: tuple[Shell, ...] = ("bash", "zsh", "fish")
PROG = "clinvk"

# (what cyclopts writes, what keeps the order) per shell. bash: `-o nosort` (bash 4.4
# and later; older ones register without it). zsh: an unsorted group (`-V`). fish:
# `--keep-order` on the rules that ask clinvk.
_KEEP_ORDER: dict[str, tuple[str, str]] = {
    "bash": (f"\ncomplete -F _{PROG} {PROG}\n",
             f"\ncomplete -o nosort -F _{PROG} {PROG} 2>/dev/null || complete -F _{PROG} {PROG}\n"),
    "zsh": ("compadd -d _cyc_disp -a _cyc_vals", f"compadd -V {PROG} -d _cyc_disp -a _cyc_vals"),
    "fish": (f" -a '(__fish_{PROG}_complete)'", f" --keep-order -a '(__fish_{PROG}_complete)'"),
}


def script(shell: Shell) -> str:
    """The completion script for ``shell``, covering every command."""
    from clinvk.app import build_app
    from clinvk.completion import table

    app = build_app()
    text = app.generate_completion(prog_name=PROG, shell=shell)
    table.remember(app)  # every command is loaded now: TAB needs no cyclopts from the start
    plain, ordered = _KEEP_ORDER[shell]
    return text.replace(plain, ordered)


def default_path(shell: Shell) -> Path:
    """Where ``shell`` looks for clinvk's script, under the home directory (cyclopts'
    choice: ~/.local/share/bash-completion/completions/clinvk,
    ~/.zsh/completions/_cyclopts_clinvk or oh-my-zsh's, ~/.config/fish/completions/)."""
    from cyclopts.completion import get_default_completion_path

    return get_default_completion_path(shell, PROG)


@dataclass
class Installed:
    """Where a script went, and the startup file that loads it (None: the shell finds
    it by itself, or it was not asked for); ``added`` if the loading line is new."""

    path: Path
    startup: Path | None
    added: bool


def install(shell: Shell, output: Path | None = None, *, startup: bool = True) -> Installed:
    """Write the script for ``shell`` (to ``output``, else where the shell looks) and,
    for bash and zsh unless not ``startup``, the line in ~/.bashrc or ~/.zshrc that
    loads it (zsh's is an fpath line, none under oh-my-zsh, which loads it itself)."""
    from clinvk.atomic import atomic_write
    from clinvk.errors import ClinvkError

    text = script(shell)
    try:
        path = (output if output is not None else default_path(shell)).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode(), mode=0o644)
        rc = None
        added = False
        if startup and (shell == "bash" or (shell == "zsh" and not _oh_my_zsh())):
            rc = Path.home() / (".bashrc" if shell == "bash" else ".zshrc")
            added = _add_loading_line(rc, shell, path)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise ClinvkError(f"cannot install the {shell} completion script: "
                          f"{exc.strerror or exc}{where}",
                          hint=f"print it instead and save it yourself: clinvk completion {shell}"
                          ) from None
    return Installed(path, rc, added)


def loading_line(shell: Shell, path: Path) -> str:
    """The startup-file line that loads the script at ``path``, every path shell-quoted:
    a home directory holding a space, `$(…)` or a quote is read as a name, never run."""
    import shlex

    if shell == "zsh":
        return f"fpath=({shlex.quote(str(path.parent))} $fpath)"
    quoted = shlex.quote(str(path))
    return f"[ -f {quoted} ] && . {quoted}"


def _add_loading_line(rc: Path, shell: Shell, path: Path) -> bool:
    """Add the loading line to ``rc`` (bash: appended; zsh: first, before any compinit)
    unless it is there already; True if it was added."""
    from clinvk.atomic import atomic_write

    rc = rc.resolve()  # a startup file kept elsewhere behind a symlink stays there
    try:
        content = rc.read_text(encoding="utf-8", errors="surrogateescape")
        mode = rc.stat().st_mode & 0o777
    except FileNotFoundError:
        content, mode = "", 0o644
    line = loading_line(shell, path)
    # The line as clinvk wrote it before it quoted paths (the same path, when it needs
    # no quoting) counts too.
    before = f'[ -f "{path}" ] && . "{path}"'
    if line in content.splitlines() or (shell == "bash" and before in content.splitlines()):
        return False
    block = f"# {PROG} completion{'s' if shell == 'zsh' else ''}\n{line}\n"
    if shell == "zsh":
        content = block + content
    else:
        content += ("\n" if content and not content.endswith("\n") else "") + block
    rc.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(rc, content.encode("utf-8", "surrogateescape"), mode=mode)
    return True


def _oh_my_zsh() -> bool:
    """oh-my-zsh in use (its completions directory is where the script went, and it
    loads it by itself): the rule cyclopts' default_path follows."""
    import os

    return any(os.path.isdir(os.environ.get(name) or "\0") for name in ("ZSH_CUSTOM", "ZSH"))
