"""The search cache behind `sessions list -q`: right answers as the store changes."""

from __future__ import annotations

import shutil

from clinvk.model import Turn, utcnow
from clinvk.search import SearchCache
from clinvk.store import SessionStore
from tests.conftest import add_session


def hits(store: SessionStore, needle: str) -> set[str]:
    return SearchCache(store.sessions_dir, store.index_dir / "search").matching_ids(needle)


def test_finds_titles_prompts_answers_any_case(store: SessionStore) -> None:
    a = add_session(store, title="Parser Work", prompt="p", response="r")
    b = add_session(store, title="t", prompt="Fix the ÄRGER bug", response="r")
    c = add_session(store, title="t", prompt="p", response='said "Hello" twice')
    assert hits(store, "parser work") == {a.id}
    assert hits(store, "ärger") == {b.id}
    assert hits(store, '"hello"') == {c.id}
    assert hits(store, "nowhere") == set()
    assert (store.index_dir / "search").is_dir()  # cached for next time


def test_a_new_turn_is_found_after_the_cache_was_built(store: SessionStore) -> None:
    a = add_session(store, prompt="first")
    assert hits(store, "zebra") == set()

    def add_turn(s):  # type: ignore[no-untyped-def]
        s.turns.append(Turn(index=2, prompt="about a zebra", started_at=utcnow(), status="ok"))

    store.update(a.id, add_turn)
    assert hits(store, "zebra") == {a.id}


def test_deleted_and_hand_added_sessions(store: SessionStore) -> None:
    a = add_session(store, prompt="keep me")
    b = add_session(store, prompt="keep me too")
    assert hits(store, "keep me") == {a.id, b.id}
    store.delete(b.id)
    assert hits(store, "keep me") == {a.id}
    copy = "zz" + a.id[2:]
    store.path_for(copy).parent.mkdir(parents=True, exist_ok=True)
    store.path_for(copy).write_bytes(store.path_for(a.id).read_bytes().replace(a.id.encode(), copy.encode()))
    assert hits(store, "keep me") == {a.id, copy}


def test_renamed_title_and_a_lost_cache(store: SessionStore) -> None:
    a = add_session(store, title="old name")
    assert hits(store, "old name") == {a.id}
    store.update(a.id, lambda s: setattr(s, "title", "new name"))
    assert hits(store, "old name") == set() and hits(store, "new name") == {a.id}
    shutil.rmtree(store.index_dir / "search")
    assert hits(store, "new name") == {a.id}


def test_a_match_never_spans_two_sessions(store: SessionStore) -> None:
    add_session(store, title="ends with abc", prompt="", response="")
    add_session(store, title="def starts", prompt="", response="")
    assert hits(store, "abcdef") == set()
    assert hits(store, "abc\0") == set()


def test_the_two_process_scan_finds_the_same(store: SessionStore) -> None:
    made = [add_session(store, prompt=f"needle {i}" if i % 3 else "other") for i in range(12)]
    cache = SearchCache(store.sessions_dir, store.index_dir / "search")
    expected = {s.id for i, s in enumerate(made) if i % 3}
    assert cache.matching_ids("needle", parallel_from=10**9) == expected  # one process
    assert cache.matching_ids("needle", parallel_from=1) == expected      # forked split
    assert cache.matching_ids("absent", parallel_from=1) == set()
