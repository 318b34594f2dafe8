"""How results look: plain aligned tables, JSON envelopes, relative times.

stdout carries results only; every diagnostic goes to stderr. Colour only when stdout
is a terminal and NO_COLOR is unset, so piped output is stable plain text.

Titles, prompts, answers, tags and file names come from users, models and files: every
human-readable line passes through ``safe`` here (in ``out``, ``err``, ``warn`` and
``table``), so a control character shows as ``\\x1b`` instead of driving the terminal.
JSON output is written exactly.
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


class Safe(str):
    """Text already made safe for a terminal: sanitized cells plus our own colour codes."""


# The bidirectional controls (ALM, LRM, RLM, LRE…RLO, LRI…PDI): invisible, they reorder
# what follows them on the line ("Trojan Source"), so they are shown, as C1 controls are.
BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escapes(keep: str) -> dict[int, str]:
    # C0, DEL and C1 as \xNN, bidi controls as \uNNNN; a lone surrogate (an undecodable
    # byte of a file name, kept by surrogateescape) as the byte it stands for, instead of
    # an encoding error.
    table = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in keep}
    table.update({c: f"\\u{c:04x}" for c in BIDI})
    table.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
    return table


_LINE = _escapes("")
_BLOCK = _escapes("\n\t")


def safe(text: str, *, block: bool = False) -> str:
    """``text`` with every control character shown as a visible escape (ESC -> ``\\x1b``).

    ``block`` keeps newlines and tabs, for a block of text (an answer, a message); a
    table cell or a one-line field keeps none.
    """
    if "\\udc" in text:
        # A message that quotes an argument with repr() shows an undecodable byte as
        # repr's "\udcff": shown as the byte, "\xff", as everywhere else.
        import re

        text = re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", text)
    if text.isprintable():  # the common case: nothing to replace, no copy
        return text
    return text.translate(_BLOCK if block else _LINE)


def out(text: str = "") -> None:
    sys.stdout.write((text if isinstance(text, Safe) else safe(text, block=True)) + "\n")


def err(text: str) -> None:
    sys.stderr.write(safe(text, block=True) + "\n")


def warn(text: str) -> None:
    err(f"clinvk: warning: {text}")


def print_json(obj: Any) -> None:
    import msgspec

    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(obj), indent=2) + b"\n")
    sys.stdout.flush()


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide (CJK) characters 2, combining marks 0."""
    if text.isascii():
        return len(text)
    from unicodedata import combining, east_asian_width

    return sum(0 if combining(c) else 2 if east_asian_width(c) in "WF" else 1 for c in text)


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` columns, ending in "…" when it was cut."""
    if width(text) <= limit:
        return text
    if limit <= 0:
        return ""
    kept, used = [], 0
    for c in text:
        w = width(c)
        if used + w > limit - 1:
            break
        kept.append(c)
        used += w
    return "".join(kept) + "…"


def terminal_width(stream: Any = None) -> int | None:
    """Columns of the terminal ``stream`` (default stdout) writes to; None when it is not
    a terminal (piped output keeps its full width)."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    import shutil

    return shutil.get_terminal_size().columns


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
          colors: Sequence[Sequence[str]] | None = None, color: bool = False,
          fit: int | None = None, shrink: int = -1, min_shrink: int = 10,
          optional: Sequence[int] = ()) -> Safe:
    """Columns separated by two spaces; the last column is never padded.

    Cells are sanitized (``safe``) and measured in terminal columns. With ``fit`` (the
    terminal's width) each row stays within it: columns listed in ``optional`` are
    left out, in that order, while the table would not fit with column ``shrink`` at
    ``min_shrink`` columns; then column ``shrink`` is cut to the width that remains.
    """
    ncols = len(headers)
    shrink %= ncols
    heads = [safe(h) for h in headers]
    cells = [[safe(c) for c in row] for row in rows]
    widths = [max([width(h)] + [width(row[i]) for row in cells]) for i, h in enumerate(heads)]
    shown = list(range(ncols))
    if fit is not None:
        def total(cols: list[int], shrunk: int) -> int:
            return sum(shrunk if i == shrink else widths[i] for i in cols) + 2 * (len(cols) - 1)

        floor = min(widths[shrink], max(min_shrink, width(heads[shrink])))
        for drop in optional:
            if total(shown, floor) <= fit:
                break
            if drop in shown and drop != shrink:
                shown.remove(drop)
        room = fit - total(shown, 0)
        if room < widths[shrink]:
            limit = max(room, floor)
            cells = [[cut(c, limit) if i == shrink else c for i, c in enumerate(row)]
                     for row in cells]
            heads[shrink] = cut(heads[shrink], limit)
            widths[shrink] = max([width(heads[shrink])] + [width(row[shrink]) for row in cells])
    last = shown[-1]

    def pad(text: str, i: int) -> str:
        return text if i == last else text + " " * (widths[i] - width(text))

    lines = [paint("  ".join(pad(heads[i], i) for i in shown), _BOLD, color)]
    for r, row in enumerate(cells):
        line = "  ".join(paint(pad(row[i], i), colors[r][i] if colors else "", color)
                         for i in shown)
        lines.append(line.rstrip())
    return Safe("\n".join(lines))


def fields(lines: Sequence[tuple[str, str]]) -> Safe:
    """``Key:   value`` lines, values aligned; each value is one sanitized line."""
    pad = max(len(k) for k, _ in lines) + 1
    return Safe("\n".join(f"{k + ':':<{pad}} {safe(v)}" for k, v in lines))


def to_datetime(value: float | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(value, UTC)


def relative(value: float | datetime, now: datetime | None = None) -> str:
    """'5 minutes ago' (clinvk.ago: humanize's words without importing it)."""
    from clinvk.ago import ago

    moment = to_datetime(value)
    current = now or datetime.now(UTC)
    return ago(current - moment)


def iso(value: float | datetime) -> str:
    return to_datetime(value).isoformat().replace("+00:00", "Z")


def local_time(value: float | datetime) -> str:
    return to_datetime(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def count(n: int, noun: str) -> str:
    """"1 call", "2 calls", "1,200 calls"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def one_line(text: str, limit: int = 80) -> str:
    """``text`` on one line (whitespace runs folded), at most ``limit`` columns."""
    return cut(safe(" ".join(text.split())), limit)
