"""Time `sessions stats`, `list -q`, `storage`, a catalog rebuild and an import on a
large store.

    python benchmarks/bench_usage.py [--store DIR] [--sessions 100000] [--runs 5]
                                     [--rebuild] [--import-sessions N]

Each figure is the median (and min / max) wall time of N whole `python -m clinvk`
processes, start-up included, after one warm-up run (so the page cache holds the catalog
and the files, as it does for someone who uses clinvk every day). The store is made or
reused by benchmarks/gen_store.py (100,000 sessions of 1-20 turns ≈ 1,000,000 turns);
--store DIR points at an existing store instead (DIR is used as CLINVK_HOME and must
already hold one). Targets: every `stats` ≤ 0.5 s, `list -q WORD` ≤ 0.3 s, `storage`
≤ 0.3 s.

--rebuild also times the first `sessions list` on a hard-linked clone of the store
without its catalog (a build from scratch; target ≤ 60 s). --import-sessions N also
exports N sessions and times `sessions import` of them into an empty store against
writing their N JSON files the way the store does (target ≤ 3×).

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

TARGETS = {"list -q": 0.3, "list -q (no hit)": 0.3, "storage": 0.3}
STATS = ["backend", "model", "day", "week", "month", "workdir", "tag"]


def run_once(args: list[str], home: Path, timeout: float = 600
             ) -> tuple[float, subprocess.CompletedProcess[bytes]]:
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
                          check=False, env=env, stdin=subprocess.DEVNULL, timeout=timeout,
                          cwd=REPO)
    return time.perf_counter() - began, proc


def target_of(label: str) -> float | None:
    return TARGETS.get(label, 0.5 if label.startswith("stats") else None)


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
    target = target_of(label)
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
    parser.add_argument("--rebuild", action="store_true",
                        help="also time a catalog build from scratch (about a minute)")
    parser.add_argument("--import-sessions", type=int, default=0,
                        help="also time importing this many sessions (0: skip)")
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
    results = [measure("stats", ["sessions", "stats"], home, args.runs)]
    for by in STATS:
        results.append(measure(f"stats --by {by}", ["sessions", "stats", "--by", by], home,
                               args.runs))
    results += [
        measure("stats --range 7d", ["sessions", "stats", "--range", "7d"], home, args.runs),
        measure("stats --range 30d --by day", ["sessions", "stats", "--range", "30d", "--by",
                                               "day"], home, args.runs),
        measure("stats --json --by backend", ["sessions", "stats", "--json", "--by", "backend"],
                home, args.runs),
        measure("list -q", ["sessions", "list", "-q", word], home, args.search_runs),
        measure("list -q --json -n 0", ["sessions", "list", "-q", word, "--json", "-n", "0"],
                home, args.search_runs),
        measure("list -q (no hit)", ["sessions", "list", "-q", NO_HIT], home,
                args.search_runs),
        measure("storage", ["sessions", "storage"], home, args.runs),
    ]
    if args.rebuild:
        results.append(rebuild(home))
    if args.import_sessions:
        results.append(import_bench(home, args.import_sessions))
    print(json.dumps({"store": str(home), "word": word, "results": results}))
    return 0


def clone(home: Path, target: Path) -> Path:
    """The store's session files, hard-linked, without a catalog."""
    import shutil

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(home / "sessions"), str(target / "sessions")], check=True)
    return target


def rebuild(home: Path) -> dict[str, object]:
    """The first command on a store without catalog.db: a build from all the files."""
    scratch = clone(home, DEFAULT_STORE / "rebuild-clone")
    elapsed, proc = run_once(["sessions", "list", "-n", "1"], scratch)
    ok = proc.returncode == 0 and elapsed <= 60
    print(f"{'rebuild (first list)':<26} {elapsed:6.1f} s  (1 run, target ≤ 60 s) "
          f"{'ok' if ok else 'OVER 60 s or failed'}; "
          f"stderr: {proc.stderr.decode(errors='replace').strip()[:200]!r}", flush=True)
    return {"label": "rebuild", "seconds": round(elapsed, 1), "target_s": 60}


IMPORT_WRITER = """
import sys, time
from pathlib import Path
from clinvk.atomic import atomic_write, mkdir_private
from clinvk.commands.transfer import parse_records
from clinvk.store import encode_session
data = Path(sys.argv[1]).read_bytes()
sessions = parse_records(data, sys.argv[1])
root = Path(sys.argv[2]) / "sessions"
began = time.perf_counter()
for s in sessions:
    path = root / s.id[:2] / f"{s.id}.json"
    mkdir_private(path.parent)
    atomic_write(path, encode_session(s))
print(time.perf_counter() - began)
"""


def import_bench(home: Path, count: int) -> dict[str, object]:
    """Import ``count`` sessions into an empty store against writing their JSON files."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="clinvk-import-", dir=DEFAULT_STORE) as scratch:
        export = Path(scratch) / "export.jsonl"
        ids = sorted(p.stem for p in (home / "sessions").glob("*/*.json"))
        which = ["--all"] if count >= len(ids) else ids[:count]
        _t, proc = run_once(["sessions", "export", *which, "-f", "jsonl", "-o", str(export)],
                            home, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"bench_usage: export failed: {proc.stderr.decode()[-500:]}")
        # The floor: parse the same records, then write each file atomically, as save does.
        files_home = Path(scratch) / "files"
        files_home.mkdir()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        writer = subprocess.run([sys.executable, "-c", IMPORT_WRITER, str(export),
                                 str(files_home)], capture_output=True, env=env, check=True)
        floor = float(writer.stdout.decode().strip().splitlines()[-1])
        target = Path(scratch) / "imported"
        target.mkdir()
        elapsed, proc = run_once(["sessions", "import", str(export), "--keep-ids"], target,
                                 timeout=3600)
        shutil.rmtree(files_home, ignore_errors=True)
        if proc.returncode != 0:
            raise SystemExit(f"bench_usage: import failed: {proc.stderr.decode()[-500:]}")
    ratio = elapsed / floor if floor else float("nan")
    print(f"{'import ' + str(count):<26} {elapsed:6.1f} s  vs {floor:.1f} s to write the JSON "
          f"files: {ratio:.2f}x (target ≤ 3x) {'ok' if ratio <= 3 else 'OVER 3x'}", flush=True)
    return {"label": f"import {count}", "seconds": round(elapsed, 1),
            "files_seconds": round(floor, 1), "ratio": round(ratio, 2), "target_ratio": 3}


if __name__ == "__main__":
    sys.exit(main())
