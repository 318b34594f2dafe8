"""`clinvk sessions sync` as a real process over the committed vendor transcripts."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from clinvk.model import Session, Turn
from clinvk.store import SessionStore
from tests.conftest import Ran, iter_sessions, run_clinvk
from tests.native.conftest import CLAUDE_ID, CODEX_ID, GEMINI_ID, transcript

IDS = {"claude": CLAUDE_ID, "codex": CODEX_ID, "gemini": GEMINI_ID}


def vendor_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "CODEX_HOME": str(home / ".codex"), "GEMINI_CLI_HOME": str(home)}


def sync(home: Path, *args: str) -> Ran:
    return run_clinvk("sessions", "sync", *args, env=vendor_env(home))


def grow_codex_transcript(native_home: Path) -> Path:
    """The codex conversation grows by one more turn: its last turn's records appended
    again, with another prompt, a new prompt id and later times."""
    path = transcript(native_home, "codex")
    lines = path.read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if '"UserMessage"' in line)
    tail = re.sub(r'("type":"UserMessage","id":")[^"]+', r"\1one-more-prompt",
                  "".join(lines[last:]))
    tail = tail.replace('"bye"', '"one more"').replace(
        "2026-11-30T03:22:0", "2026-11-30T03:23:0")
    path.write_text("".join(lines) + tail)
    return path


def sessions(clinvk_home: Path) -> dict[str, Session]:
    """backend session id → session, read from the files."""
    found = {}
    for _p, s, _why in iter_sessions(SessionStore(clinvk_home)):
        assert s is not None
        found[s.backend_session_id or ""] = s
    return found


def test_first_sync_adopts_each_conversation_whole(
        native_home: Path, clinvk_home: Path, tmp_path: Path) -> None:
    ran = sync(native_home)
    assert ran.code == 0, ran.err
    assert ran.out.strip() == ("Synced claude: 1 new, 0 updated, 0 skipped · codex: 1 new, "
                               "0 updated, 0 skipped · gemini: 1 new, 0 updated, 0 skipped")
    found = sessions(clinvk_home)
    assert set(found) == set(IDS.values())
    for backend, bsid in IDS.items():
        s = found[bsid]
        assert (s.backend, s.origin, s.title, s.status) == (backend, "native", "say hi", "active")
        assert s.workdir == str(tmp_path / backend / "my_proj.v2 x")
        assert [t.prompt for t in s.turns] == ["say hi", "again", "read notes.txt", "bye"]
        assert [t.index for t in s.turns] == [0, 1, 2, 3]
        assert s.created_at <= s.turns[0].started_at < s.last_used_at
        assert all(t.usage is not None and t.backend_session_id == bsid for t in s.turns)
        assert len(s.turns[2].tool_calls) == 1
    # claude's transcript reports its cost; the others are priced from the table.
    assert {t.cost_source for t in found[CLAUDE_ID].turns} == {"reported"}
    assert {t.cost_source for t in found[CODEX_ID].turns} == {"computed"}
    # Adopted sessions are ordinary ones: show reads them, with their origin.
    shown = run_clinvk("sessions", "show", found[GEMINI_ID].id, "--json")
    assert shown.code == 0 and json.loads(shown.out)["origin"] == "native"


def test_second_sync_reads_nothing_and_changes_nothing(
        native_home: Path, clinvk_home: Path) -> None:
    assert sync(native_home).code == 0
    before = {p: p.stat().st_mtime_ns for p in (clinvk_home / "sessions").rglob("*.json")}
    # Garbage of the same size and mtime proves the second run does not open them.
    for backend in IDS:
        path = transcript(native_home, backend)
        st = path.stat()
        path.write_bytes(b"x" * st.st_size)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    ran = sync(native_home, "--json")
    assert ran.code == 0 and ran.err == "", ran.err
    report = json.loads(ran.out)
    assert report["sessions"] == []
    assert all(c == {"new": 0, "updated": 0, "skipped": 0, "unchanged": 1}
               for c in report["backends"].values())
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_grown_transcript_appends_only_the_new_turn_and_keeps_clinvk_fields(
        native_home: Path, clinvk_home: Path) -> None:
    assert sync(native_home).code == 0
    old = sessions(clinvk_home)[CODEX_ID]
    assert run_clinvk("sessions", "rename", old.id, "my own title").code == 0
    assert run_clinvk("sessions", "tag", old.id, "keep").code == 0
    assert run_clinvk("sessions", "pause", old.id).code == 0
    # The same conversation grows by one more turn.
    path = grow_codex_transcript(native_home)
    ran = sync(native_home, "--json")
    assert ran.code == 0, ran.err
    (change,) = json.loads(ran.out)["sessions"]
    assert change == {"id": old.id, "action": "updated", "backend": "codex",
                      "backend_session_id": CODEX_ID, "transcript": str(path),
                      "turns_added": 1}
    new = sessions(clinvk_home)[CODEX_ID]
    assert [t.prompt for t in new.turns] == ["say hi", "again", "read notes.txt", "bye",
                                             "one more"]
    assert new.turns[:4] == old.turns
    assert (new.title, new.tags, new.status) == ("my own title", ["keep"], "paused")
    assert new.turns[4].index == 4 and new.turns[4].usage is not None


def test_conversation_started_through_clinvk_is_updated_not_duplicated(
        native_home: Path, clinvk_home: Path) -> None:
    """clinvk ran the first two turns itself; the transcript also holds them."""
    t0 = sessions_of_transcript(native_home)
    store = SessionStore(clinvk_home)
    mine = Session(id="", backend="claude", workdir=t0["workdir"], created_at=t0["start"],
                   last_used_at=t0["start"], title="started here",
                   backend_session_id=CLAUDE_ID,
                   turns=[Turn(index=i, prompt=p, started_at=t0["starts"][i], status="ok",
                               response="recorded by clinvk")
                          for i, p in enumerate(["say hi", "again"])])
    ident = store.create(mine).id
    ran = sync(native_home, "--from", "claude")
    assert ran.code == 0, ran.err
    assert ran.out.strip() == "Synced claude: 0 new, 1 updated, 0 skipped"
    s = store.read(ident)
    assert [t.prompt for t in s.turns] == ["say hi", "again", "read notes.txt", "bye"]
    assert [t.response for t in s.turns[:2]] == ["recorded by clinvk"] * 2
    assert (s.origin, s.title) == ("clinvk", "started here")
    assert len(sessions(clinvk_home)) == 1


def sessions_of_transcript(home: Path) -> dict[str, object]:
    from clinvk.native import claude

    t = claude.parse(transcript(home, "claude"))
    # clinvk starts its turn a moment before the vendor records the prompt.
    starts = [d.started_at.replace(microsecond=0) for d in t.drafts]
    return {"workdir": t.workdir, "start": starts[0], "starts": starts}


def test_bad_transcripts_are_skipped_with_one_warning_each_and_retried(
        native_home: Path, clinvk_home: Path) -> None:
    cut = transcript(native_home, "claude")
    whole = cut.read_bytes()
    cut.write_bytes(whole[:-30])  # the vendor is still writing its last line
    broken = transcript(native_home, "gemini")
    good_gemini = broken.read_bytes()
    broken.write_bytes(b"not json\n" + good_gemini)
    ran = sync(native_home)
    assert ran.code == 0
    assert ran.out.strip() == ("Synced claude: 0 new, 0 updated, 1 skipped · codex: 1 new, "
                               "0 updated, 0 skipped · gemini: 0 new, 0 updated, 1 skipped")
    warnings = ran.err.splitlines()
    assert len(warnings) == 2, ran.err
    assert warnings[0].startswith("clinvk: warning: skipped ") and str(cut) in warnings[0]
    assert "cut-off line" in warnings[0]
    assert str(broken) in warnings[1] and "line 1 is not a transcript record" in warnings[1]
    assert set(sessions(clinvk_home)) == {CODEX_ID}  # never half a session
    # Once the vendor has finished writing, the next sync adopts it.
    cut.write_bytes(whole)
    broken.write_bytes(good_gemini)
    again = sync(native_home)
    assert again.out.strip() == ("Synced claude: 1 new, 0 updated, 0 skipped · codex: 0 new, "
                                 "0 updated, 0 skipped · gemini: 1 new, 0 updated, 0 skipped")
    assert len(sessions(clinvk_home)[CLAUDE_ID].turns) == 4


def test_dry_run_writes_nothing(native_home: Path, clinvk_home: Path) -> None:
    ran = sync(native_home, "--dry-run", "--json")
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["dry_run"] is True
    assert sorted((c["backend"], c["action"], c["id"], c["turns_added"])
                  for c in report["sessions"]) == [
        ("claude", "new", None, 4), ("codex", "new", None, 4), ("gemini", "new", None, 4)]
    assert sessions(clinvk_home) == {}
    assert not (clinvk_home / "sync" / "state.json").exists()


def test_from_and_since_limit_what_is_read(native_home: Path, clinvk_home: Path) -> None:
    old = time.time() - 10 * 86400
    os.utime(transcript(native_home, "codex"), (old, old))
    since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    ran = sync(native_home, "--from", "codex,gemini", "--since", since)
    assert ran.out.strip() == ("Synced codex: 0 new, 0 updated, 0 skipped · gemini: 1 new, "
                               "0 updated, 0 skipped")
    assert set(sessions(clinvk_home)) == {GEMINI_ID}


def test_unknown_vendor_is_a_usage_error(native_home: Path) -> None:
    ran = sync(native_home, "--from", "claude,cursor")
    assert ran.code == 1 and ran.out == ""
    assert ran.err.splitlines()[0] == "clinvk: error: sync cannot read transcripts of 'cursor'"


def test_config_roots_replace_the_vendor_home(native_home: Path, clinvk_home: Path,
                                              tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    (native_home / ".codex").rename(moved)
    (clinvk_home / "config.toml").write_text(f'[sync]\ncodex = ["{moved}"]\n')
    ran = sync(native_home, "--from", "codex")
    assert ran.out.strip() == "Synced codex: 1 new, 0 updated, 0 skipped"


def test_lost_sync_state_finds_the_adopted_session_in_the_catalog(
        native_home: Path, clinvk_home: Path) -> None:
    """Without its state file, sync asks the catalog which session holds each
    conversation: an existing catalog, or one it has to build first."""
    assert sync(native_home).code == 0
    first = {bsid: s.id for bsid, s in sessions(clinvk_home).items()}
    (clinvk_home / "sync" / "state.json").unlink()
    (clinvk_home / "catalog.db").unlink(missing_ok=True)
    ran = sync(native_home, "--json")
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["sessions"] == []  # nothing new in the transcripts: nothing added
    assert {bsid: s.id for bsid, s in sessions(clinvk_home).items()} == first
    # The conversation grows and the state is lost again; the catalog now exists.
    assert (clinvk_home / "catalog.db").exists()
    (clinvk_home / "sync" / "state.json").unlink()
    grow_codex_transcript(native_home)
    grown = sync(native_home, "--json")
    assert grown.code == 0, grown.err
    (change,) = json.loads(grown.out)["sessions"]
    assert (change["action"], change["id"], change["turns_added"]) == (
        "updated", first[CODEX_ID], 1)
    assert len(sessions(clinvk_home)) == 3


def test_list_origin_filters_and_json_rows_carry_it(native_home: Path,
                                                     clinvk_home: Path) -> None:
    from tests.conftest import add_session

    mine = add_session(SessionStore(clinvk_home), title="started through clinvk")
    assert sync(native_home).code == 0
    everything = json.loads(run_clinvk("sessions", "list", "--json").out)["items"]
    assert sorted(r["origin"] for r in everything) == ["clinvk", "native", "native", "native"]
    native = run_clinvk("sessions", "list", "--origin", "native", "--json")
    assert native.code == 0, native.err
    rows = json.loads(native.out)
    assert rows["total"] == 3
    assert {r["backend"] for r in rows["items"]} == {"claude", "codex", "gemini"}
    assert {r["origin"] for r in rows["items"]} == {"native"}
    own = json.loads(run_clinvk("sessions", "list", "--origin", "clinvk", "--json").out)
    assert [(r["id"], r["origin"]) for r in own["items"]] == [(mine.id, "clinvk")]
    # Combined with other filters, as every filter is.
    both = json.loads(run_clinvk("sessions", "list", "--origin", "native", "-b", "codex",
                                 "--json").out)
    assert [r["backend"] for r in both["items"]] == ["codex"]
    text = run_clinvk("sessions", "list", "--origin", "clinvk")
    assert text.code == 0 and "started through clinvk" in text.out
    assert "say hi" not in text.out
    bad = run_clinvk("sessions", "list", "--origin", "vendor")
    assert bad.code == 1 and bad.out == ""
    assert bad.err.startswith('clinvk: error: Invalid value "vendor" for --origin')


def test_sync_auto_adopts_before_list_and_stats(
        native_home: Path, clinvk_home: Path) -> None:
    env = vendor_env(native_home)
    # Off by default: nothing the vendors recorded by themselves is listed or counted.
    ran = run_clinvk("sessions", "list", "--json", env=env)
    assert ran.code == 0 and json.loads(ran.out)["items"] == []
    assert run_clinvk("config", "set", "sync.auto", "true").code == 0
    # On: stats adopts first, so the three vendor conversations count.
    ran = run_clinvk("sessions", "stats", "--json", env=env)
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["totals"]["sessions"] == 3
    # list runs it too; with nothing new it adds nothing twice.
    ran = run_clinvk("sessions", "list", "--json", "--origin", "native", env=env)
    assert ran.code == 0, ran.err
    assert sorted(row["backend"] for row in json.loads(ran.out)["items"]) == sorted(IDS)
    assert len(sessions(clinvk_home)) == 3


def test_sync_auto_stops_at_its_budget_and_defers_the_rest(
        native_home: Path, clinvk_home: Path) -> None:
    from clinvk.config import load
    from clinvk.native.adopt import sync as run_sync
    from clinvk.native.auto import homes, pricer

    config = load().config
    everything = ["claude", "codex", "gemini"]
    where = {b: [native_home / {"claude": ".claude", "codex": ".codex", "gemini": ""}[b]]
             for b in everything}
    assert homes(config, everything) == {}  # no [sync] roots: the vendors' own homes
    report = run_sync(SessionStore(clinvk_home), everything, homes=where,
                      price=pricer(config), deadline=time.monotonic() - 1)
    assert report.deferred == 3 and report.changes == [] and sessions(clinvk_home) == {}
    report = run_sync(SessionStore(clinvk_home), everything, homes=where,
                      price=pricer(config), deadline=time.monotonic() + 60)
    assert report.deferred == 0 and len(report.changes) == 3
