"""`clinvk serve` under load: many `GET /v1/sessions?limit=20` at once; print figures.

    python benchmarks/bench_serve.py [--sessions 100000] [--requests 2000] [--concurrency 16]

Starts a real `clinvk serve` on 127.0.0.1 (a free port, a token of its own) over a store
made or reused by benchmarks/gen_store.py, waits for /healthz, then sends --requests GETs
with at most --concurrency in flight (over keep-alive connections, by a stdlib
client light enough that the figures are the server's; --httpx for an httpx client),
and prints the latency p50/p90/p99/max and
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load_raw(port: int, token: str, requests: int, concurrency: int
                   ) -> tuple[list[float], list[str]]:
    """--concurrency keep-alive HTTP/1.1 connections, each sending its share of the
    requests one after another: a client light enough (stdlib asyncio streams) that the
    figures are the server's, not the client's."""
    import json

    latencies: list[float] = []
    errors: list[str] = []
    request = (f"GET /v1/sessions?limit=20 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()
    left = [requests]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                began = time.perf_counter()
                try:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    length = next(int(line.split(":", 1)[1]) for line in lines
                                  if line.lower().startswith("content-length:"))
                    body = await reader.readexactly(length)
                    if lines[0].split()[1] != "200" or len(json.loads(body)["items"]) != 20:
                        errors.append(lines[0])
                except Exception as exc:  # noqa: BLE001 - a failed request is a figure
                    errors.append(type(exc).__name__)
                    return
                finally:
                    latencies.append(time.perf_counter() - began)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, errors


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
    parser.add_argument("--httpx", action="store_true",
                        help="load with an httpx AsyncClient instead (its own CPU dominates)")
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
        server_cpu = cpu_seconds(server.pid)
        client_cpu = time.process_time()
        if args.httpx:
            latencies, errors = asyncio.run(load(base, token, args.requests, args.concurrency))
        else:
            latencies, errors = asyncio.run(load_raw(port, token, args.requests,
                                                     args.concurrency))
        wall = time.perf_counter() - began
        server_cpu = cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
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
    print(f"cpu per request: server {server_cpu / args.requests * 1000:.2f} ms, "
          f"client ({'httpx' if args.httpx else 'asyncio streams'}) {client_cpu / args.requests * 1000:.2f} ms")
    print(f"errors: {len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
