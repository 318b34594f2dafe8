"""Numbers beyond the record's bounds in a store (written by an older clinvk, or by
hand): they never brick the store, `doctor` names them and `--fix` drops them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import add_session, run_clinvk

READERS = (["sessions", "list"], ["sessions", "stats"], ["sessions", "storage"],
           ["sessions", "export", "--all"])


def rewrite(store: SessionStore, ident: str, change) -> Path:  # type: ignore[no-untyped-def]
    """Edit a session file behind clinvk's back, as an older clinvk could have written it."""
    path = store.path_for(ident)
    record = json.loads(path.read_text())
    change(record)
    # Replaced, not written in place: the shard's mtime tells the index to look again.
    tmp = path.with_name("edit.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, path)
    for changed in (path, path.parent):  # as a later edit would, whatever the clock's grain
        st = changed.stat()
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    return path


def test_old_record_with_absurd_tokens_is_skipped_then_repaired(store: SessionStore) -> None:
    bad = add_session(store, title="absurd", turns=2)
    good = add_session(store, title="fine")

    def absurd(record: dict) -> None:  # type: ignore[type-arg]
        record["turns"][1]["usage"]["input_tokens"] = 10**20
        record["turns"][0]["cost_usd"] = 1e300

    path = rewrite(store, bad.id, absurd)
    for _ in range(300):  # fold the index log into snapshots several times over
        store.update(good.id, lambda s: setattr(s, "title", "fine"))
    for args in READERS:
        ran = run_clinvk(*args)
        assert ran.code == 0, (args, ran.err)
        assert "internal error" not in ran.err
    listed = run_clinvk("sessions", "list")
    assert good.id[:6] in listed.out and bad.id[:6] not in listed.out
    assert bad.id in listed.err and "Expected `float` <= " in listed.err

    doctor = run_clinvk("sessions", "doctor", "--json")
    assert doctor.code == 4
    problems = json.loads(doctor.out)["problems"]
    assert [p["kind"] for p in problems] == ["out-of-range"]
    assert problems[0]["id"] == bad.id
    assert "turns.1.usage.input_tokens" in problems[0]["detail"]
    assert "turns.0.cost_usd" in problems[0]["detail"]

    fixed = run_clinvk("sessions", "doctor", "--fix")
    assert fixed.code == 0, fixed.err
    record = json.loads(path.read_text())  # repaired in place, not quarantined
    assert record["turns"][1]["usage"] is None and "input_tokens" not in json.dumps(
        record["turns"][1])
    assert "usage was out of range" in record["turns"][1]["warning"]
    assert record["turns"][0]["cost_usd"] is None
    assert record["turns"][0]["cost_source"] == "unpriced"
    assert record["turns"][0]["usage"]["input_tokens"] == 100  # what was fine stays
    assert record["turns"][0]["prompt"] == "hello" and record["title"] == "absurd"
    assert not (store.root / "quarantine").exists()
    assert run_clinvk("sessions", "doctor").code == 0
    shown = run_clinvk("sessions", "show", bad.id, "--json")
    assert shown.code == 0 and json.loads(shown.out)["id"] == bad.id


def test_sums_beyond_64_bits_are_still_listed_and_counted(store: SessionStore) -> None:
    # Every number in bounds, yet the session's sum (2100 × 2^53 tokens) is beyond what
    # a 64-bit integer holds: the catalog keeps it anyway, and every reader goes on.
    huge = add_session(store, title="huge")

    def many(record: dict) -> None:  # type: ignore[type-arg]
        turn = record["turns"][0]
        turn["usage"]["input_tokens"] = 2**53
        record["turns"] = [{**turn, "index": n + 1} for n in range(2100)]

    rewrite(store, huge.id, many)
    other = add_session(store, title="other")
    for args in READERS:
        ran = run_clinvk(*args)
        assert ran.code == 0, (args, ran.err)
        assert "warning" not in ran.err and "error" not in ran.err, (args, ran.err)
    listed = run_clinvk("sessions", "list", "--json")
    items = {s["id"]: s for s in json.loads(listed.out)["items"]}
    assert set(items) == {huge.id, other.id}
    assert items[huge.id]["tokens"] == pytest.approx(2100 * (2**53 + 27), rel=1e-9)
    stats = json.loads(run_clinvk("sessions", "stats", "--json", "--by", "day").out)
    assert stats["totals"]["tokens"]["input"] == pytest.approx(2100 * 2**53 + 100, rel=1e-9)
    assert stats["totals"]["turns"] == 2101
    assert run_clinvk("sessions", "doctor").code == 0
