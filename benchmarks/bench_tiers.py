#!/usr/bin/env python3
"""clinvk's cost against a direct computation, on transcripts of long-context models.

    python benchmarks/bench_tiers.py [--sessions 200] [--seed 1] [--repo PATH]

Generates vendor transcripts of agent loops — codex rollouts (gpt-5.5, whose requests
above 272k prompt tokens cost more) and Claude Code transcripts (claude-sonnet-4-5,
above 200k) — whose prompts grow request by request as a real loop's context does,
whose turns run for minutes to hours (some across midnight), and with no vendor-reported
cost. Then it adopts them with `clinvk sessions sync`, asks `clinvk sessions stats
--json` and `--by day`, and compares both with the cost computed directly from the
generated requests: each request at the tier of its own prompt, on the UTC day it was
made (the runs set TZ=UTC). The prices are read from the price table's JSON, not
through clinvk.

``--repo`` runs another checkout's clinvk (e.g. one before per-request pricing) on the
same corpus. Exits 0 whatever the figures say (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 30
MODELS = {"codex": "gpt-5.5", "claude": "claude-sonnet-4-5"}


class Request:
    """One API request as generated: uncached input, cache read, cache write, output."""

    def __init__(self, at: datetime, fresh: int, read: int, write: int, output: int):
        self.at, self.fresh, self.read, self.write, self.output = at, fresh, read, write, output

    @property
    def prompt(self) -> int:
        return self.fresh + self.read + self.write


def rates(table: dict[str, Any], model: str) -> dict[str, Any]:
    for provider in table["providers"]:
        for entry in provider["models"]:
            if entry["id"] == model:
                (price,) = entry["prices"]  # these two models have one undated price
                return dict(price)
    raise SystemExit(f"{model} is not in the price table")


def direct_cost(price: dict[str, Any], r: Request) -> float:
    chosen = price
    for tier in price.get("tiers", []):
        if r.prompt > tier["above"]:
            chosen = tier
    read = chosen.get("cache_read", chosen["input"])
    write = chosen.get("cache_write", chosen["input"])
    read = chosen["input"] if read is None else read
    write = chosen["input"] if write is None else write
    return (r.fresh * chosen["input"] + r.output * chosen["output"] + r.read * read
            + r.write * write) / 1e6


def loop(rng: random.Random, start: datetime, backend: str) -> list[list[Request]]:
    """The requests of each turn of one session: a context that grows and is compacted."""
    turns: list[list[Request]] = []
    context = rng.randint(15_000, 60_000)
    now = start
    for _ in range(rng.randint(2, 8)):
        requests = []
        for _ in range(rng.randint(1, 14)):
            added = rng.randint(2_000, 40_000)
            write = added if backend == "claude" else 0
            fresh = rng.randint(50, 2_000) if backend == "claude" else added
            requests.append(Request(now, fresh, context, write, rng.randint(100, 6_000)))
            context += added
            if context > 330_000:  # compaction
                context = rng.randint(30_000, 80_000)
            now += timedelta(seconds=rng.randint(5, 900))
        turns.append(requests)
        now += timedelta(minutes=rng.randint(1, 600))
    return turns


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def write_codex(home: Path, cwd: str, ident: str, turns: list[list[Request]]) -> None:
    first = turns[0][0].at - timedelta(seconds=1)
    day = home / ".codex" / "sessions" / first.strftime("%Y/%m/%d")
    day.mkdir(parents=True, exist_ok=True)
    lines: list[dict[str, Any]] = [
        {"timestamp": _ts(first), "type": "session_meta", "payload": {"id": ident, "cwd": cwd}},
        {"timestamp": _ts(first), "type": "turn_context", "payload": {"model": MODELS["codex"]}}]
    total = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0,
             "reasoning_output_tokens": 0, "total_tokens": 0}

    def event(at: datetime, payload: dict[str, Any]) -> None:
        lines.append({"timestamp": _ts(at), "type": "event_msg", "payload": payload})

    for n, requests in enumerate(turns):
        begin = requests[0].at - timedelta(seconds=1)
        event(begin, {"type": "item_completed", "item": {
            "type": "UserMessage", "id": f"u{n}", "content": [{"type": "text", "text": f"task {n}"}]}})
        for i, r in enumerate(requests):
            last = {"input_tokens": r.prompt, "cached_input_tokens": r.read,
                    "output_tokens": r.output, "reasoning_output_tokens": 0,
                    "total_tokens": r.prompt + r.output}
            for key, value in last.items():
                total[key] += value
            event(r.at, {"type": "token_count",
                         "info": {"total_token_usage": dict(total), "last_token_usage": last}})
            if i < len(requests) - 1:
                event(r.at, {"type": "item_completed", "item": {
                    "type": "CommandExecution", "id": f"c{n}.{i}", "command": "ls",
                    "status": "completed", "exit_code": 0, "aggregated_output": "a.py"}})
        end = requests[-1].at
        event(end, {"type": "item_completed", "item": {
            "type": "AgentMessage", "id": f"a{n}", "content": [{"type": "Text", "text": "done"}]}})
        event(end, {"type": "task_complete"})
    name = f"rollout-{first.strftime('%Y-%m-%dT%H-%M-%S')}-{ident}.jsonl"
    (day / name).write_text("".join(json.dumps(x) + "\n" for x in lines))


def write_claude(home: Path, cwd: str, ident: str, turns: list[list[Request]]) -> None:
    project = home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd)
    project.mkdir(parents=True, exist_ok=True)
    lines: list[dict[str, Any]] = []

    def record(kind: str, at: datetime, message: dict[str, Any], **extra: Any) -> None:
        lines.append({"type": kind, "sessionId": ident, "cwd": cwd, "timestamp": _ts(at),
                      "message": message, **extra})

    for n, requests in enumerate(turns):
        record("user", requests[0].at - timedelta(seconds=1),
               {"role": "user", "content": f"task {n}"})
        for i, r in enumerate(requests):
            usage = {"input_tokens": r.fresh, "output_tokens": r.output,
                     "cache_read_input_tokens": r.read, "cache_creation_input_tokens": r.write}
            final = i == len(requests) - 1
            content = ([{"type": "text", "text": "done"}] if final else
                       [{"type": "tool_use", "id": f"t{n}.{i}", "name": "Bash",
                         "input": {"command": "ls"}}])
            record("assistant", r.at, {"id": f"msg{n}.{i}", "model": MODELS["claude"],
                                       "role": "assistant", "content": content, "usage": usage,
                                       "stop_reason": "end_turn" if final else "tool_use"},
                   requestId=f"req{n}.{i}")
            if not final:
                record("user", r.at + timedelta(seconds=1), {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": f"t{n}.{i}", "content": "a.py"}]})
    (project / f"{ident}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def clinvk(repo: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "clinvk", *args],
                          env=dict(env, PYTHONPATH=str(repo)), capture_output=True, text=True,
                          check=False, cwd=repo)
    if done.returncode != 0:
        raise SystemExit(f"clinvk {' '.join(args)}: {done.stderr}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200, help="per vendor")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=REPO, help="the clinvk checkout to run")
    args = parser.parse_args()
    table = json.loads((REPO / "clinvk" / "data" / "prices.json").read_text())
    rng = random.Random(args.seed)
    expected: dict[str, float] = defaultdict(float)
    requests = turns_n = crossing = 0
    with tempfile.TemporaryDirectory(prefix="bench-tiers-") as raw:
        root = Path(raw)
        home = root / "home"
        for backend, write in (("codex", write_codex), ("claude", write_claude)):
            price = rates(table, MODELS[backend])
            for n in range(args.sessions):
                start = START + timedelta(seconds=rng.randint(0, DAYS * 86_400))
                turns = loop(rng, start, backend)
                write(home, f"/work/{backend}/p{n % 7}", str(uuid.uuid4()), turns)
                for t in turns:
                    turns_n += 1
                    crossing += t[0].at.date() != t[-1].at.date()
                    for r in t:
                        requests += 1
                        expected[r.at.date().isoformat()] += direct_cost(price, r)
        env = dict(os.environ, HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"),
                   CODEX_HOME=str(home / ".codex"), GEMINI_CLI_HOME=str(root / "none"),
                   CLINVK_HOME=str(root / "data"), CLINVK_CONFIG=str(root / "none.toml"),
                   TZ="UTC")
        clinvk(args.repo, env, "sessions", "sync", "--from", "claude,codex")
        totals = json.loads(clinvk(args.repo, env, "sessions", "stats", "--json"))["totals"]
        days = json.loads(clinvk(args.repo, env, "sessions", "stats", "--json", "--by", "day"))
    got = {g["key"]: g["cost_usd"] or 0.0 for g in days["groups"]}
    want_total = sum(expected.values())
    off = {d: (got.get(d, 0.0), expected.get(d, 0.0)) for d in sorted(set(got) | set(expected))
           if round(got.get(d, 0.0), 2) != round(expected.get(d, 0.0), 2)}
    print(f"corpus: {2 * args.sessions} sessions, {turns_n} turns ({crossing} across midnight), "
          f"{requests} requests; clinvk at {args.repo}")
    print(f"total cost: data ${want_total:,.2f}, clinvk ${totals['cost_usd'] or 0:,.2f} "
          f"({totals['turns']} turns)")
    worst = max((abs(a - b) for a, b in off.values()), default=0.0)
    print(f"days: {len(expected)} with spending; {len(off)} differ by a cent or more "
          f"(worst ${worst:,.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
