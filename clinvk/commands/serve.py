"""`clinvk serve`: the HTTP API (clinvk.httpserver) on Uvicorn, if the server extra is
installed; the bearer token it requires and where it comes from."""

from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from clinvk.errors import ClinvkError, ConfigError, UsageError

TOKEN_ENV = "CLINVK_SERVER_TOKEN"
TOKEN_FILE_NAME = "server-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the server token file {path}: "
                          f"{getattr(exc, 'strerror', None) or exc}",
                          hint="fix server.token_file, or set CLINVK_SERVER_TOKEN") from None
    if len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(f"the server token in {path} must be at least 16 printable "
                          "characters without spaces")
    return token


def _generated_token(data_dir: Path) -> Path:
    """<data dir>/server-token, made (0600) with a fresh random token if missing."""
    path = data_dir / TOKEN_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return path


def resolve_token(token_file: str, data_dir: Path, host: str) -> tuple[str, str]:
    """The bearer token and where it came from: CLINVK_SERVER_TOKEN, else
    server.token_file, else a generated file (loopback binds only)."""
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        if len(env) < 16:
            raise ConfigError(f"{TOKEN_ENV} must be at least 16 characters")
        return env, f"the token is {TOKEN_ENV}"
    if token_file:
        path = Path(token_file).expanduser()
        return _read_token(path), f"token in {path}"
    if not is_loopback(host):
        raise UsageError(f"refusing to serve on {host} with a generated token",
                         hint=f"set {TOKEN_ENV} or server.token_file to a token of your own, "
                              "or bind to 127.0.0.1")
    path = _generated_token(data_dir)
    return _read_token(path), f"token in {path}"


def serve(*, host: str = "127.0.0.1", port: int = 8765,
          allow_run: Annotated[bool, Parameter(negative="")] = False,
          verbose: bool = False) -> int:
    """Serve the session store as an HTTP API (JSON, bearer token) and MCP at /mcp.

    Every request but GET /healthz needs `Authorization: Bearer TOKEN`: the token is
    CLINVK_SERVER_TOKEN, else the file server.token_file names, else one generated into
    a 0600 file under the data dir (its path is printed). Needs the server extra:
    pip install 'clinvk[server]'.

    Example: clinvk serve --port 8765 --allow-run

    Parameters
    ----------
    host
        Address to listen on; other than loopback only with a token of your own.
    port
        TCP port (1-65535).
    allow_run
        Also serve the endpoints that start or stop turns: POST /v1/prompt,
        /v1/sessions/{id}/resume and /v1/sessions/{id}/cancel.
    verbose
        Log each request (Uvicorn's and the MCP library's lines) to stderr; without
        it the start line and errors are all that is written.
    """
    from clinvk.config import load
    from clinvk.config.paths import data_dir

    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be 1-65535, not {port}")
    config = load().config.server
    token, where = resolve_token(config.token_file, data_dir(), host)
    try:
        import uvicorn

        from clinvk.httpserver import build
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("mcp", "anyio", "starlette", "uvicorn"):
            raise
        raise ClinvkError("the HTTP server needs the server extra: pip install 'clinvk[server]'",
                          hint="then: clinvk serve") from None

    app = build(token=token, allow_run=allow_run, max_running=config.max_running, host=host,
                verbose=verbose)
    sock = listen(host, port)  # a port in use is one clear error, before "serving on"
    shown = f"[{host}]" if ":" in host else host
    print(f"clinvk: serving on http://{shown}:{port} ({where}"
          f"{'; turns allowed' if allow_run else ''})", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level="info" if verbose else "critical",
        access_log=verbose, lifespan="on", server_header=False))
    with sock:
        server.run(sockets=[sock])
    if not server.started:
        raise ClinvkError("the server did not start", hint="rerun with --verbose to see why")
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, as Uvicorn would open it; ClinvkError if it
    cannot be had (in use, not an address of this machine, a privileged port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(infos[0][4])
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        hint = ("another server listens there: stop it, or choose another --port"
                if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE else None)
        raise ClinvkError(f"cannot listen on {host}:{port}: {reason}", hint=hint) from None
    sock.set_inheritable(True)
    return sock
