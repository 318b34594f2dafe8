"""Cost per API request: a long-context tier applies to each request's own prompt,
never to a turn's prompts added up (issue 25)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clinvk.backends.claude import ClaudeBackend
from clinvk.backends.codex import CodexBackend
from clinvk.backends.gemini import GeminiBackend
from clinvk.config import PriceConfig
from clinvk.model import ApiRequest, Turn, Usage
from clinvk.pricing import ONE_REQUEST, compute_cost, fit_requests, price_turn
from tests.backends.vendor_samples import fixture_text, request, run

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def req(input: int, output: int = 0, read: int = 0, write: int = 0) -> ApiRequest:
    return ApiRequest(input, output, read, write)


def total(requests: list[ApiRequest]) -> Usage:
    u = Usage()
    for r in requests:
        u = u + Usage(r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens)
    return u


def priced(model: str, requests: list[ApiRequest] | None, usage: Usage | None = None
           ) -> tuple[float | None, str | None]:
    turn = Turn(0, "p", AT, model=model, usage=usage or total(requests or []),
                requests=requests)
    price_turn(turn, {}, AT)
    return turn.cost_usd, turn.price_source


# gpt-5.5 (codex): $5 / $30 / cache read $0.5 per million; above 272k prompt tokens a
# request costs $10 / $45 / $1. claude-sonnet-4-5: $3 / $15 / read $0.3 / write $3.75;
# above 200k: $6 / $22.5 / $0.6 / $7.5.
def test_requests_each_under_the_threshold_are_priced_at_the_base_rate() -> None:
    # Three codex requests of 100k prompt tokens: 300k together, 100k each.
    requests = [req(20_000, 1_000, 80_000)] * 3
    cost, source = priced("gpt-5.5", requests)
    assert cost == pytest.approx(3 * (20_000 * 5 + 1_000 * 30 + 80_000 * 0.5) / 1e6)
    assert source is not None and ONE_REQUEST not in source
    # As one request (the old way) the same turn cost every token at the tier's rates.
    as_one = compute_cost("gpt-5.5", total(requests), {}, AT)[0]
    assert as_one == pytest.approx(3 * (20_000 * 10 + 1_000 * 45 + 80_000 * 1) / 1e6)
    # claude-sonnet-4-5: two requests of 150k (uncached, read and written) each.
    requests = [req(10_000, 2_000, 130_000, 10_000)] * 2
    assert priced("claude-sonnet-4-5", requests)[0] == pytest.approx(
        2 * (10_000 * 3 + 2_000 * 15 + 130_000 * 0.3 + 10_000 * 3.75) / 1e6)


def test_a_request_over_the_threshold_is_priced_at_the_tier() -> None:
    cost, _ = priced("gpt-5.5", [req(2_000, 500, 271_000)])  # 273k > 272k
    assert cost == pytest.approx((2_000 * 10 + 500 * 45 + 271_000 * 1) / 1e6)
    cost, _ = priced("claude-sonnet-4-5", [req(1_000, 100, 199_000, 1_000)])  # 201k > 200k
    assert cost == pytest.approx((1_000 * 6 + 100 * 22.5 + 199_000 * 0.6 + 1_000 * 7.5) / 1e6)
    # The threshold itself is still the base rate ("above 272k").
    cost, _ = priced("gpt-5.5", [req(272_000)])
    assert cost == pytest.approx(272_000 * 5 / 1e6)


def test_a_turn_of_mixed_requests_prices_each_at_its_own_tier() -> None:
    small, large = req(50_000, 1_000, 100_000), req(10_000, 3_000, 290_000)  # 150k, 300k
    turn = Turn(0, "p", AT, model="gpt-5.5", usage=total([small, large]),
                requests=[small, large])
    price_turn(turn, {}, AT)
    base = (50_000 * 5 + 1_000 * 30 + 100_000 * 0.5) / 1e6
    tier = (10_000 * 10 + 3_000 * 45 + 290_000 * 1) / 1e6
    assert turn.cost_usd == pytest.approx(base + tier)
    assert turn.cost_source == "computed"
    # Each request's share is what it cost: the per-day split adds these up.
    assert [r.cost_usd for r in turn.requests or []] == [pytest.approx(base),
                                                         pytest.approx(tier)]


def test_config_tiers_do_not_exist_so_config_prices_are_flat() -> None:
    flat = {"gpt-5.5": PriceConfig(input=1.0, output=2.0)}
    turn = Turn(0, "p", AT, model="gpt-5.5", usage=Usage(300_000, 10),
                requests=[ApiRequest(300_000, 10)])
    price_turn(turn, flat, AT)
    assert turn.cost_usd == pytest.approx((300_000 * 1 + 10 * 2) / 1e6)
    assert turn.price_source == "config"


def test_a_record_without_requests_is_priced_as_one_request_and_says_so() -> None:
    cost, source = priced("gpt-5.5", None, Usage(20_000, 1_000, 280_000))
    assert cost == pytest.approx((20_000 * 10 + 1_000 * 45 + 280_000 * 1) / 1e6)
    assert source is not None and source.endswith(ONE_REQUEST)
    # Below every threshold the answer is the same either way: nothing to say.
    cost, source = priced("gpt-5.5", None, Usage(20_000, 1_000, 80_000))
    assert source is not None and ONE_REQUEST not in source


def test_what_the_requests_leave_unattributed_goes_to_the_last_one() -> None:
    # claude's stream gives each message's output as it started (1 token).
    requests = [ApiRequest(100, 1), ApiRequest(200, 1)]
    fitted = fit_requests(Usage(300, 30), requests)
    assert fitted == [ApiRequest(100, 1), ApiRequest(200, 29)]
    # Requests holding more than the turn's usage describe something else.
    assert fit_requests(Usage(250, 30), requests) is None
    assert fit_requests(None, requests) is None
    assert fit_requests(Usage(300, 30), []) is None


def test_a_reported_cost_stays_and_is_shared_by_the_table_prices() -> None:
    small, large = req(100_000), req(300_000)
    turn = Turn(0, "p", AT, model="gpt-5.5", usage=total([small, large]),
                requests=[small, large], cost_usd=1.0, cost_source="reported")
    price_turn(turn, {}, AT)
    assert (turn.cost_usd, turn.cost_source, turn.price_source) == (1.0, "reported", None)
    shares = [r.cost_usd or 0.0 for r in turn.requests or []]
    # 100k at $5 against 300k at $10: one part in seven.
    assert shares == [pytest.approx(1 / 7), pytest.approx(6 / 7)]
    # An unpriced model shares by tokens.
    turn = Turn(0, "p", AT, model="no-such-model", usage=total([small, large]),
                requests=[req(100_000), req(300_000)], cost_usd=1.0, cost_source="reported")
    price_turn(turn, {}, AT)
    assert [r.cost_usd for r in turn.requests or []] == [0.25, 0.75]


def test_claude_stream_of_a_real_tool_turn_records_each_request() -> None:
    # claude 2.1.330, one tool call: two API requests (input 100, then 200).
    _, result = run(ClaudeBackend().parser(request()), fixture_text("tools/claude-tool-turn.jsonl"))
    assert result.usage is not None and result.usage.input_tokens == 300
    assert [r.prompt for r in result.requests or []] == [100, 200]
    assert [r.at for r in result.requests or []] == [
        datetime(2026, 11, 30, 1, 21, 40, 368000, tzinfo=UTC),
        datetime(2026, 11, 30, 1, 21, 40, 429000, tzinfo=UTC)]
    fitted = fit_requests(result.usage, result.requests)
    assert fitted is not None and total(fitted) == Usage(300, 30)


@pytest.mark.parametrize(("backend", "sample"), [
    (CodexBackend, "tools/codex-tool-turn.jsonl"), (GeminiBackend, "tools/gemini-tool-turn.jsonl")])
def test_codex_and_gemini_streams_give_only_the_turns_sums(backend: type, sample: str) -> None:
    # Their machine-readable output has no per-request usage (codex's come from its
    # rollout, absent here: tests/backends/test_codex_rollout.py); such a turn is priced
    # as one request.
    _, result = run(backend().parser(request()), fixture_text(sample))
    assert result.usage is not None and result.requests is None


def test_a_version_2_record_loads_without_requests_and_keeps_its_cost(store) -> None:  # type: ignore[no-untyped-def]
    import json

    from clinvk.model import SCHEMA_VERSION

    record = {"id": "old00001", "backend": "codex", "workdir": "/w", "version": 2,
              "created_at": "2026-03-02T10:00:00Z", "last_used_at": "2026-03-02T10:00:00Z",
              "turns": [{"index": 1, "prompt": "p", "started_at": "2026-03-02T10:00:00Z",
                         "status": "ok", "model": "gpt-5.5",
                         "usage": {"input_tokens": 20_000, "cache_read_tokens": 280_000},
                         "cost_usd": 0.48, "cost_source": "computed",
                         "price_source": "builtin table 2026-11-22 (genai-prices 0.2.3)"}]}
    path = store.path_for("old00001")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    session = store.read("old00001")
    assert session.turns[0].requests is None and session.turns[0].cost_usd == 0.48
    store.save(session)  # written again: at the current version, the turn as it was
    again = json.loads(path.read_text())
    assert again["version"] == SCHEMA_VERSION == 3
    assert again["turns"][0]["requests"] is None and again["turns"][0]["cost_usd"] == 0.48
