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
    from clinvk.model import CostSource, Usage

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

    def cost(self, usage: Usage) -> float:
        prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        # A tier applies per API request. Where the adapter knows how many requests the
        # turn made, the average prompt decides; else the turn counts as one request.
        requests = getattr(usage, "requests", 0) or 1
        rates = self.for_prompt(prompt / requests)
        cache_read = rates.input if rates.cache_read is None else rates.cache_read
        cache_write = rates.input if rates.cache_write is None else rates.cache_write
        total = (usage.input_tokens * rates.input
                 + usage.output_tokens * rates.output
                 + usage.cache_read_tokens * cache_read
                 + usage.cache_write_tokens * cache_write) / 1_000_000
        # Float noise (0.0018235000000000003) helps nobody; keep far below a cent.
        return round(total, 10)


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
                 at: datetime | None = None) -> tuple[float | None, CostSource, str | None]:
    """(cost, "computed", price source) for a turn, or (None, "unpriced", None).

    ``at`` picks dated prices (default: now); the runner prices a turn as it ends.
    """
    if not model or usage is None:
        return None, "unpriced", None
    found = rates_for(model, overrides, at)
    if found is None:
        return None, "unpriced", None
    rates, source = found
    return rates.cost(usage), "computed", source
