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


@pytest.mark.parametrize(("backend", "priced_here"), [("codex", True), ("gemini", True),
                                                      ("claude", False)])
def test_the_price_table_loads_while_the_vendor_works(
        backend: str, priced_here: bool, fake: Fakes, workdir: Path, run,  # type: ignore[no-untyped-def]
        store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every turn is priced from the built-in table at the end (a reported cost is shared
    out over its requests by it); the table is loaded on a thread of its own once the
    vendor is started, not after it."""
    import threading

    from clinvk import pricing, runner, turn

    pricing.builtin_table.cache_clear()
    running: list[bool] = []
    real_enter, real_wait = runner.VendorProcess.__enter__, runner.VendorProcess.wait

    def enter(self: runner.VendorProcess) -> runner.VendorProcess:
        entered = real_enter(self)
        running.append(True)
        return entered

    def wait(self: runner.VendorProcess) -> runner.Outcome:
        outcome = real_wait(self)
        running.append(False)
        return outcome

    loads: list[str] = []
    real_table = pricing.builtin_table

    def table() -> pricing.PriceTable:
        loads.append(threading.current_thread().name)
        return real_table()

    warmed: list[bool] = []
    real_warm = turn._warm_prices

    def warm() -> None:
        warmed.append(bool(running) and running[-1])
        real_warm()
        for thread in threading.enumerate():
            if thread.name == "clinvk-prices":
                thread.join()

    monkeypatch.setattr(turn, "_warm_prices", warm)
    monkeypatch.setattr(runner.VendorProcess, "__enter__", enter)
    monkeypatch.setattr(runner.VendorProcess, "wait", wait)
    monkeypatch.setattr(pricing, "builtin_table", table)
    r = run("prompt", "-b", backend, "-o", "json", "say hi")
    assert r.code == 0, r.err
    assert (r.json()["cost_source"] == "reported") is not priced_here
    assert warmed == [True]  # once, the vendor running
    assert "clinvk-prices" in loads  # on a thread of its own
