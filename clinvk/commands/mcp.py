"""`clinvk mcp`: the MCP server over stdio (clinvk.mcpserver), if the SDK is installed."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from clinvk.errors import ClinvkError


def mcp(*, allow_run: Annotated[bool, Parameter(negative="")] = False,
        verbose: bool = False) -> int:
    """Serve the session store to an agent as an MCP server on stdin/stdout.

    Read-only tools: sessions_list, session_show, session_history, usage_stats, search,
    current_session, recap; resources clinvk://sessions/{id} and
    clinvk://sessions/{id}/transcript. Needs the server extra:
    pip install 'clinvk[server]'.

    Example: clinvk mcp --allow-run   (register it: claude mcp add clinvk -- clinvk mcp)

    Parameters
    ----------
    allow_run
        Also offer the tools that start or stop turns: prompt, resume, cancel.
    verbose
        Log each request of the MCP library to stderr (silent otherwise).
    """
    try:
        from clinvk.mcpserver import serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("mcp", "anyio"):
            raise
        raise ClinvkError("the MCP server needs the mcp package: pip install 'clinvk[server]'",
                          hint="then: clinvk mcp") from None

    serve(allow_run=allow_run, verbose=verbose)
    return 0
