"""A finished turn leaves the catalog to its next reader, which shows the turn at once.

`clinvk prompt` and `clinvk resume` do not write the catalog (that write cost a turn more
than the rest of its bookkeeping); the save moved the session's shard directory, so the
next `sessions list` or `stats` takes the session from its file
(docs/architecture.md, "A turn and the catalog").
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from clinvk.catalog import Catalog, catalog_path
from clinvk.store import SessionStore
from tests.conftest import add_session, run_clinvk
from tests.run.conftest import Fakes


def catalog_rows(store: SessionStore) -> dict[str, tuple[str, int]]:
    """(status, turns) of every session row in the catalog file, as it is on disk."""
    conn = sqlite3.connect(f"file:{catalog_path(store.root)}?mode=ro", uri=True)
    try:
        return {ident: (status, n) for ident, status, n in
                conn.execute("SELECT id, status, n FROM sessions")}
    finally:
        conn.close()


def test_turns_leave_the_catalog_to_the_next_reader(fake: Fakes, workdir: Path,
                                                   store: SessionStore) -> None:
    old = add_session(store, title="from before", age_days=3)
    Catalog.open(store).close()  # a catalog up to date before the turn
    assert set(catalog_rows(store)) == {old.id}

    ran = run_clinvk("prompt", "-b", "claude", "-o", "json", "say hi", cwd=workdir)
    assert ran.code == 0, ran.err
    new = json.loads(ran.out)["id"]
    assert set(catalog_rows(store)) == {old.id}  # the turn did not write it

    listed = run_clinvk("sessions", "list", "--json", cwd=workdir)
    assert listed.code == 0, listed.err
    rows = {r["id"]: r for r in json.loads(listed.out)["items"]}
    assert set(rows) == {old.id, new}
    assert rows[new]["status"] == "active" and rows[new]["turns"] == 1
    assert catalog_rows(store)[new] == ("active", 1)  # the reader put it

    again = run_clinvk("resume", new, "-o", "json", "and again", cwd=workdir)
    assert again.code == 0, again.err
    assert catalog_rows(store)[new] == ("active", 1)  # still the reader's row
    stats = run_clinvk("sessions", "stats", "--json", cwd=workdir)
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["totals"]["turns"] == 1 + 2  # the old one's and both new
    assert catalog_rows(store)[new] == ("active", 2)


def test_a_failed_turn_shows_as_failed_to_the_next_reader(fake: Fakes, workdir: Path,
                                                          store: SessionStore) -> None:
    add_session(store, title="from before")
    Catalog.open(store).close()
    fake.set(EXIT=1, STDERR="boom")
    ran = run_clinvk("prompt", "-b", "claude", "-o", "json", "fail please", cwd=workdir)
    assert ran.code == 1
    new = json.loads(ran.out)["id"]
    listed = run_clinvk("sessions", "list", "--json", "--status", "error", cwd=workdir)
    assert listed.code == 0, listed.err
    assert [r["id"] for r in json.loads(listed.out)["items"]] == [new]
