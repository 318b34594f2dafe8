"""What clinvk adds to one turn: process overhead and streaming latency; print figures.

    python benchmarks/bench_turn.py [--runs 21] [--store empty|10k|100k] [--dir ~/.cache/clinvk-bench]
                                    [--baseline OTHER_CHECKOUT] [--no-stream]

A fake ``claude`` goes first on PATH: a tiny Python script (``python -S``) that reads
stdin and prints a captured ``claude -p --output-format stream-json --verbose`` run
(tests/fixtures/vendor/claude-stream-new.jsonl) at once.

1. Per-turn overhead: ``clinvk prompt -b claude -o json "hi"`` against the same fake run
   directly (same argv clinvk gives it), and the minimal cyclopts app of bench_core run
   the same way as clinvk (``python -m``). Target: median(clinvk) − median(direct)
   ≤ 1.8 × median(minimal app). Every run records a real session in the store and its
   catalog (``--store`` picks an empty one, or a hard-linked clone of bench_core's
   10k/100k store, so the catalog really is that big while the cached store stays
   untouched).
2. Streaming: the fake (in stream mode) writes an init line, then text deltas
   (``stream_event`` content_block_delta, as with --include-partial-messages), each
   carrying the wall-clock time it was written, ``--gap`` seconds apart, then the
   whole message and the result. The bench reads clinvk's stdout straight off a pipe and
   notes when each delta arrives. Target: the first delta ≤ 20 ms after the fake wrote
   it. Also shown: the same fake read directly (the pipe's own floor), and the first
   delta written right after init (no gap: clinvk is still saving the session then).

``--baseline OTHER_CHECKOUT`` also times ``clinvk prompt`` from another checkout (say one
from before a change) in the same rounds, interleaved with this tree's, recording into a
store of its own made the same way: a before/after comparison under the same load.

Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
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

from bench_core import (  # noqa: E402
    run_script,
    Case,
    Launcher,
    base_env,
    bench_dir,
    machine_info,
    percentile,
    print_table,
    run_cases,
    write_minapp,
)

SAMPLE = REPO / "tests" / "fixtures" / "vendor" / "claude-stream-new.jsonl"

# The fake vendor. FAKE_MODE=replay prints FAKE_SAMPLE; FAKE_MODE=stream writes timed deltas.
FAKE = r'''
import json, os, sys, time

def out(line):
    data = (line + "\n").encode()
    while data:
        data = data[os.write(1, data):]

if sys.argv[1:] == ["--version"]:
    out("2.1.330 (Claude Code)")
    sys.exit(0)
sys.stdin.buffer.read()
mode = os.environ.get("FAKE_MODE", "replay")
if mode == "replay":
    with open(os.environ["FAKE_SAMPLE"], "rb") as f:
        data = f.read()
    while data:
        data = data[os.write(1, data):]
    sys.exit(0)
sid = "812a5f73-0013-4e7c-b123-31a5133d2aa6"
mid = "msg_bench_0001"
deltas = int(os.environ.get("FAKE_DELTAS", "5"))
gap = float(os.environ.get("FAKE_GAP", "0.1"))
first_gap = float(os.environ.get("FAKE_FIRST_GAP", str(gap)))
out(json.dumps({"type": "system", "subtype": "init", "cwd": os.getcwd(), "session_id": sid,
                "model": "claude-sonnet-4-5", "tools": [], "mcp_servers": []}))
out(json.dumps({"type": "stream_event", "session_id": sid, "parent_tool_use_id": None,
                "event": {"type": "message_start", "message": {"id": mid, "model": "claude-sonnet-4-5"}}}))
texts = []
for i in range(deltas):
    time.sleep(first_gap if i == 0 else gap)
    text = f"<<d{i}:{time.time_ns()}>> "
    texts.append(text)
    out(json.dumps({"type": "stream_event", "session_id": sid, "parent_tool_use_id": None,
                    "event": {"type": "content_block_delta", "index": 0,
                              "delta": {"type": "text_delta", "text": text}}}))
full = "".join(texts)
out(json.dumps({"type": "assistant", "session_id": sid, "parent_tool_use_id": None,
                "message": {"id": mid, "model": "claude-sonnet-4-5",
                            "content": [{"type": "text", "text": full}]}}))
out(json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": full,
                "session_id": sid, "num_turns": 1, "total_cost_usd": 0.001,
                "usage": {"input_tokens": 10, "output_tokens": 20}}))
'''

MARKER = re.compile(rb"<<d(\d+):(\d+)>>")


def ensure_sample() -> Path:
    """The captured claude sample the fake vendor replays (tests/fixtures/vendor/)."""
    if not SAMPLE.exists():
        raise SystemExit(f"bench_turn: no claude sample at {SAMPLE}")
    return SAMPLE


def install_fake(bin_dir: Path, python: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    fake = bin_dir / "claude"
    fake.write_text(f"#!{python} -S\n{FAKE}")
    fake.chmod(0o755)
    return fake


def clone_store(source: Path, target: Path) -> None:
    """A copy of a generated store that shares the session files (hard links) but owns its
    catalog: prompts add new files and write the catalog, never touch an existing file."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("sessions",):
        src = source / name
        if shutil.which("cp"):
            subprocess.run(["cp", "-al", str(src), str(target / name)], check=True)
        else:  # pragma: no cover
            shutil.copytree(src, target / name, copy_function=os.link)
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    if (source / "locks").exists():
        shutil.copytree(source / "locks", target / "locks")
    os.chmod(target, 0o700)


# --------------------------------------------------------------------------- streaming
def read_stream(argv: list[str], env: dict[str, str], cwd: str,
                timeout: float = 60) -> tuple[list[tuple[int, int]], int, bytes]:
    """Run a process, read its stdout off the pipe as it comes; (per marker: written ns,
    arrived ns), exit code, stderr."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(b"hi")
    proc.stdin.close()
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    buf = b""
    found: dict[int, tuple[int, int]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=1):
            continue
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        now = time.time_ns()
        if not chunk:
            break
        buf += chunk
        for m in MARKER.finditer(buf):
            n = int(m.group(1))
            if n not in found:
                found[n] = (int(m.group(2)), now)
    sel.close()
    err = proc.stderr.read()
    code = proc.wait()
    return [found[k] for k in sorted(found)], code, err


def stream_figures(name: str, argv: list[str], env: dict[str, str], cwd: str, runs: int,
                   expect: int) -> dict[str, object]:
    firsts: list[float] = []
    others: list[float] = []
    bad = 0
    for _ in range(runs):
        marks, code, err = read_stream(argv, env, cwd)
        if code != 0 or len(marks) != expect:
            bad += 1
            print(f"  ! {name}: exit {code}, {len(marks)} of {expect} deltas seen: "
                  f"{err.decode(errors='replace').strip()[:300]}", file=sys.stderr)
            continue
        lat = [(arrived - written) / 1e6 for written, arrived in marks]
        firsts.append(lat[0])
        others.extend(lat[1:])
    return {"name": name, "runs": len(firsts), "bad": bad, "first": firsts, "others": others}


def print_stream_table(rows: list[dict[str, object]], target_ms: float) -> None:
    table = [("case", "runs", "first delta median ms", "p90", "max", "later deltas median ms",
              "max", "target", "result")]
    for r in rows:
        first = r["first"]
        others = r["others"]
        assert isinstance(first, list) and isinstance(others, list)
        if not first:
            table.append((str(r["name"]), "0", "-", "-", "-", "-", "-", "", "FAIL (no data)"))
            continue
        is_target = bool(r.get("target"))
        med = statistics.median(first)
        table.append((
            str(r["name"]), str(r["runs"]), f"{med:.2f}", f"{percentile(first, 0.9):.2f}",
            f"{max(first):.2f}",
            f"{statistics.median(others):.2f}" if others else "-",
            f"{max(others):.2f}" if others else "-",
            f"first <= {target_ms:g} ms (median)" if is_target else "(reference)",
            ("PASS" if med <= target_ms and not r["bad"] else "FAIL") if is_target else "-",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print("\nstreaming: time from the fake vendor's write to the text on clinvk's stdout")
    for n, row in enumerate(table):
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--stream-runs", type=int, default=15)
    parser.add_argument("--gap", type=float, default=0.1,
                        help="seconds between the fake's deltas (and before the first)")
    parser.add_argument("--store", choices=("empty", "10k", "100k"), default="empty",
                        help="the store the prompts are recorded in")
    parser.add_argument("--dir", type=Path, default=bench_dir(),
                        help="where the generated stores are cached (default: "
                             "$CLINVK_BENCH_DIR or ~/.cache/clinvk-bench)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another clinvk checkout whose prompt is timed alongside, "
                             "interleaved (before/after a change)")
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming part")
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "clinvk" / "__init__.py").exists():
        parser.error(f"--baseline {args.baseline}: not a clinvk checkout")

    py = args.python
    cache = args.dir.expanduser().absolute()
    cache.mkdir(parents=True, exist_ok=True)
    print(machine_info())
    sample = ensure_sample()
    if not (REPO / "clinvk" / "commands" / "run.py").exists():
        print("clinvk prompt is not built yet (clinvk/commands/run.py is missing): nothing to time")
        return 0

    with tempfile.TemporaryDirectory(prefix="clinvk-turn-") as tmp:
        scratch = Path(tmp)
        bin_dir = scratch / "bin"
        fake = install_fake(bin_dir, py)
        work = scratch / "work"
        work.mkdir()
        home = scratch / "home"
        homes = [home] if args.baseline is None else [home, scratch / "home-baseline"]
        if args.store == "empty":
            for h in homes:
                h.mkdir(mode=0o700)
        else:
            import gen_store

            n = {"10k": 10_000, "100k": 100_000}[args.store]
            source = cache / f"store-{n}"
            gen_store.ensure_store(source, n, log=lambda *a, **k: print(*a, file=sys.stderr))
            for h in homes:
                t0 = time.perf_counter()
                clone_store(source, h)
                print(f"store: hard-linked clone of {source} ({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr)
        print(f"store: {args.store} ({home}); fake vendor: {fake}")

        pythonpath = [write_minapp(cache / "baseline"), REPO]
        env = base_env(pythonpath, home)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["FAKE_SAMPLE"] = str(sample)
        env["FAKE_MODE"] = "replay"
        clinvk = [py, "-m", "clinvk"]
        prompt_argv = [*clinvk, "prompt", "-b", "claude", "-o", "json", "-w", str(work), "hi"]

        # The argv clinvk gives the vendor, so that the direct run is the same run.
        dry = subprocess.run([*clinvk, "prompt", "-b", "claude", "-o", "json", "-w", str(work),
                              "--dry-run", "hi"], env=env, capture_output=True, text=True)
        try:
            vendor_argv = json.loads(dry.stdout)["argv"]
        except (ValueError, KeyError):
            vendor_argv = ["claude", "-p", "--output-format", "stream-json", "--verbose"]
            print(f"  ! --dry-run gave no argv (exit {dry.returncode}: {dry.stderr.strip()[:200]}); "
                  f"using {vendor_argv}", file=sys.stderr)
        direct_argv = [str(fake), *vendor_argv[1:]]

        check = subprocess.run(prompt_argv, env=env, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL)
        try:
            answer = json.loads(check.stdout)
            ok = check.returncode == 0 and answer.get("status") == "ok" and answer.get("text")
        except ValueError:
            ok = False
        if not ok:
            print(f"clinvk prompt does not work yet: exit {check.returncode}\n"
                  f"stdout: {check.stdout[:500]}\nstderr: {check.stderr[:1000]}")
            return 0
        print(f"check: clinvk prompt -o json -> status {answer['status']}, session {answer['id']}, "
              f"text {answer['text'][:40]!r}")

        cases = [
            Case("baseline", [py, "-m", "minapp", "hello"], env, args.runs),
            Case("direct", direct_argv, env, args.runs),
            Case("prompt-json", prompt_argv, env, args.runs),
        ]
        if args.baseline is not None:
            env_b = base_env([write_minapp(cache / "baseline"), args.baseline.resolve()],
                             homes[1])
            for key in ("PATH", "FAKE_SAMPLE", "FAKE_MODE"):
                env_b[key] = env[key]
            cases.append(Case("prompt-json-before", prompt_argv, env_b, args.runs))
        launcher = Launcher(py, scratch)
        try:
            run_cases(cases, args.warmup, launcher, log=lambda *a, **k: print(*a, file=sys.stderr))
        finally:
            launcher.close()
        print_table(cases, "per-turn cost: clinvk prompt over an instant fake claude vs the fake "
                           "run directly")
        by = {c.name: c for c in cases}
        diff = by["prompt-json"].median_ms - by["direct"].median_ms
        base = by["baseline"].median_ms
        verdict = "PASS" if diff <= 1.8 * base else "FAIL"
        print(f"overhead: median(prompt-json) - median(direct) = {diff:.1f} ms = "
              f"{diff / base:.2f}x median(minimal cyclopts app) {base:.1f} ms; "
              f"target <= 1.8x -> {verdict}")
        cpu_diff = by["prompt-json"].cpu_median_ms - by["direct"].cpu_median_ms
        print(f"  (in CPU time, less swayed by other load: {cpu_diff:.1f} ms = "
              f"{cpu_diff / by['baseline'].cpu_median_ms:.2f}x the minimal app's "
              f"{by['baseline'].cpu_median_ms:.1f} ms)")
        if args.baseline is not None:
            before = by["prompt-json-before"]
            diff_b = before.median_ms - by["direct"].median_ms
            cpu_b = before.cpu_median_ms - by["direct"].cpu_median_ms
            print(f"baseline {args.baseline}: overhead {diff_b:.1f} ms = {diff_b / base:.2f}x "
                  f"(CPU {cpu_b:.1f} ms = {cpu_b / by['baseline'].cpu_median_ms:.2f}x); "
                  f"this tree {diff - diff_b:+.1f} ms wall, {cpu_diff - cpu_b:+.1f} ms CPU")
        if args.no_stream:
            print(machine_info())
            return 0

        # ------------------------------------------------------------------ streaming
        env_s = dict(env)
        env_s["FAKE_MODE"] = "stream"
        env_s["FAKE_DELTAS"] = "5"
        env_s["FAKE_GAP"] = str(args.gap)
        env_now = dict(env_s)
        env_now["FAKE_FIRST_GAP"] = "0"
        text_argv = [*clinvk, "prompt", "-b", "claude", "-o", "text", "-w", str(work), "-"]
        sj_argv = [*clinvk, "prompt", "-b", "claude", "-o", "stream-json", "-w", str(work), "-"]
        rows = [
            stream_figures("fake read directly", direct_argv, env_s, str(work),
                           args.stream_runs, 5),
            stream_figures(f"clinvk -o text (deltas {args.gap:g}s apart)", text_argv, env_s,
                           str(work), args.stream_runs, 5),
            stream_figures(f"clinvk -o stream-json (deltas {args.gap:g}s apart)", sj_argv,
                           env_s, str(work), args.stream_runs, 5),
            stream_figures("clinvk -o text (first delta right after init)", text_argv,
                           env_now, str(work), args.stream_runs, 5),
        ]
        for r in rows[1:]:
            r["target"] = True
        print_stream_table(rows, 20)
        print(machine_info())
    return 0


if __name__ == "__main__":
    run_script(main, "bench_turn")
