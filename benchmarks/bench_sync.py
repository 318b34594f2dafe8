#!/usr/bin/env python3
"""Time `clinvk sessions sync` over many vendor transcripts, and measure its memory.

    python benchmarks/bench_sync.py [--files 2000] [--lines 200000]
        [--backends claude,codex,gemini] [--big MB] [--huge MB]

Builds vendor homes holding FILES transcripts (the BACKENDS in turn, made by
replicating the real ones in tests/fixtures/native under fresh session ids, their
records repeated until the files hold about LINES lines in all), then runs clinvk as
a whole process: a first sync, and a second one with nothing new. Prints the wall
time and the peak RSS of each (each process measured on its own; target ≤ 150 MB
whatever the files). ``--big MB`` adds one claude transcript of about that size (its
turns repeated), ``--huge MB`` one file of that size with no newline at all (written
sparse, so quickly).
"""

from __future__ import annotations

import argparse
import os
import re
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


def build(home: Path, root: Path, files: int, lines: int,
          backends: tuple[str, ...] = ("claude", "codex", "gemini")) -> int:
    escaped = re.sub(r"[^A-Za-z0-9]", "-", str(root))
    sources = {b: next(p for p in FIXTURES.rglob("*.jsonl") if IDS[b][:8] in p.name)
               for b in IDS}
    texts = {b: p.read_text().replace("<TMP>", str(root)) for b, p in sources.items()}
    per_file = max(1, lines // files)
    written = 0
    for i in range(files):
        backend = backends[i % len(backends)]
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


def add_big(home: Path, root: Path, megabytes: int) -> Path:
    """One claude conversation of about ``megabytes``: the fixture's turns over and over,
    each prompt under its own id."""
    escaped = re.sub(r"[^A-Za-z0-9]", "-", str(root))
    source = next(p for p in FIXTURES.rglob("*.jsonl") if IDS["claude"][:8] in p.name)
    new = str(uuid.uuid4())
    text = source.read_text().replace("<TMP>", str(root)).replace(IDS["claude"], new)
    path = home / ".claude" / "projects" / f"{escaped}-big" / f"{new}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        n = 0
        while f.tell() < megabytes << 20:
            f.write(re.sub(r'"uuid":"([^"]+)"', rf'"uuid":"\1-{n}"', text))
            n += 1
    return path


def add_huge(home: Path, megabytes: int) -> Path:
    path = home / ".claude" / "projects" / "-huge" / "huge.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(megabytes << 20)  # sparse: no newline, nothing written
    return path


# Runs clinvk and reports its own peak RSS (a fresh process per measurement, so that
# one run's peak never shows in the next).
_PROBE = """import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
sys.stdout.write(done.stdout)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def timed(env: dict[str, str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PROBE, sys.executable, "-m", "clinvk",
                           "sessions", "sync"], env=env, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - started
    *out, last = done.stdout.strip().splitlines()
    code, peak_kb = last.split()
    if code != "0":
        raise SystemExit(done.stderr)
    return wall, int(peak_kb) / 1024, " ".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--backends", default="claude,codex,gemini")
    parser.add_argument("--big", type=int, default=0, metavar="MB")
    parser.add_argument("--huge", type=int, default=0, metavar="MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as raw:
        root = Path(raw)
        home = root / "home"
        n = build(home, root, args.files, args.lines, tuple(args.backends.split(",")))
        extra = ""
        if args.big:
            big = add_big(home, root, args.big)
            extra += f", one claude transcript of {big.stat().st_size >> 20} MB"
        if args.huge:
            add_huge(home, args.huge)
            extra += f", one {args.huge} MB file with no newline"
        env = dict(os.environ, HOME=str(home), CLAUDE_CONFIG_DIR=str(home / ".claude"),
                   CODEX_HOME=str(home / ".codex"), GEMINI_CLI_HOME=str(home),
                   CLINVK_HOME=str(root / "data"), CLINVK_CONFIG=str(root / "none.toml"),
                   PYTHONPATH=str(REPO))
        print(f"{args.files} transcripts ({args.backends}), {n} lines{extra}")
        wall, rss, out = timed(env)
        print(f"first sync:       {wall:6.2f} s  peak RSS {rss:6.1f} MB  ({out})")
        wall, rss, out = timed(env)
        print(f"nothing new:      {wall:6.2f} s  peak RSS {rss:6.1f} MB  ({out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
