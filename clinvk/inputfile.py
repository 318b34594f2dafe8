"""Reading a file a command was given (`-` for stdin), with one clear error per failure."""

from __future__ import annotations

import sys
from pathlib import Path

from clinvk.errors import ClinvkError


def read_input(file: str, what: str, error: type[ClinvkError] = ClinvkError) -> tuple[bytes, str]:
    """The bytes of ``file`` (``-``: standard input) and its name for messages.

    ``what`` names the file in errors ("task file", "export file"); ``error`` is the
    ClinvkError raised (its exit code is the command's).
    """
    if file == "-":
        try:
            return sys.stdin.buffer.read(), "stdin"
        except (OSError, ValueError, AttributeError):
            raise error(f"cannot read the {what} from stdin") from None
    path = Path(file).expanduser()
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise error(f"no such file: {file} (the {what})") from None
    except IsADirectoryError:
        raise error(f"{file} is a directory, not a {what}") from None
    except OSError as exc:
        raise error(f"cannot read the {what} {file}: {exc.strerror or exc}") from None
