"""Session ids: random, short, lowercase; validated before they touch a path."""

from __future__ import annotations

from clinvk.errors import NotFoundError, SessionError, UsageError

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 8
MIN_PREFIX = 4
SHOWN_PREFIX = 6


def new_id() -> str:
    import os

    chars: list[str] = []
    while len(chars) < ID_LENGTH:
        chars.extend(ALPHABET[b % 36] for b in os.urandom(2 * ID_LENGTH) if b < 252)
    return "".join(chars[:ID_LENGTH])


def is_valid_id(value: str) -> bool:
    return len(value) == ID_LENGTH and not value.strip(ALPHABET)


def check_prefix(value: str) -> str:
    """The prefix, lowercased, or a UsageError saying what an id looks like."""
    lowered = value.lower()
    if not MIN_PREFIX <= len(lowered) <= ID_LENGTH or lowered.strip(ALPHABET):
        from clinvk.output import safe

        # Escaped once, here (an undecodable byte as \xff, ESC as \x1b), so that the
        # message is the same on a terminal, in JSON and in a server's answer.
        shown = safe(value if len(value) <= 40 else value[:37] + "...")
        raise UsageError(
            f"invalid session id: '{shown}'",
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


def file_id(name: str, shard: str) -> str | None:
    """The session id a file name in shard directory ``shard`` stands for, if it is a
    session file's name at all (``<id>.json``, the id starting with the shard's name)."""
    if len(name) != ID_LENGTH + 5 or not name.endswith(".json") or not name.startswith(shard):
        return None
    stem = name[:-5]
    return stem if is_valid_id(stem) else None
