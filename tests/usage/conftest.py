"""Stores built for the usage tests: sessions with known turns, usage, costs and times."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from clinvk.app import main
from clinvk.model import ApiRequest, Session, Turn, Usage
from clinvk.store import SessionStore


def at(text: str) -> datetime:
    """'2026-03-02 10:00' (UTC) → aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class T:
    """One turn to store."""

    started: datetime
    usage: tuple[int, int, int, int, int] | None = (100, 10, 0, 0, 0)
    cost: float | None = None
    source: str = "unpriced"  # reported | computed | unpriced
    duration: float | None = 1.0
    model: str | None = None
    status: str = "ok"
    prompt: str = "a prompt"
    response: str = "an answer"
    exit_code: int | None = 0
    error: str | None = None
    # The turn's API requests (their usage adds up to ``usage``, their costs to ``cost``).
    requests: list[ApiRequest] | None = None


def make(store: SessionStore, *, turns: Sequence[T] = (), backend: str = "claude",
         model: str | None = None, status: str = "active", workdir: str = "/w/a",
         tags: Sequence[str] = (), title: str = "a session", ident: str | None = None,
         created: datetime | None = None, last_used: datetime | None = None,
         pid: int | None = None, pid_start: float | None = None,
         backend_session_id: str | None = "vendor-thread") -> Session:
    """Store a session with exactly these turns (new id unless ``ident``)."""
    stored_turns = []
    for n, t in enumerate(turns, 1):
        stored_turns.append(Turn(
            index=n, prompt=t.prompt, response=t.response, started_at=t.started,
            duration_s=t.duration, exit_code=t.exit_code, status=t.status,  # type: ignore[arg-type]
            error=t.error, model=t.model or model,
            usage=Usage(*t.usage) if t.usage is not None else None,
            cost_usd=t.cost, cost_source=t.source,  # type: ignore[arg-type]
            price_source="builtin table test" if t.source == "computed" else None,
            backend_session_id=backend_session_id, requests=t.requests,
        ))
    first = stored_turns[0].started_at if stored_turns else None
    latest = stored_turns[-1].started_at if stored_turns else None
    created = created or first or at("2026-01-01 00:00")
    last_used = last_used or latest or created
    session = Session(
        id=ident or "", backend=backend, workdir=workdir, created_at=created,
        last_used_at=last_used, title=title, model=model, status=status,  # type: ignore[arg-type]
        tags=list(tags), turns=stored_turns, pid=pid, pid_start=pid_start,
        backend_session_id=backend_session_id,
    )
    if ident:
        store.insert(session)
        return session
    return store.create(session)


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """clinvk in-process: run("sessions", "stats", "--json") → Ran(code, out, err)."""

    def go(*args: str) -> Ran:
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return go


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC, so day/week/month groups do not depend on the machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


DEAD_PID = 4_194_304 + 17  # above Linux's pid_max: never alive
