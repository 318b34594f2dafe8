"""Time clinvk's read paths and start-up as whole processes; print figures.

    python benchmarks/bench_core.py [--dir ~/.cache/clinvk-bench] [--runs 21] [--skip-100k]

Builds (or reuses) three stores under --dir with benchmarks/gen_store.py: empty,
10,000 and 100,000 sessions. Then runs every case as a fresh process — ``python -m
clinvk …`` — and, as the start-up baseline, a minimal cyclopts app with one command
that prints a line, run the same way (``python -m minapp hello``, same interpreter,
same PYTHONPATH). Runs are interleaved round-robin across cases (after warm-up runs) so
that a change in machine load hits every case alike; the table shows the median and
p90 wall time, the ratio to the case's baseline, the target, PASS/FAIL and the peak
RSS (from ``os.wait4`` on each child). Exits 0 whatever the figures: this reports, it
does not gate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

MINAPP = '''\
"""The start-up baseline: a minimal cyclopts app with one command that prints a line."""
from cyclopts import App

app = App(name="minapp")


@app.command
def hello() -> None:
    """Print a line."""
    print("hello")


if __name__ == "__main__":
    app()
'''


def write_minapp(directory: Path) -> Path:
    """The baseline app as ``minapp.py`` under ``directory`` (run with ``python -m minapp``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "minapp.py"
    if not path.exists() or path.read_text() != MINAPP:
        path.write_text(MINAPP)
    return directory


def bench_dir() -> Path:
    return Path(os.environ.get("CLINVK_BENCH_DIR") or "~/.cache/clinvk-bench").expanduser()


def pycache_dir() -> Path:
    return bench_dir() / "pycache"


def base_env(pythonpath: list[Path], home: Path | None = None) -> dict[str, str]:
    """The environment every timed process gets: no user config, no colour, and bytecode
    cached as in any installed copy (under a cache dir of our own, so the repo tree stays
    clean) even when PYTHONDONTWRITEBYTECODE is set: without it every run recompiles
    clinvk from source, which would time the compiler, not clinvk."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINVK_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["NO_COLOR"] = "1"
    for name in ("PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE",
                 "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "PYTHONASYNCIODEBUG"):
        env.pop(name, None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache_dir())
    if home is not None:
        env["CLINVK_HOME"] = str(home)
        env["CLINVK_CONFIG"] = str(home / "no-such-config.toml")
    return env


@dataclass
class Sample:
    seconds: float
    maxrss_kb: int
    code: int
    cpu_seconds: float = 0.0  # user + system CPU of the child: less swayed by machine load


# A small, long-lived process that starts every timed command: a child's peak RSS as the
# kernel reports it (wait4) is at least the RSS of whatever forked it, so the forking must
# not be done by this script once it holds a 100k-session listing in memory. It times each
# run itself, from fork to reap, so its own start-up is never counted.
LAUNCHER = r"""
import json, os, sys, time
def _kb(v):
    return v // 1024 if sys.platform == "darwin" else v
for line in sys.stdin:
    job = json.loads(line)
    out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            nul = os.open(os.devnull, os.O_RDONLY)
            os.dup2(nul, 0); os.dup2(out, 1); os.dup2(err, 2)
            if job["cwd"]:
                os.chdir(job["cwd"])
            os.execve(job["argv"][0], job["argv"], job["env"])
        finally:
            os._exit(127)
    _pid, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - t0
    os.close(out); os.close(err)
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    sys.stdout.write(json.dumps([elapsed, _kb(usage.ru_maxrss), code, cpu]) + "\n")
    sys.stdout.flush()
"""


class Launcher:
    """Runs commands from a small process and reports (wall seconds, peak RSS, exit code)."""

    def __init__(self, python: str, scratch: Path):
        self.scratch = scratch
        self.workdir = scratch / "cwd"
        self.workdir.mkdir(exist_ok=True)
        self.proc = subprocess.Popen([python, "-S", "-c", LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, argv: list[str], env: dict[str, str], stdout_path: str | None = None,
            cwd: str | None = None) -> Sample:
        err_path = str(self.scratch / "stderr.txt")
        exe = argv[0] if os.sep in argv[0] else (shutil.which(argv[0], path=env.get("PATH"))
                                                 or argv[0])
        # An empty directory by default: `python -m` puts the working directory first on
        # sys.path, and a clinvk checkout there would shadow the one on PYTHONPATH.
        job = {"argv": [exe, *argv[1:]], "env": env, "cwd": cwd or str(self.workdir),
               "stdout": stdout_path or os.devnull, "stderr": err_path}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the launcher process died")
        elapsed, rss, code, cpu = json.loads(reply)
        if code != 0:
            try:
                tail = Path(err_path).read_text(errors="replace")[-500:].strip()
            except OSError:
                tail = ""
            print(f"  ! exit {code}: {' '.join(argv[-4:])}: {tail}", file=sys.stderr)
        return Sample(elapsed, rss, code, cpu)

    def floor_mb(self) -> float:
        """The launcher's own peak RSS: no child can be reported below it."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str]
    runs: int
    baseline: str | None = None  # name of the case this one is compared with
    max_ratio: float | None = None
    max_ms: float | None = None
    max_rss_mb: float | None = None
    samples: list[Sample] = field(default_factory=list)
    stdout_file: bool = False
    # Run before each run of the case (untimed), e.g. to change a file behind its back.
    before: Callable[[], None] | None = None

    @property
    def times_ms(self) -> list[float]:
        return [s.seconds * 1000 for s in self.samples]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms) if self.samples else float("nan")

    @property
    def cpu_median_ms(self) -> float:
        return (statistics.median(s.cpu_seconds * 1000 for s in self.samples)
                if self.samples else float("nan"))

    @property
    def peak_rss_mb(self) -> float:
        return max((s.maxrss_kb for s in self.samples), default=0) / 1024

    @property
    def failures(self) -> int:
        return sum(1 for s in self.samples if s.code != 0)


def run_cases(cases: list[Case], warmup: int, launcher: Launcher, log=print) -> None:
    """Warm up each case, then run them interleaved, round-robin, until each has its runs."""
    out_path = str(launcher.scratch / "stdout.bin")
    for case in cases:
        for _ in range(warmup):
            if case.before is not None:
                case.before()
            launcher.run(case.argv, case.env, out_path if case.stdout_file else None)
    rounds = max(c.runs for c in cases)
    for r in range(rounds):
        for case in cases:
            if len(case.samples) < case.runs:
                if case.before is not None:
                    case.before()
                case.samples.append(launcher.run(case.argv, case.env,
                                                 out_path if case.stdout_file else None))
        if (r + 1) % 5 == 0 or r + 1 == rounds:
            log(f"  round {r + 1}/{rounds}", file=sys.stderr)


def verdict(case: Case, by_name: dict[str, Case]) -> tuple[str, str, str]:
    """(ratio text, target text, PASS/FAIL text)."""
    ratio_text = "-"
    targets: list[str] = []
    ok = True
    if case.failures:
        ok = False
        targets.append(f"exit 0 ({case.failures} failed)")
    if case.baseline:
        base = by_name[case.baseline]
        ratio = case.median_ms / base.median_ms
        ratio_text = f"{ratio:.2f}x {case.baseline}"
        if case.max_ratio is not None:
            targets.append(f"<= {case.max_ratio}x")
            ok = ok and ratio <= case.max_ratio
    if case.max_ms is not None:
        targets.append(f"<= {case.max_ms:g} ms")
        ok = ok and case.median_ms <= case.max_ms
    if case.max_rss_mb is not None:
        targets.append(f"RSS <= {case.max_rss_mb:g} MB")
        ok = ok and case.peak_rss_mb <= case.max_rss_mb
    if not targets:
        return ratio_text, "(reference)", "-"
    return ratio_text, ", ".join(targets), "PASS" if ok else "FAIL"


def print_table(cases: list[Case], title: str) -> None:
    by_name = {c.name: c for c in cases}
    rows = [("case", "command", "runs", "median ms", "p90 ms", "ratio", "target", "result",
             "peak RSS MB", "CPU ms", "CPU ratio")]
    for c in cases:
        ratio, target, result = verdict(c, by_name)
        shown = " ".join(c.argv[c.argv.index("-m") + 1:]) if "-m" in c.argv else " ".join(c.argv)
        cpu_ratio = (f"{c.cpu_median_ms / by_name[c.baseline].cpu_median_ms:.2f}x"
                     if c.baseline else "-")
        rows.append((c.name, shown, str(len(c.samples)), f"{c.median_ms:.1f}",
                     f"{percentile(c.times_ms, 0.9):.1f}", ratio, target, result,
                     f"{c.peak_rss_mb:.1f}", f"{c.cpu_median_ms:.1f}", cpu_ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"\n{title}")
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine_info() -> str:
    try:
        load = "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load avg n/a"
    return (f"python {platform.python_version()} ({platform.python_implementation()}, "
            f"{sys.executable}); {platform.system()} {platform.release()} {platform.machine()}; "
            f"cpu count {os.cpu_count()}; {load}")


def pick_prefix(home: Path) -> str:
    """A 6-character prefix that names exactly one session of the store."""
    from clinvk.catalog import Catalog
    from clinvk.store import SessionStore

    store = SessionStore(home)
    ids = [row.id for row in Catalog.open(store).rows().rows]
    for ident in ids[len(ids) // 2:] + ids[: len(ids) // 2]:
        if store.short_ids([ident], 6)[ident] == ident[:6]:
            return ident[:6]
    raise SystemExit(f"no session in {home} has a unique 6-character prefix")


def replace_one_file(home: Path) -> Callable[[], None]:
    """Before each run: one session file replaced behind clinvk's back (same bytes, a new
    inode and mtime, as any editor or sync tool would leave it), so the command has to
    notice the change and read that file again. The shard directory's mtime is then set
    10 s back: a directory changed in the last 2 s is rescanned by every reader
    (clinvk.catalog.refresh.UNSETTLED_NS), and the other cases, run right after this one
    in each round, would otherwise all time a just-changed store."""
    victim = min((home / "sessions").glob("*/*.json"))

    def before() -> None:
        tmp = victim.with_name(".bench-replace.tmp")
        shutil.copyfile(victim, tmp)
        os.replace(tmp, victim)
        past = time.time() - 10
        os.utime(victim.parent, (past, past))

    return before


def check_outputs(home: Path, env: dict[str, str], python: str, sessions: int,
                  prefix: str) -> None:
    """One untimed run of each command whose output is checked, so the figures mean something."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, "-m", "clinvk", *args], env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, cwd=home)

    listed = run("sessions", "list")
    rows = listed.stdout.splitlines()
    expect = min(20, sessions) + (1 if sessions else 0)
    if listed.returncode != 0 or len(rows) != expect:
        print(f"  ! sessions list on {home.name}: exit {listed.returncode}, {len(rows)} lines "
              f"(expected {expect}); stderr: {listed.stderr.strip()[:300]}", file=sys.stderr)
    if sessions >= 100_000:
        shown = run("sessions", "show", prefix)
        if shown.returncode != 0 or prefix not in shown.stdout:
            print(f"  ! sessions show {prefix}: exit {shown.returncode}: "
                  f"{shown.stderr.strip()[:300]}", file=sys.stderr)
        full = run("sessions", "list", "--json", "-n", "0")
        try:
            data = json.loads(full.stdout)
            ok = data["total"] == sessions and len(data["items"]) == sessions
        except (ValueError, KeyError, TypeError):
            ok = False
        if full.returncode != 0 or not ok:
            print(f"  ! sessions list --json -n 0 did not list {sessions} sessions: exit "
                  f"{full.returncode}: {full.stderr.strip()[:300]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=bench_dir(),
                        help="where the generated stores are cached (default: "
                             "$CLINVK_BENCH_DIR or ~/.cache/clinvk-bench)")
    parser.add_argument("--runs", type=int, default=21, help="timed runs per fast case")
    parser.add_argument("--heavy-runs", type=int, default=5,
                        help="timed runs of `list --json -n 0` at 100k")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--skip-100k", action="store_true", help="only the empty and 10k stores")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter that runs clinvk and the baseline")
    parser.add_argument("--baseline", type=Path,
                        help="another clinvk checkout: its list/show cases run in the same "
                             "rounds (named *-before), for before/after figures")
    parser.add_argument("--skip-json-all", action="store_true",
                        help="no `list --json -n 0` at 100k (it settles every dead runner "
                             "of the store, so the `running` rows are gone after it)")
    args = parser.parse_args(argv)

    import gen_store  # the generator, next to this file

    cache = args.dir.expanduser().absolute()
    cache.mkdir(parents=True, exist_ok=True)
    print(machine_info())
    print(f"clinvk from {REPO}; stores under {cache}")
    sizes = [0, 10_000] + ([] if args.skip_100k else [100_000])
    homes: dict[int, Path] = {}
    for n in sizes:
        homes[n] = cache / f"store-{n}"
        try:
            gen_store.ensure_store(homes[n], n, log=lambda *a, **k: print(*a, file=sys.stderr))
        except SystemExit as exc:  # the generator refused (e.g. a foreign non-empty dir)
            print(f"cannot build the {n}-session store: {exc}")
            return 0

    pythonpath = [write_minapp(cache / "baseline"), REPO]
    py = args.python
    plain_env = base_env(pythonpath, homes[0])
    envs = {n: base_env(pythonpath, homes[n]) for n in sizes}
    clinvk = [py, "-m", "clinvk"]
    cases = [
        Case("baseline", [py, "-m", "minapp", "hello"], plain_env, args.runs),
        Case("version", [*clinvk, "--version"], plain_env, args.runs, "baseline", 1.3),
        Case("list-empty", [*clinvk, "sessions", "list"], envs[0], args.runs, "baseline", 1.3,
             max_rss_mb=60),
        Case("list-10k", [*clinvk, "sessions", "list"], envs[10_000], args.runs, "list-empty",
             1.1, None, 60),
    ]
    if not args.skip_100k:
        home = homes[100_000]
        prefix = pick_prefix(home)
        check_outputs(home, envs[100_000], py, 100_000, prefix)
        cases += [
            Case("list-100k", [*clinvk, "sessions", "list"], envs[100_000], args.runs,
                 "list-empty", 1.1, None, 60),
            Case("list-100k-changed", [*clinvk, "sessions", "list"], envs[100_000], args.runs,
                 "list-100k", 1.2, None, 60, before=replace_one_file(home)),
            Case("show-100k", [*clinvk, "sessions", "show", prefix], envs[100_000], args.runs,
                 "list-empty", 1.1, None, 60),
        ]
        if not args.skip_json_all:
            cases.append(Case("json-all-100k", [*clinvk, "sessions", "list", "--json", "-n", "0"],
                              envs[100_000], args.heavy_runs, None, None, 3000, 100,
                              stdout_file=True))
    if args.baseline is not None:
        # The same commands from the other checkout, each compared with its own peers.
        other = [pythonpath[0], args.baseline.resolve()]
        renamed = {"list-empty": "list-empty-before", "list-100k": "list-100k-before"}
        for case in list(cases):
            if case.name in ("baseline", "version") or case.name.startswith("json-all"):
                continue
            env = dict(case.env, PYTHONPATH=os.pathsep.join(str(p) for p in other))
            cases.append(Case(f"{case.name}-before", case.argv, env, case.runs,
                              renamed.get(case.baseline or "", case.baseline), case.max_ratio,
                              case.max_ms, case.max_rss_mb, before=case.before))
    check_outputs(homes[10_000], envs[10_000], py, 10_000, "")
    check_outputs(homes[0], envs[0], py, 0, "")
    with tempfile.TemporaryDirectory(prefix="clinvk-bench-") as scratch:
        launcher = Launcher(py, Path(scratch))
        try:
            run_cases(cases, args.warmup, launcher,
                      log=lambda *a, **k: print(*a, file=sys.stderr))
            floor = launcher.floor_mb()
        finally:
            launcher.close()
    print_table(cases, f"clinvk core benchmark: median of interleaved runs after "
                       f"{args.warmup} warm-up run(s) each")
    print(machine_info())
    print(f"(peak RSS is the child's own, from wait4; the launcher that forks it peaked at "
          f"{floor:.1f} MB, so nothing below that can show)")
    return 0


def run_script(entry: Callable[[], int], name: str) -> None:
    """Run a benchmark's main and exit 0 whatever happens: figures, not a test."""
    try:
        entry()
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - report and exit 0
        import traceback

        traceback.print_exc()
        print(f"{name}: stopped early: {type(exc).__name__}: {exc}")
    sys.exit(0)


if __name__ == "__main__":
    run_script(main, "bench_core")
