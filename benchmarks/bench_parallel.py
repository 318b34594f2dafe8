"""`clinvk parallel`: wall time and peak memory of the whole process tree; print figures.

    python benchmarks/bench_parallel.py [--tasks 48] [--max-parallel 8] [--sleep 0.5] [--runs 3]

A fake ``claude`` goes first on PATH: a tiny Python script (``python -S``) that reads
stdin, sleeps ``--sleep`` seconds and prints a captured ``claude -p --output-format
stream-json --verbose`` run (tests/fixtures/vendor/claude-stream-new.jsonl). Every task
records a real session in a fresh store.

Targets (issue 11): wall time ≤ 1.2 × (tasks / max-parallel × sleep) + one start-up
(``clinvk --version`` through ``python -m``, measured here), and peak RSS of clinvk and
everything under it (vendors, watchdogs), sampled from /proc every 10 ms, ≤ 150 MB.

Then `clinvk wait` on 20 background turns (`prompt --detach`) whose fake vendors are
held until all 20 are running and then released together: how long after the last
vendor exits `wait` returns (target ≤ 100 ms added).

Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "fixtures" / "vendor" / "claude-stream-new.jsonl"

FAKE = """#!{python} -S
import os, sys, time
sys.stdin.buffer.read()
go = os.environ.get("BENCH_GO")
while go and not os.path.exists(go):
    time.sleep(0.005)
time.sleep(float(os.environ["BENCH_SLEEP"]))
sys.stdout.write(open({sample!r}).read())
sys.stdout.flush()
if go:
    with open(go + ".ends", "a") as f:
        f.write(repr(time.time()) + "\\n")
"""


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss_kb(root: int) -> dict[str, int]:
    """RSS of ``root`` and all its descendants (those in other sessions included), by
    kind: clinvk itself, vendors, watchdogs."""
    tree = children()
    total = {"clinvk": 0, "vendors": 0, "watchdogs": 0}
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/status") as f:
                rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
        kind = ("clinvk" if pid == root else
                "watchdogs" if b"clinvk-watchdog" in cmdline else "vendors")
        total[kind] += rss
    return total


def run_once(args: argparse.Namespace, env: dict[str, str],
             tasks: Path) -> tuple[float, dict[str, int], int]:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", "parallel", "-f", str(tasks),
                             "--max-parallel", str(args.max_parallel), "-o", "json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = {"clinvk": 0, "vendors": 0, "watchdogs": 0}
    while proc.poll() is None:
        now = tree_rss_kb(proc.pid)
        if sum(now.values()) > sum(peak.values()):
            peak = now
        time.sleep(0.01)
    out, err = proc.communicate()
    wall = time.monotonic() - started
    succeeded = json.loads(out)["succeeded"] if proc.returncode == 0 else -1
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
    return wall, peak, succeeded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=48)
    parser.add_argument("--max-parallel", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clinvk-bench-parallel-") as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        fake = root / "bin" / "claude"
        fake.write_text(FAKE.format(python=sys.executable, sample=str(SAMPLE)))
        fake.chmod(0o755)
        tasks = root / "tasks.jsonl"
        tasks.write_text("".join(json.dumps({"prompt": f"task {i}"}) + "\n"
                                 for i in range(args.tasks)))
        env = dict(os.environ, PYTHONPATH=str(REPO), BENCH_SLEEP=str(args.sleep),
                   PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                   CLINVK_CONFIG=str(root / "config.toml"), NO_COLOR="1")
        starts = []
        for _ in range(5):
            began = time.monotonic()
            subprocess.run([sys.executable, "-m", "clinvk", "sessions", "list"], env=dict(
                env, CLINVK_HOME=str(root / "empty")), capture_output=True, check=False)
            starts.append(time.monotonic() - began)
        startup = statistics.median(starts)
        ideal = args.tasks / args.max_parallel * args.sleep
        target = 1.2 * ideal + startup
        walls, peaks = [], []
        for n in range(args.runs):
            env["CLINVK_HOME"] = str(root / f"home{n}")
            wall, peak, ok = run_once(args, env, tasks)
            walls.append(wall)
            peaks.append(sum(peak.values()) / 1024)
            parts = ", ".join(f"{kind} {kb / 1024:.0f}" for kind, kb in peak.items())
            print(f"run {n + 1}: {wall:.2f} s, peak RSS {peaks[-1]:.0f} MB ({parts}), "
                  f"{ok}/{args.tasks} ok")
        print(f"tasks {args.tasks} × {args.sleep} s, --max-parallel {args.max_parallel}; "
              f"cpus {os.cpu_count()}")
        print(f"start-up (python -m clinvk sessions list, median of 5): {startup:.2f} s")
        print(f"wall time: median {statistics.median(walls):.2f} s "
              f"(ideal {ideal:.2f} s; target ≤ {target:.2f} s)")
        print(f"peak RSS of the process tree: max {max(peaks):.0f} MB (target ≤ 150 MB)")
        lags = [wait_lag(root, env, n) for n in range(args.runs)]
        print("wait on 20 background turns, medians of "
              f"{args.runs}: the last record saved "
              f"{statistics.median(a for a, _ in lags) * 1000:.0f} ms after the last vendor "
              f"exited; wait returned {statistics.median(b for _, b in lags) * 1000:.0f} ms "
              f"after that (max {max(b for _, b in lags) * 1000:.0f}; target ≤ 100 ms)")
    return 0


def wait_lag(root: Path, env: dict[str, str], n: int) -> tuple[float, float]:
    """(last record saved − last vendor exit, wait returned − last record saved)."""
    go = root / f"go{n}"
    env = dict(env, CLINVK_HOME=str(root / f"wait{n}"), BENCH_GO=str(go), BENCH_SLEEP="0")
    ids = []
    for i in range(20):
        done = subprocess.run([sys.executable, "-m", "clinvk", "prompt", "--detach", f"bg {i}"],
                              env=env, capture_output=True, text=True, check=True)
        ids.append(done.stdout.strip())
    waiter = subprocess.Popen([sys.executable, "-m", "clinvk", "wait", *ids], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # the waiter is up and polling
    go.touch()
    waiter.wait()
    returned = time.time()
    ends = [float(x) for x in (root / f"go{n}.ends").read_text().split()]
    assert len(ends) == 20, ends
    saved = max(p.stat().st_mtime for p in (root / f"wait{n}" / "sessions").rglob("*.json"))
    return saved - max(ends), returned - saved


if __name__ == "__main__":
    sys.exit(main())
