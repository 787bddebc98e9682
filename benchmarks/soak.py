"""Soak test of ``serkit serve`` under mixed valid and hostile traffic (issue 13).

Starts ``serkit serve`` (shipped model unless ``--model``) on a free loopback port,
then runs ``--concurrency`` client threads for ``--seconds``. Each request is drawn
(seeded) from a mix: 60 % valid predictions of the example clips, the rest hostile:
random bytes, an empty body, a wrong Content-Type, a declared Content-Length over
the limit, a decoded-size bomb, a truncated WAV, a bad API key, malformed HTTP,
a client that stops mid-body, and health/model GETs. Reports status counts, the
number of 5xx, latency percentiles of the valid predictions and of all requests,
and the server's RSS after warm-up and at the end. Not part of CI.

Usage::

    python benchmarks/soak.py [--seconds 600] [--concurrency 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from _procmem import rss_mb

REPO = Path(__file__).resolve().parents[1]
KEY = "soak-key"


def hostile_payloads() -> dict[str, bytes]:
    """The hostile bodies, built once."""
    rng = np.random.default_rng(0)
    bomb = io.BytesIO()
    with sf.SoundFile(bomb, "w", 655350, 8, "PCM_16", format="FLAC") as handle:
        handle.write(np.full((655350, 8), 0.25, "f4"))
    wav = io.BytesIO()
    sf.write(wav, 0.3 * rng.standard_normal(32000), 16000, format="WAV")
    return {
        "random": rng.bytes(20000),
        "bomb": bomb.getvalue(),
        "truncated": wav.getvalue()[:9000],
    }


class Client:
    """One keep-alive connection that reconnects after errors."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None, headers: dict) -> int:
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return response.status
            except (http.client.HTTPException, OSError):
                self.close()
        return -1

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def raw_exchange(port: int, data: bytes, wait: float) -> int:
    """Send raw bytes, read the reply (or the close); status, 0 for no reply, -1 refused."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        sock.settimeout(wait)
        try:
            reply = sock.recv(4096)
        except TimeoutError:
            return 0
        except ConnectionResetError:
            return 0
    try:
        return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    except (IndexError, ValueError):
        return 0


def worker(port: int, seed: int, stop: float, clips: list[bytes], hostile: dict, out: dict):
    """Send a seeded mix of requests until ``stop``; record statuses and latencies."""
    rng = random.Random(seed)
    client = Client(port)
    auth = {"X-API-Key": KEY}
    while time.monotonic() < stop:
        roll = rng.random()
        start = time.perf_counter()
        kind = "valid"
        if roll < 0.60:
            body = rng.choice(clips)
            status = client.request(
                "POST", "/v1/predict", body, {**auth, "Content-Type": "audio/flac"}
            )
        else:
            kind = rng.choice(
                ["random", "empty", "type", "huge", "bomb", "truncated", "badkey",
                 "malformed", "stalled", "health", "models"]
            )  # fmt: skip
            if kind in ("random", "bomb", "truncated"):
                status = client.request(
                    "POST", "/v1/predict", hostile[kind], {**auth, "Content-Type": "audio/wav"}
                )
            elif kind == "empty":
                status = client.request("POST", "/v1/predict", b"", auth)
            elif kind == "type":
                status = client.request(
                    "POST", "/v1/predict", b"{}", {**auth, "Content-Type": "application/json"}
                )
            elif kind == "huge":
                status = raw_exchange(
                    port,
                    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nX-API-Key: soak-key\r\n"
                    b"Content-Length: 999999999999\r\n\r\n",
                    30,
                )
            elif kind == "badkey":
                status = client.request(
                    "POST", "/v1/predict", clips[0], {"X-API-Key": "wrong"}
                )
            elif kind == "malformed":
                status = raw_exchange(port, b"\x16\x03\x01 not http\r\n\r\n", 30)
            elif kind == "stalled":  # headers and part of a body, then nothing
                status = raw_exchange(
                    port,
                    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nX-API-Key: soak-key\r\n"
                    b"Content-Length: 1000000\r\n\r\n" + b"\0" * 20000,
                    0.5,
                )
            elif kind == "health":
                status = client.request("GET", "/healthz", None, {})
            else:
                status = client.request("GET", "/v1/models", None, auth)
        elapsed = time.perf_counter() - start
        with out["lock"]:
            out["status"][f"{kind} {status}"] += 1
            out["latency"]["all"].append(elapsed)
            if kind == "valid":
                out["latency"]["valid"].append(elapsed)
    client.close()


def percentiles(values: list[float]) -> dict:
    """p50/p90/p99/max in ms."""
    if not values:
        return {}
    arr = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 90, 99)} | {
        "max": round(float(arr.max()), 1)
    }


def main() -> None:
    """Serve, warm up, soak, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "serkit", "serve", "--port", str(port), "-q", "--api-key", KEY]
    if args.model:
        cmd += ["--model", args.model]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                if raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2) == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        clips = [p.read_bytes() for p in sorted((REPO / "examples").glob("*.flac"))]
        hostile = hostile_payloads()
        warm = {"lock": threading.Lock(), "status": Counter(), "latency": {"all": [], "valid": []}}
        worker(port, 999, time.monotonic() + 20, clips, hostile, warm)  # warm-up
        rss_start = rss_mb(server.pid)
        out = {"lock": threading.Lock(), "status": Counter(), "latency": {"all": [], "valid": []}}
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=worker, args=(port, i, stop, clips, hostile, out))
            for i in range(args.concurrency)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss_end = rss_mb(server.pid)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    statuses = dict(sorted(out["status"].items()))
    n_5xx = sum(n for k, n in statuses.items() if k.split()[-1].startswith("5"))
    report = {
        "seconds": round(wall, 1),
        "concurrency": args.concurrency,
        "requests": sum(statuses.values()),
        "server_errors_5xx": n_5xx,
        "client_failures": sum(n for k, n in statuses.items() if k.endswith(" -1")),
        "statuses": statuses,
        "latency_valid_ms": percentiles(out["latency"]["valid"]),
        "latency_all_ms": percentiles(out["latency"]["all"]),
        "rss_after_warmup_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
        "server_tracebacks": err.decode(errors="replace").count("Traceback"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_at_end": os.getloadavg(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
