"""`clinvk serve` under load: many `GET /v1/sessions?limit=20` at once; print figures.

    python benchmarks/bench_serve.py [--sessions 100000] [--requests 2000] [--concurrency 16]

Starts a real `clinvk serve` on 127.0.0.1 (a free port, a token of its own) over a store
made or reused by benchmarks/gen_store.py, waits for /healthz, then sends --requests GETs
with at most --concurrency in flight (httpx), and prints the latency p50/p90/p99/max and
the errors. Target: p99 ≤ 100 ms, 0 errors. Loopback only; the loop is bounded by the
request count. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(base: str, token: str, requests: int, concurrency: int
               ) -> tuple[list[float], list[str]]:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        async def one() -> None:
            async with gate:
                began = time.perf_counter()
                try:
                    r = await client.get("/v1/sessions", params={"limit": 20})
                    if r.status_code != 200 or len(r.json()["items"]) != 20:
                        errors.append(f"HTTP {r.status_code}")
                except Exception as exc:  # noqa: BLE001 - a failed request is a figure
                    errors.append(type(exc).__name__)
                latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(one() for _ in range(requests)))
    return latencies, errors


def main() -> int:
    from bench_core import base_env, bench_dir
    from gen_store import ensure_store

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", type=Path, default=None)
    args = parser.parse_args()
    home = args.store or bench_dir() / f"serve-{args.sessions}"
    ensure_store(home, args.sessions)
    env = base_env([REPO], home)
    token = secrets.token_urlsafe(24)
    env["CLINVK_SERVER_TOKEN"] = token
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "clinvk", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("serve did not come up", file=sys.stderr)
                return 0
            time.sleep(0.2)
        # One warm-up request (the catalog is checked once).
        asyncio.run(load(base, token, 1, 1))
        began = time.perf_counter()
        latencies, errors = asyncio.run(load(base, token, args.requests, args.concurrency))
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=10)
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(f"python {sys.version.split()[0]}; cpus {os.cpu_count()}; store {args.sessions} sessions")
    print(f"{args.requests} x GET /v1/sessions?limit=20 at concurrency {args.concurrency}: "
          f"{wall:.1f} s, {args.requests / wall:.1f} req/s")
    print(f"latency ms: p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}  max {ms[-1]:.0f}  "
          f"(target p99 <= 100 ms)")
    print(f"errors: {len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
