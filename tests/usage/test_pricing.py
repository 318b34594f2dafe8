"""clinvk.pricing: the built-in table, its match rules, tiers, dates and config overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from clinvk.config import PriceConfig
from clinvk.model import Usage
from clinvk.pricing import TABLE_PATH, builtin_table, compute_cost, normalize, rates_for

TABLE = json.loads(TABLE_PATH.read_text())
BUILTIN = f"builtin table {TABLE['date']} ({TABLE['source']})"
# The mock model API's fixed numbers in the recorded vendor samples.
SAMPLE = Usage(input_tokens=123, output_tokens=45, cache_read_tokens=67, cache_write_tokens=8)


def cost(model: str | None, usage: Usage | None, **overrides: PriceConfig) -> float | None:
    return compute_cost(model, usage, overrides)[0]


def test_table_names_its_source_and_date() -> None:
    assert TABLE["source"].startswith("genai-prices ")
    assert TABLE["source_url"] == "https://github.com/pydantic/genai-prices"
    datetime.strptime(TABLE["date"], "%Y-%m-%d")
    assert {p["id"] for p in TABLE["providers"]} == {"anthropic", "openai", "google"}
    for provider in TABLE["providers"]:
        for model in provider["models"]:
            for price in model["prices"]:
                assert price["input"] >= 0 and price["output"] >= 0, model["id"]
                thresholds = [t["above"] for t in price.get("tiers", [])]
                assert thresholds == sorted(thresholds), model["id"]


@pytest.mark.parametrize(("model", "reported"), [
    # Claude Code's own costUSD for these samples: our table gives the same figure.
    ("claude-opus-4-8", 0.0018235),  # claude 2.1.197 samples
    ("claude-opus-4-8[1m]", 0.0018235),  # the 1M-context alias claude reports
    ("claude-opus-5-5", 0.0014454),  # claude 2.1.330 samples ($4/$20, cache hits 0.05x)
])
def test_anthropic_matches_the_vendors_reported_cost(model: str, reported: float) -> None:
    value, source, price_source = compute_cost(model, SAMPLE, {})
    assert value == pytest.approx(reported, abs=1e-12)
    assert source == "computed" and price_source == BUILTIN


def test_anthropic_long_context_tier_applies_above_200k_prompt_tokens() -> None:
    below = Usage(input_tokens=100_000, output_tokens=1_000, cache_read_tokens=50_000)
    assert cost("claude-sonnet-4-5", below) == pytest.approx(
        (100_000 * 3 + 1_000 * 15 + 50_000 * 0.3) / 1e6)
    # 150k uncached + 60k cached = 210k prompt tokens: every token at the long rates.
    above = Usage(input_tokens=150_000, output_tokens=1_000, cache_read_tokens=60_000,
                  cache_write_tokens=1_000)
    assert cost("claude-sonnet-4-5-20250929", above) == pytest.approx(
        (150_000 * 6 + 1_000 * 22.5 + 60_000 * 0.6 + 1_000 * 7.5) / 1e6)


def test_openai_cached_input_is_never_charged_twice() -> None:
    # clinvk's input_tokens is the uncached part; codex's own count (5000) included the
    # 4000 cached tokens. Reasoning tokens are part of output and not charged again.
    usage = Usage(input_tokens=1_000, output_tokens=500, cache_read_tokens=4_000,
                  reasoning_tokens=200)
    assert cost("gpt-5.5", usage) == pytest.approx((1_000 * 5 + 500 * 30 + 4_000 * 0.5) / 1e6)
    long = Usage(input_tokens=200_000, output_tokens=1_000, cache_read_tokens=100_000)
    assert cost("gpt-5.5", long) == pytest.approx((200_000 * 10 + 1_000 * 45 + 100_000 * 1) / 1e6)


def test_codex_sample_priced_through_the_adapter() -> None:
    from clinvk.backends.codex import CodexBackend
    from tests.backends.vendor_samples import fixture_text, request, run

    _events, result = run(CodexBackend().parser(request()), fixture_text("codex-exec-new.jsonl"))
    assert result.usage == Usage(input_tokens=56, output_tokens=45, cache_read_tokens=67)
    # codex reported input 123 of which 67 cached: 56 at $5, 67 at $0.50, 45 out at $30.
    assert cost("gpt-5.5", result.usage) == pytest.approx(0.0016635, abs=1e-12)


def test_openai_cache_write_without_a_rate_costs_the_input_rate() -> None:
    assert cost("gpt-5", Usage(input_tokens=0, cache_write_tokens=1_000_000)) == pytest.approx(1.25)


def test_google_models_and_the_long_context_tier() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=100, cache_read_tokens=1_000)
    assert cost("gemini-2.5-flash", usage) == pytest.approx((1_000 * 0.3 + 100 * 2.5 + 1_000 * 0.03) / 1e6)
    assert cost("models/gemini-2.5-flash", usage) == cost("gemini-2.5-flash", usage)
    assert cost("gemini-3.5-flash-lite", usage) == pytest.approx((300 + 250 + 30) / 1e6)
    for model in ("gemini-3.1-pro-preview", "gemini-3.8-flash", "gemini-2.5-pro"):
        assert cost(model, usage) is not None, model
    big = Usage(input_tokens=250_000, output_tokens=2_000)
    assert cost("gemini-2.5-pro", big) == pytest.approx((250_000 * 2.5 + 2_000 * 15) / 1e6)
    small = Usage(input_tokens=150_000, output_tokens=2_000)
    assert cost("gemini-2.5-pro", small) == pytest.approx((150_000 * 1.25 + 2_000 * 10) / 1e6)


def test_dated_prices_follow_the_turns_date() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    before = datetime(2026, 12, 31, tzinfo=UTC)
    after = datetime(2027, 1, 1, 12, tzinfo=UTC)
    assert compute_cost("gemini-3.8-flash", usage, {}, at=before)[0] == pytest.approx(0.75 + 3.75)
    assert compute_cost("gemini-3.8-flash", usage, {}, at=after)[0] == pytest.approx(1.5 + 7.5)


@pytest.mark.parametrize("model", ["auto", "mock-model", "<synthetic>", "", "claude-unknown-9",
                                   "gemini-99-ultra"])
def test_unknown_models_are_unpriced_never_zero(model: str) -> None:
    assert compute_cost(model, SAMPLE, {}) == (None, "unpriced", None)


def test_no_model_or_no_usage_is_unpriced() -> None:
    assert compute_cost(None, SAMPLE, {}) == (None, "unpriced", None)
    assert compute_cost("gpt-5.5", None, {}) == (None, "unpriced", None)


def test_config_overrides_win_and_say_so() -> None:
    price = PriceConfig(input=2.0, output=8.0, cache_read=0.5, cache_write=2.5)
    assert compute_cost("gpt-5.5", SAMPLE, {"gpt-5.5": price}) == (
        pytest.approx((123 * 2 + 45 * 8 + 67 * 0.5 + 8 * 2.5) / 1e6), "computed", "config")
    # Keys match case-insensitively and after normalizing the id.
    assert compute_cost("Claude-Opus-4-8[1m]", SAMPLE, {"claude-opus-4-8": price})[2] == "config"
    # A model the table does not know gets a price only from config.
    assert cost("my-local-llm", SAMPLE) is None
    assert cost("my-local-llm", SAMPLE, **{"my-local-llm": price}) is not None


def test_override_without_cache_rates_charges_cached_tokens_at_the_input_rate() -> None:
    price = PriceConfig(input=1.0, output=2.0)
    usage = Usage(input_tokens=10, output_tokens=10, cache_read_tokens=10, cache_write_tokens=10)
    assert cost("x-model", usage, **{"x-model": price}) == pytest.approx((10 + 20 + 10 + 10) / 1e6)


def test_prefix_overrides_longest_wins() -> None:
    broad = PriceConfig(input=1.0, output=1.0)
    narrow = PriceConfig(input=3.0, output=3.0)
    overrides = {"claude-*": broad, "claude-opus-*": narrow}
    usage = Usage(input_tokens=100_000)
    assert compute_cost("claude-opus-4-8", usage, overrides)[0] == pytest.approx(0.3)
    assert compute_cost("claude-sonnet-4-5", usage, overrides)[0] == pytest.approx(0.1)
    assert compute_cost("gpt-5.5", usage, overrides) == (pytest.approx(0.5), "computed", BUILTIN)


def test_normalize_and_rates_for() -> None:
    assert normalize("Claude-Opus-4-8[1m]") == "claude-opus-4-8"
    assert normalize("models/gemini-2.5-pro") == "gemini-2.5-pro"
    assert normalize("claude-3-5-sonnet@20240620") == "claude-3-5-sonnet"
    found = rates_for("claude-opus-4-8")
    assert found is not None and found[0].input == 5 and found[0].cache_write == 6.25
    assert rates_for("nothing-like-this") is None


def test_every_table_model_is_found_by_its_own_id() -> None:
    table = builtin_table()
    for _pid, _family, models in table.providers:
        for model in models:
            assert table.find(model.id) is model


def test_importing_pricing_does_not_read_the_table() -> None:
    code = ("import sys, clinvk.pricing as p; "
            "print(p.builtin_table.cache_info().currsize, 'msgspec.json' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "0"
