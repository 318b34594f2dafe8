"""Search in the catalog (`sessions list -q`): right answers as the store changes.

The meaning is plain: case-insensitive text anywhere in a title, prompt or answer, also
inside a word. FTS5 only narrows the candidates, so every query here is also checked
against a scan of the session files.
"""

from __future__ import annotations

import random
import sqlite3

import pytest

from clinvk.catalog import Catalog, Filter, catalog_path
from clinvk.model import Turn, utcnow
from clinvk.store import SessionStore
from tests.conftest import add_session, iter_sessions


def hits(store: SessionStore, needle: str) -> set[str]:
    return {r.id for r in Catalog.open(store).rows(Filter(search=needle)).rows}


def scanned(store: SessionStore, needle: str) -> set[str]:
    """The answer by reading every file."""
    found = set()
    wanted = needle.lower()
    for _path, s, _why in iter_sessions(store):
        assert s is not None
        texts = [s.title, *(x for t in s.turns for x in (t.prompt, t.response))]
        if any(wanted in text.lower() for text in texts):
            found.add(s.id)
    return found


def test_finds_titles_prompts_answers_any_case(store: SessionStore) -> None:
    a = add_session(store, title="Parser Work", prompt="p", response="r")
    b = add_session(store, title="t", prompt="Fix the ÄRGER bug", response="r")
    c = add_session(store, title="t", prompt="p", response='said "Hello" twice')
    assert hits(store, "parser work") == {a.id}
    assert hits(store, "ärger") == {b.id}
    assert hits(store, '"hello"') == {c.id}
    assert hits(store, "nowhere") == set()
    assert catalog_path(store.root).is_file()  # kept for next time


def test_a_new_turn_is_found_after_the_catalog_was_built(store: SessionStore) -> None:
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


def test_renamed_title_and_a_lost_catalog(store: SessionStore) -> None:
    a = add_session(store, title="old name")
    assert hits(store, "old name") == {a.id}
    store.update(a.id, lambda s: setattr(s, "title", "new name"))
    assert hits(store, "old name") == set() and hits(store, "new name") == {a.id}
    catalog_path(store.root).unlink()
    assert hits(store, "new name") == {a.id}


def test_a_match_never_spans_two_sessions(store: SessionStore) -> None:
    add_session(store, title="ends with abc", prompt="", response="")
    add_session(store, title="def starts", prompt="", response="")
    assert hits(store, "abcdef") == set()
    assert hits(store, "abc\0") == set()


WORDS = ["tokenizer", "tokens", "retoken", "parse", "parser", "sparse", "größe", "grosse",
         "c:\\temp\\new", "foo_bar", "foo bar", "x-ray", "ünïcode", "✓", "a.b", "42", "s3cret"]


@pytest.mark.parametrize("seed", [1, 2])
def test_every_kind_of_query_agrees_with_a_scan_of_the_files(store: SessionStore, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        add_session(store, title=" ".join(rng.sample(WORDS, 2)),
                    prompt=" ".join(rng.sample(WORDS, 3)), response=" ".join(rng.sample(WORDS, 3)))
    queries = ["token", "TOKEN", "oken", "kens", "tokenizer", "arse", "parse", "sparse ",
               " pars", "größe", "GRÖSSE", "grö", "temp\\new", "foo_b", "o b", "x-r", "-",
               "✓", "ÜNÏ", "a.b", "4", "3c", "e", "zzz", "s p", "er t", "r\\n"]
    for query in queries:
        assert hits(store, query) == scanned(store, query), query


def test_snippets_mark_the_words_that_matched(store: SessionStore) -> None:
    a = add_session(store, title="t", prompt="what does the tokenizer do", response="splits")
    page = Catalog.open(store).rows(Filter(search="okeniz"), snippets=True)
    rows = list(page.rows)
    assert [r.id for r in rows] == [a.id] and page.total == 1
    assert rows[0].snippet is not None and "[tokenizer]" in rows[0].snippet


def test_a_changed_or_deleted_text_leaves_the_index(store: SessionStore) -> None:
    # One plain word is answered by the index alone: what was taken out must be gone.
    a = add_session(store, title="zanzibar", prompt="quokka")
    b = add_session(store, prompt="wombat")
    assert hits(store, "zanzibar") == {a.id} and hits(store, "wombat") == {b.id}
    store.update(a.id, lambda s: setattr(s, "title", "quito"))
    store.delete(b.id)
    assert hits(store, "zanzibar") == set() and hits(store, "wombat") == set()
    assert hits(store, "quito") == {a.id} and hits(store, "quokka") == {a.id}


def test_the_catalog_keeps_no_second_copy_of_the_text(store: SessionStore) -> None:
    sentence = "the kiwi sorbet melts under a violet lantern at noon"
    a = add_session(store, title="t", prompt=f"why does {sentence}?", response="lorem ipsum " * 500)
    page = Catalog.open(store).rows(Filter(search="sorbet melts"), snippets=True)
    rows = list(page.rows)
    assert [r.id for r in rows] == [a.id]
    assert rows[0].snippet is not None and "kiwi [sorbet melts] under" in rows[0].snippet
    Catalog.open(store).close()
    with sqlite3.connect(catalog_path(store.root)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("SELECT count(*) FROM texts").fetchone() == (1,)
    data = catalog_path(store.root).read_bytes()
    assert sentence.encode() not in data and b"lorem ipsum " * 20 not in data


def test_snippet_work_is_bounded_however_often_a_session_holds_the_text(
        store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinvk.catalog import queries

    small = add_session(store, title="t", prompt="x", response="a kiwi line\n" * 2_000)
    big = add_session(store, title="t", prompt="x", response="a kiwi line\n" * 50_000)
    scans: list[tuple[str, int]] = []
    around = queries.around

    def counted(text: str, needle: str) -> str | None:
        scans.append((needle, len(text)))
        return around(text, needle)

    monkeypatch.setattr(queries, "around", counted)
    for ident in (small.id, big.id):
        scans.clear()
        page = Catalog.open(store).rows(Filter(search="kiwi li", tags=[]), snippets=True)
        snippet = {r.id: r.snippet for r in page.rows}[ident]
        # One search of the title and one of the text, however many lines hold it, and
        # never past the scan limit; one mark, a fragment of bounded length.
        assert len(scans) == 4 and all(n <= queries.SNIPPET_SCAN for _, n in scans)
        assert snippet is not None and snippet.count("[") == 1 and "[kiwi line]" in snippet
        assert len(snippet) <= 2 * queries.SNIPPET_CONTEXT + 2 * 40 + 10


def test_the_kept_text_is_checked_as_the_whole_text_would_be() -> None:
    from clinvk.catalog.bodies import holds, pack, unpack

    rng = random.Random(7)
    for _ in range(200):
        text = "".join(rng.choice("abcÄö✓ \n") for _ in range(rng.choice((0, 5, 3000, 90_000))))
        z = pack(text)
        assert unpack(z) == text
        for needle in ("", "a", "äö", "✓ a", text[-7:].lower(), text[1000:1400].lower(), "zz"):
            assert holds(z, needle) == (needle in text.lower()), needle


def test_a_catalog_that_keeps_the_text_twice_is_rebuilt(store: SessionStore,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from clinvk.catalog import schema

    a = add_session(store, title="t", prompt="the kiwi sorbet")
    Catalog.open(store).close()
    with sqlite3.connect(catalog_path(store.root)) as conn:  # as schema 3 made it
        conn.executescript(
            "DROP TABLE bodies; DROP TABLE texts; CREATE VIRTUAL TABLE texts USING fts5("
            "title, body, tokenize = 'unicode61 remove_diacritics 0', detail = none);"
            "INSERT INTO texts(rowid, title, body) VALUES (1, 't', 'the kiwi sorbet');"
            "PRAGMA user_version = 3;")
    page = Catalog.open(store).rows(Filter(search="kiwi sorbet"), snippets=True)
    [row] = page.rows
    assert row.id == a.id and (row.snippet or "").startswith("the [kiwi sorbet]")
    assert "rebuilding" in capsys.readouterr().err
    with sqlite3.connect(catalog_path(store.root)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (schema.SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM bodies").fetchone() == (1,)
