"""The team store (`clinvk team`) against a throwaway PostgreSQL server; print figures.

    python benchmarks/bench_team.py [--sessions 100000] [--runs 7] [--dir ~/.cache/clinvk-bench]

A cluster is started with scripts/pg-test-cluster.sh (or the one CLINVK_TEST_PG_HOST,
_PORT, _USER name is used), a database created, `clinvk team init` run as its owner, and
everything else done as a member role (``clinvk_member``), so that row-level security is
paid for as in real use.

1. Full push: `clinvk team push` of a hard-linked clone of gen_store's store of
   ``--sessions`` sessions (1-20 turns each; the cached store itself is never written).
   Target at 100,000 sessions / ~1,000,000 turns: ≤ 120 s.
2. `clinvk team stats --by day` over what was pushed (target ≤ 1 s) and `clinvk team list`
   (target ≤ 300 ms), each the median of ``--runs`` whole processes.
3. Auto push: `clinvk prompt` against a fake claude with team.auto_push off and on (the
   extra time the turn's process takes: target ≤ 100 ms), and how long after the turn
   ended its session is in the team store (the detached background push).

Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from bench_core import base_env, bench_dir, machine_info  # noqa: E402
from bench_turn import clone_store  # noqa: E402

SCRIPT = REPO / "scripts" / "pg-test-cluster.sh"
PY = sys.executable


class Server:
    """A PostgreSQL server to bench against: an existing one, or a throwaway cluster."""

    def __init__(self) -> None:
        self.dir: str | None = None
        if os.environ.get("CLINVK_TEST_PG_HOST"):
            self.host = os.environ["CLINVK_TEST_PG_HOST"]
            self.port = os.environ.get("CLINVK_TEST_PG_PORT", "5432")
            self.user = os.environ.get("CLINVK_TEST_PG_USER", "postgres")
            return
        self.dir = tempfile.mkdtemp(prefix="clinvk-bench-pg.")
        out = subprocess.run(["bash", str(SCRIPT), "start", self.dir], check=True,
                             capture_output=True, text=True).stdout
        found = dict(line.removeprefix("export ").split("=", 1)
                     for line in out.splitlines() if line.startswith("export "))
        self.host = found["CLINVK_TEST_PG_HOST"]
        self.port = found["CLINVK_TEST_PG_PORT"]
        self.user = found["CLINVK_TEST_PG_USER"]

    def url(self, db: str, user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@/{db}?host={self.host}&port={self.port}"

    def sql(self, sql: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as conn:
            conn.execute(sql.encode())

    def stop(self) -> None:
        if self.dir:
            subprocess.run(["bash", str(SCRIPT), "stop", self.dir], check=False)


def clinvk(env: dict[str, str], *args: str, check: bool = True) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run([PY, "-m", "clinvk", *args], env=env, capture_output=True,
                          text=True, check=False)
    took = time.perf_counter() - began
    if check and proc.returncode != 0:
        raise SystemExit(f"clinvk {' '.join(args)} failed: {proc.stderr.strip()}")
    return took, proc.stdout + proc.stderr


def median_of(runs: int, env: dict[str, str], *args: str) -> float:
    return statistics.median(clinvk(env, *args)[0] for _ in range(runs))


def make_fake_claude(bin_dir: Path) -> None:
    from tests import fakes

    fakes.install(bin_dir, ("claude",))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    base = (args.dir or bench_dir()).expanduser()
    print(machine_info())
    source = base / f"store-{args.sessions}"
    if not (source / "catalog.db").exists():
        from gen_store import ensure_store

        ensure_store(source, args.sessions)
    server = Server()
    work = Path(tempfile.mkdtemp(prefix="clinvk-bench-team."))
    try:
        db = "bench"
        server.sql(f"DROP DATABASE IF EXISTS {db}")
        server.sql(f"CREATE DATABASE {db}")
        server.sql("DROP ROLE IF EXISTS bench_member")
        owner = base_env([REPO], work / "owner")
        owner["CLINVK_TEAM_URL"] = server.url(db)
        clinvk(owner, "team", "init")
        server.sql("CREATE ROLE bench_member LOGIN IN ROLE clinvk_member")

        # 1. The full push of a clone of the big store.
        home = work / "store"
        t0 = time.perf_counter()
        clone_store(source, home)
        print(f"store: hard-linked clone of {source} ({time.perf_counter() - t0:.1f} s)")
        env = base_env([REPO], home)
        env["CLINVK_TEAM_URL"] = server.url(db, "bench_member")
        env["CLINVK_TEAM_MEMBER"] = "bench@machine-1"
        took, out = clinvk(env, "team", "push")
        print(f"full push: {took:.1f} s  ({out.strip()})  target ≤ 120 s")
        took, out = clinvk(env, "team", "push")
        print(f"second push (nothing changed): {took:.2f} s  ({out.strip()})")

        # 2. Questions on the server.
        for what, target in ((("team", "stats", "--by", "day"), 1.0),
                             (("team", "stats", "--by", "member"), 1.0),
                             (("team", "stats"), 1.0),
                             (("team", "list"), 0.3),
                             (("team", "list", "--repo", "api", "-n", "50"), 0.3)):
            print(f"clinvk {' '.join(what)}: median {median_of(args.runs, env, *what) * 1000:.0f} ms"
                  f" over {args.runs} runs  target ≤ {target * 1000:.0f} ms")

        # 3. Auto push after a turn.
        bin_dir = work / "bin"
        make_fake_claude(bin_dir)
        small = work / "small"
        turn_env = base_env([REPO], small)
        turn_env["PATH"] = f"{bin_dir}{os.pathsep}{turn_env.get('PATH', '')}"
        turn_env["FAKE_VENDOR_LOG"] = str(work / "fake.log")
        turn_env["CLINVK_TEAM_URL"] = server.url(db, "bench_member")
        turn_env["CLINVK_TEAM_MEMBER"] = "bench@machine-2"
        clinvk(turn_env, "prompt", "-b", "claude", "warm up")
        off = [clinvk(turn_env, "prompt", "-b", "claude", "hi")[0] for _ in range(args.runs)]
        config = small / "config.toml"
        config.write_text("[team]\nauto_push = true\n")
        turn_env["CLINVK_CONFIG"] = str(config)
        clinvk(turn_env, "team", "push")
        on: list[float] = []
        lag: list[float] = []
        import psycopg

        with psycopg.connect(server.url(db), autocommit=True) as conn:
            for _ in range(args.runs):
                before = conn.execute("SELECT count(*) FROM clinvk.sessions WHERE "
                                      "member = 'bench@machine-2'").fetchone()[0]
                took, _out = clinvk(turn_env, "prompt", "-b", "claude", "hi")
                ended = time.perf_counter()
                on.append(took)
                while True:
                    now = conn.execute("SELECT count(*) FROM clinvk.sessions WHERE "
                                       "member = 'bench@machine-2'").fetchone()[0]
                    if now > before or time.perf_counter() - ended > 30:
                        break
                    time.sleep(0.01)
                lag.append(time.perf_counter() - ended)
                time.sleep(0.3)  # the pusher looks at the outbox once more, then exits
        extra = (statistics.median(on) - statistics.median(off)) * 1000
        print(f"clinvk prompt, auto_push off: median {statistics.median(off) * 1000:.0f} ms; "
              f"on: {statistics.median(on) * 1000:.0f} ms; extra {extra:+.0f} ms  "
              "target ≤ 100 ms")
        print(f"in the team store after the turn ended: median {statistics.median(lag) * 1000:.0f}"
              f" ms, max {max(lag) * 1000:.0f} ms (background push)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
