"""Reading a vendor's JSON-lines stdout leniently.

Each adapter declares msgspec view structs for the events it cares about (a tagged
union on ``type``). A line that is not JSON, is an event type the adapter does not
know, or does not fit the view is skipped: vendors add events and fields often, and
one odd line must never cost the rest of the turn.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def decode(decoder: msgspec.json.Decoder[T], line: str) -> T | None:
    """The event on ``line``, or None when the line is not one the decoder knows."""
    text = line.strip()
    # Cheap pre-check: progress bars and stray log lines are the usual non-JSON.
    if not text.startswith("{"):
        return None
    try:
        return decoder.decode(text)
    except msgspec.ValidationError as exc:
        if "Number out of range" not in str(exc):
            return None
    except msgspec.DecodeError:
        return None
    # A number beyond what a float holds (1e400) must not cost the line's other fields:
    # it is read as the largest float, which the turn then drops as out of range.
    try:
        return decoder.decode(_finite_encoder.encode(_finite_decoder.decode(text)))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _finite(text: str) -> float:
    import math
    import sys

    value = float(text)
    return value if math.isfinite(value) else math.copysign(sys.float_info.max, value)


_finite_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(float_hook=_finite)
_finite_encoder = msgspec.json.Encoder()


def decode_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, or None when it is anything else."""
    try:
        value = msgspec.json.decode(text.strip())
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def timestamp(value: Any) -> datetime | None:
    """A vendor's ISO 8601 time ("2026-11-30T01:21:40.368Z"), or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
