"""`clinvk sessions export` / `import`: formats, round trips, and refusing bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.conftest import run_clinvk
from tests.usage.conftest import DEAD_PID, T, at, make


@pytest.fixture
def two(store: SessionStore) -> list[str]:
    a = make(store, backend="claude", model="claude-opus-4-8", tags=["review"],
             title='fix "quoted" ünïcode parser', turns=[
                 T(at("2026-03-02 10:00"), (100, 50, 1000, 200, 0), 0.5, "reported", 10.0,
                   prompt="line one\nline \"two\" ✓", response="answer with ```code```\n\nand more"),
                 T(at("2026-03-02 11:00"), None, None, "unpriced", None, status="error",
                   exit_code=1, error="API Error: 500", response=""),
             ])
    b = make(store, backend="codex", model="gpt-5.5", status="running", pid=DEAD_PID,
             pid_start=5.0, workdir="/w/b", turns=[
                 T(at("2026-03-03 09:00"), (1000, 300, 500, 0, 100), 0.01, "computed", 5.0)])
    store.update(b.id, lambda s: setattr(s, "parent_id", a.id))
    return [a.id, b.id]


def show(run, ident: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    ran = run("sessions", "show", ident, "--json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def as_imported(shown: dict) -> dict:  # type: ignore[type-arg]
    """`sessions show --json` of a record as import stores it: a `running` one (shown as
    error once its process is gone) is interrupted, without the exporter's pid."""
    if shown["pid"] is None:
        return shown
    return {**shown, "status": "error", "reason": "interrupted", "pid": None, "pid_start": None}


def session_files(store: SessionStore) -> list[Path]:
    return sorted(store.sessions_dir.glob("*/*.json"))


def test_json_export_shape(run, two) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "export", *two)
    assert ran.code == 0
    doc = json.loads(ran.out)
    assert doc["format"] == "clinvk-sessions" and doc["version"] == 1
    assert doc["exported_at"].endswith("Z")
    assert [s["id"] for s in doc["sessions"]] == two
    first = doc["sessions"][0]
    assert first["turns"][0]["usage"] == {"input_tokens": 100, "output_tokens": 50,
                                          "cache_read_tokens": 1000, "cache_write_tokens": 200,
                                          "reasoning_tokens": 0}
    assert first["turns"][0]["cost_source"] == "reported"
    assert doc["sessions"][1]["status"] == "running"  # the record as stored


def test_jsonl_is_one_record_per_line(run, two) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "export", *two, "--format", "jsonl")
    lines = ran.out.splitlines()
    assert len(lines) == 2
    assert [json.loads(line)["id"] for line in lines] == two


def test_markdown_is_a_readable_transcript(run, two) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "export", two[0], "-f", "markdown")
    md = ran.out
    assert md.startswith('# fix "quoted" ünïcode parser\n')
    assert f"**Session:** `{two[0]}` · claude · claude-opus-4-8 · active" in md
    assert "## Turn 1 · " in md and "· ok · 10.0s · exit 0" in md
    assert "> line one\n> line \"two\" ✓" in md
    assert "answer with ```code```\n\nand more" in md
    assert "input 100 · output 50 · cache read 1,000 · cache write 200 · cost $0.5000 (reported)" in md
    assert "## Turn 2 · " in md and "**Error:** API Error: 500" in md and "*(no answer)*" in md


def test_output_file_and_message(run, two, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "out.json"
    ran = run("sessions", "export", "--all", "-o", str(target))
    assert ran.code == 0 and ran.out == ""
    assert "Exported 2 session(s)" in ran.err
    assert len(json.loads(target.read_text())["sessions"]) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_round_trip_into_a_fresh_store_is_identical(run, two, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "all.json"
    assert run("sessions", "export", "--all", "-o", str(export)).code == 0
    exported = {s["id"]: s for s in json.loads(export.read_text())["sessions"]}
    # A record exported while `running` names a process of the machine it came from.
    assert exported[two[1]]["pid"] == DEAD_PID and exported[two[1]]["status"] == "running"
    before = show(run, two[0])
    old = SessionStore(Path(os.environ["CLINVK_HOME"]))
    fresh = tmp_path / "fresh-home"
    monkeypatch.setenv("CLINVK_HOME", str(fresh))
    ran = run("sessions", "import", str(export), "--keep-ids")
    assert ran.code == 0, ran.err
    assert sorted(ran.out.split()) == sorted(two)
    assert show(run, two[0]) == before
    # The running one arrives interrupted, without runtime fields; all else is identical.
    imported = SessionStore(fresh).read(two[1])
    assert (imported.status, imported.reason, imported.pid, imported.pid_start) == \
        ("error", "interrupted", None, None)
    original = exported[two[1]]
    assert [t.prompt for t in imported.turns] == [t["prompt"] for t in original["turns"]]
    assert imported.title == original["title"] and imported.workdir == original["workdir"]
    # And the records themselves are the same.
    assert old.root != fresh and old.read(two[0]) == SessionStore(fresh).read(two[0])


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_import_gives_new_ids_and_keeps_everything_else(run, two, store, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    before = {i: show(run, i) for i in two}
    export = tmp_path / f"all.{fmt}"
    run("sessions", "export", *two, "-f", fmt, "-o", str(export))
    ran = run("sessions", "import", str(export), "--json")
    assert ran.code == 0
    mapping = {m["from"]: m["id"] for m in json.loads(ran.out)["imported"]}
    assert set(mapping) == set(two) and not set(mapping.values()) & set(two)
    for old, new in mapping.items():
        copy = show(run, new)
        assert copy.pop("id") == new
        original = before[old]
        original.pop("id")
        if original["parent_id"] in mapping:
            # A parent imported along with it points at the parent's new id.
            assert copy["parent_id"] == mapping[original["parent_id"]]
            copy["parent_id"] = original["parent_id"]
        assert copy == as_imported(original)
    assert len(session_files(store)) == 4


def test_keep_ids_clash_is_exit_1_and_writes_nothing(run, two, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "all.json"
    run("sessions", "export", "--all", "-o", str(export))
    make(store, title="unrelated")
    files = session_files(store)
    ran = run("sessions", "import", str(export), "--keep-ids")
    assert ran.code == 1 and ran.out == ""
    assert "already in the store" in ran.err and two[0] in ran.err and "nothing was imported" in ran.err
    assert session_files(store) == files


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def good_record(run, ident: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(run("sessions", "export", ident, "-f", "jsonl").out)


@pytest.mark.parametrize(("content", "words"), [
    (b"\x00\x01garbage\xff", ["line 1 is not a session record", "malformed"]),
    ("", ["is empty"]),
    ("[1, 2, 3]", ["line 1 is not a session record"]),
    ('{"format": "other-tool", "version": 1, "sessions": []}', ["not a clinvk export", "'other-tool'"]),
    ('{"format": "clinvk-sessions", "version": 2, "sessions": []}', ["unsupported export version 2"]),
    ('{"format": "clinvk-sessions", "version": 1, "sessions": []}', ["holds no sessions"]),
    ('{"format": "clinvk-sessions", "version": 1, "sessions": {"a": 1}}', ["not a valid clinvk export"]),
])
def test_garbage_and_wrong_containers_exit_1(run, store, tmp_path, content, words) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "import", write(tmp_path, "bad", content))
    assert ran.code == 1 and ran.out == ""
    for word in words:
        assert word in ran.err
    assert session_files(store) == []


def test_a_wrong_record_names_where_and_writes_nothing(run, two, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = good_record(run, two[0])
    bad = json.loads(json.dumps(good))
    bad["turns"][1]["prompt"] = 42
    doc = {"format": "clinvk-sessions", "version": 1, "sessions": [good, good | {"id": "zzzz0000"}, bad]}
    files = session_files(store)
    ran = run("sessions", "import", write(tmp_path, "e.json", json.dumps(doc)))
    assert ran.code == 1
    assert "session 3 is not a valid session record" in ran.err
    assert "$.turns[1].prompt" in ran.err
    assert session_files(store) == files  # the two good records were not written either


@pytest.mark.parametrize(("change", "words"), [
    ({"id": "../../etc"}, ["invalid session id"]),
    ({"id": "ABCDEFGH"}, ["invalid session id"]),
    ({"parent_id": "not/an/id"}, ["invalid parent id"]),
    ({"version": 99}, ["schema version 99", "newer"]),
    ({"status": "exploded"}, ["not a valid session record", "$.status"]),
    ({"created_at": "yesterday"}, ["not a valid session record", "$.created_at"]),
])
def test_record_checks(run, two, store, tmp_path, change, words) -> None:  # type: ignore[no-untyped-def]
    record = good_record(run, two[0]) | change
    files = session_files(store)
    ran = run("sessions", "import", write(tmp_path, "r.jsonl", json.dumps(record) + "\n"))
    assert ran.code == 1
    for word in words:
        assert word in ran.err
    assert session_files(store) == files


def test_missing_field_and_duplicates(run, two, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    record = good_record(run, two[0])
    del record["backend"]
    ran = run("sessions", "import", write(tmp_path, "m.jsonl", json.dumps(record)))
    assert ran.code == 1 and "missing required field `backend`" in ran.err
    record = good_record(run, two[0])
    text = json.dumps(record) + "\n" + json.dumps(record) + "\n"
    ran = run("sessions", "import", write(tmp_path, "d.jsonl", text), "--keep-ids")
    assert ran.code == 1 and "line 2 repeats session id" in ran.err


def test_a_single_show_json_record_imports(run, two, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shown = run("sessions", "show", two[0], "--json").out
    ran = run("sessions", "import", write(tmp_path, "one.json", shown))
    assert ran.code == 0 and len(session_files(store)) == 3


def test_export_all_with_filters(run, two) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "export", "--all", "-b", "codex", "-f", "jsonl")
    assert [json.loads(line)["id"] for line in ran.out.splitlines()] == [two[1]]
    ran = run("sessions", "export", "--all", "-q", "ÜNÏCODE", "-f", "jsonl")
    assert [json.loads(line)["id"] for line in ran.out.splitlines()] == [two[0]]
    ran = run("sessions", "export", "--all", "--until", "2026-03-02", "-f", "jsonl")
    assert [json.loads(line)["id"] for line in ran.out.splitlines()] == [two[0]]


@pytest.mark.parametrize(("args", "words"), [
    ([], ["no session given"]),
    (["--all", "abcd"], ["not both"]),
    (["abcd", "-b", "claude"], ["go with --all"]),
    (["--all", "--format", "xml"], ["invalid export format", "json, jsonl, markdown"]),
    (["zzzzzzzz"], ["session not found"]),
])
def test_export_argument_errors(run, two, args, words) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "export", *args)
    assert ran.code == 1 and ran.out == ""
    for word in words:
        assert word in ran.err


def test_import_missing_file_and_stdin(cli, run, two, store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ran = run("sessions", "import", str(tmp_path / "nope.json"))
    assert ran.code == 1 and "no such file" in ran.err
    exported = run("sessions", "export", *two, "-f", "jsonl").out
    proc = cli.run("sessions", "import", "-", input=exported)
    assert proc.code == 0, proc.err
    assert "Imported 2 session(s) from stdin" in proc.err
    assert len(session_files(store)) == 4


def test_import_exit_codes_as_a_process(cli, two, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = write(tmp_path, "bad.json", "not json at all")
    proc = cli.run("sessions", "import", bad)
    assert proc.code == 1 and "not a session record" in proc.err
    good = tmp_path / "good.json"
    assert cli.run("sessions", "export", "--all", "-o", str(good)).code == 0
    clash = cli.run("sessions", "import", str(good), "--keep-ids")
    assert clash.code == 1 and "already in the store" in clash.err


def hostile_export(tmp_path: Path, run, ident: str, change) -> Path:  # type: ignore[no-untyped-def]
    ran = run("sessions", "export", ident)
    doc = json.loads(ran.out)
    change(doc["sessions"][0])
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("change", "words"), [
    (lambda r: r.update(workdir="../../../etc"), "not an absolute path"),
    (lambda r: r.update(workdir="/home/me/../../etc"), "not a normalized path"),
    (lambda r: r.update(tags=["ok", "bad tag; rm -rf"]), "invalid tag"),
    (lambda r: r.update(tags=["x" * 65]), "invalid tag"),
    (lambda r: r.update(title="t" * 201), "longer than 200"),
    (lambda r: r.update(title="one\ntwo"), "line break"),
    (lambda r: r["turns"][0]["usage"].update(input_tokens=10**20), "<= 9007199254740992"),
    (lambda r: r["turns"][0].update(cost_usd=-1.0), ">= 0"),
    (lambda r: r["turns"][0].update(duration_s=-3.5), ">= 0"),
    (lambda r: r.update(pid=0), ">= 1"),
])
def test_hostile_record_is_refused_and_nothing_written(run, two, store, tmp_path, change,  # type: ignore[no-untyped-def]
                                                       words) -> None:
    path = hostile_export(tmp_path, run, two[0], change)
    files = session_files(store)
    ran = run_clinvk("sessions", "import", str(path))
    assert ran.code == 1, ran.err
    assert ran.err.startswith("clinvk: error: ") and words in ran.err, ran.err
    assert "nothing was imported" in ran.err or "not a valid session record" in ran.err
    assert "Traceback" not in ran.err and ran.out == ""
    assert session_files(store) == files


def test_imported_running_record_gets_no_pid_and_is_interrupted(run, two, store,  # type: ignore[no-untyped-def]
                                                                 tmp_path) -> None:
    live = os.getpid()  # a live process of this machine that clinvk did not record

    def running(record: dict) -> None:  # type: ignore[type-arg]
        record.update(status="running", pid=live, pgid=live, pid_start=1.0)
        record["turns"][-1].update(status="running", error=None)

    path = hostile_export(tmp_path, run, two[0], running)
    ran = run_clinvk("sessions", "import", str(path), "--json")
    assert ran.code == 0, ran.err
    new = json.loads(ran.out)["imported"][0]["id"]
    record = json.loads(store.path_for(new).read_text())
    assert record["status"] == "error" and record["reason"] == "interrupted"
    assert record["pid"] is None and record["pgid"] is None and record["pid_start"] is None
    assert record["turns"][-1]["status"] == "interrupted"
    assert "imported as interrupted" in record["turns"][-1]["error"]
    # So cancel has no process to act on, and delete is not blocked by one.
    cancel = run_clinvk("cancel", new)
    assert cancel.code == 4 and "not running" in cancel.err
    deleted = run_clinvk("sessions", "delete", new)  # no --force needed: nothing runs it
    assert deleted.code == 0, deleted.err
    assert not store.exists(new)
