"""The HTTP API of `clinvk serve`: Starlette routes over clinvk's own `--json` commands.

Every answer is what the clinvk command named in ROUTES prints (run by clinvk.childcli,
as `clinvk mcp` does), so the JSON shapes are the CLI's; a failing command is its
message, hint and exit code with an HTTP status (`status_for`). Every request but
`GET /healthz` needs the bearer token. The MCP tools are served at `/mcp` too.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clinvk import __version__
from clinvk.childcli import CommandFailed, clinvk, opt, tags
from clinvk.errors import ClinvkError, NotFoundError
from clinvk.serveread import Reader, session_list

MAX_BODY = 1024 * 1024
MAX_PROMPT = 512 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class HTTPFailure(Exception):
    def __init__(self, status: int, message: str, *, hint: str | None = None,
                 exit_code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.exit_code = status, message, hint, exit_code

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.exit_code is not None:
            body["exit_code"] = self.exit_code
        return JSONResponse(body, status_code=self.status)


def status_for(exc: CommandFailed) -> int:
    """The HTTP status of a clinvk exit: 404 for an unknown session, else by exit code."""
    return _status(exc.code, exc.message.startswith("session not found"))


def _status(code: int, not_found: bool) -> int:
    return 404 if not_found else {1: 400, 4: 409, 124: 504, 130: 409}.get(code, 500)


def failure(exc: CommandFailed | ClinvkError) -> HTTPFailure:
    """The HTTP failure of a clinvk command that failed (as a child or in-process)."""
    if isinstance(exc, CommandFailed):
        status = status_for(exc)
    else:
        status = _status(exc.exit_code, isinstance(exc, NotFoundError))
    return HTTPFailure(status, exc.message, hint=exc.hint,
                       exit_code=exc.code if isinstance(exc, CommandFailed) else exc.exit_code)


@dataclass
class State:
    token: bytes
    allow_run: bool
    max_running: int
    running: int = 0
    reader: Reader = field(default_factory=Reader)
    extra: dict[str, Any] = field(default_factory=dict)


# --- request reading --------------------------------------------------------------------


def query(request: Request, known: dict[str, str]) -> dict[str, Any]:
    """Query parameters by name (repeatable ones as lists); 400 for an unknown one."""
    got: dict[str, Any] = {}
    for name in request.query_params:
        if name not in known:
            raise HTTPFailure(400, f"unknown query parameter {name!r}; expected one of "
                              + ", ".join(known))
        values = request.query_params.getlist(name)
        got[name] = values if known[name] == "array" else values[-1]
    return got


def flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on")


async def read_json(request: Request, fields: dict[str, str]) -> dict[str, Any]:
    """The JSON object body, at most MAX_BODY bytes (413), with only the known fields."""
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPFailure(413, f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise HTTPFailure(400, "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPFailure(400, "the request body must be a JSON object")
    for name, value in data.items():
        kind = fields.get(name)
        if kind is None:
            raise HTTPFailure(400, f"unknown field {name!r}; expected one of " + ", ".join(fields))
        ok = {"string": isinstance(value, str),
              "number": isinstance(value, int | float) and not isinstance(value, bool),
              "array": isinstance(value, list) and all(isinstance(v, str) for v in value)}[kind]
        if not ok and value is not None:
            raise HTTPFailure(400, f"field {name!r} must be a {kind}"
                              + (" of strings" if kind == "array" else ""))
        if not all(_unicode(v) for v in (value if isinstance(value, list) else [value])):
            # JSON's "\ud800" escapes decode to text no UTF-8 can carry (nor a session).
            raise HTTPFailure(400, f"field {name!r} is not valid Unicode (a lone surrogate)")
    prompt = data.get("prompt")
    if "prompt" in fields:
        if not isinstance(prompt, str) or not prompt.strip():
            raise HTTPFailure(400, "field 'prompt' is required (a non-empty string)")
        if len(prompt.encode("utf-8")) > MAX_PROMPT:
            raise HTTPFailure(413, f"prompt over {MAX_PROMPT} bytes")
    return data


def _unicode(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def as_json(*args: str, cwd: str | None = None, input: str | None = None) -> Any:
    try:
        return json.loads(await clinvk(*args, cwd=cwd, input=input))
    except CommandFailed as exc:
        raise failure(exc) from None


# --- endpoints --------------------------------------------------------------------------

LIST_QUERY = {"backend": "string", "status": "string", "tag": "array", "search": "string",
              "range": "string", "since": "string", "workdir": "string", "origin": "string",
              "touched": "string", "limit": "integer", "offset": "integer"}
STATS_QUERY = {"range": "string", "since": "string", "until": "string", "by": "string",
               "backend": "string", "tag": "array"}
PROMPT_BODY = {"prompt": "string", "backend": "string", "model": "string",
               "workdir": "string", "title": "string", "tags": "array", "timeout": "number"}
RESUME_BODY = {"prompt": "string", "timeout": "number"}


async def not_allowed(request: Request) -> Response:
    """A turn endpoint of a server started without --allow-run."""
    raise HTTPFailure(403, "this server does not run turns: start the server with --allow-run")


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True, "version": __version__})


async def list_sessions(request: Request) -> Response:
    return await listing(request, query(request, LIST_QUERY))


async def listing(request: Request, q: dict[str, Any]) -> Response:
    """`clinvk sessions list --json`, answered in-process (clinvk.serveread)."""
    state: State = request.app.state.clinvk
    try:
        body = await state.reader.ask(session_list, q)
    except ClinvkError as exc:
        raise failure(exc) from None
    return Response(body, media_type="application/json")


async def show_session(request: Request) -> Response:
    query(request, {})
    return JSONResponse(await as_json("sessions", "show", "--json", "--",
                                      request.path_params["id"]))


async def session_turns(request: Request) -> Response:
    q = query(request, {"tools": "boolean"})
    return JSONResponse(await as_json("sessions", "history", "--json",
                                      *opt("--tools", flag(q.get("tools"))), "--",
                                      request.path_params["id"]))


async def stats(request: Request) -> Response:
    q = query(request, STATS_QUERY)
    return JSONResponse(await as_json(
        "sessions", "stats", "--json", *opt("--range", q.get("range")),
        *opt("--since", q.get("since")), *opt("--until", q.get("until")),
        *opt("--by", q.get("by")), *opt("--backend", q.get("backend")), *tags(q.get("tag"))))


async def search(request: Request) -> Response:
    q = query(request, {"q": "string", "limit": "integer", "offset": "integer"})
    if not q.get("q"):
        raise HTTPFailure(400, "query parameter 'q' is required")
    return await listing(request, {"search": q.pop("q"), **q})


async def delete_session(request: Request) -> Response:
    q = query(request, {"force": "boolean"})
    ident = request.path_params["id"]
    try:
        said = await clinvk("sessions", "delete", *opt("--force", flag(q.get("force"))),
                            "--", ident)
    except CommandFailed as exc:
        raise failure(exc) from None
    return JSONResponse({"id": ident, "deleted": True, "message": said.strip()})


async def cancel(request: Request) -> Response:
    query(request, {})
    ident = request.path_params["id"]
    try:
        said = await clinvk("cancel", "--", ident)
    except CommandFailed as exc:
        raise failure(exc) from None
    return JSONResponse({"id": ident, "cancelled": True, "message": said.strip()})


async def prompt(request: Request) -> Response:
    q = query(request, {"stream": "boolean"})
    body = await read_json(request, PROMPT_BODY)
    args = [*opt("--backend", body.get("backend")), *opt("--model", body.get("model")),
            *opt("--workdir", body.get("workdir")), *opt("--title", body.get("title")),
            *tags(body.get("tags")), *opt("--timeout", body.get("timeout")), "--", "-"]
    return await run_turn(request, "prompt", args, body["prompt"], flag(q.get("stream")))


async def resume(request: Request) -> Response:
    q = query(request, {"stream": "boolean"})
    body = await read_json(request, RESUME_BODY)
    args = [*opt("--timeout", body.get("timeout")), "--", request.path_params["id"], "-"]
    return await run_turn(request, "resume", args, body["prompt"], flag(q.get("stream")))


async def run_turn(request: Request, command: str, args: list[str], text: str,
                   stream: bool) -> Response:
    """`clinvk prompt|resume -o json` (or `-o stream-json` as Server-Sent Events) in one
    of `server.max_running` slots; 429 when none is free."""
    state: State = request.app.state.clinvk
    if state.running >= state.max_running:
        raise HTTPFailure(429, f"{state.running} turns are running, the most server.max_running "
                          "allows", hint="retry when one has finished")
    state.running += 1
    if not stream:
        try:
            return JSONResponse(await as_json(command, "-o", "json", *args, input=text),
                                headers={"Cache-Control": "no-store"})
        finally:
            state.running -= 1
    return EventStream(state, (command, "-o", "stream-json", *args), text)


class EventStream(Response):
    """The turn's stream-json events as Server-Sent Events (`event: clinvk`, one JSON
    object each), then `event: end` with the exit code or `event: error`. The turn runs
    to its end even if the client goes away (`/cancel` stops it)."""

    media_type = "text/event-stream"

    def __init__(self, state: State, argv: tuple[str, ...], text: str) -> None:
        super().__init__(headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.state, self.argv, self.text = state, argv, text

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (k, v) for k, v in self.raw_headers if k != b"content-length"]})

            async def event(name: str, data: str) -> None:
                await send({"type": "http.response.body", "more_body": True,
                            "body": f"event: {name}\ndata: {data}\n\n".encode()})

            try:
                await clinvk(*self.argv, input=self.text,
                             on_line=lambda line: event("clinvk", line))
            except CommandFailed as exc:
                await event("error", json.dumps({
                    "status": status_for(exc), "error": exc.message, "hint": exc.hint,
                    "exit_code": exc.code}))
            else:
                await event("end", json.dumps({"exit_code": 0}))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.state.running -= 1


# --- the route table (also the OpenAPI description) -------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] | None = None
    run: bool = False  # only with --allow-run
    stream: bool = False


ROUTES = [
    Endpoint("GET", "/healthz", healthz, "Liveness: {ok, version}; no token needed, reads "
             "no session."),
    Endpoint("GET", "/v1/sessions", list_sessions, "Sessions, newest first, as `clinvk "
             "sessions list --json`: {items, total, limit, offset}.", LIST_QUERY),
    Endpoint("GET", "/v1/sessions/{id}", show_session, "One session's record, as `clinvk "
             "sessions show ID --json`."),
    Endpoint("DELETE", "/v1/sessions/{id}", delete_session, "Delete a session, as `clinvk "
             "sessions delete ID` (409 while it runs, unless force): {id, deleted, message}.",
             {"force": "boolean"}),
    Endpoint("GET", "/v1/sessions/{id}/turns", session_turns, "Its turns, as `clinvk "
             "sessions history ID --json` (with tools: its tool calls).", {"tools": "boolean"}),
    Endpoint("GET", "/v1/stats", stats, "Usage totals and groups, as `clinvk sessions stats "
             "--json`.", STATS_QUERY),
    Endpoint("GET", "/v1/search", search, "Sessions whose text matches q, as `clinvk "
             "sessions list -q Q --json`.", {"q": "string", "limit": "integer",
                                               "offset": "integer"}),
    Endpoint("POST", "/v1/prompt", prompt, "Run a prompt as a new session: the result of "
             "`clinvk prompt -o json`, or with stream=1 its `-o stream-json` events as SSE.",
             {"stream": "boolean"}, PROMPT_BODY, run=True, stream=True),
    Endpoint("POST", "/v1/sessions/{id}/resume", resume, "Continue a session: the result "
             "of `clinvk resume ID -o json`, or with stream=1 its events as SSE.",
             {"stream": "boolean"}, RESUME_BODY, run=True, stream=True),
    Endpoint("POST", "/v1/sessions/{id}/cancel", cancel, "Stop the running turn, as `clinvk "
             "cancel ID`: {id, cancelled, message}.", run=True),
]


def openapi(*, allow_run: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the endpoints this server answers."""
    error = {"description": "the clinvk command failed (see docs/http-api.md)",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    paths: dict[str, Any] = {"/mcp": {"post": {
        "summary": "The MCP tools over streamable HTTP (same token).",
        "responses": {"200": {"description": "MCP messages"}}}}}
    for ep in ROUTES:
        if ep.run and not allow_run:
            continue
        params = [{"name": name, "in": "query", "required": ep.path == "/v1/search" and
                   name == "q", "schema": ({"type": "array", "items": {"type": "string"}}
                                           if kind == "array" else {"type": kind})}
                  for name, kind in ep.query.items()]
        if "{id}" in ep.path:
            params.insert(0, {"name": "id", "in": "path", "required": True,
                              "description": "a session id or unique prefix",
                              "schema": {"type": "string"}})
        content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
        if ep.stream:
            content["text/event-stream"] = {"schema": {"type": "string"}}
        op: dict[str, Any] = {"summary": ep.summary, "parameters": params,
                              "responses": {"200": {"description": "OK", "content": content}}}
        if ep.path != "/healthz":
            op["responses"].update({"400": error, "401": {"description": "no or wrong token"},
                                    "404": error, "409": error})
        else:
            op["security"] = []
        if ep.run:
            op["responses"].update({"413": error, "429": error, "504": error})
        if ep.body is not None:
            props = {name: ({"type": "array", "items": {"type": "string"}}
                            if kind == "array" else {"type": kind})
                     for name, kind in ep.body.items()}
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "properties": props, "required": ["prompt"],
                "additionalProperties": False}}}}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "clinvk", "version": __version__},
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {
                "error": {"type": "string"}, "hint": {"type": "string"},
                "exit_code": {"type": "integer"}}}}},
        "paths": paths,
    }


# --- the app ----------------------------------------------------------------------------


class Guard:
    """Bearer token on every request but /healthz (401, no detail), and bodies over
    MAX_BODY refused by their Content-Length (413) before anything reads them."""

    def __init__(self, app: ASGIApp, token: bytes) -> None:
        self.app, self.expected = app, b"Bearer " + token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
            await Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})(
                scope, receive, send)
            return
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY:
            await HTTPFailure(413, f"request body over {MAX_BODY} bytes").response()(
                scope, receive, send)
            return
        await self.app(scope, receive, send)


def _wrap(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except HTTPFailure as exc:
            return exc.response()
    return endpoint


def build(*, token: str, allow_run: bool, max_running: int, host: str,
          verbose: bool = False) -> ASGIApp:
    """The whole server: the API, /openapi.json and the MCP tools at /mcp, behind Guard."""
    from clinvk.mcpserver import build as build_mcp

    routes: list[BaseRoute] = [
        Route(ep.path, _wrap(ep.handler if allow_run or not ep.run else not_allowed),
              methods=[ep.method]) for ep in ROUTES]
    description = openapi(allow_run=allow_run)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(description)

    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    mcp = build_mcp(allow_run=allow_run, verbose=verbose)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True,
                                      host=host)
    routes.extend(mcp_app.routes)

    state = State(token.encode(), allow_run, max_running)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            state.reader.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.clinvk = state
    return Guard(app, token.encode())
