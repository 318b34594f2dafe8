"""Fake vendor CLIs: real executables that replay captured output (see fake_vendor.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

FAKE_SCRIPT = Path(__file__).resolve().parent / "fake_vendor.py"
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
NAMES = ("claude", "codex", "gemini")


def install(bin_dir: Path, names: tuple[str, ...] = NAMES) -> Path:
    """Write executables ``names`` into ``bin_dir``, run by this very interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    # A thin launcher: argv[0] (the vendor's name) stays the launcher's own path.
    body = (f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(FAKE_SCRIPT.parent)!r})\n"
            "import fake_vendor\n"
            "sys.exit(fake_vendor.main())\n")
    for name in names:
        path = bin_dir / name
        path.write_text(body, encoding="utf-8")
        os.chmod(path, 0o755)
    return bin_dir


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def starts(path: Path) -> list[dict[str, Any]]:
    """The "start" records: one per vendor run, in order."""
    return [r for r in read_log(path) if r.get("event") == "start"]
