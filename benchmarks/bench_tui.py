"""`clinvk sessions browse` at 100,000 sessions, in a real pseudo-terminal; print figures.

    python benchmarks/bench_tui.py [--sessions 100000] [--moves 40] [--size 160x48]

Runs the browser as a person would (stdlib pty, TERM=xterm-256color) over a store made
or reused by benchmarks/gen_store.py — through a copy of it (session files hard-linked,
the catalog copied), so the shared store is never touched — and measures:

* first paint: from launch until the header with the total and the first row are drawn
  (target ≤ 1.5 s);
* one-row move: from the `j` key until the terminal got the last byte of the redraw
  (median and p95 over --moves moves; target ≤ 16 ms);
* search: `/` then a word typed at 50 ms a key; from the last key until the frame with
  the number of sessions that hold the word (as `sessions list -q` counts them) and
  their rows arrives (target ≤ 300 ms);
* peak RSS of the browser process (VmHWM) after all of it (target ≤ 120 MB).

The end of a redraw is the last byte before QUIET_S of silence; the move latency is that
moment minus the key's. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

QUIET_S = 0.15
SEARCH_WORD = "serializer"  # in about two sessions of three


def copy_store(source: Path, target: Path) -> None:
    """A copy the browser may touch: files hard-linked (a write replaces a file, never
    changes it in place), directory times kept (so the catalog finds it up to date),
    the catalog copied."""
    marker = target / ".copied-from"
    stamp = json.dumps({"source": str(source),
                        "catalog_mtime": (source / "catalog.db").stat().st_mtime_ns})
    if marker.exists() and marker.read_text() == stamp:
        return
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    subprocess.run(["cp", "-al", "--preserve=timestamps", str(source / "sessions"),
                    str(target / "sessions")], check=True)
    shutil.copy2(source / "catalog.db", target / "catalog.db")
    (target / "locks").mkdir(mode=0o700)
    marker.write_text(stamp)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def listed(env: dict[str, str], *args: str) -> dict[str, object]:
    """What `sessions list -n 1 ARGS --json` says: the first row and the total."""
    ran = subprocess.run([sys.executable, "-m", "clinvk", "sessions", "list", "-n", "1",
                          *args, "--json"], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(ran.stdout))


def main() -> int:
    from bench_core import base_env, bench_dir
    from gen_store import ensure_store

    from tests.tui.terminal import Terminal

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--store", type=Path, default=None,
                        help="the store to copy (default: gen_store's cached one)")
    args = parser.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))
    source = args.store or bench_dir() / f"store-{args.sessions}"
    if args.store is None and not (source / ".bench-store.json").exists():
        ensure_store(source, args.sessions)  # made once; an existing one is only read
    home = bench_dir() / f"tui-{args.sessions}"
    copy_store(source, home)
    env = base_env([REPO], home)
    env.pop("NO_COLOR", None)  # the colours a person sees are part of the drawing
    matches = int(listed(env, "-q", SEARCH_WORD)["total"])  # type: ignore[call-overload]
    first = listed(env)
    first_id = str(first["items"][0]["id"]).encode()  # type: ignore[index]
    total = f"{first['total']:,} sessions".encode()

    # One untimed run first: byte-compiled modules, a warm page cache, as a second launch.
    warm = Terminal("sessions", "browse", cols=cols, rows=rows, env=env, repo=REPO)
    try:
        warm.read_until(re.compile(rb"[\d,]+ sessions"), timeout=120)
        warm.quiet()
        warm.type("q")
        warm.finish()
    finally:
        warm.kill()

    began = time.monotonic()
    term = Terminal("sessions", "browse", cols=cols, rows=rows, env=env, repo=REPO)
    try:
        # The screen is there when the header's total and the first row are.
        painted = max(term.read_until(total, timeout=60), term.read_until(first_id))
        first_paint = painted - began
        term.quiet(0.5)
        moves = []
        for _ in range(args.moves):
            pressed = term.type("j")
            done = term.quiet(QUIET_S)
            moves.append(done - pressed)
            time.sleep(0.05)
        term.type("/")
        term.quiet(QUIET_S)
        for ch in SEARCH_WORD[:-1]:
            term.type(ch)
            time.sleep(0.05)
        last_key = term.type(SEARCH_WORD[-1])
        # Textual draws a frame in one write: the new total comes with the rows. (Not the
        # last byte before silence: the search box's blinking cursor keeps writing.)
        shown = term.read_until(f"{matches:,} sessions".encode(), timeout=30)
        search = shown - last_key
        term.quiet(QUIET_S)
        rss = peak_rss_mb(term.pid)
        term.type("\x1b")
        term.quiet(QUIET_S)
        term.type("q")
        code = term.finish()
    finally:
        term.kill()
    ms = sorted(m * 1000 for m in moves)
    p95 = statistics.quantiles(ms, n=20)[18] if len(ms) >= 20 else ms[-1]
    print(f"python {sys.version.split()[0]}; cpus {os.cpu_count()}; store {args.sessions:,} "
          f"sessions; terminal {cols}x{rows}")
    print(f"first paint: {first_paint:.2f} s (target <= 1.5 s)")
    print(f"one-row move: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max "
          f"{ms[-1]:.1f} ms over {len(ms)} moves (target <= 16 ms)")
    print(f"search {SEARCH_WORD!r} ({matches:,} sessions): {search * 1000:.0f} ms after the last "
          f"key (target <= 300 ms; debounce included)")
    print(f"peak RSS: {rss:.1f} MB (target <= 120 MB)")
    print(f"exit code: {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
