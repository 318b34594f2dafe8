"""Text search: catalog size against the sessions it indexes, and search time; print figures.

    python benchmarks/bench_search.py [--sessions 5000] [--runs 5] [--baseline OTHER_CHECKOUT]

1. A generated store (``gen_store.py``: ``--sessions`` sessions of 1–20 turns) is
   indexed by this tree's clinvk (and, with ``--baseline``, by another checkout's, over
   hard links to the same files): the catalog's size (after a checkpoint) against the
   sessions directory (bytes of the files, and what they take on disk), and the time of
   that first build. Target: catalog ≤ 0.5 × the sessions directory.
2. ``sessions list -q TEXT -n 0 --json`` and the table with its MATCH column
   (``-q TEXT``, default limit), median of ``--runs``, for a common word, part of a
   word, two words (checked for the exact text) and a word nowhere. Target: the
   baseline's times kept.
3. One session holding the text on 20,000 and on 50,000 lines: the table (snippets)
   against ``--json``. Target: the table costs about what ``--json`` does (no work per
   line that holds the text).

Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

from bench_core import base_env, bench_dir
from gen_store import TextMaker, _make_ids, ensure_store, make_session

QUERIES = (("common word", "vector"), ("part of a word", "ecto"),
           ("two words", "parser function"), ("nowhere", "zqxjkv"))


def files_size(path: Path) -> tuple[int, int]:
    """(bytes of the files, bytes they take on disk) under ``path``."""
    size = disk = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            size += st.st_size
            disk += st.st_blocks * 512
    return size, disk


def catalog_size(home: Path) -> int:
    db = home / "catalog.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in home.glob("catalog.db*"))


def clinvk(checkout: Path, home: Path, *args: str) -> tuple[float, str]:
    env = base_env([checkout], home)
    t0 = time.perf_counter()
    # Run from the checkout: `python -m` puts the current directory first on the path.
    r = subprocess.run([sys.executable, "-m", "clinvk", *args], check=False, env=env,
                       capture_output=True, text=True, cwd=checkout)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"bench_search: clinvk {' '.join(args)} failed: {r.stderr.strip()}")
    return took, r.stdout


def median(checkout: Path, home: Path, runs: int, *args: str) -> float:
    clinvk(checkout, home, *args)  # warm-up
    return statistics.median(clinvk(checkout, home, *args)[0] for _ in range(runs))


def index(label: str, checkout: Path, sessions: Path, root: Path) -> Path:
    """A store of hard links to ``sessions``, its catalog built by ``checkout``."""
    home = root / label
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(sessions), str(home / "sessions")], check=True)
    took, _ = clinvk(checkout, home, "sessions", "list", "-n", "1", "--json")
    files, disk = files_size(home / "sessions")
    cat = catalog_size(home)
    print(f"  {label:9} build {took:6.1f} s   catalog {cat / 1e6:7.1f} MB = "
          f"{cat / files:.2f} × the files ({files / 1e6:.1f} MB), "
          f"{cat / disk:.2f} × their disk ({disk / 1e6:.1f} MB)")
    return home


def heavy_store(root: Path, lines: int) -> Path:
    """A store of one session whose answer holds the text on ``lines`` lines."""
    from clinvk.store import SessionStore, encode_session

    home = root / f"heavy-{lines}"
    if home.exists():
        shutil.rmtree(home)
    store = SessionStore(home)
    store._ensure_dirs()
    rng = random.Random(lines)
    ident = _make_ids(1, rng)[0]
    session = make_session(ident, rng, TextMaker(1), datetime.now(UTC), 1, 1, 1 << 22,
                           [])
    session.turns[0].response = "a kiwi line of tool output\n" * lines
    (store.sessions_dir / ident[:2]).mkdir(mode=0o700, exist_ok=True)
    (store.sessions_dir / ident[:2] / f"{ident}.json").write_bytes(encode_session(session))
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout of clinvk")
    parser.add_argument("--dir", type=Path, default=bench_dir() / "search")
    args = parser.parse_args(argv)
    root = args.dir.expanduser().absolute()
    source = root / f"store-{args.sessions}"
    ensure_store(source, args.sessions)
    trees = [("this", REPO)] + ([("baseline", args.baseline.absolute())] if args.baseline else [])
    print(f"1. catalog size, {args.sessions} sessions")
    homes = {label: index(label, tree, source / "sessions", root) for label, tree in trees}
    print(f"2. search, median of {args.runs}")
    for what, text in QUERIES:
        for label, tree in trees:
            _, out = clinvk(tree, homes[label], "sessions", "list", "-q", text, "-n", "0",
                            "--json")
            found = out.count('"id"')
            as_json = median(tree, homes[label], args.runs, "sessions", "list", "-q", text,
                             "-n", "0", "--json")
            table = median(tree, homes[label], args.runs, "sessions", "list", "-q", text)
            print(f"  {what:15} {text!r:13} {label:9} {found:5} hits   --json {as_json:6.3f} s"
                  f"   table {table:6.3f} s")
    print("3. one session holding the text on many lines, median of "
          f"{max(1, args.runs // 2)}")
    for lines in (20_000, 50_000):
        home = heavy_store(root, lines)
        for label, tree in trees:
            catalog = home / "catalog.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{catalog}{suffix}").unlink(missing_ok=True)
            as_json = median(tree, home, max(1, args.runs // 2), "sessions", "list", "-q",
                             "kiwi", "--json")
            table = median(tree, home, max(1, args.runs // 2), "sessions", "list", "-q", "kiwi")
            print(f"  {lines:6} lines {label:9} --json {as_json:6.3f} s   table {table:6.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
