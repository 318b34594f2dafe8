"""A session title obeys one rule however it is given: `prompt --title`, `sessions rename`
and import all refuse a title longer than model.TITLE_MAX, before anything is stored."""

from __future__ import annotations

from pathlib import Path

from clinvk.model import TITLE_MAX
from clinvk.store import SessionStore
from tests.conftest import iter_sessions
from tests.run.conftest import Fakes, run_proc

TOO_LONG = "t" * (TITLE_MAX + 1)


def titles(store: SessionStore) -> list[str]:
    return [session.title for _, session, _ in iter_sessions(store)]


def assert_refused(result, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert result.code == 1 and result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clinvk: error: "), result.err
    assert needle in lines[0] and "Traceback" not in result.err


def test_prompt_refuses_a_title_longer_than_the_limit(fake: Fakes, workdir: Path,
                                                      store: SessionStore) -> None:
    result = run_proc("prompt", "-b", "claude", "--title", TOO_LONG, "say hi")
    assert_refused(result, f"the title is longer than {TITLE_MAX} characters")
    # Refused before anything ran or was recorded.
    assert fake.starts() == []
    assert titles(store) == []


def test_prompt_accepts_a_title_at_the_limit_as_recorded(fake: Fakes, workdir: Path,
                                                         store: SessionStore) -> None:
    at_limit = "t" * TITLE_MAX
    assert run_proc("prompt", "-b", "claude", "--title", at_limit, "say hi").code == 0
    # The rule applies to the title as recorded: runs of whitespace count as one space.
    spaced = "a" * (TITLE_MAX - 2) + "  \n  b"
    result = run_proc("prompt", "-b", "claude", "--title", spaced, "say hi")
    assert result.code == 0, result.err
    assert sorted(titles(store)) == sorted([at_limit, "a" * (TITLE_MAX - 2) + " b"])


def test_rename_refuses_the_same_title_the_same_way(fake: Fakes, workdir: Path,
                                                    store: SessionStore) -> None:
    assert run_proc("prompt", "-b", "claude", "--title", "short", "say hi").code == 0
    (ident,) = [session.id for _, session, _ in iter_sessions(store)]
    result = run_proc("sessions", "rename", ident, TOO_LONG)
    assert_refused(result, f"the title is longer than {TITLE_MAX} characters")
    assert titles(store) == ["short"]
