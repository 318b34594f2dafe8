"""Regenerate clinvk/data/prices.json from the genai-prices package.

    python -m venv /tmp/prices && /tmp/prices/bin/pip install genai-prices
    /tmp/prices/bin/python scripts/update_prices.py [--date YYYY-MM-DD]

genai-prices (https://github.com/pydantic/genai-prices, MIT) is a maintained, offline
table of LLM prices. clinvk does not depend on it at run time: it pulls in pydantic and
an HTTP client and takes ~0.4 s to import, once per turn. This script copies the part
clinvk needs (Anthropic, OpenAI and Google's Gemini models; input, output, cache read,
cache write and long-context tiers; dated price changes) into a small JSON file that
clinvk.pricing reads lazily. Review the diff before committing it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "clinvk" / "data" / "prices.json"
# genai-prices provider id → which of its models clinvk keeps.
PROVIDERS = {
    "anthropic": lambda model_id: model_id.startswith("claude"),
    "openai": lambda model_id: True,
    "google": lambda model_id: model_id.startswith("gemini"),
}
# genai-prices price key → clinvk's. cache_write is Anthropic's 5-minute write.
FIELDS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
}


def _num(value: Decimal) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else number


def _clause(clause: Any) -> dict[str, Any]:
    from genai_prices import types as t

    if isinstance(clause, t.ClauseEquals):
        return {"eq": clause.equals.lower()}
    if isinstance(clause, t.ClauseStartsWith):
        return {"prefix": clause.starts_with.lower()}
    if isinstance(clause, t.ClauseEndsWith):
        return {"suffix": clause.ends_with.lower()}
    if isinstance(clause, t.ClauseContains):
        return {"contains": clause.contains.lower()}
    if isinstance(clause, t.ClauseRegex):
        return {"regex": clause.regex}
    if isinstance(clause, t.ClauseOr):
        return {"or": [_clause(c) for c in clause.or_]}
    if isinstance(clause, t.ClauseAnd):
        return {"and": [_clause(c) for c in clause.and_]}
    raise SystemExit(f"unknown match clause {clause!r}")


def _price(model_price: Any) -> dict[str, Any] | None:
    """One ModelPrice → clinvk's flat rates plus long-context tiers; None if not token-priced."""
    from genai_prices.types import TieredPrices

    values = {ours: getattr(model_price, theirs, None) for theirs, ours in FIELDS.items()}
    if values["input"] is None or values["output"] is None:
        return None
    result: dict[str, Any] = {}
    thresholds: set[int] = set()
    for key, value in values.items():
        if isinstance(value, TieredPrices):
            result[key] = _num(value.base)
            thresholds.update(tier.start for tier in value.tiers)
        elif value is not None:
            result[key] = _num(value)
    tiers = []
    for above in sorted(thresholds):
        tier: dict[str, Any] = {"above": above}
        for key, value in values.items():
            if isinstance(value, TieredPrices):
                rate = value.base
                for step in value.tiers:
                    if step.start <= above:
                        rate = step.price
                tier[key] = _num(rate)
            elif value is not None:
                tier[key] = _num(value)
        tiers.append(tier)
    if tiers:
        result["tiers"] = tiers
    return result


def _prices(model: Any) -> list[dict[str, Any]]:
    from genai_prices.types import ConditionalPrice, StartDateConstraint

    entries = model.prices if isinstance(model.prices, list) else [ConditionalPrice(prices=model.prices)]
    out: list[dict[str, Any]] = []
    for entry in entries:
        constraint = entry.constraint
        if constraint is not None and not isinstance(constraint, StartDateConstraint):
            continue  # time-of-day prices: none among the providers clinvk keeps
        price = _price(entry.prices)
        if price is None:
            continue
        start = constraint.start_date.isoformat() if constraint is not None else None
        out.append({"from": start, **price})
    out.sort(key=lambda p: p["from"] or "")
    return out


def build(today: str) -> dict[str, Any]:
    from genai_prices.data import providers

    result: dict[str, Any] = {
        "source": f"genai-prices {version('genai-prices')}",
        "source_url": "https://github.com/pydantic/genai-prices",
        "source_licence": "MIT",
        "date": today,
        "unit": "USD per million tokens",
        "notes": (
            "input is uncached input; cache_read and cache_write (5-minute) are charged "
            "instead of input for those tokens, and at the input rate where a model has "
            "no such rate. A tier applies to every token of a request whose prompt "
            "(input + cache read + cache write) is above its threshold. A price with a "
            "'from' date applies from that UTC date on."
        ),
        "providers": [],
    }
    for provider in providers:
        keep = PROVIDERS.get(provider.id)
        if keep is None:
            continue
        models = []
        for model in provider.models:
            if not keep(model.id):
                continue
            prices = _prices(model)
            if not prices:
                continue
            models.append({"id": model.id, "name": model.name or model.id,
                           "match": _clause(model.match), "prices": prices})
        result["providers"].append({
            "id": provider.id, "name": provider.name,
            "match": _clause(provider.model_match), "models": models,
        })
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", default=date.today().isoformat(),
                        help="the table's date (default: today)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = build(args.date)
    args.out.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    counts = ", ".join(f"{p['id']} {len(p['models'])}" for p in table["providers"])
    print(f"wrote {args.out}: {counts} models; {table['source']}, {table['date']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
