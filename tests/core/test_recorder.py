"""The turn's Recorder: checkpoints off the streaming thread, one write at a time, in
order; a checkpoint overtaken before it was written is dropped; the final save is last."""

from __future__ import annotations

import threading
from pathlib import Path

from clinvk.model import Session
from clinvk.store import SessionStore
from clinvk.turn import Recorder
from tests.conftest import add_session
from tests.run.conftest import wait_for


class SlowStore(SessionStore):
    """A real store whose first save waits until the test lets it go, and which notes
    the title of every session it writes, in order."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.written: list[str] = []
        self.first_started = threading.Event()
        self.go = threading.Event()

    def save(self, session: Session) -> None:
        if not self.written and not self.first_started.is_set():
            self.first_started.set()
            assert self.go.wait(10)
        super().save(session)
        self.written.append(session.title)


def test_checkpoints_overtaken_before_written_are_dropped_and_final_is_last(
        store: SessionStore) -> None:
    session = add_session(store, title="t0")
    slow = SlowStore(store.root)
    recorder = Recorder(slow, session)
    session.title = "t1"
    recorder.checkpoint()  # written at once (held up in save)
    assert slow.first_started.wait(10)
    session.title = "t2"
    recorder.checkpoint()  # waits for t1's write...
    session.title = "t3"
    recorder.checkpoint()  # ...and is overtaken by t3
    slow.go.set()
    wait_for(lambda: len(slow.written) >= 2, what="the second checkpoint's write")
    assert slow.written == ["t1", "t3"]
    assert store.read(session.id).title == "t3"
    session.title = "final"
    recorder.final()
    assert slow.written == ["t1", "t3", "final"]
    assert store.read(session.id).title == "final"


def test_a_checkpoint_is_written_while_the_turn_goes_on(store: SessionStore) -> None:
    session = add_session(store, title="t0")
    saved = threading.Event()

    class Noting(SessionStore):
        def save(self, s: Session) -> None:
            super().save(s)
            saved.set()

    recorder = Recorder(Noting(store.root), session)
    session.title = "checkpointed"
    recorder.checkpoint()
    assert saved.wait(10)  # without any final save
    assert store.read(session.id).title == "checkpointed"
    recorder.final()


def test_the_final_save_drops_a_checkpoint_still_waiting(store: SessionStore) -> None:
    session = add_session(store, title="t0")
    slow = SlowStore(store.root)
    recorder = Recorder(slow, session)
    session.title = "t1"
    recorder.checkpoint()
    assert slow.first_started.wait(10)
    session.title = "t2"
    recorder.checkpoint()  # still waiting when the turn ends
    session.title = "final"
    finished = threading.Thread(target=recorder.final)
    finished.start()
    # The final save has dropped t2 and waits for t1's write.
    wait_for(lambda: recorder._waiting is None, what="the final save to drop t2")
    slow.go.set()
    finished.join(10)
    assert not finished.is_alive()
    assert slow.written == ["t1", "final"]
    assert store.read(session.id).title == "final"
