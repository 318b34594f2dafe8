"""How results look: plain aligned tables, JSON envelopes, relative times.

stdout carries results only; every diagnostic goes to stderr. Colour only when stdout
is a terminal and NO_COLOR is unset, so piped output is stable plain text.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

_BOLD = "\033[1m"
_DIM = "\033[2m"
_RESET = "\033[0m"
STATUS_COLORS = {
    "active": "\033[32m",
    "running": "\033[36m",
    "error": "\033[31m",
    "paused": "\033[33m",
    "completed": "\033[2m",
}


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def paint(text: str, code: str, enabled: bool) -> str:
    return f"{code}{text}{_RESET}" if enabled and code else text


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def warn(text: str) -> None:
    err(f"clinvk: warning: {text}")


def print_json(obj: Any) -> None:
    import msgspec

    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(obj), indent=2) + b"\n")
    sys.stdout.flush()


def _width(text: str) -> int:
    return len(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
          colors: Sequence[Sequence[str]] | None = None, color: bool = False) -> str:
    """Columns separated by two spaces; the last column is never padded."""
    widths = [_width(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _width(cell))
    lines = []
    header = "  ".join(h.ljust(widths[i]) if i < len(headers) - 1 else h
                       for i, h in enumerate(headers))
    lines.append(paint(header, _BOLD, color))
    for r, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            padded = cell.ljust(widths[i]) if i < len(row) - 1 else cell
            code = colors[r][i] if colors else ""
            cells.append(paint(padded, code, color))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def to_datetime(value: float | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(value, UTC)


def relative(value: float | datetime, now: datetime | None = None) -> str:
    """'5 minutes ago' (humanize, imported only when there is a row to show)."""
    import humanize

    moment = to_datetime(value)
    current = now or datetime.now(UTC)
    return str(humanize.naturaltime(current - moment))


def iso(value: float | datetime) -> str:
    return to_datetime(value).isoformat().replace("+00:00", "Z")


def local_time(value: float | datetime) -> str:
    return to_datetime(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
