"""clinvk itself, as a real process, driving the real vendor CLIs against the mock API.

For each of claude, codex and gemini:

- ``test_conversation``: new (``-o json``) → resume from *another* directory
  (``-o text``) → resume by the id prefix the text-mode hint printed
  (``-o stream-json``). Every output format is checked field by field, the mock's log
  shows the history re-sent each time, and the stored record has three turns whose
  usage and cost are per turn (never the vendor's running totals).
- ``test_failures``: an injected HTTP 400 on a resume (exit 1, the vendor's message
  on one stderr line, turn and session ``error``), then a resume that works again,
  then a model that never answers with ``--timeout 3`` (10 for gemini, whose Node
  start-up alone can take 5 s on a busy box): exit 124 within seconds, turn
  ``timeout``, no vendor process left behind.

Both also check that every request the mock saw came from 127.0.0.1. The mock's
fixed usage per model call is input 123 (67 of it cache reads, 8 cache writes),
output 45 (docs/testing.md); ``Vendor.per_call`` is one call as clinvk normalizes it,
and a turn's usage must be the sum over the calls the mock answered during it (gemini
makes two per turn: its router, then the main call).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e

ID_RE = re.compile(r"[a-z0-9]{8}")
RESULT_FIELDS = {
    "id", "backend", "backend_session_id", "model", "turn", "text", "usage", "cost_usd",
    "cost_source", "duration_s", "exit_code", "status", "error", "warning", "tool_calls",
    "files_changed",
}
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "reasoning_tokens")


@dataclass(frozen=True)
class Vendor:
    backend: str
    provider: str  # the mock's name for the API it speaks
    main_call: str  # substring of the path of the call that carries the turn
    per_call: tuple[int, int, int, int, int]  # one mock call as clinvk's Usage
    fail_count: int  # how many requests one 400 takes (claude retries a 400 itself)
    match: str  # restrict injected failures/delays to the main call
    # The reply number of the turn after a failed one: codex keeps the failed prompt
    # in its thread, claude and gemini do not.
    after_failure: int
    # --timeout for the turn whose model call never answers: long enough for the CLI
    # to reach that call (gemini's Node start-up alone takes 2-5 s), so the kill always
    # lands while it waits on the model.
    timeout: int

    def reply(self, n: int, text: str) -> str:
        return f"MOCK {self.provider} reply #{n}: {text}"


VENDORS = {
    # clinvk's input_tokens exclude cached ones: claude reports them that way, codex's
    # include reads and writes (123 - 67 - 8), gemini's include reads (123 - 67) and
    # gemini has no cache writes.
    "claude": Vendor(backend="claude", provider="anthropic", main_call="/v1/messages",
                     per_call=(123, 45, 67, 8, 0), fail_count=6, match="",
                     after_failure=2, timeout=3),
    "codex": Vendor(backend="codex", provider="openai", main_call="/v1/responses",
                    per_call=(48, 45, 67, 8, 0), fail_count=1, match="",
                    after_failure=3, timeout=3),
    # gemini's "auto" model adds a router generateContent call to every turn; a failure
    # there is swallowed, so faults target the main streamGenerateContent call.
    "gemini": Vendor(backend="gemini", provider="gemini", main_call="streamGenerateContent",
                     per_call=(56, 45, 67, 0, 0), fail_count=1, match="streamGenerateContent",
                     after_failure=2, timeout=10),
}

backends = pytest.mark.parametrize("vendor", list(VENDORS.values()), ids=list(VENDORS))


# --------------------------------------------------------------------------- helpers
class Harness:
    """Runs clinvk for one test and keeps the slice of the mock's log each run caused."""

    def __init__(self, cli: Any, env: dict[str, str], mock: MockAPI, vendor: Vendor,
                 tmp_path: Path) -> None:
        self.cli, self.env, self.mock, self.vendor = cli, env, mock, vendor
        self.work = (tmp_path / "work").resolve()
        self.elsewhere = (tmp_path / "elsewhere").resolve()
        self.work.mkdir()
        self.elsewhere.mkdir()
        self.seen: list[dict[str, Any]] = []  # requests from before a mock reset

    def run(self, *args: str, cwd: Path | None = None) -> tuple[Any, list[dict[str, Any]]]:
        """clinvk ARGS as a process (in the work dir unless ``cwd``); its result and the
        model requests it caused, with their bodies."""
        before = len(self.mock.requests())
        ran = self.cli.run(*args, env=self.env, cwd=cwd or self.work, timeout=90)
        return ran, self.mock.requests(bodies=True)[before:]

    def reset_mock(self) -> None:
        """Drop the mock's rules (and release delayed requests), keeping its log here."""
        self.seen.extend(self.mock.requests())
        self.mock.reset()

    def all_requests(self) -> list[dict[str, Any]]:
        return self.seen + self.mock.requests()

    def show(self, ident: str) -> dict[str, Any]:
        ran = self.cli.run("sessions", "show", ident, "--json", env=self.env, cwd=self.work)
        assert ran.code == 0, explain(ran)
        record: dict[str, Any] = json.loads(ran.out)
        return record

    def main_calls(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [c for c in calls if c["kind"] == "generate" and self.vendor.main_call in c["path"]]

    def turn_usage(self, calls: list[dict[str, Any]]) -> dict[str, int]:
        """What clinvk must record for a turn that made these calls: the sum of them."""
        answered = [c for c in calls if c["kind"] == "generate" and c["status"] == 200]
        return dict(zip(USAGE_FIELDS, (len(answered) * n for n in self.vendor.per_call),
                        strict=True))

    def vendor_ids(self, calls: list[dict[str, Any]]) -> set[str]:
        """The conversation id the vendor itself used for these calls (not clinvk's view)."""
        if self.vendor.backend == "claude":
            return {c["headers"].get("x-claude-code-session-id") for c in self.main_calls(calls)}
        if self.vendor.backend == "codex":
            return {c["headers"].get("thread-id") for c in self.main_calls(calls)}
        # gemini sends no id on the wire: the ids of every chat log it has written.
        chats = Path(self.env["HOME"]).glob(".gemini/tmp/*/chats/session-*.json*")
        ids = set()
        for chat in chats:
            head = chat.read_text().splitlines()[0]
            ids.add(json.loads(head).get("sessionId"))
        return ids


def explain(ran: Any) -> str:
    return f"exit {ran.code}\nstdout: {ran.out[-3000:]}\nstderr: {ran.err[-3000:]}"


def expected_cost(vendor: Vendor, turn: dict[str, Any]) -> tuple[Any, str, Any]:
    """(cost_usd, cost_source, price_source) clinvk must have stored for a turn."""
    from clinvk.model import Usage
    from clinvk.pricing import compute_cost

    if turn["usage"] is None:
        return None, "unpriced", None
    # The test's config is empty: no [pricing] overrides, only the built-in table.
    by_model = turn.get("usage_by_model")
    if by_model:
        # gemini's router and main model, each at its own price (clinvk.turn._cost).
        parts = [compute_cost(name, Usage(**u), {}) for name, u in by_model.items()]
        if any(cost is None for cost, _src, _where in parts):
            return None, "unpriced", None
        return sum(cost for cost, _src, _where in parts), "computed", parts[0][2]
    return compute_cost(turn["model"], Usage(**turn["usage"]), {})


def check_cost(vendor: Vendor, turn: dict[str, Any], *, claude_cost: float | None = None) -> None:
    if vendor.backend == "claude":
        # claude reports its own cost; clinvk must keep this invocation's share, not
        # the conversation's running total that claude puts in total_cost_usd.
        assert turn["cost_source"] == "reported", turn
        assert turn["cost_usd"] == claude_cost, turn
        return
    cost, source, _price_source = expected_cost(vendor, turn)
    assert (turn["cost_source"], turn["cost_usd"]) == (source, cost), turn
    if "price_source" in turn:  # the stored record has it, the json output does not
        assert turn["price_source"] == _price_source, turn


def check_result(obj: dict[str, Any], vendor: Vendor, *, ident: str | None, bsid: str | None,
                 turn: int, text: str, usage: dict[str, int]) -> None:
    """The -o json object / stream-json result event of a successful turn."""
    assert set(obj) - {"type"} == RESULT_FIELDS, obj
    if ident is not None:
        assert obj["id"] == ident, obj
    assert ID_RE.fullmatch(obj["id"]), obj
    assert obj["backend"] == vendor.backend
    if bsid is not None:
        assert obj["backend_session_id"] == bsid, obj
    assert isinstance(obj["backend_session_id"], str) and obj["backend_session_id"]
    assert obj["turn"] == turn
    assert obj["text"] == text
    assert obj["usage"] == usage
    assert (obj["status"], obj["error"], obj["exit_code"]) == ("ok", None, 0), obj
    assert isinstance(obj["duration_s"], float) and 0 < obj["duration_s"] < 60, obj


def check_model(vendor: Vendor, model: Any, calls: list[dict[str, Any]]) -> None:
    asked = {c["model"] for c in calls if c["kind"] == "generate"}
    if vendor.backend == "claude":
        assert model in asked, (model, asked)
    elif vendor.backend == "gemini":
        # gemini reports its "auto" router setting; clinvk records the model that
        # answered (the main streamGenerateContent call), not the router's.
        answered = {c["model"] for c in calls if vendor.main_call in c["path"]}
        assert model in answered and len(answered) == 1, (model, answered)
    else:
        # codex names no model in `exec --json`; clinvk takes it from codex's config,
        # which is what codex asked the API for.
        assert model in asked, (model, asked)


def processes_with_env(marker: str) -> list[str]:
    """Live processes whose environment contains ``marker`` (Linux /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone, or not ours
        # A zombie's environ reads empty, so it never matches: it is dead already.
        if marker.encode() in environ:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def wait_until(check: Callable[[], list[str]], seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    left = check()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = check()
    return left


# --------------------------------------------------------------------------- tests
@backends
def test_conversation(vendor: Vendor, cli: Any, vendor_env: dict[str, str], mock_api: MockAPI,
                      tmp_path: Path) -> None:
    h = Harness(cli, vendor_env, mock_api, vendor, tmp_path)

    # 1. A new session, -o json: one object when the turn is over.
    ran, calls1 = h.run("prompt", "-b", vendor.backend, "-o", "json", "say hi")
    assert ran.code == 0, explain(ran)
    assert ran.err == "", explain(ran)
    first = json.loads(ran.out)
    ident, bsid = first["id"], first["backend_session_id"]
    usage1 = h.turn_usage(calls1)
    check_result(first, vendor, ident=None, bsid=None, turn=1,
                 text=vendor.reply(1, "say hi"), usage=usage1)
    check_model(vendor, first["model"], calls1)
    assert h.vendor_ids(calls1) == {bsid}, (h.vendor_ids(calls1), bsid)
    claude_cost = first["cost_usd"]
    if vendor.backend == "claude":
        assert isinstance(claude_cost, float) and claude_cost > 0, first
    # The json object carries the turn's cost; the stored turn says how it was priced
    # (gemini: per model, which only the record lists).
    stored_first = h.show(ident)["turns"][0]
    assert (first["cost_usd"], first["cost_source"]) == (stored_first["cost_usd"],
                                                         stored_first["cost_source"])
    check_cost(vendor, stored_first, claude_cost=claude_cost)

    # 2. Resume from another directory, -o text: the answer streams to stdout, one
    #    line on stderr names the session and how to go on. The vendor still runs
    #    in the session's workdir (gemini would not find the conversation elsewhere).
    ran, calls2 = h.run("resume", ident, "-o", "text", "again", cwd=h.elsewhere)
    assert ran.code == 0, explain(ran)
    assert ran.out == vendor.reply(2, "again") + "\n", explain(ran)
    hint = re.fullmatch(
        rf'session {ident} \({vendor.backend}\) · resume: clinvk resume ([a-z0-9]+) "…"\n',
        ran.err)
    assert hint, explain(ran)
    prefix = hint.group(1)
    assert 4 <= len(prefix) <= len(ident) and ident.startswith(prefix)
    for call in h.main_calls(calls2):
        body = json.dumps(call["body"])
        assert str(h.work) in body and str(h.elsewhere) not in body, "vendor ran in the wrong dir"

    # 3. Resume by the prefix the hint printed, -o stream-json: one event per line.
    ran, calls3 = h.run("resume", prefix, "-o", "stream-json", "third")
    assert ran.code == 0, explain(ran)
    assert ran.err == "", explain(ran)
    lines = ran.out.splitlines()
    assert ran.out.endswith("\n") and all(lines), explain(ran)
    events = [json.loads(line) for line in lines]
    kinds = [e["type"] for e in events]
    assert re.fullmatch(r"session (text )+usage result", " ".join(kinds)), kinds
    # The session event comes before the model answers: gemini names its "auto" router
    # setting there; the result names the model that answered.
    started_model = "auto" if vendor.backend == "gemini" else first["model"]
    assert events[0] == {"type": "session", "id": ident, "backend": vendor.backend,
                         "backend_session_id": bsid, "model": started_model}, events[0]
    deltas = [e["text"] for e in events if e["type"] == "text"]
    assert "".join(deltas) == vendor.reply(3, "third"), deltas
    if vendor.backend == "gemini":
        assert len(deltas) == 3, deltas  # the mock's three deltas, passed on as they came
    usage3 = h.turn_usage(calls3)
    usage_event = events[-2]
    assert set(usage_event) == {"type", "usage", "cost_usd"}
    assert usage_event["usage"] == usage3
    assert usage_event["cost_usd"] == (claude_cost if vendor.backend == "claude" else None)
    result = events[-1]
    check_result(result, vendor, ident=ident, bsid=bsid, turn=3, text=vendor.reply(3, "third"),
                 usage=usage3)

    # The mock saw the whole history re-sent each time: user turns 1, 2, 3.
    main = [(c["user_turns"], c["last_user_text"])
            for c in h.main_calls(calls1 + calls2 + calls3)]
    assert main == [(1, "say hi"), (2, "again"), (3, "third")], main
    assert h.vendor_ids(calls2 + calls3) == {bsid}

    # 4. The stored record.
    record = h.show(ident)
    assert (record["status"], record["reason"]) == ("active", None)
    assert record["backend"] == vendor.backend
    assert record["workdir"] == str(h.work)
    assert record["backend_session_id"] == bsid
    assert (record["pid"], record["pgid"]) == (None, None)
    turns = record["turns"]
    assert [(t["index"], t["prompt"], t["response"], t["status"], t["exit_code"], t["error"])
            for t in turns] == [
        (1, "say hi", vendor.reply(1, "say hi"), "ok", 0, None),
        (2, "again", vendor.reply(2, "again"), "ok", 0, None),
        (3, "third", vendor.reply(3, "third"), "ok", 0, None),
    ]
    assert [t["backend_session_id"] for t in turns] == [bsid] * 3
    # Per turn, never cumulative: codex reports thread totals (123, 246, 369 input)
    # and claude's total_cost_usd grows on every resume.
    assert [t["usage"] for t in turns] == [usage1, h.turn_usage(calls2), usage3]
    assert usage1 == usage3
    for t in turns:
        check_cost(vendor, t, claude_cost=claude_cost)
    assert turns[2]["cost_usd"] == result["cost_usd"] and turns[0]["cost_usd"] == first["cost_usd"]

    assert {r["client"] for r in h.all_requests()} == {"127.0.0.1"}


@backends
def test_failures(vendor: Vendor, cli: Any, vendor_env: dict[str, str], mock_api: MockAPI,
                  tmp_path: Path) -> None:
    h = Harness(cli, vendor_env, mock_api, vendor, tmp_path)
    ran, _ = h.run("prompt", "-b", vendor.backend, "-o", "json", "say hi")
    assert ran.code == 0, explain(ran)
    first = json.loads(ran.out)
    ident, bsid = first["id"], first["backend_session_id"]

    # 1. The model API answers 400: exit 1, the vendor's message on one line.
    message = f"e2e quota exhausted for {vendor.backend}"
    mock_api.fail(400, message=message, count=vendor.fail_count, provider=vendor.provider,
                  match=vendor.match)
    ran, calls = h.run("resume", ident, "-o", "json", "this one fails")
    assert ran.code == 1, explain(ran)
    assert [c["status"] for c in h.main_calls(calls)][-1] == 400, calls
    failed = json.loads(ran.out)
    assert (failed["status"], failed["turn"], failed["id"]) == ("error", 2, ident), failed
    assert failed["exit_code"] not in (0, None) and failed["text"] == "", failed
    assert failed["error"] is not None and message in failed["error"], failed
    assert "\n" not in failed["error"]
    errors = [line for line in ran.err.splitlines() if message in line]
    assert errors == [f"clinvk: error: {vendor.backend}: {failed['error']}"], explain(ran)
    # Nothing else but that line and clinvk's hint: no vendor stack traces or noise.
    assert all(line.startswith(("clinvk: error:", "hint:")) for line in ran.err.splitlines()), \
        explain(ran)
    # claude's rule may not be used up (how often claude retries is its business).
    h.reset_mock()

    record = h.show(ident)
    assert (record["status"], record["reason"]) == ("error", "error")
    assert record["backend_session_id"] == bsid
    bad = record["turns"][1]
    assert (bad["status"], bad["error"], bad["prompt"]) == ("error", failed["error"],
                                                           "this one fails")
    # Only what the failed turn really used: nothing for claude and codex, the router
    # call for gemini. Never an earlier turn's usage or cost again.
    expected = h.turn_usage(calls)
    if any(expected.values()):
        assert bad["usage"] == expected, bad
    else:
        assert bad["usage"] in (None, expected), bad
    if vendor.backend == "claude":
        assert (bad["cost_usd"], bad["cost_source"]) == (0.0, "reported"), bad
    else:
        check_cost(vendor, bad)

    # 2. The session stays resumable and recovers.
    ran, calls = h.run("resume", ident, "ok now")
    assert ran.code == 0, explain(ran)
    assert ran.out == vendor.reply(vendor.after_failure, "ok now") + "\n", explain(ran)
    record = h.show(ident)
    assert (record["status"], record["reason"]) == ("active", None)
    assert [t["status"] for t in record["turns"]] == ["ok", "error", "ok"]
    assert record["turns"][2]["usage"] == h.turn_usage(calls)

    # 3. The model never answers: --timeout kills the vendor's process group.
    mock_api.delay(30, provider=vendor.provider, match=vendor.match)
    try:
        started = time.monotonic()
        ran, calls = h.run("resume", ident, "--timeout", str(vendor.timeout), "-o", "json",
                           "slow")
        elapsed = time.monotonic() - started
        assert ran.code == 124, explain(ran)
        # The limit, then SIGTERM and at most 2 s to SIGKILL, plus clinvk's start-up.
        assert vendor.timeout <= elapsed < vendor.timeout + 8, elapsed
        # The kill came while the vendor waited on the model, not before it got there.
        assert [c["last_user_text"] for c in h.main_calls(calls)] == ["slow"], calls
        slow = json.loads(ran.out)
        said = f"timed out after {vendor.timeout}s"
        assert (slow["status"], slow["error"], slow["turn"]) == ("timeout", said, 4), slow
        assert f"clinvk: error: {vendor.backend} {said}" in ran.err, explain(ran)
        left = wait_until(lambda: processes_with_env(vendor_env["HOME"]), 3)
        assert left == [], f"vendor processes outlived the timeout: {left}"
    finally:
        h.reset_mock()  # releases the delayed request

    record = h.show(ident)
    assert (record["status"], record["reason"]) == ("error", "timeout")
    assert (record["pid"], record["pgid"]) == (None, None)
    assert record["turns"][3]["status"] == "timeout"
    assert record["backend_session_id"] == bsid

    assert {r["client"] for r in h.all_requests()} == {"127.0.0.1"}
