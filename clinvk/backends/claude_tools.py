"""claude's tool calls: its tool names as kinds, and how a tool_result ended.

claude reports each call as a ``tool_use`` block of an assistant message and its result
as a ``tool_result`` block of a user message, with ``tool_use_result`` (the tool's own
report) and ``tool_result_meta`` (how the permission check ended) beside it.
"""

from __future__ import annotations

from typing import Any

from clinvk.model import ToolKind, ToolStatus

# claude's tool names → kinds; MCP tools are named mcp__<server>__<tool>.
TOOL_KINDS: dict[str, ToolKind] = {
    "Read": "read", "NotebookRead": "read",
    "Write": "write",
    "Edit": "edit", "MultiEdit": "edit", "NotebookEdit": "edit",
    "Bash": "shell", "BashOutput": "shell", "KillShell": "shell", "KillBash": "shell",
    "Glob": "search", "Grep": "search", "LS": "search",
    "WebFetch": "web", "WebSearch": "web",
    "Task": "agent", "Agent": "agent",
}


def tool_kind(name: str) -> ToolKind:
    if name.startswith("mcp__"):
        return "mcp"
    return TOOL_KINDS.get(name, "other")


def meta_by_id(meta: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(meta, list):
        return {}
    return {m["id"]: m for m in meta if isinstance(m, dict) and isinstance(m.get("id"), str)}


# Why a call did not run (tool_result_meta[].non_execution_kind).
_CANCELLED = {"interrupted", "cancelled"}


def call_status(is_error: bool, meta: dict[str, Any] | None) -> ToolStatus:
    if meta is not None:
        decision = meta.get("permission_decision")
        verdict = decision.get("decision") if isinstance(decision, dict) else None
        kind = meta.get("non_execution_kind")
        if verdict == "cancelled" or kind in _CANCELLED:
            return "cancelled"
        if verdict == "reject" or isinstance(kind, str):
            return "denied"
    return "error" if is_error else "ok"


def interpreted(report: Any) -> bool:
    # Bash reports a non-zero exit it judged harmless (grep finding nothing) as a success,
    # with returnCodeInterpretation: then the exit code is not 0, and unknown.
    return isinstance(report, dict) and bool(report.get("returnCodeInterpretation"))


def result_file(report: Any) -> dict[str, Any]:
    """{"filePath": …} from claude's own report of a tool's result, where it names one."""
    if not isinstance(report, dict):
        return {}
    if isinstance(report.get("filePath"), str):
        return {"filePath": report["filePath"]}
    file = report.get("file")
    if isinstance(file, dict) and isinstance(file.get("filePath"), str):
        return {"filePath": file["filePath"]}
    return {}
