"""How long a TAB press takes: `clinvk __complete …` as whole processes; print figures.

    python benchmarks/bench_completion.py [--store DIR] [--runs 21] [--warmup 2]
                                          [--python PATH]

``--store`` is a store made by gen_store.py (default: the 100,000-session one bench_core
uses, ~/.cache/clinvk-bench/store-100000); the store is only read. Each case is what a
completion script runs when TAB is pressed (cyclopts' protocol: the words typed so far,
the last one being completed), timed from process start to exit:

* session ids after `clinvk sessions show ` (the newest 100), after a two-character
  prefix, and after `clinvk resume `. Target: median ≤ 150 ms at 100,000 sessions;
* tags (`sessions list --tag `), statuses (`--status `, no catalog), config keys;
* the whole TAB press in bash: the generated script sourced in a real `bash`, its
  completion function run for `clinvk sessions show ` (bash, the script and clinvk);
* the same id completion without clinvk's completion table (cyclopts finds the
  argument under the cursor), as on the first TAB press after an upgrade;
* for scale: `python -c pass` and `clinvk --version`.

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
DEFAULT_STORE = Path.home() / ".cache" / "clinvk-bench" / "store-100000"
TARGET_MS = 150.0


def timed(argv: list[str], env: dict[str, str], runs: int, warmup: int) -> tuple[list[float], str]:
    """Wall times (ms) of ``runs`` runs after ``warmup`` untimed ones, and the last stdout."""
    out = ""
    times: list[float] = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
        took = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-500:]}")
        if i >= warmup:
            times.append(took)
        out = proc.stdout
    return times, out


def records(out: str) -> list[str]:
    return out.split("\x1fbegin\n", 1)[1].splitlines() if "\x1fbegin\n" in out else out.splitlines()


def show(label: str, times: list[float], answer: str, target: float | None = None) -> None:
    ordered = sorted(times)
    p90 = ordered[max(0, round(0.9 * len(ordered)) - 1)]
    verdict = ""
    if target is not None:
        verdict = "  ok" if statistics.median(times) <= target else f"  OVER {target:.0f} ms"
    print(f"{label:<44} median {statistics.median(times):6.1f} ms  p90 {p90:6.1f}  "
          f"min {ordered[0]:6.1f}  {answer}{verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    store = args.store.expanduser()
    if not (store / "catalog.db").is_file():
        print(f"no store with a catalog at {store}; make one with:\n"
              f"  python benchmarks/gen_store.py {store} --sessions 100000")
        return 0

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CLINVK_HOME"] = str(store)
    env["CLINVK_CONFIG"] = str(store / "no-config.toml")
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # clinvk's completion table goes to a cache directory of this run (the first,
    # warm-up press writes it, as the first TAB after installing clinvk does).
    cache = tempfile.TemporaryDirectory()
    env["XDG_CACHE_HOME"] = cache.name
    clinvk = [args.python, "-m", "clinvk"]
    marker = store / ".bench-store.json"
    about = marker.read_text().strip() if marker.is_file() else "(no marker)"
    print(f"store {store}: {about}")
    print(f"{args.runs} runs each after {args.warmup} warm-up runs; python {args.python}\n")

    runs, warm = args.runs, args.warmup
    times, _ = timed([args.python, "-c", "pass"], env, runs, warm)
    show("python -c pass", times, "")
    times, _ = timed([*clinvk, "--version"], env, runs, warm)
    show("clinvk --version", times, "")

    times, out = timed([*clinvk, "__complete", "sessions", "show", ""], env, runs, warm)
    ids = records(out)
    show("TAB: clinvk sessions show ", times, f"{len(ids)} ids", TARGET_MS)
    prefix = ids[0][:2] if ids else "ab"
    times, out = timed([*clinvk, "__complete", "sessions", "show", prefix], env, runs, warm)
    show(f"TAB: clinvk sessions show {prefix}", times, f"{len(records(out))} ids", TARGET_MS)
    times, out = timed([*clinvk, "__complete", "resume", ""], env, runs, warm)
    show("TAB: clinvk resume ", times, f"{len(records(out))} ids", TARGET_MS)
    no_table = dict(env, XDG_CACHE_HOME=str(Path(cache.name) / "unwritable"))
    Path(no_table["XDG_CACHE_HOME"]).write_text("a file: no table can be kept here")
    times, out = timed([*clinvk, "__complete", "sessions", "show", ""], no_table, runs, warm)
    show("TAB: clinvk sessions show  (no table)", times, f"{len(records(out))} ids")
    times, out = timed([*clinvk, "__complete", "sessions", "list", "--tag", ""], env, runs, warm)
    show("TAB: clinvk sessions list --tag ", times, f"{len(records(out))} tags")
    times, out = timed([*clinvk, "__complete", "sessions", "list", "--status", ""], env, runs,
                       warm)
    show("TAB: clinvk sessions list --status ", times, f"{len(records(out))} statuses")
    times, out = timed([*clinvk, "__complete", "config", "set", ""], env, runs, warm)
    show("TAB: clinvk config set ", times, f"{len(records(out))} keys")

    bash = shutil.which("bash")
    if bash is None:
        print("\n(no bash: the whole-TAB case is skipped)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "clinvk.bash"
        made = subprocess.run([*clinvk, "completion", "bash"], env=env, capture_output=True,
                              text=True, check=True)
        script.write_text(made.stdout)
        launcher = Path(tmp) / "bin" / "clinvk"
        launcher.parent.mkdir()
        launcher.write_text(f'#!/bin/sh\nexec "{args.python}" -m clinvk "$@"\n')
        launcher.chmod(0o755)
        bash_env = dict(env)
        bash_env["PATH"] = f"{launcher.parent}{os.pathsep}{env.get('PATH', '')}"
        program = (f'source "{script}"; COMP_WORDS=(clinvk sessions show ""); COMP_CWORD=3; '
                   '_clinvk; printf "%s\\n" "${COMPREPLY[@]}"')
        times, out = timed([bash, "--norc", "--noprofile", "-c", program], bash_env, runs, warm)
        show("TAB in bash: clinvk sessions show ", times, f"{len(out.split())} ids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
