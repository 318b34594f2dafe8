"""What a sync needs from the config, and `sync.auto`: a short sync before reading.

With ``sync.auto = true``, `sessions list`, `sessions stats` and `sessions current`
first adopt what the vendor CLIs recorded since the last sync, for at most ``BUDGET_S``;
transcripts not reached by then wait for the next command (or `clinvk sessions sync`).
It is quiet: a transcript that cannot be read is reported by `clinvk sessions sync`,
not by every list. Another sync running, or a store that cannot be written, skips it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clinvk.native.discover import BACKENDS

if TYPE_CHECKING:
    from clinvk.config import Config
    from clinvk.model import Turn
    from clinvk.native.adopt import Report

BUDGET_S = 0.2


def homes(config: Config, backends: list[str]) -> dict[str, list[Path]]:
    """The vendor homes `[sync]` names for ``backends`` (none: the vendors' own)."""
    return {b: [Path(h) for h in getattr(config.sync, b)] for b in backends
            if getattr(config.sync, b)}


def pricer(config: Config) -> Callable[[Turn], None]:
    """Prices an adopted turn from the price table (and `[pricing]` overrides), request
    by request, unless the vendor reported its cost."""
    from clinvk.pricing import price_turn

    def price(turn: Turn) -> None:
        price_turn(turn, config.pricing, turn.started_at)

    return price


def auto_sync(config: Config | None = None) -> Report | None:
    """The sync `sync.auto` runs before a read; None when it did not run."""
    if config is None:
        from clinvk.config import load

        config = load().config
    if not config.sync.auto:
        return None
    from clinvk.errors import ClinvkError
    from clinvk.native.adopt import sync
    from clinvk.store import SessionStore

    backends = list(BACKENDS)
    try:
        return sync(SessionStore(), backends, homes=homes(config, backends),
                    price=pricer(config), deadline=time.monotonic() + BUDGET_S)
    except (ClinvkError, OSError):
        return None
