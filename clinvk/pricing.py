"""What a turn cost, computed offline from a price table when the vendor does not say.

The built-in table is ``clinvk/data/prices.json``: Anthropic, OpenAI and Google (Gemini)
models in USD per million tokens, generated from the genai-prices package by
``scripts/update_prices.py`` (its source and date are in the file and in every
``price_source`` this module returns). Users add or override prices in config::

    [pricing."my-model"]          # exact model id (also matched case-insensitively)
    input = 1.0
    output = 4.0
    cache_read = 0.1              # optional: else cached tokens cost the input rate
    cache_write = 1.25            # optional: likewise

    [pricing."claude-opus-*"]     # a trailing * matches by prefix; the longest wins

Token conventions (see docs/backends.md): ``Usage.input_tokens`` is the *uncached*
input — the adapters subtract cached tokens from codex's and gemini's input counts —
so cache reads and writes are charged at their own rates and never twice.
``output_tokens`` already includes reasoning tokens, which are not charged again.

A long-context tier applies per API request: a turn that recorded its requests
(``Turn.requests``) is priced request by request, each at the tier of its own prompt
(input + cache read + cache write); a turn without them as one request
(``price_turn``, docs/stats.md#cost-per-api-request).

Model ids are matched: config key (exact, then ``*`` prefix) → exact table id →
normalized id (lowercase; a ``[1m]``-style suffix, an ``@version`` and a
``provider/`` or ``models/`` prefix stripped) → the table's own match rules
(prefixes, aliases, dated snapshots) in table order, within the provider whose
family the id belongs to. Anything else is unpriced, never $0.

The JSON is read on the first call only; importing this module costs nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clinvk.config import PriceConfig
    from clinvk.model import ApiRequest, CostSource, Turn, Usage

TABLE_PATH = Path(__file__).with_name("data") / "prices.json"
_SUFFIX_RE = re.compile(r"\[[^\]]*\]$")


class Rates:
    """USD per million tokens for one model at one time, with long-context tiers."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "tiers")

    def __init__(self, input: float, output: float, cache_read: float | None = None,
                 cache_write: float | None = None,
                 tiers: list[tuple[int, Rates]] | None = None):
        self.input = input
        self.output = output
        self.cache_read = cache_read
        self.cache_write = cache_write
        # (threshold, rates) ascending: rates for a request whose prompt exceeds it.
        self.tiers = tiers or []

    def for_prompt(self, prompt_tokens: float) -> Rates:
        chosen = self
        for above, rates in self.tiers:
            if prompt_tokens > above:
                chosen = rates
        return chosen

    def charge(self, input: int, output: int, cache_read: int, cache_write: int) -> float:
        """USD for these tokens at these rates (no tier chosen: see cost)."""
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        total = (input * self.input + output * self.output + cache_read * read
                 + cache_write * write) / 1_000_000
        # Float noise (0.0018235000000000003) helps nobody; keep far below a cent.
        return round(total, 10)

    def request_cost(self, request: ApiRequest) -> float:
        """One API request at the tier of its own prompt."""
        return self.for_prompt(request.prompt).charge(
            request.input_tokens, request.output_tokens, request.cache_read_tokens,
            request.cache_write_tokens)

    def cost(self, usage: Usage, requests: list[ApiRequest] | None = None) -> float:
        """A turn's cost: each recorded request at its own tier (they add up to
        ``usage``); without them, the whole turn as one request, as older records are."""
        if requests:
            return round(sum(map(self.request_cost, requests)), 10)
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        return self.for_prompt(prompt).charge(usage.input_tokens, usage.output_tokens,
                                              usage.cache_read_tokens, usage.cache_write_tokens)


class _Clause:
    """A model-id match rule from the table: eq, prefix, suffix, contains, regex, or, and."""

    __slots__ = ("children", "kind", "pattern", "value")

    def __init__(self, spec: dict[str, Any]):
        ((kind, value),) = spec.items()
        self.kind = kind
        self.value = value
        self.children = [_Clause(c) for c in value] if kind in ("or", "and") else []
        self.pattern = re.compile(value) if kind == "regex" else None

    def matches(self, text: str) -> bool:
        kind = self.kind
        if kind == "eq":
            return bool(text == self.value)
        if kind == "prefix":
            return text.startswith(self.value)
        if kind == "suffix":
            return text.endswith(self.value)
        if kind == "contains":
            return self.value in text
        if kind == "regex":
            assert self.pattern is not None
            return self.pattern.search(text) is not None
        if kind == "or":
            return any(c.matches(text) for c in self.children)
        if kind == "and":
            return all(c.matches(text) for c in self.children)
        return False


class _Model:
    __slots__ = ("id", "match", "name", "prices")

    def __init__(self, spec: dict[str, Any]):
        self.id: str = spec["id"]
        self.name: str = spec.get("name", self.id)
        self.match = _Clause(spec["match"])
        # (from date or "", rates), ascending by date
        self.prices: list[tuple[str, Rates]] = [
            (p.get("from") or "", _rates(p)) for p in spec["prices"]
        ]

    def rates_at(self, when: datetime) -> Rates:
        day = when.astimezone(UTC).date().isoformat()
        chosen = self.prices[0][1]
        for start, rates in self.prices:
            if start <= day:
                chosen = rates
        return chosen


def _rates(spec: dict[str, Any]) -> Rates:
    tiers = [(int(t["above"]), _rates({k: v for k, v in t.items() if k != "above"}))
             for t in spec.get("tiers", [])]
    return Rates(float(spec["input"]), float(spec["output"]),
                 _opt(spec.get("cache_read")), _opt(spec.get("cache_write")), tiers)


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


class PriceTable:
    """The built-in table, loaded from JSON."""

    def __init__(self, data: dict[str, Any]):
        self.source: str = data["source"]
        self.date: str = data["date"]
        self.providers: list[tuple[str, _Clause, list[_Model]]] = [
            (p["id"], _Clause(p["match"]), [_Model(m) for m in p["models"]])
            for p in data["providers"]
        ]
        self.by_id: dict[str, _Model] = {}
        for _pid, _match, models in self.providers:
            for model in models:
                self.by_id.setdefault(model.id.lower(), model)

    @property
    def label(self) -> str:
        return f"builtin table {self.date} ({self.source})"

    def find(self, model: str) -> _Model | None:
        """The table entry for a model id, by the rules in the module docstring."""
        exact = self.by_id.get(model) or self.by_id.get(model.lower())
        if exact is not None:
            return exact
        for candidate in dict.fromkeys((model.lower(), normalize(model))):
            hit = self.by_id.get(candidate)
            if hit is not None:
                return hit
            for _pid, family, models in self.providers:
                if not family.matches(candidate):
                    continue
                for entry in models:
                    if entry.match.matches(candidate):
                        return entry
        return None


def normalize(model: str) -> str:
    """'Claude-Opus-4-8[1m]' → 'claude-opus-4-8'; 'models/gemini-2.5-pro' → 'gemini-2.5-pro'."""
    text = model.strip().lower()
    text = _SUFFIX_RE.sub("", text)
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    if "@" in text:
        text = text.split("@", 1)[0]
    return text


@lru_cache(maxsize=1)
def builtin_table() -> PriceTable:
    import msgspec

    return PriceTable(msgspec.json.decode(TABLE_PATH.read_bytes()))


def _override(model: str, overrides: dict[str, PriceConfig]) -> PriceConfig | None:
    if not overrides:
        return None
    if model in overrides:
        return overrides[model]
    lowered = model.lower()
    normalized = normalize(model)
    best: tuple[int, PriceConfig] | None = None
    for key, price in overrides.items():
        k = key.lower()
        if k in (lowered, normalized):
            return price
        if k.endswith("*"):
            stem = k[:-1]
            if (lowered.startswith(stem) or normalized.startswith(stem)) and (
                    best is None or len(stem) > best[0]):
                best = (len(stem), price)
    return best[1] if best else None


def rates_for(model: str, overrides: dict[str, PriceConfig] | None = None,
              at: datetime | None = None) -> tuple[Rates, str] | None:
    """The rates for a model and where they come from, or None when it has no price."""
    price = _override(model, overrides or {})
    if price is not None:
        return Rates(price.input, price.output, price.cache_read, price.cache_write), "config"
    table = builtin_table()
    entry = table.find(model)
    if entry is None:
        return None
    return entry.rates_at(at or datetime.now(UTC)), table.label


def compute_cost(model: str | None, usage: Usage | None,
                 overrides: dict[str, PriceConfig],
                 at: datetime | None = None, requests: list[ApiRequest] | None = None
                 ) -> tuple[float | None, CostSource, str | None]:
    """(cost, "computed", price source) for a turn, or (None, "unpriced", None).

    ``at`` picks dated prices (default: now); the runner prices a turn as it ends.
    ``requests``: the turn's API requests, each priced at its own tier; without them the
    turn is priced as one request, and where its prompts add up to more than a tier's
    threshold (so that its requests might each have been below it) the price source
    says so.
    """
    if not model or usage is None:
        return None, "unpriced", None
    found = rates_for(model, overrides, at)
    if found is None:
        return None, "unpriced", None
    rates, source = found
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    if not requests and rates.tiers and prompt > rates.tiers[0][0]:
        # Over a tier's threshold as a whole: per request it may not have been.
        source += ONE_REQUEST
    return rates.cost(usage, requests), "computed", source


# Appended to the price source of a turn of a tiered model whose requests are unknown.
ONE_REQUEST = "; priced as one request"


def fit_requests(usage: Usage | None, requests: list[ApiRequest] | None) -> list[ApiRequest] | None:
    """The requests of a turn made to add up to its usage: what the vendor left
    unattributed (claude's stream gives each message's output as it started) goes to the
    last request. None when there are none, or they hold more than the turn's usage
    (then they describe something else, and the turn is priced as one request)."""
    if not requests or usage is None:
        return None
    from clinvk.model import ApiRequest

    sums = [0, 0, 0, 0]
    for r in requests:
        sums[0] += r.input_tokens
        sums[1] += r.output_tokens
        sums[2] += r.cache_read_tokens
        sums[3] += r.cache_write_tokens
    rest = [usage.input_tokens - sums[0], usage.output_tokens - sums[1],
            usage.cache_read_tokens - sums[2], usage.cache_write_tokens - sums[3]]
    if min(rest) < 0:
        return None
    if not any(rest):
        return requests
    last = requests[-1]
    return [*requests[:-1], ApiRequest(last.input_tokens + rest[0], last.output_tokens + rest[1],
                                    last.cache_read_tokens + rest[2],
                                    last.cache_write_tokens + rest[3], last.at, last.cost_usd)]


def price_turn(turn: Turn, overrides: dict[str, PriceConfig], at: datetime | None = None) -> None:
    """Price a turn from its usage unless the vendor reported its cost, and give each
    recorded request its share of the turn's cost (what `stats --by day` adds up on the
    request's day).

    A computed cost is each request at its own tier; ``usage_by_model`` is priced model
    by model, and one unpriced model leaves the turn unpriced rather than understated.
    A reported cost stays as reported: it is shared out in proportion to what each
    request would cost at the table's prices (else to its tokens).
    """
    if turn.cost_source != "reported" or turn.cost_usd is None:
        turn.cost_usd, turn.cost_source, turn.price_source = computed_cost(turn, overrides, at)
    if not turn.requests:
        return
    if turn.cost_usd is None:
        for r in turn.requests:
            r.cost_usd = None
        return
    if turn.cost_source == "computed" and turn.model and not turn.usage_by_model:
        found = rates_for(turn.model, overrides, at)
        if found is not None:
            for r in turn.requests:
                r.cost_usd = found[0].request_cost(r)
            return
    weights: list[float] = []
    found = rates_for(turn.model, overrides, at) if turn.model else None
    if found is not None:
        weights = [found[0].request_cost(r) for r in turn.requests]
    if not sum(weights):
        weights = [float(r.prompt + r.output_tokens) for r in turn.requests]
    whole = sum(weights) or 1.0
    for r, w in zip(turn.requests, weights):
        r.cost_usd = round(turn.cost_usd * w / whole, 10)


def computed_cost(turn: Turn, overrides: dict[str, PriceConfig], at: datetime | None
                  ) -> tuple[float | None, CostSource, str | None]:
    """What the price table (and ``overrides``) make of a turn's usage: (cost, source,
    price source), each recorded request at its own tier."""
    if turn.usage is None:
        return None, "unpriced", None
    if turn.usage_by_model:
        total = 0.0
        source: str | None = None
        for name, usage in turn.usage_by_model.items():
            cost, kind, where = compute_cost(name, usage, overrides, at)
            if cost is None or kind != "computed":
                return None, "unpriced", None
            total += cost
            source = source or where
        return round(total, 10), "computed", source
    return compute_cost(turn.model, turn.usage, overrides, at, turn.requests)


def stale_cost(turn: Turn, overrides: dict[str, PriceConfig]) -> str | None:
    """Why a turn's computed cost is not what its recorded requests give at the prices
    of its start (None: it is, or it is not computed from requests). A reported cost
    is the vendor's and never recomputed."""
    if turn.cost_source != "computed" or not turn.requests:
        return None
    cost = computed_cost(turn, overrides, turn.started_at)[0]
    if cost is None:
        return None
    if turn.cost_usd is None or abs(cost - turn.cost_usd) > 1e-9:
        return f"turn {turn.index} costs ${cost:.6f} by its requests, ${turn.cost_usd or 0:.6f} recorded"
    if any(r.cost_usd is None for r in turn.requests):
        return f"turn {turn.index} has requests without their share of its cost"
    return None
