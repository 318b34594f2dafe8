"""The MCP server of `clinvk mcp`: clinvk's store as tools and resources over stdio.

Built on the official `mcp` SDK (the optional `clinvk[server]` extra), imported only
here. Every tool runs the clinvk command it names as a child process with `--json`
(or `-o json`), so its structured result is exactly what the CLI prints and its
errors carry the CLI's own message and exit code; a failing command becomes an MCP
tool error, never a crash of the server.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from clinvk import __version__
from clinvk.childcli import CommandFailed, clinvk, opt, tags

RangeName = Literal["today", "yesterday", "7d", "30d", "thismonth", "lastmonth", "all"]
ByName = Literal["backend", "model", "day", "week", "month", "workdir", "tag", "tool"]

INSTRUCTIONS = (
    "clinvk records every conversation with the coding-agent CLIs (claude, codex, gemini) "
    "as a session. Ask it which sessions exist, what they said, what they cost, and which "
    "session belongs to a working directory.")


async def as_json(*args: str, cwd: str | None = None, input: str | None = None
                  ) -> dict[str, Any]:
    """The JSON a clinvk command prints; a ToolError with its message when it fails."""
    try:
        data = json.loads(await clinvk(*args, cwd=cwd, input=input))
    except CommandFailed as exc:
        raise ToolError(str(exc)) from None
    return data if isinstance(data, dict) else {"result": data}


class PlainToolErrors:
    """A tool error reads as the CLI's own message (docs/mcp.md), without the SDK's
    "Error executing tool NAME: " before it."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
                       ) -> HandlerResult:
        result = await call_next(ctx)
        name = ctx.params.get("name") if ctx.method == "tools/call" and ctx.params else None
        if isinstance(result, dict) and result.get("isError") and isinstance(name, str):
            prefix = f"Error executing tool {name}: "
            for block in result.get("content") or []:
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    block["text"] = block["text"].removeprefix(prefix)
        return result


def build(*, allow_run: bool, verbose: bool = False) -> MCPServer:
    """The server: read-only tools and resources, plus the run tools with allow_run.
    The SDK logs (a line per request, per failed tool) go to stderr only if verbose."""
    server: MCPServer = MCPServer("clinvk", version=__version__, instructions=INSTRUCTIONS,
                                  log_level="DEBUG" if verbose else "CRITICAL",
                                  middleware=[PlainToolErrors()])

    @server.tool()
    async def sessions_list(backend: str | None = None, status: str | None = None,
                            tag: list[str] | None = None, search: str | None = None,
                            range: RangeName | None = None, since: str | None = None,
                            workdir: str | None = None,
                            origin: Literal["clinvk", "native"] | None = None,
                            limit: int = 20, offset: int = 0) -> dict[str, Any]:
        """Sessions, newest first, as `clinvk sessions list --json`: {"items", "total",
        "limit", "offset"}. workdir keeps only the sessions of that directory; limit 0
        means all."""
        return await as_json(
            "sessions", "list", "--json", *opt("--limit", limit), *opt("--offset", offset),
            *opt("--backend", backend), *opt("--status", status), *tags(tag),
            *opt("--search", search), *opt("--range", range), *opt("--since", since),
            *opt("--origin", origin), *opt("--here", workdir is not None), cwd=workdir)

    @server.tool()
    async def session_show(id: str) -> dict[str, Any]:
        """One session's whole record (turns and tool calls included), as
        `clinvk sessions show ID --json`. id: the session id or a unique prefix."""
        return await as_json("sessions", "show", "--json", "--", id)

    @server.tool()
    async def session_history(id: str, tools: bool = False) -> dict[str, Any]:
        """Every turn of a session, {"id", "turns"}, as `clinvk sessions history ID --json`;
        with tools, every tool call instead: {"id", "tool_calls"}."""
        return await as_json("sessions", "history", "--json", *opt("--tools", tools), "--", id)

    @server.tool()
    async def usage_stats(range: RangeName | None = None, since: str | None = None,
                          until: str | None = None, by: ByName | None = None,
                          backend: str | None = None,
                          tag: list[str] | None = None) -> dict[str, Any]:
        """Sessions, turns, time, tokens and cost, optionally one group per `by`, as
        `clinvk sessions stats --json`."""
        return await as_json(
            "sessions", "stats", "--json", *opt("--range", range), *opt("--since", since),
            *opt("--until", until), *opt("--by", by), *opt("--backend", backend),
            *tags(tag))

    @server.tool()
    async def search(text: str, limit: int = 20) -> dict[str, Any]:
        """Sessions whose titles, prompts, answers or tool calls contain text, as
        `clinvk sessions list -q TEXT --json`."""
        return await as_json("sessions", "list", "--json", *opt("--search", text),
                             *opt("--limit", limit))

    @server.tool()
    async def current_session(workdir: str) -> dict[str, Any]:
        """The most recently used session of workdir that is not paused or completed, as
        `clinvk sessions current --json` run there."""
        return await as_json("sessions", "current", "--json", cwd=workdir)

    @server.tool()
    async def recap(limit: int = 5) -> dict[str, Any]:
        """Today and this week at a glance, running turns and the latest answers, as
        `clinvk sessions recap --json`."""
        return await as_json("sessions", "recap", "--json", *opt("--limit", limit))

    if allow_run:
        @server.tool()
        async def prompt(prompt: str, backend: str | None = None, model: str | None = None,
                         workdir: str | None = None) -> dict[str, Any]:
            """Send a prompt to a backend and record a new session; returns the result of
            `clinvk prompt -o json`."""
            # The prompt goes on stdin: no argv length limit, never read as a flag.
            return await as_json("prompt", "-o", "json", *opt("--backend", backend),
                                 *opt("--model", model), *opt("--workdir", workdir),
                                 "-", input=prompt)

        @server.tool()
        async def resume(id: str, prompt: str) -> dict[str, Any]:
            """Continue session id with another prompt; returns the result of
            `clinvk resume ID -o json`."""
            return await as_json("resume", "-o", "json", "--", id, "-", input=prompt)

        @server.tool()
        async def cancel(id: str) -> dict[str, Any]:
            """Stop the turn session id is running, as `clinvk cancel ID`."""
            try:
                said = await clinvk("cancel", "--", id)
            except CommandFailed as exc:
                raise ToolError(str(exc)) from None
            return {"id": id, "cancelled": True, "message": said.strip()}

    @server.resource("clinvk://sessions/{id}", mime_type="application/json",
                     description="A session's whole record, as `clinvk sessions show ID --json`.")
    async def session_record(id: str) -> str:
        try:
            return await clinvk("sessions", "show", "--json", "--", id)
        except CommandFailed as exc:
            raise ResourceError(str(exc)) from None

    @server.resource("clinvk://sessions/{id}/transcript", mime_type="text/markdown",
                     description="A session as a Markdown transcript, as "
                                 "`clinvk sessions export ID --format markdown`.")
    async def session_transcript(id: str) -> str:
        try:
            return await clinvk("sessions", "export", "--format", "markdown", "--", id)
        except CommandFailed as exc:
            raise ResourceError(str(exc)) from None

    return server


def serve(*, allow_run: bool, verbose: bool = False) -> None:
    """Serve on stdin/stdout until the client closes them."""
    build(allow_run=allow_run, verbose=verbose).run("stdio")
