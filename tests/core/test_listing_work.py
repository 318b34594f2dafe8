"""What a `sessions list` page costs on a big store: the short ids look at the two
neighbours of each shown id only, and a listing without a status filter checks the
runners of the rows it shows only (not every `running` row of the store)."""

from __future__ import annotations

import random

import pytest

from clinvk import ids
from tests.conftest import add_session


def brute_short_ids(names: list[str], idents: list[str], minimum: int) -> dict[str, str]:
    """The definition: the shortest prefix (≥ minimum) no other id of the store has."""
    result = {}
    for ident in idents:
        need = minimum
        for other in names:
            if other != ident:
                common = 0
                while common < len(ident) and ident[common] == other[common]:
                    common += 1
                need = max(need, common + 1)
        result[ident] = ident[:need]
    return result


def test_short_ids_are_those_of_the_definition_and_look_at_neighbours_only(
        store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    shard = store.sessions_dir / "ab"
    shard.mkdir(parents=True)
    names = sorted({"ab" + "".join(rng.choice("ab01") for _ in range(6)) for _ in range(300)})
    for name in names:
        (shard / f"{name}.json").write_text("{}")
    # Files that are no session's: ignored, as `resolve` ignores them.
    for junk in (f".{names[3]}.json.99.tmp", f"{names[5]}.json.bak", "abzz.json",
                 f"{names[7][:7]}Q.json", "notes.txt"):
        (shard / junk).write_text("")
    shown = rng.sample(names, 20) + ["ab" + "z" * 6]  # one whose file is gone
    looked_at: list[str] = []
    real_file_id = ids.file_id

    def counting(name: str, shard_name: str) -> str | None:
        looked_at.append(name)
        return real_file_id(name, shard_name)

    monkeypatch.setattr(ids, "file_id", counting)
    for minimum in (4, 6):
        looked_at.clear()
        assert store.short_ids(shown, minimum) == brute_short_ids(names, shown, minimum)
        # Two neighbours per id (and a junk name or two between them), not the shard.
        assert len(looked_at) <= 3 * len(shown), len(looked_at)


def test_a_listing_checks_the_runners_of_the_rows_it_shows_only(
        store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from clinvk.catalog import Catalog, Filter, queries

    dead = add_session(store, title="runner gone", status="running", age_days=0)
    dead.pid, dead.pid_start = 2**31 - 2, 1.0  # no such process
    store.save(dead)
    for n in range(5):
        add_session(store, title=f"older {n}", age_days=1 + n)
    catalog = Catalog.open(store)

    def every_runner(conn):  # type: ignore[no-untyped-def]
        raise AssertionError("a page without a status filter asked for every runner")

    monkeypatch.setattr(queries, "dead_running", every_runner)
    page = catalog.rows(Filter(), 0, 3)
    rows = list(page.rows)
    assert page.total == 6
    assert rows[0].title == "runner gone"
    assert (rows[0].status, rows[0].recorded_status) == ("error", "running")
    assert all(r.status == "active" for r in rows[1:])
    # A status filter still needs them all first, and finds the dead one as `error`.
    monkeypatch.undo()
    errors = list(Catalog.open(store).rows(Filter(status="error")).rows)
    assert [r.title for r in errors] == ["runner gone"]
    assert list(Catalog.open(store).rows(Filter(status="running")).rows) == []
