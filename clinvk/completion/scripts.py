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
    loads it (cyclopts' own rules: zsh's is an fpath line, none under oh-my-zsh)."""
    from cyclopts.completion import add_to_rc_file

    from clinvk.atomic import atomic_write
    from clinvk.errors import ClinvkError

    text = script(shell)
    try:
        path = (output if output is not None else default_path(shell)).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode(), mode=0o644)
        rc = None
        added = False
        if startup and shell in ("bash", "zsh"):
            added = add_to_rc_file(path, PROG, shell)
            rc = Path.home() / (".bashrc" if shell == "bash" else ".zshrc")
            if not added and not _mentions(rc, path):
                rc = None  # cyclopts left it to oh-my-zsh
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise ClinvkError(f"cannot install the {shell} completion script: "
                          f"{exc.strerror or exc}{where}",
                          hint=f"print it instead and save it yourself: clinvk completion {shell}"
                          ) from None
    return Installed(path, rc, added)


def _mentions(rc: Path, path: Path) -> bool:
    try:
        text = rc.read_text(errors="replace")
    except OSError:
        return False
    return str(path) in text or str(path.parent) in text
