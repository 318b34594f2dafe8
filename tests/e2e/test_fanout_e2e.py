"""`clinvk compare` across the three real pinned CLIs, and a 6-task `clinvk parallel`,
against the mock model API: clinvk as a real process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import MockAPI

pytestmark = pytest.mark.e2e

PROVIDERS = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}


def test_compare_across_the_three_real_clis(cli: Any, vendor_env: dict[str, str],
                                            mock_api: MockAPI, tmp_path: Path) -> None:
    work = (tmp_path / "work").resolve()
    work.mkdir()
    ran = cli.run("compare", "-b", "claude,codex,gemini", "review this", env=vendor_env,
                  cwd=work, timeout=120)
    assert ran.code == 0, ran.err
    for backend, provider in PROVIDERS.items():
        assert f"── {backend} · ok · session " in ran.out
        assert f"MOCK {provider} reply #1: review this" in ran.out
    table = ran.out[ran.out.index("BACKEND  STATUS  TOKENS  COST"):].splitlines()
    assert [row.split()[:2] for row in table[1:]] == [
        ["claude", "ok"], ["codex", "ok"], ["gemini", "ok"]]
    assert "compare: 3 units · 3 succeeded" in ran.err
    seen = {r["provider"] for r in mock_api.requests()}
    assert seen == set(PROVIDERS.values())
    tagged = json.loads(cli.run("sessions", "list", "--json", env=vendor_env, cwd=work).out)
    tags = {s["tags"][0] for s in tagged["items"]}
    assert len(tags) == 1 and tags.pop().startswith("compare:")
    assert all(s["workdir"] == str(work) for s in tagged["items"])


def test_six_task_parallel_against_the_mock(cli: Any, vendor_env: dict[str, str],
                                            mock_api: MockAPI, tmp_path: Path) -> None:
    work = (tmp_path / "work").resolve()
    work.mkdir()
    backends = ["claude", "codex", "gemini"] * 2
    tasks = work / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"name": f"t{i}", "prompt": f"task number {i}",
                                         "backend": b}) + "\n"
                             for i, b in enumerate(backends)))
    ran = cli.run("parallel", "-f", str(tasks), "--max-parallel", "3", "-o", "json",
                  env=vendor_env, cwd=work, timeout=180)
    assert ran.code == 0, ran.err
    out = json.loads(ran.out)
    assert (out["succeeded"], out["failed"], out["timed_out"]) == (6, 0, 0)
    for i, unit in enumerate(out["results"]):
        assert unit["name"] == f"t{i}" and unit["backend"] == backends[i]
        assert unit["text"] == f"MOCK {PROVIDERS[backends[i]]} reply #1: task number {i}"
        assert unit["usage"]["output_tokens"] > 0
        shown = json.loads(cli.run("sessions", "show", unit["id"], "--json", env=vendor_env,
                                   cwd=work).out)
        assert shown["turns"][0]["response"] == unit["text"]
    prompts = sorted(r["last_user_text"] for r in mock_api.requests()
                     if r["kind"] == "generate" and r["last_user_text"].startswith("task"))
    assert sorted(set(prompts)) == [f"task number {i}" for i in range(6)]
