"""Load on ``genzoo serve``: concurrent clients sending mixed requests to tiny runs.

Trains three tiny runs (made and vae on digits, a character LSTM on the built-in text)
into a temporary folder, or serves the runs given with ``--runs`` (the first must be
able to sample and complete images, the second to walk a latent space, the third to
generate text); starts ``genzoo serve`` on 127.0.0.1 (loopback only) and a free port;
then ``--clients`` threads each send ``--requests`` requests in turn, cycling through the
kinds below (each waits for its result); finally stops the server with SIGTERM and
checks that it exits with code 0.

Prints per kind: requests, errors (any answer other than 200, or no answer within
``--timeout`` s), median and 95th-percentile latency; and overall throughput.

    python benchmarks/serve_load.py [--clients 20] [--requests 25] [--threads 1] [--runs R1 R2 R3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"  # loopback only, whatever else is configured
MASK = ["00000000"] * 4 + ["11111111"] * 4


def kinds() -> list[tuple[str, str, dict | None]]:
    """(name, path, JSON body or None for GET) of the mixed requests."""
    return [
        ("list runs", "/api/runs", None),
        ("sample 16 images", "/api/runs/0/sample", {"n": 16, "wait": True}),
        ("complete 2x", "/api/runs/0/complete", {"mask": MASK, "k": 2, "example": 3, "wait": True}),
        ("interpolate 9", "/api/runs/1/interpolate", {"a": 0, "b": 1, "steps": 9, "wait": True}),
        ("text 64 tokens", "/api/runs/2/generate", {"prompt": "The ", "length": 64, "wait": True}),
        ("dynamics 200", "/api/dynamics?steps=200&eta=0.1", None),
        ("test images 12", "/api/runs/0/examples?count=12", None),
        ("metrics", "/api/runs/1/metrics", None),
    ]


def train_runs(root: Path) -> list[Path]:
    from genzoo.cli.main import main

    jobs = {"made": ["made", "--steps", "40", "--set", "hidden=64,64"],
            "vae": ["vae", "--steps", "40", "--set", "latent_dim=2", "--set", "arch=mlp", "--set", "hidden=64"],
            "lstm": ["lstm", "--data", "text", "--set", "data.corpus=pydoc", "--set", "data.block_size=32", "--set", "hidden=64", "--set", "layers=1",
                     "--steps", "40"]}
    for name, args in jobs.items():
        if main(["train", *args, "--run-dir", str(root / name), "--no-progress"]) != 0:
            raise SystemExit(f"training the tiny {name} run failed")
    return [root / n for n in jobs]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None, timeout: float) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def client(base: str, index: int, n: int, timeout: float, out: list) -> None:
    ks = kinds()
    for i in range(n):
        name, path, body = ks[(index + i) % len(ks)]
        t0 = time.perf_counter()
        try:
            code = request(base + path, body, timeout)
        except Exception as e:  # no answer (timeout, refused): an error
            code = f"{type(e).__name__}"
        out.append((name, code, time.perf_counter() - t0))


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a request may take")
    ap.add_argument("--runs", nargs=3, metavar="RUN", help="image run, latent run, text run (default: train tiny ones)")
    args = ap.parse_args()
    if not (1 <= args.clients <= 100 and 1 <= args.requests <= 1000):
        raise SystemExit("--clients must be in [1, 100] and --requests in [1, 1000]")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [Path(r) for r in args.runs] if args.runs else train_runs(Path(tmp))
        port = free_port()
        log = Path(tmp) / "server.log"
        with open(log, "w") as f:
            proc = subprocess.Popen([sys.executable, "-m", "genzoo", "serve", *map(str, runs), "--host", HOST,
                                     "--port", str(port), "--threads", str(args.threads)], stdout=f,
                                    stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/api/runs", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise SystemExit("the server did not start:\n" + log.read_text()) from None
                time.sleep(0.2)
        results: list = []
        threads = [threading.Thread(target=client, args=(base, i, args.requests, args.timeout, results))
                   for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "killed after 30 s"
    print(f"genzoo serve under load: {args.clients} clients x {args.requests} requests on {HOST}, "
          f"server torch threads {args.threads}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print()
    print("| request | count | errors | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, _, _ in kinds():
        rs = [r for r in results if r[0] == name]
        lat = [r[2] * 1000 for r in rs]
        errs = sum(1 for r in rs if r[1] != 200)
        print(f"| {name} | {len(rs)} | {errs} | {statistics.median(lat):.0f} | {pct(lat, 0.95):.0f} |")
    lat = [r[2] * 1000 for r in results]
    errors = sum(1 for r in results if r[1] != 200)
    print(f"| **all** | {len(results)} | {errors} | {statistics.median(lat):.0f} | {pct(lat, 0.95):.0f} |")
    print()
    print(f"{len(results)} requests in {wall:.1f} s: {len(results) / wall:.1f} requests/s; errors {errors}; "
          f"server exit code after SIGTERM: {code}")
    bad = sorted({str(r[1]) for r in results if r[1] != 200})
    if bad:
        print("error answers:", ", ".join(bad))
    return 0 if errors == 0 and code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
