"""Dotted config keys as TOML writes them; a part that holds a dot is quoted
(pricing."gpt-4.1".input). Pure syntax: what a key means is clinvk.config.schema's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def split_key(key: str) -> list[str]:
    """``pricing."gpt-4.1".input`` → ``["pricing", "gpt-4.1", "input"]``; ValueError if malformed."""
    import json

    parts: list[str] = []
    i, n = 0, len(key)
    while True:
        while i < n and key[i] in " \t":
            i += 1
        if i < n and key[i] in "\"'":
            quote = key[i]
            j = i + 1
            while j < n and key[j] != quote:
                j += 2 if quote == '"' and key[j] == "\\" else 1
            if j >= n:
                raise ValueError(f"unterminated quote in {key!r}")
            raw = key[i + 1 : j]
            try:
                parts.append(json.loads(f'"{raw}"') if quote == '"' else raw)
            except ValueError:
                raise ValueError(f"bad escape in {key!r}") from None
            i = j + 1
        else:
            j = i
            while j < n and key[j] not in ". \t\"'":
                j += 1
            if j == i:
                raise ValueError(f"empty part in {key!r}")
            parts.append(key[i:j])
            i = j
        while i < n and key[i] in " \t":
            i += 1
        if i == n:
            return parts
        if key[i] != ".":
            raise ValueError(f"unexpected {key[i]!r} in {key!r}")
        i += 1


def format_key(parts: Sequence[str]) -> str:
    import json

    return ".".join(p if _BARE_KEY.fullmatch(p) else json.dumps(p, ensure_ascii=False)
                    for p in parts)
