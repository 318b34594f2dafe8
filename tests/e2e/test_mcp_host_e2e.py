"""`clinvk mcp` under a real MCP host: the pinned claude CLI, run directly.

A session is first created with ``clinvk prompt`` (through the mock). Then claude
is started with ``--mcp-config`` pointing at a config that launches ``clinvk mcp``
on the same store, and the mock answers its first request with a call to the
``sessions_list`` tool claude declares for that server. The test checks that claude
declared the tool, called it, and sent back a result naming the stored session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import REPO

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e

TOOL = "mcp__clinvk__sessions_list"
FINAL = "there is one clinvk session"


def run_claude(args: list[str], env: dict[str, str], cwd: Path,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # Own process group, so a hang also takes down the MCP server claude started.
    proc = subprocess.Popen(["claude", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"claude timed out after {timeout}s\nstdout: {out[-3000:]}\n"
                    f"stderr: {err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_claude_calls_clinvk_mcp_sessions_list(cli: Any, vendor_env: dict[str, str],
                                               mock_api: MockAPI, clinvk_home: Path,
                                               tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    # A session in the store, made the ordinary way.
    made = cli.run("prompt", "-b", "claude", "-o", "json", "say hi", env=vendor_env,
                   cwd=project, timeout=120)
    assert made.code == 0, f"exit {made.code}\nstdout: {made.out}\nstderr: {made.err}"
    session_id = json.loads(made.out)["id"]
    assert isinstance(session_id, str) and session_id
    mock_api.reset()

    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"clinvk": {
        "type": "stdio",
        "command": sys.executable,
        "args": ["-m", "clinvk", "mcp"],
        "env": {"PYTHONPATH": str(REPO), "CLINVK_HOME": str(clinvk_home),
                "CLINVK_CONFIG": str(clinvk_home / "config.toml")},
    }}}))
    mock_api.tool([{"name": TOOL, "input": {}}], provider="anthropic", final=FINAL)

    # claude otherwise hides MCP tools behind its ToolSearch tool; declare them outright.
    env = {**vendor_env, "ENABLE_TOOL_SEARCH": "false"}
    ran = run_claude(["-p", "list my clinvk sessions", "--output-format", "json",
                      "--mcp-config", str(config), "--strict-mcp-config",
                      "--allowedTools", TOOL], env, project)
    explain = f"rc={ran.returncode}\nstdout: {ran.stdout[-3000:]}\nstderr: {ran.stderr[-3000:]}"
    assert ran.returncode == 0, explain
    answer = json.loads(ran.stdout)
    assert answer["is_error"] is False, explain
    declared = [r["tools"] for r in mock_api.requests("anthropic")]
    assert answer["result"] == FINAL, f"{explain}\ndeclared tools: {declared}"

    requests = mock_api.requests("anthropic")
    generate = [r for r in requests if r["kind"] == "generate"]
    assert any(TOOL in r["tools"] for r in generate), [r["tools"] for r in generate]
    assert [c["name"] for r in generate for c in r["tool_calls"]] == [TOOL], generate
    results = [res for r in generate for res in r["tool_results"]]
    assert len(results) == 1, generate
    result = results[0]
    assert result["name"] == TOOL and not result["is_error"], result
    assert session_id in result["output"], result
