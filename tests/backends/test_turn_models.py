"""Which model a turn records and how it is priced when the vendor does not say."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinvk.backends import TurnResult
from clinvk.backends.codex import CodexBackend, configured_model
from clinvk.backends.gemini import GeminiBackend
from clinvk.config import PriceConfig
from clinvk.model import CostSource, Turn, Usage
from clinvk.pricing import price_turn
from tests.backends.vendor_samples import fixture_text, request, run


def test_codex_model_from_extra_args_then_its_config(tmp_path: Path) -> None:
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text('model = "gpt-5.5"\n[features]\nplugins = false\n')
    env = {"CODEX_HOME": str(home)}
    assert configured_model(["-m", "o9"], env) == "o9"
    assert configured_model(["--model=o8"], env) == "o8"
    assert configured_model([], env) == "gpt-5.5"
    assert configured_model([], {"CODEX_HOME": str(tmp_path / "none")}) is None
    (home / "config.toml").write_text("model = [")
    assert configured_model([], env) is None


def test_codex_turn_records_the_configured_model(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text('model = "gpt-5.5"\n')
    monkeypatch.setenv("CODEX_HOME", str(home))
    _events, result = run(CodexBackend().parser(request()), fixture_text("codex-exec-new.jsonl"), 0, "")
    assert result.model == "gpt-5.5"
    _events, result = run(CodexBackend().parser(request(model="gpt-5.4")),
                          fixture_text("codex-exec-new.jsonl"), 0, "")
    assert result.model == "gpt-5.4"


def test_gemini_auto_turn_names_the_answering_model_and_splits_usage() -> None:
    _events, result = run(GeminiBackend().parser(request()),
                          fixture_text("gemini-stream-new.jsonl"), 0, "")
    assert result.model == "gemini-3.8-flash"
    assert result.usage_by_model is not None
    assert list(result.usage_by_model) == ["gemini-3.5-flash-lite", "gemini-3.8-flash"]
    one = result.usage_by_model["gemini-3.8-flash"]
    assert (one.input_tokens, one.output_tokens, one.cache_read_tokens) == (56, 45, 67)
    summed = result.usage_by_model["gemini-3.5-flash-lite"] + one
    assert result.usage is not None and summed.total == result.usage.total == 336


def test_gemini_named_model_is_kept() -> None:
    text = fixture_text("gemini-stream-new.jsonl").replace('"model":"auto"', '"model":"gemini-2.5-pro"')
    _events, result = run(GeminiBackend().parser(request(model="gemini-2.5-pro")), text, 0, "")
    assert result.model == "gemini-2.5-pro"


PRICES = {
    "router-m": PriceConfig(input=1.0, output=2.0, cache_read=0.5, cache_write=1.0),
    "main-m": PriceConfig(input=10.0, output=20.0, cache_read=5.0, cache_write=10.0),
}


def test_turn_priced_model_by_model() -> None:
    router = Usage(input_tokens=1_000_000, output_tokens=0)
    main = Usage(input_tokens=0, output_tokens=1_000_000)
    result = TurnResult(status="ok", usage=router + main,
                        usage_by_model={"router-m": router, "main-m": main})
    cost, source, where = _cost(result, "main-m", PRICES)
    assert source == "computed" and cost == pytest.approx(1.0 + 20.0)
    assert where is not None


def test_one_unpriced_model_leaves_the_turn_unpriced() -> None:
    result = TurnResult(status="ok", usage=Usage(5, 5),
                        usage_by_model={"main-m": Usage(1, 1), "no-such-model-xyz": Usage(4, 4)})
    assert _cost(result, "main-m", PRICES) == (None, "unpriced", None)


def _cost(result: TurnResult, model: str, prices: dict[str, PriceConfig]
          ) -> tuple[float | None, CostSource, str | None]:
    """What a turn that ended with ``result`` records as its cost (as turn._price does)."""
    turn = Turn(0, "p", datetime.now(UTC), model=model, usage=result.usage,
                usage_by_model=result.usage_by_model, cost_usd=result.cost_usd,
                cost_source=result.cost_source)
    price_turn(turn, prices)
    return turn.cost_usd, turn.cost_source, turn.price_source


def test_reported_cost_wins() -> None:
    result = TurnResult(status="ok", usage=Usage(1, 1), cost_usd=0.25, cost_source="reported")
    assert _cost(result, "main-m", PRICES) == (0.25, "reported", None)
