"""The team store's address and a connection to it (psycopg, imported here only).

The URL is a libpq connection URL: libpq itself finds the password (``PGPASSWORD``,
``~/.pgpass``, ``PGSERVICE``) and honours ``sslmode`` and the other parameters in it.
Every failure of the database reaches the user as a TeamError: one line, what to do.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clinvk.errors import ClinvkError

if TYPE_CHECKING:
    import psycopg

    from clinvk.config import Config

# Seconds to wait for the server to answer a connection.
CONNECT_TIMEOUT_S = 5


class TeamError(ClinvkError):
    """The team store is not configured, cannot be reached, or refused something."""


class UnreachableError(TeamError):
    """The team store cannot be reached now (server down, network gone): worth a retry."""


@dataclass(frozen=True)
class Target:
    """Where this machine's sessions go: the database URL and the member name."""

    url: str
    member: str
    share_text: bool


def default_member() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def target(config: Config) -> Target:
    """The team settings, checked; TeamError when no team store is configured."""
    team = config.team
    if not team.url:
        raise TeamError("no team store configured",
                        hint="clinvk config set team.url postgresql://USER@HOST/DB "
                             "(or set CLINVK_TEAM_URL); see docs/team.md")
    member = team.member.strip() or default_member()
    return Target(team.url, member, team.share_text)


def _missing_driver() -> TeamError:
    return TeamError("the team store needs psycopg, which is not installed",
                     hint="pip install 'clinvk[team]'")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # libpq puts the reason last ("connection to server … failed: FATAL: …").
    return lines[-1] if lines and len(lines) > 1 and lines[0].endswith(":") else lines[0]


def explain(exc: BaseException, url: str = "") -> TeamError:
    """A database error as one line the user can act on (never showing the password of
    ``url``, the one in use)."""
    import psycopg

    from clinvk.passwords import redact, url_secrets

    said = redact(_first_line(exc), url_secrets(url))
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return TeamError(f"the team store refused: {said}",
                         hint="ask the database's owner to grant your role clinvk_member "
                              "(docs/team.md#roles)")
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return TeamError("the team store has no clinvk tables yet",
                         hint="run `clinvk team init` once (as the database's owner)")
    if isinstance(exc, psycopg.OperationalError):
        return UnreachableError(f"cannot reach the team store: {said}",
                         hint="check team.url, the server and your password (~/.pgpass "
                              "or PGPASSWORD)")
    return TeamError(f"the team store failed: {said}")


@contextmanager
def connection(url: str, *, statement_timeout_s: float = 0,
               autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    """An open connection; every psycopg error inside becomes a TeamError."""
    try:
        import psycopg
    except ImportError:
        raise _missing_driver() from None
    options = "-c search_path=clinvk,public"
    if statement_timeout_s:
        options += f" -c statement_timeout={int(statement_timeout_s * 1000)}"
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="clinvk", options=options,
                               autocommit=autocommit)
    except psycopg.Error as exc:
        raise explain(exc, url) from None
    try:
        with conn:
            yield conn
    except psycopg.Error as exc:
        raise explain(exc, url) from None


def fingerprint(conn: psycopg.Connection[Any], member: str) -> str:
    """Which database (and member) a push went to, without any secret."""
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}|{member}"
