"""What a turn does while the vendor starts up rather than before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinvk.store import SessionStore
from tests.run.conftest import Fakes


def test_codex_config_is_read_once_the_vendor_is_starting(
        fake: Fakes, workdir: Path, run, store: SessionStore,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    """codex never names its model, so its parser reads codex's own config for it: that
    (a TOML parser and a file) happens once the vendor process is started, not before."""
    from clinvk import runner
    from clinvk.backends import codex

    started: list[int | None] = []
    real_enter = runner.VendorProcess.__enter__

    def enter(self: runner.VendorProcess) -> runner.VendorProcess:
        entered = real_enter(self)
        started.append(self.pgid)
        return entered

    seen: list[list[int | None]] = []
    real_model = codex.configured_model

    def model(extra_args: list[str], environ: dict[str, str] | None = None) -> str | None:
        seen.append(list(started))
        return real_model(extra_args, environ)

    monkeypatch.setattr(runner.VendorProcess, "__enter__", enter)
    monkeypatch.setattr(codex, "configured_model", model)
    r = run("prompt", "-b", "codex", "-o", "json", "say hi")
    assert r.code == 0, r.err
    assert r.json()["text"] == "MOCK openai reply #1: say hi"
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0] is not None  # vendor running
