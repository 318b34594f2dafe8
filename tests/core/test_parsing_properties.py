"""Property tests: duration parsing and id/prefix resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinvk import ids
from clinvk.errors import ClinvkError, NotFoundError, UsageError
from clinvk.timespec import parse_duration

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


@given(st.integers(min_value=1, max_value=9_999_999), st.sampled_from(sorted(UNITS)))
def test_valid_durations_parse_to_their_seconds(n: int, unit: str) -> None:
    expected = timedelta(seconds=n * UNITS[unit])
    if expected > timedelta(days=36500):
        with pytest.raises(UsageError, match="at most 36500 days"):
            parse_duration(f"{n}{unit}")
        return
    assert parse_duration(f"{n}{unit}") == expected
    assert parse_duration(f" {n}{unit.upper()} ") == expected


@given(st.integers(max_value=0), st.sampled_from(sorted(UNITS)))
def test_zero_and_negative_durations_are_refused(n: int, unit: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(f"{n}{unit}")
    assert "30d" in (info.value.hint or "")


@given(st.text())
def test_any_text_either_parses_or_is_a_usage_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except UsageError:
        return
    assert value > timedelta(0)


@pytest.mark.parametrize("bad", ["", "d", "30x", "1.5d", "-1d", "0", "3 d", "30dd", "2w3d"])
def test_malformed_durations(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(bad)


id_strategy = st.text(alphabet=ids.ALPHABET, min_size=ids.ID_LENGTH, max_size=ids.ID_LENGTH)


@given(st.lists(id_strategy, min_size=1, max_size=30, unique=True), st.data())
def test_prefix_resolution_matches_brute_force(universe: list[str], data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(universe))
    length = data.draw(st.integers(min_value=ids.MIN_PREFIX, max_value=ids.ID_LENGTH))
    prefix = target[:length]
    candidates = [i for i in universe if i.startswith(prefix)]
    try:
        got = ids.pick(prefix, candidates)
    except UsageError as exc:
        assert len(candidates) > 1 and prefix not in candidates
        assert all(c in exc.message for c in candidates[:10])
        return
    assert got == target or got == prefix
    assert len(candidates) == 1 or prefix in candidates


@given(st.text(max_size=50))
def test_check_prefix_accepts_only_the_id_alphabet(text: str) -> None:
    try:
        prefix = ids.check_prefix(text)
    except UsageError:
        lowered = text.lower()
        assert not (ids.MIN_PREFIX <= len(lowered) <= ids.ID_LENGTH
                    and all(c in ids.ALPHABET for c in lowered))
        return
    assert ids.MIN_PREFIX <= len(prefix) <= ids.ID_LENGTH
    assert set(prefix) <= set(ids.ALPHABET)
    assert "/" not in prefix and "." not in prefix and "\x00" not in prefix


@given(st.lists(id_strategy, min_size=1, max_size=40, unique=True))
def test_shown_prefixes_are_unique_and_at_least_six(universe: list[str]) -> None:
    """Rows show the shortest prefix no other session file shares."""
    import tempfile
    from pathlib import Path

    from clinvk.store import SessionStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp))
        for ident in universe:
            store.path_for(ident).parent.mkdir(parents=True, exist_ok=True)
            store.path_for(ident).write_text("{}")
        shown = store.short_ids(universe)
    for ident in universe:
        prefix = shown[ident]
        assert len(prefix) >= ids.SHOWN_PREFIX and ident.startswith(prefix)
        assert [i for i in universe if i.startswith(prefix)] == [ident]
        # and no shorter prefix (≥ 6) would do
        if len(prefix) > ids.SHOWN_PREFIX:
            shorter = prefix[:-1]
            assert len([i for i in universe if i.startswith(shorter)]) > 1


def test_not_found_exit_code_can_be_session_error() -> None:
    with pytest.raises(ClinvkError) as info:
        ids.pick("abcd", [], not_found_exit=4)
    assert info.value.exit_code == 4
    with pytest.raises(NotFoundError) as info2:
        ids.pick("abcd", [])
    assert info2.value.exit_code == 1


def test_new_ids_are_valid() -> None:
    made = {ids.new_id() for _ in range(500)}
    assert len(made) == 500 and all(ids.is_valid_id(i) for i in made)


def test_until_a_plain_date_includes_that_day() -> None:
    from clinvk.timespec import parse_date, window

    start, end = window(None, "2026-03-01", "2026-03-01")
    assert start == parse_date("2026-03-01").timestamp()
    assert end == parse_date("2026-03-02").timestamp()
    _s, end2 = window(None, None, "2026-03-01T12:00:00Z")
    assert end2 == parse_date("2026-03-01T12:00:00Z").timestamp()
    with pytest.raises(UsageError):
        window(None, "2026-03-05", "2026-03-01")
