"""What clinvk adds to a real vendor turn: the real CLIs against the mock model API.

    python benchmarks/bench_vendor.py [--runs 11] [--vendors claude,codex,gemini]
                                      [--baseline OTHER_CHECKOUT] [--vendor-bin DIR]

The mock (scripts/mockapi.py) listens on loopback; every vendor runs in a throwaway
sandbox HOME aimed at it (scripts/vendor_sandbox.py, as tests/e2e does). For each vendor,
in interleaved rounds:

* ``direct``: the vendor run with exactly the argv, cwd and stdin clinvk gives it (read
  from ``clinvk prompt --dry-run -o json``);
* ``clinvk``: ``clinvk prompt -b VENDOR -o json -w WORK PROMPT`` (a new session recorded
  each time);
* ``before`` with ``--baseline``: the same prompt from another checkout, in the same
  rounds, recording into a store of its own.

Figure: median(clinvk) − median(direct), target ≤ 100 ms; CPU medians too (user + system
of the whole process tree, from ``wait4``). Vendor CLIs are found in ``--vendor-bin``,
``$CLINVK_VENDOR_BIN`` or by scripts/install-vendor-clis.sh --print-bin-dir. Exits 0
whatever the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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

from bench_core import base_env, machine_info

PROMPT = "say hi"
# Variables of the outer environment that would change how Python runs clinvk.
PYTHON_VARS = ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE",
               "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "PYTHONASYNCIODEBUG", "PYTHONPYCACHEPREFIX")
TARGET_MS = 100.0


def load_sandbox_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("vendor_sandbox", REPO / "scripts" /
                                                  "vendor_sandbox.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vendor_bin(given: str | None) -> Path:
    if given or os.environ.get("CLINVK_VENDOR_BIN"):
        return Path(given or os.environ["CLINVK_VENDOR_BIN"])
    out = subprocess.run(["bash", str(REPO / "scripts" / "install-vendor-clis.sh"),
                          "--print-bin-dir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def start_mock(python: str, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = work / "port"
    proc = subprocess.Popen([python, str(REPO / "scripts" / "mockapi.py"), "--port", "0",
                             "--port-file", str(port_file)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("bench_vendor: the mock API did not start")
        time.sleep(0.02)
    return proc, int(port_file.read_text().strip())


def timed(argv: list[str], env: dict[str, str], cwd: str, stdin: bytes | None
          ) -> tuple[float, float, int]:
    """(wall seconds from spawn to reap, CPU seconds of the process and its reaped
    children, exit code)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None or stdin is None
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:
            pass
        proc.stdin.close()
    err = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    code = proc.returncode
    if code != 0:
        print(f"  ! exit {code}: {' '.join(argv[:4])}: {err.decode(errors='replace')[-300:]}",
              file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--vendors", default="claude,codex,gemini")
    parser.add_argument("--baseline", type=Path, help="another clinvk checkout, timed alike")
    parser.add_argument("--vendor-bin")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)

    bin_dir = vendor_bin(args.vendor_bin)
    sandbox_mod = load_sandbox_module()
    print(machine_info())
    with tempfile.TemporaryDirectory(prefix="clinvk-bench-vendor-") as tmp:
        work = Path(tmp)
        mock, port = start_mock(args.python, work)
        try:
            sandbox = sandbox_mod.make_sandbox(work / "sandbox", port)
            vendor_env = sandbox_mod.sandbox_environ(sandbox)
            vendor_env["PATH"] = os.pathsep.join([str(bin_dir), vendor_env.get("PATH", "")])
            wd = work / "work"
            wd.mkdir()
            trees = {"clinvk": REPO}
            if args.baseline:
                trees["before"] = args.baseline.resolve()
            envs: dict[str, dict[str, str]] = {}
            for name, tree in trees.items():
                # The sandbox's environment, then bench_core's Python settings over it
                # (bytecode cached, no PYTHONDONTWRITEBYTECODE: see bench_core.base_env).
                python_env = base_env([tree], work / f"store-{name}")
                env = {k: v for k, v in vendor_env.items() if k not in PYTHON_VARS}
                env.update({k: v for k, v in python_env.items()
                            if k.startswith("PYTHON") or k == "NO_COLOR"})
                env["CLINVK_HOME"] = str(work / f"store-{name}")
                env["CLINVK_CONFIG"] = str(work / "no-such-config.toml")
                envs[name] = env
            cwd = str(work / "cwd")
            os.mkdir(cwd)
            cases: dict[str, dict[str, tuple[list[str], dict[str, str], str, bytes | None]]] = {}
            for vendor in args.vendors.split(","):
                dry = subprocess.run([args.python, "-m", "clinvk", "prompt", "-b", vendor,
                                      "--dry-run", "-o", "json", "-w", str(wd), PROMPT],
                                     env=envs["clinvk"], cwd=cwd, capture_output=True,
                                     text=True, check=True)
                plan = json.loads(dry.stdout)
                exe = shutil.which(plan["argv"][0], path=vendor_env["PATH"]) or plan["argv"][0]
                stdin = PROMPT.encode() if plan["stdin_bytes"] is not None else None
                vendor_cases = {"direct": ([exe, *plan["argv"][1:]], vendor_env, plan["cwd"],
                                           stdin)}
                for name in trees:
                    vendor_cases[name] = ([args.python, "-m", "clinvk", "prompt", "-b", vendor,
                                           "-o", "json", "-w", str(wd), PROMPT], envs[name],
                                          cwd, None)
                cases[vendor] = vendor_cases
            samples = {v: {n: ([], []) for n in c} for v, c in cases.items()}
            for round_ in range(args.warmup + args.runs):
                for vendor, vendor_cases in cases.items():
                    for name, (cmd, env, run_cwd, stdin) in vendor_cases.items():
                        wall, cpu, _code = timed(cmd, env, run_cwd, stdin)
                        if round_ >= args.warmup:
                            samples[vendor][name][0].append(wall * 1000)
                            samples[vendor][name][1].append(cpu * 1000)
            print(f"{'vendor':8} {'case':8} {'runs':>4} {'median ms':>10} {'min ms':>8} "
                  f"{'CPU ms':>8} {'adds ms':>8} {'CPU adds':>8}  target")
            for vendor, by_case in samples.items():
                direct = statistics.median(by_case["direct"][0])
                direct_cpu = statistics.median(by_case["direct"][1])
                for name, (walls, cpus) in by_case.items():
                    med, cpu = statistics.median(walls), statistics.median(cpus)
                    adds = "" if name == "direct" else f"{med - direct:8.1f}"
                    cpu_adds = "" if name == "direct" else f"{cpu - direct_cpu:8.1f}"
                    verdict = "" if name == "direct" else (
                        f"<= {TARGET_MS:g} ms -> " + ("PASS" if med - direct <= TARGET_MS
                                                       else "FAIL"))
                    print(f"{vendor:8} {name:8} {len(walls):4d} {med:10.1f} {min(walls):8.1f} "
                          f"{cpu:8.1f} {adds:>8} {cpu_adds:>8}  {verdict}")
        finally:
            mock.terminate()
            mock.wait()
    print(machine_info())
    return 0


if __name__ == "__main__":
    sys.exit(main())
