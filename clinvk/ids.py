"""Session ids: random, short, lowercase; validated before they touch a path."""

from __future__ import annotations

import re
import secrets

from clinvk.errors import NotFoundError, SessionError, UsageError

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 8
MIN_PREFIX = 4
SHOWN_PREFIX = 6

ID_RE = re.compile(rf"[a-z0-9]{{{ID_LENGTH}}}")
PREFIX_RE = re.compile(rf"[a-z0-9]{{{MIN_PREFIX},{ID_LENGTH}}}")


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(ID_LENGTH))


def is_valid_id(value: str) -> bool:
    return ID_RE.fullmatch(value) is not None


def check_prefix(value: str) -> str:
    """The prefix, lowercased, or a UsageError saying what an id looks like."""
    shown = value if len(value) <= 40 else value[:37] + "..."
    shown = shown.encode("unicode_escape").decode("ascii")
    lowered = value.lower()
    if PREFIX_RE.fullmatch(lowered) is None:
        raise UsageError(
            f"invalid session id: {shown!r}",
            hint=f"an id is {ID_LENGTH} characters of a-z and 0-9; "
            f"any unique prefix of {MIN_PREFIX} or more works (see `clinvk sessions list`)",
        )
    return lowered


def pick(prefix: str, candidates: list[str], *, not_found_exit: int = 1) -> str:
    """Resolve a prefix against the ids that start with it."""
    if prefix in candidates:
        return prefix
    if not candidates:
        cls = NotFoundError if not_found_exit == 1 else SessionError
        raise cls(f"session not found: {prefix}", hint="see `clinvk sessions list`")
    if len(candidates) > 1:
        shown = ", ".join(sorted(candidates)[:10])
        more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
        raise UsageError(
            f"ambiguous session id {prefix!r}: matches {shown}{more}",
            hint="type more characters of the id",
            exit_code=not_found_exit,
        )
    return candidates[0]
