"""`clinvk serve`: the HTTP API (clinvk.httpserver) on Uvicorn, if the server extra is
installed; the bearer token it requires and where it comes from."""

from __future__ import annotations

import ipaddress
import os
import secrets
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
          allow_run: Annotated[bool, Parameter(negative="")] = False) -> int:
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

    app = build(token=token, allow_run=allow_run, max_running=config.max_running, host=host)
    shown = f"[{host}]" if ":" in host else host
    print(f"clinvk: serving on http://{shown}:{port} ({where}"
          f"{'; turns allowed' if allow_run else ''})", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           lifespan="on", server_header=False))
    server.run()
    return 0 if server.started else 1
