"""Time `sessions stats`, `sessions list -q WORD` and `sessions storage` on a large store.

    python benchmarks/bench_usage.py [--store DIR] [--sessions 100000] [--runs 5]

Each figure is the median (and min / max) wall time of N whole `python -m clinvk`
processes, start-up included, after one warm-up run (so the page cache holds the index
and the files, as it does for someone who uses clinvk every day). The store is made or
reused by benchmarks/gen_store.py (100,000 sessions of 1-20 turns ≈ 1,000,000 turns);
--store DIR points at an existing store instead (DIR is used as CLINVK_HOME and must
already hold one). Targets (issue §7): stats ≤ 2 s, list -q ≤ 2 s, storage ≤ 1 s.

Prints one line per command and a JSON summary on the last line. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STORE = Path(os.environ.get("CLINVK_BENCH_DIR", "~/.cache/clinvk-bench")).expanduser()

TARGETS = {"stats": 2.0, "stats --by model": 2.0, "stats --by day": 2.0,
           "stats --range 7d": 2.0, "stats --json --by backend": 2.0, "list -q": 2.0,
           "list -q (no hit)": 2.0, "storage": 1.0}


def run_once(args: list[str], home: Path) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CLINVK_HOME"] = str(home)
    env["CLINVK_CONFIG"] = str(home / "config.toml")
    env["NO_COLOR"] = "1"
    # Time clinvk, not the compiler: cache bytecode as an installed copy would.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(DEFAULT_STORE / "pycache")
    began = time.perf_counter()
    # cwd=REPO: `python -m` puts the cwd first on sys.path, so this runs this tree's code.
    proc = subprocess.run([sys.executable, "-m", "clinvk", *args], capture_output=True,
                          check=False, env=env, stdin=subprocess.DEVNULL, timeout=600,
                          cwd=REPO)
    return time.perf_counter() - began, proc


def measure(label: str, args: list[str], home: Path, runs: int) -> dict[str, object]:
    _t, proc = run_once(args, home)  # warm-up: page cache, index compaction if any
    if proc.returncode != 0:
        raise SystemExit(f"bench_usage: `clinvk {' '.join(args)}` failed ({proc.returncode}): "
                         f"{proc.stderr.decode(errors='replace')[-2000:]}")
    times = []
    for _ in range(runs):
        elapsed, proc = run_once(args, home)
        times.append(elapsed)
    median = statistics.median(times)
    target = TARGETS.get(label)
    verdict = "" if target is None else (" ok" if median <= target else f" OVER {target:.1f} s")
    print(f"{label:<26} median {median:6.3f} s  min {min(times):6.3f}  max {max(times):6.3f}  "
          f"({runs} runs, target ≤ {target} s){verdict}", flush=True)
    return {"label": label, "args": args, "median_s": round(median, 3),
            "min_s": round(min(times), 3), "max_s": round(max(times), 3), "runs": runs,
            "target_s": target, "stdout_bytes": len(proc.stdout)}


# Words of gen_store's vocabulary: one in about 7% of the sessions, one in none.
WORD = "praquagonhep"
NO_HIT = "zeppelin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=None,
                        help="an existing store (CLINVK_HOME) instead of a generated one")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--turns-max", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--search-runs", type=int, default=3,
                        help="runs for `list -q`, which reads every session file")
    parser.add_argument("--word", default=None,
                        help=f"the -q search word (default: {WORD})")
    args = parser.parse_args(argv)
    if args.store is not None:
        home = args.store.expanduser().absolute()
        if not (home / "sessions").is_dir():
            raise SystemExit(f"bench_usage: {home} holds no session store")
    else:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from gen_store import ensure_store

        home = DEFAULT_STORE / f"store-{args.sessions}"
        ensure_store(home, args.sessions, turns_max=args.turns_max)
    word = args.word or WORD
    print(f"bench_usage: store {home}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)
    results = [
        measure("stats", ["sessions", "stats"], home, args.runs),
        measure("stats --by model", ["sessions", "stats", "--by", "model"], home, args.runs),
        measure("stats --by day", ["sessions", "stats", "--by", "day"], home, args.runs),
        measure("stats --range 7d", ["sessions", "stats", "--range", "7d"], home, args.runs),
        measure("stats --json --by backend", ["sessions", "stats", "--json", "--by", "backend"],
                home, args.runs),
        measure("list -q", ["sessions", "list", "-q", word, "--json", "-n", "0"], home,
                args.search_runs),
        measure("list -q (no hit)", ["sessions", "list", "-q", NO_HIT], home,
                args.search_runs),
        measure("storage", ["sessions", "storage"], home, args.runs),
    ]
    print(json.dumps({"store": str(home), "word": word, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
