"""Passwords out of anything shown: a team URL's or a conninfo string's password never
reaches a message, a log line or a settings listing.

Standard library only (``re``): the config loader asks it when it names a bad
``CLINVK_TEAM_URL``.
"""

from __future__ import annotations

import re

HIDDEN = "***"

# scheme://user:PASSWORD@host — up to the last "@" before the path, query or fragment.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s:@]*):[^/?#\s]*@")
# password=VALUE in a conninfo string ('quoted' or bare) or in a URL's query.
_PARAM = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s&#'\"]*)",
                    re.IGNORECASE)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every URL password and ``password=`` value replaced by ``***``,
    and any of ``secrets`` (e.g. the password of the URL in use) wherever it appears."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{HIDDEN}@", text)
    return _PARAM.sub(lambda m: f"{m['head']}{HIDDEN}", text)


def url_secrets(url: str) -> tuple[str, ...]:
    """The password a URL holds, as written and decoded, if any (for ``redact``)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        for value in parse_qs(parts.query).get("password", []):
            found.append(value)
    except ValueError:
        pass
    # Longest first, so that no part of a longer secret is left behind.
    return tuple(sorted({s for s in found if s}, key=len, reverse=True))
