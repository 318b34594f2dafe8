"""Snapshots of the browser's views at 80×24 and 160×48, over the ``fixed`` store (ids,
times and figures fixed, the clock at NOW): the SVGs in __snapshots__/ are what a
terminal of that size shows. `pytest --snapshot-update` writes them anew after an
intended change of the views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import make_app

SIZES = [(80, 24), (160, 48)]
VIEWS = {
    "sessions": [],
    "detail": ["j", "enter"],
    "stats": ["3"],
    "filter": ["f", *"codex", "tab", *"active"],
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(VIEWS))
def test_view(view: str, size: tuple[int, int], fixed: Path, snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=size, press=VIEWS[view])
