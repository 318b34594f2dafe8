"""What recording tool calls costs: memory and time of a 200-call turn; print figures.

    python benchmarks/bench_tools.py [--runs 11] [--calls 200] [--output-mb 2]
                                     [--baseline OTHER_CHECKOUT]

A fake ``claude`` goes first on PATH (a ``python -S`` script, as in bench_turn) and
replays a generated ``stream-json`` turn: ``--calls`` tool calls (Read, Bash, Edit,
Write, Grep in turn, each with chatter before it), whose results add up to
``--output-mb`` MB of tool output, then the answer and the result line.

1. Recording: ``clinvk prompt -b claude -o json`` of that turn; wall time and the peak
   RSS of the clinvk process (its own rusage from wait4). Target: peak RSS ≤ 80 MB.
2. ``sessions show ID`` of the recorded 200-call session against ``sessions show`` of a
   one-turn session without tools. Target: median ≤ 1.2 × the one-turn session's.
3. bench_turn's case (``prompt -o json`` of a one-message turn with no tools) on this
   tree, and with ``--baseline`` on another checkout of clinvk (e.g. one from before
   tool calls were recorded), run alternately. Target: ≤ 5 % more per turn.

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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "tests" / "fixtures" / "vendor" / "claude-stream-new.jsonl"
SID = "812a5f73-0013-4e7c-b123-31a5133d2aa6"

FAKE = r'''
import os, sys
if sys.argv[1:] == ["--version"]:
    print("2.1.330 (Claude Code)")
    sys.exit(0)
sys.stdin.buffer.read()
with open(os.environ["FAKE_SAMPLE"], "rb") as f:
    data = f.read()
while data:
    data = data[os.write(1, data):]
'''


def generate(path: Path, workdir: str, calls: int, output_bytes: int) -> None:
    """A claude stream-json turn with ``calls`` tool calls and ``output_bytes`` of output."""
    per_call = output_bytes // calls
    tools = [
        ("Read", lambda i: {"file_path": f"{workdir}/src/module_{i}.py"}),
        ("Bash", lambda i: {"command": f"pytest tests/test_{i}.py -q", "description": "run"}),
        ("Edit", lambda i: {"file_path": f"{workdir}/src/module_{i}.py",
                            "old_string": "x = 1\n" * 40, "new_string": "x = 2\n" * 40}),
        ("Write", lambda i: {"file_path": f"{workdir}/gen/out_{i}.txt",
                             "content": "generated line\n" * 1500}),  # 21 KB: cut to 8 KB
        ("Grep", lambda i: {"pattern": f"def fn_{i}", "path": f"{workdir}/src"}),
    ]
    lines = [{"type": "system", "subtype": "init", "session_id": SID, "cwd": workdir,
              "model": "claude-sonnet-4-5", "tools": [name for name, _ in tools]}]
    for i in range(calls):
        name, args = tools[i % len(tools)]
        ident = f"toolu_bench_{i:04d}"
        lines.append({"type": "assistant", "session_id": SID, "parent_tool_use_id": None,
                      "timestamp": "2026-11-30T01:00:00.000Z",
                      "message": {"id": f"msg_{i:04d}", "model": "claude-sonnet-4-5",
                                  "content": [{"type": "text", "text": f"Step {i}: {name}."},
                                              {"type": "tool_use", "id": ident, "name": name,
                                               "input": args(i)}]}})
        body = (f"line {i} of the tool output, " * (per_call // 30 + 1))[:per_call]
        error = name == "Bash" and i % 10 == 1
        lines.append({"type": "user", "session_id": SID, "parent_tool_use_id": None,
                      "timestamp": "2026-11-30T01:00:00.250Z",
                      "message": {"role": "user", "content": [
                          {"type": "tool_result", "tool_use_id": ident, "is_error": error,
                           "content": ("Exit code 1\n" if error else "") + body}]},
                      "tool_use_result": {"stdout": body, "stderr": ""}})
    answer = "All done."
    lines.append({"type": "assistant", "session_id": SID, "parent_tool_use_id": None,
                  "message": {"id": "msg_final", "model": "claude-sonnet-4-5",
                              "content": [{"type": "text", "text": answer}]}})
    lines.append({"type": "result", "subtype": "success", "is_error": False, "result": answer,
                  "session_id": SID, "num_turns": calls + 1, "total_cost_usd": 0.5,
                  "usage": {"input_tokens": 100_000, "output_tokens": 5_000}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def run_rss(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, int, bytes]:
    """Like run, with the peak RSS of this one process (wait4), stdout to a file."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"bench_tools: exited {proc.returncode}: "
                             f"{err.read().decode(errors='replace')[-500:]}")
        return elapsed, usage.ru_maxrss, out.read()


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--output-mb", type=float, default=2.0)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another clinvk checkout to time bench_turn's case against")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clinvk-bench-tools-") as tmp:
        root = Path(tmp)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "claude"
        fake.write_text(f"#!{sys.executable} -S\n{FAKE}")
        fake.chmod(0o755)
        workdir = root / "project"
        workdir.mkdir()
        stream = root / "tools.jsonl"
        generate(stream, str(workdir), args.calls, int(args.output_mb * 1024 * 1024))

        def env_for(repo: Path, home: Path, sample: Path) -> dict[str, str]:
            env = dict(os.environ)
            env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                       PYTHONPATH=str(repo), CLINVK_HOME=str(home), FAKE_SAMPLE=str(sample),
                       PYTHONDONTWRITEBYTECODE="")
            return env

        clinvk = [sys.executable, "-m", "clinvk"]
        home = root / "home"
        tools_env = env_for(REPO, home, stream)
        plain_env = env_for(REPO, home, SAMPLE)

        # 1. Recording the 200-call turn.
        times, peaks = [], []
        ident = ""
        for _ in range(max(3, args.runs // 2)):
            elapsed, peak, out = run_rss([*clinvk, "prompt", "-b", "claude", "-o", "json", "go"],
                                         tools_env, str(workdir))
            times.append(elapsed)
            peaks.append(peak)
            result = json.loads(out)
            ident = result["id"]
        calls = len(result["tool_calls"])
        size = (home / "sessions" / ident[:2] / f"{ident}.json").stat().st_size
        print(f"stream: {args.calls} tool calls, {stream.stat().st_size / 1e6:.1f} MB of "
              f"stream-json ({args.output_mb:g} MB of tool output)")
        print(f"1. record the turn: median {median_ms(times):.0f} ms; peak RSS of clinvk "
              f"max {max(peaks) / 1024:.1f} MB (target <= 80 MB); {calls} calls recorded, "
              f"session file {size / 1e6:.2f} MB")

        # 2. sessions show: the 200-call session against a one-turn session without tools.
        _, _, out = run_rss([*clinvk, "prompt", "-b", "claude", "-o", "json", "hi"], plain_env,
                            str(workdir))
        plain = json.loads(out)["id"]
        shows: dict[str, list[float]] = {ident: [], plain: []}
        rss: dict[str, int] = {ident: 0, plain: 0}
        for _ in range(args.runs):
            for which in (plain, ident):
                elapsed, peak, _ = run_rss([*clinvk, "sessions", "show", which], plain_env,
                                           str(workdir))
                shows[which].append(elapsed)
                rss[which] = max(rss[which], peak)
        ratio = median_ms(shows[ident]) / median_ms(shows[plain])
        print(f"2. sessions show: one-turn session median {median_ms(shows[plain]):.1f} ms, "
              f"{args.calls}-call session median {median_ms(shows[ident]):.1f} ms: "
              f"{ratio:.2f}x (target <= 1.2x); peak RSS {rss[plain] / 1024:.1f} / "
              f"{rss[ident] / 1024:.1f} MB")

        # 3. bench_turn's case: a turn without tools, this tree (and the baseline).
        repos = {"this tree": REPO}
        if args.baseline is not None:
            repos["baseline"] = args.baseline.resolve()
        turns: dict[str, list[float]] = {name: [] for name in repos}
        for _ in range(args.runs):
            for name, repo in repos.items():
                env = env_for(repo, root / f"home-{name.replace(' ', '-')}", SAMPLE)
                elapsed, _, _ = run_rss([*clinvk, "prompt", "-b", "claude", "-o", "json", "hi"],
                                        env, str(workdir))
                turns[name].append(elapsed)
        line = "3. bench_turn case (prompt -o json, no tools): " + ", ".join(
            f"{name} median {median_ms(values):.1f} ms" for name, values in turns.items())
        if "baseline" in turns:
            more = median_ms(turns["this tree"]) / median_ms(turns["baseline"]) - 1
            line += f": {more * 100:+.1f} % (target <= +5 %)"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
