#!/usr/bin/env python3
"""Time `clinvk sessions sync` over many vendor transcripts.

    python benchmarks/bench_sync.py [--files 2000] [--lines 200000]

Builds vendor homes holding FILES transcripts (claude, codex and gemini in turn, made
by replicating the real ones in tests/fixtures/native under fresh session ids, their
records repeated until the files hold about LINES lines in all), then runs clinvk as
a whole process: a first sync, and a second one with nothing new. Prints the wall
time and the peak RSS of each.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "native"
IDS = {"claude": "03e96d28-4966-4f83-91bf-c255d7061d88",
       "codex": "01a22a79-5300-7c52-88ce-5be8f697e341",
       "gemini": "fcea6a7c-06b0-4062-9256-30a96657e8e8"}


def build(home: Path, root: Path, files: int, lines: int) -> int:
    escaped = re.sub(r"[^A-Za-z0-9]", "-", str(root))
    sources = {b: next(p for p in FIXTURES.rglob("*.jsonl") if IDS[b][:8] in p.name)
               for b in IDS}
    texts = {b: p.read_text().replace("<TMP>", str(root)) for b, p in sources.items()}
    per_file = max(1, lines // files)
    written = 0
    for i in range(files):
        backend = ("claude", "codex", "gemini")[i % 3]
        new = str(uuid.uuid4())
        head, *body = texts[backend].replace(IDS[backend], new).splitlines(keepends=True)
        repeat = max(1, (per_file - 1) // max(1, len(body)))
        content = head + "".join(body) * repeat
        written += content.count("\n")
        rel = str(sources[backend].relative_to(FIXTURES)).replace("<TMP>", escaped)
        rel = rel.replace(IDS[backend], new).replace(IDS[backend][:8], new[:8])
        if backend == "gemini":
            rel = rel.replace("my-proj-v2-x", f"p{i}")
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).parent.parent.joinpath(".project_root").write_text(
                str(root / "gemini" / "my_proj.v2 x"))
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return written


def timed(env: dict[str, str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, "-m", "clinvk", "sessions", "sync"], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return wall, max(peak, before) / 1024, done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as raw:
        root = Path(raw)
        home = root / "home"
        n = build(home, root, args.files, args.lines)
        env = dict(os.environ, HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"),
                   CODEX_HOME=str(home / ".codex"), GEMINI_CLI_HOME=str(home),
                   CLINVK_HOME=str(root / "data"), CLINVK_CONFIG=str(root / "none.toml"),
                   PYTHONPATH=str(REPO))
        print(f"{args.files} transcripts, {n} lines")
        wall, rss, out = timed(env)
        print(f"first sync:       {wall:6.2f} s  peak RSS {rss:6.1f} MB  ({out})")
        wall, rss, out = timed(env)
        print(f"nothing new:      {wall:6.2f} s  peak RSS {rss:6.1f} MB  ({out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
