"""A vendor reporting absurd numbers: the figure is dropped with a warning on the turn,
never stored, and the store keeps working however many such turns there are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, run_proc

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"


def claude_sample(tmp_path: Path, *, cost: str = "0.002", **usage: object) -> None:
    """A copy of the samples dir whose claude stream reports ``usage`` and ``cost`` (a
    JSON literal, so that 1e309 reaches clinvk as the vendor would write it)."""
    samples = tmp_path / "samples"
    if not samples.exists():
        shutil.copytree(SAMPLES, samples)
    lines = (SAMPLES / "claude-stream-new.jsonl").read_text().splitlines()
    out = []
    for line in lines:
        event = json.loads(line)
        if event.get("type") == "result":
            event["usage"].update(usage)
            event["total_cost_usd"] = "@COST@"
            line = json.dumps(event).replace('"@COST@"', cost)
        out.append(line)
    (samples / "claude-stream-new.jsonl").write_text("\n".join(out) + "\n")


def stored_turns(home: Path) -> list[dict]:  # type: ignore[type-arg]
    turns = []
    for path in sorted((home / "sessions").glob("*/*.json")):
        turns += json.loads(path.read_text())["turns"]
    return turns


@pytest.fixture
def absurd(fake: Fakes, tmp_path: Path) -> Fakes:
    fake.set(VENDOR_SAMPLES=str(tmp_path / "samples"))
    return fake


def test_out_of_range_tokens_leave_usage_unknown_with_a_warning(
        absurd: Fakes, workdir: Path, tmp_path: Path, clinvk_home: Path) -> None:
    claude_sample(tmp_path, input_tokens=10**20)
    ran = run_proc("prompt", "-b", "claude", "-o", "json", "hi")
    assert ran.code == 0, ran.err
    assert "warning" in ran.err and "out of range" in ran.err
    result = ran.json()
    assert result["usage"] is None and result["status"] == "ok"
    assert "usage is unknown" in result["warning"]
    assert result["text"]  # the answer is kept
    (turn,) = stored_turns(clinvk_home)
    assert turn["usage"] is None and turn["usage_total"] is None
    assert "token usage out of range" in turn["warning"]
    assert "100000000000000000000" not in (clinvk_home / "sessions").joinpath(
        *next((clinvk_home / "sessions").glob("*/*.json")).parts[-2:]).read_text()
    # Still priced: the reported cost was fine.
    assert turn["cost_usd"] == 0.002 and turn["cost_source"] == "reported"
    history = run_proc("sessions", "history", result["id"])
    assert history.code == 0 and "warning: claude reported token usage out of range" in history.out


@pytest.mark.parametrize("cost", ["1e309", "-0.5", "1e13"])
def test_out_of_range_cost_is_not_recorded(absurd: Fakes, workdir: Path, tmp_path: Path,
                                           clinvk_home: Path, cost: str) -> None:
    claude_sample(tmp_path, cost=cost)
    ran = run_proc("prompt", "-b", "claude", "-o", "stream-json", "hi")
    assert ran.code == 0, ran.err
    events = ran.events()
    usage_events = [e for e in events if e["type"] == "usage"]
    assert usage_events and all(e["cost_usd"] is None for e in usage_events)
    (turn,) = stored_turns(clinvk_home)
    assert turn["usage"]["input_tokens"] == 123  # usage itself was fine
    assert "cost out of range" in turn["warning"]
    # The reported cost is dropped; what is left is clinvk's own price (or none).
    assert turn["cost_source"] != "reported"
    assert turn["cost_usd"] is None or 0 <= turn["cost_usd"] < 1


def test_negative_tokens_are_dropped_too(absurd: Fakes, workdir: Path, tmp_path: Path,
                                         clinvk_home: Path) -> None:
    claude_sample(tmp_path, output_tokens=-7)
    ran = run_proc("prompt", "-b", "claude", "hi")
    assert ran.code == 0, ran.err
    (turn,) = stored_turns(clinvk_home)
    assert turn["usage"] is None and ">= 0" in turn["warning"]


def test_many_absurd_turns_never_brick_the_store(absurd: Fakes, workdir: Path, tmp_path: Path,
                                                 clinvk_home: Path) -> None:
    claude_sample(tmp_path, input_tokens=10**20, cache_read_input_tokens=10**30)
    for n in range(3):
        ran = run_proc("prompt", "-b", "claude", f"hi {n}")
        assert ran.code == 0, ran.err
    ran = run_proc("resume", "--last", "again")
    assert ran.code == 0, ran.err
    # Then many writes, each put into the catalog.
    store = SessionStore(clinvk_home)
    ident = next(path.stem for path, _s, _why in iter_sessions(store))
    for n in range(300):
        store.update(ident, lambda s, n=n: setattr(s, "title", f"title {n}"))
    for args in (["sessions", "list"], ["sessions", "stats"], ["sessions", "storage"],
                 ["sessions", "export", "--all"], ["sessions", "doctor"]):
        ran = run_proc(*args)
        assert ran.code == 0, (args, ran.err)
        assert "error" not in ran.err
    turns = stored_turns(clinvk_home)
    # The resume replays the untouched resume sample: only the three absurd turns lack usage.
    assert len(turns) == 4
    assert sum(t["usage"] is None and bool(t["warning"]) for t in turns) == 3


def test_resume_refuses_a_record_whose_workdir_is_not_absolute(fake: Fakes, workdir: Path,
                                                              clinvk_home: Path) -> None:
    ran = run_proc("prompt", "-b", "claude", "hi")
    assert ran.code == 0, ran.err
    (path,) = (clinvk_home / "sessions").glob("*/*.json")
    record = json.loads(path.read_text())
    record["workdir"] = "../../.."  # altered behind clinvk's back
    path.write_text(json.dumps(record))
    runs = len(fake.starts())
    resumed = run_proc("resume", path.stem, "again")
    assert resumed.code == 4, resumed.err
    assert "not an absolute path" in resumed.err and "Traceback" not in resumed.err
    assert len(fake.starts()) == runs  # the vendor never ran
