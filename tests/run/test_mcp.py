"""`clinvk mcp`: the SDK's own stdio client against a real `clinvk mcp` process.

The store is made by real clinvk commands with the fake vendors (tests/fakes); every
tool's structured result is compared with what the CLI's `--json` prints for the same
question, and errors come back as tool errors carrying the CLI's message and exit code.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import pytest

from tests.conftest import REPO, cli_json, run_clinvk
from tests.run.conftest import Fakes

pytest.importorskip("mcp")

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

READ_TOOLS = {"sessions_list", "session_show", "session_history", "usage_stats", "search",
              "current_session", "recap"}
RUN_TOOLS = {"prompt", "resume", "cancel"}


def with_client(body: Callable[[ClientSession], Awaitable[None]], *flags: str,
                errlog: TextIO = sys.stderr) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    params = StdioServerParameters(command=sys.executable, args=["-m", "clinvk", "mcp", *flags],
                                   env=env)

    async def main() -> None:
        with anyio.fail_after(120):
            async with stdio_client(params, errlog) as (read, write), \
                    ClientSession(read, write) as s:
                await s.initialize()
                await body(s)

    anyio.run(main)


@pytest.fixture
def store(fake: Fakes, workdir: Path) -> dict[str, str]:
    """Two sessions made by `clinvk prompt` (claude twice, codex once), one resumed."""
    first = cli_json("prompt", "-b", "claude", "-o", "json", "-w", str(workdir),
                     "find the parser bug")
    second = cli_json("prompt", "-b", "codex", "-o", "json", "-w", str(workdir),
                      "write the changelog")
    cli_json("resume", first["id"], "-o", "json", "now add a test")
    return {"first": first["id"], "second": second["id"]}


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def test_read_tools_match_the_cli_json(store: dict[str, str], workdir: Path) -> None:
    first = store["first"]
    expected = {
        "list": cli_json("sessions", "list", "--json"),
        "codex": cli_json("sessions", "list", "--json", "-b", "codex"),
        "show": cli_json("sessions", "show", first, "--json"),
        "history": cli_json("sessions", "history", first, "--json"),
        "stats": cli_json("sessions", "stats", "--json", "--by", "backend"),
        "search": cli_json("sessions", "list", "--json", "-q", "changelog"),
        "current": cli_json("sessions", "current", "--json", cwd=workdir),
        "recap": cli_json("sessions", "recap", "--json"),
    }
    assert expected["list"]["total"] == 2 and expected["search"]["total"] == 1
    got: dict[str, Any] = {}

    async def body(s: ClientSession) -> None:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == READ_TOOLS
        props = tools["sessions_list"].input_schema["properties"]
        assert {"backend", "status", "tag", "search", "range", "limit", "offset"} <= set(props)
        assert tools["session_show"].input_schema["required"] == ["id"]
        got["list"] = structured(await s.call_tool("sessions_list", {}))
        got["codex"] = structured(await s.call_tool("sessions_list", {"backend": "codex"}))
        got["show"] = structured(await s.call_tool("session_show", {"id": first[:6]}))
        got["history"] = structured(await s.call_tool("session_history", {"id": first}))
        got["stats"] = structured(await s.call_tool("usage_stats", {"by": "backend"}))
        got["search"] = structured(await s.call_tool("search", {"text": "changelog"}))
        got["current"] = structured(await s.call_tool("current_session",
                                                      {"workdir": str(workdir)}))
        got["recap"] = structured(await s.call_tool("recap", {}))

    with_client(body)
    for key in ("list", "codex", "show", "history", "search", "current"):
        assert got[key] == expected[key], key
    # stats and recap carry the moment they were asked: compare what does not move.
    assert got["stats"]["totals"] == expected["stats"]["totals"]
    assert got["stats"]["groups"] == expected["stats"]["groups"]
    assert got["recap"]["week"]["turns"] == expected["recap"]["week"]["turns"] == 3
    assert len(got["show"]["turns"]) == 2


def test_errors_are_tool_errors_and_the_server_lives_on(store: dict[str, str],
                                                       tmp_path: Path) -> None:
    ran = run_clinvk("sessions", "show", "zzzz9999")
    assert ran.code == 1
    cli_message = ran.err.splitlines()[0]
    errlog = tmp_path / "mcp-stderr.log"

    async def body(s: ClientSession) -> None:
        missing = await s.call_tool("session_show", {"id": "zzzz9999"})
        assert missing.is_error
        text = missing.content[0].text  # type: ignore[union-attr]
        # As docs/mcp.md shows it: the CLI's lines, then the exit code and its meaning.
        assert text == ran.err + "(exit code 1: error)"
        assert text.startswith(cli_message)
        bad = await s.call_tool("sessions_list", {"status": "bogus"})
        assert bad.is_error and "invalid status filter" in bad.content[0].text  # type: ignore[union-attr]
        empty = await s.call_tool("current_session", {"workdir": str(tmp_path)})
        assert empty.is_error and "no active session" in empty.content[0].text  # type: ignore[union-attr]
        # Still serving after the errors.
        assert structured(await s.call_tool("sessions_list", {}))["total"] == 2

    with errlog.open("w") as log:
        with_client(body, errlog=log)
    assert errlog.read_text() == ""  # no library log lines without --verbose


def test_values_like_options_and_huge_numbers(store: dict[str, str]) -> None:
    """A value beginning with `-` is a value, never an option of the command run; a
    number past SQLite's range is a tool error naming the bound."""
    async def body(s: ClientSession) -> None:
        found = structured(await s.call_tool("search", {"text": "--force"}))
        assert found["total"] == 0
        listed = structured(await s.call_tool("sessions_list", {"search": "--help"}))
        assert listed["total"] == 0
        since = await s.call_tool("usage_stats", {"since": "--help"})
        assert since.is_error
        assert since.content[0].text.startswith("clinvk: error: invalid date: '--help'")  # type: ignore[union-attr]
        for tool, args in (("recap", {"limit": 10**30}), ("sessions_list", {"limit": 10**30}),
                           ("sessions_list", {"offset": 10**30}),
                           ("search", {"text": "x", "limit": 10**30})):
            huge = await s.call_tool(tool, args)
            assert huge.is_error, (tool, args)
            text = huge.content[0].text  # type: ignore[union-attr]
            assert "must be at most 9223372036854775807" in text, (tool, text)

    with_client(body)


def test_resources_read_the_record_and_the_markdown_transcript(store: dict[str, str]) -> None:
    first = store["first"]
    record = cli_json("sessions", "show", first, "--json")
    transcript = run_clinvk("sessions", "export", first, "--format", "markdown").out

    async def body(s: ClientSession) -> None:
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert templates == {"clinvk://sessions/{id}", "clinvk://sessions/{id}/transcript"}
        got = await s.read_resource(f"clinvk://sessions/{first}")
        assert json.loads(got.contents[0].text) == record  # type: ignore[union-attr]
        md = await s.read_resource(f"clinvk://sessions/{first}/transcript")
        assert md.contents[0].text == transcript  # type: ignore[union-attr]
        assert "find the parser bug" in transcript and "now add a test" in transcript

    with_client(body)


def test_run_tools_only_with_allow_run(store: dict[str, str], workdir: Path,
                                       fake: Fakes) -> None:
    async def read_only(s: ClientSession) -> None:
        assert not {t.name for t in (await s.list_tools()).tools} & RUN_TOOLS
        refused = await s.call_tool("prompt", {"prompt": "hi"})
        assert refused.is_error

    with_client(read_only)
    got: dict[str, Any] = {}

    async def allowed(s: ClientSession) -> None:
        assert {t.name for t in (await s.list_tools()).tools} == READ_TOOLS | RUN_TOOLS
        got["new"] = structured(await s.call_tool(
            "prompt", {"prompt": "summarize the repo", "backend": "gemini",
                       "workdir": str(workdir)}))
        got["resumed"] = structured(await s.call_tool(
            "resume", {"id": got["new"]["id"], "prompt": "shorter please"}))
        idle = await s.call_tool("cancel", {"id": store["second"]})
        assert idle.is_error
        got["idle"] = idle.content[0].text  # type: ignore[union-attr]

    with_client(allowed, "--allow-run")
    sid = got["new"]["id"]
    assert got["resumed"]["id"] == sid
    record = cli_json("sessions", "show", sid, "--json")
    assert record["backend"] == "gemini"
    assert [t["prompt"] for t in record["turns"]] == ["summarize the repo", "shorter please"]
    assert [r["cwd"] for r in fake.starts()][-2:] == [str(workdir)] * 2
    cli = run_clinvk("cancel", store["second"])
    assert cli.code != 0 and cli.err.splitlines()[0] in got["idle"]
    assert f"exit code {cli.code}:" in got["idle"]


@pytest.mark.parametrize(("args", "text"), [(("sessions", "show", "--", "a\ud800b"), None),
                                            (("prompt", "-"), "a\udfffb")])
def test_a_lone_surrogate_is_a_command_failure_not_a_crash(args: tuple[str, ...],
                                                           text: str | None) -> None:
    """What the servers hand a child clinvk: text no UTF-8 can carry is refused as the
    command's own failure (a tool error, a 400), before any process starts."""
    import asyncio

    from clinvk.childcli import CommandFailed, clinvk

    with pytest.raises(CommandFailed) as failed:
        asyncio.run(clinvk(*args, input=text))
    assert failed.value.code == 1
    assert failed.value.message == ("the request holds text that is not valid Unicode "
                                    "(a lone surrogate)")
