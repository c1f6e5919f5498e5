"""Load test of the web service on loopback: 5xx count and latency percentiles.

Starts uvicorn in this process on 127.0.0.1 at a random free port, then sends
``--requests`` requests (half ``POST /api/dose``, half ``POST /api/simulate`` of a
small scenario) from ``--concurrency`` concurrent clients (httpx.AsyncClient).
Nothing leaves the machine. Exit status 1 if any answer was a 5xx or not 200.

    python bench/web_load.py                 # 10,000 requests at concurrency 16
    python bench/web_load.py --quick         # 200 requests: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

from mscsim.web.app import create_app

DOSE = {"route": "intravenous", "weight_kg": 65, "cells_per_kg": 1e6}
SCENARIO = {
    "patient": {"weight_kg": 70},
    "product": {"source": "bone_marrow", "donor": "autologous"},
    "dose": [{"route": "intramuscular", "cells": 5e7}],
    "simulation": {"horizon_days": 28},
}
"""A small scenario: one intramuscular dose, 29 daily outputs."""


def start_server(data_dir: Path) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Start uvicorn on 127.0.0.1 at a free port in a thread; return it and the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(create_app(data_dir), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > end:
            raise SystemExit("the server did not start within 30 s")
        time.sleep(0.05)
    return server, thread, port


async def load(port: int, n: int, concurrency: int) -> dict[str, dict[str, Any]]:
    """Send ``n`` requests, alternating dose and simulate; return latencies and statuses."""
    plan = [("dose", "/api/dose", DOSE), ("simulate", "/api/simulate", SCENARIO)]
    seen: dict[str, dict[str, Any]] = {name: {"ms": [], "status": {}} for name, _, _ in plan}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                name, path, body = plan[i % 2]
                start = time.perf_counter()
                try:
                    status = (await client.post(path, json=body)).status_code
                except httpx.HTTPError as err:
                    status = type(err).__name__
                seen[name]["ms"].append(1000 * (time.perf_counter() - start))
                seen[name]["status"][status] = seen[name]["status"].get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="200 requests (a smoke run)")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.requests
    with tempfile.TemporaryDirectory(prefix="mscsim-load-") as data:
        server, thread, port = start_server(Path(data))
        try:
            start = time.perf_counter()
            seen = asyncio.run(load(port, n, args.concurrency))
            wall = time.perf_counter() - start
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    print(
        f"{n:,} requests at concurrency {args.concurrency} on 127.0.0.1 in {wall:.1f} s "
        f"({n / wall:.0f} requests/s)"
    )
    print(
        f"{'endpoint':<14} {'n':>6} {'5xx':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses"
    )
    bad = 0
    for name, found in seen.items():
        ms = np.array(found["ms"])
        errors = sum(c for s, c in found["status"].items() if not isinstance(s, int) or s >= 500)
        bad += sum(c for s, c in found["status"].items() if s != 200)
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        print(
            f"/api/{name:<9} {ms.size:>6} {errors:>5} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}  "
            f"{found['status']}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
