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

    python benchmarks/soak.py [--seconds 600] [--warmup 60] [--concurrency 8]
        [--inference-threads N] [--json out.json] [--write]

The warm-up (same traffic, other seeds) is excluded from latencies and from RSS
growth (after warm-up -> end; RSS is also sampled every 10 s). Latencies are given
for the valid predictions, for every answered request (all but ``stalled``, whose
0.5 s wait is the client's own) and per kind. ``--write`` adds the row to the soak
table of benchmarks/RESULTS.md.
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
import tempfile
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
                status = client.request("POST", "/v1/predict", clips[0], {"X-API-Key": "wrong"})
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
            out["latency"].setdefault(kind, []).append(elapsed)
            if kind != "stalled":  # its 0.5 s wait is the client's, not the server's
                out["latency"]["answered"].append(elapsed)
    client.close()


def percentiles(values: list[float]) -> dict:
    """p50/p90/p99/max in ms, and the count."""
    if not values:
        return {}
    arr = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 1) for q in (50, 90, 99)} | {
        "max": round(float(arr.max()), 1),
        "n": len(values),
    }


def traffic(port: int, seeds: range, seconds: float, clips: list[bytes], hostile: dict) -> dict:
    """``len(seeds)`` client threads for ``seconds``; their statuses and latencies."""
    out = {"lock": threading.Lock(), "status": Counter(),
           "latency": {"all": [], "answered": []}}  # fmt: skip
    stop = time.monotonic() + seconds
    threads = [
        threading.Thread(target=worker, args=(port, seed, stop, clips, hostile, out))
        for seed in seeds
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def sample_rss(pid: int, every: float, samples: list, done: threading.Event) -> None:
    """Append ``(seconds, RSS MB)`` of ``pid`` every ``every`` seconds until ``done``."""
    t0 = time.monotonic()
    while not done.wait(every):
        samples.append((round(time.monotonic() - t0, 1), round(rss_mb(pid), 1)))


def results_row(report: dict) -> str:
    """The report as a row of the soak table in benchmarks/RESULTS.md."""
    lat, ans = report["latency_valid_ms"], report["latency_answered_ms"]
    return (
        f"| {report['date']} | {report['seconds'] / 60:.1f} min, c={report['concurrency']}, "
        f"{report['inference_threads']} | {report['requests']} | "
        f"**{report['server_errors_5xx']}** | {report['client_failures']} | "
        f"{lat.get('p50')} / {lat.get('p90')} / **{lat.get('p99')}** ms | {ans.get('p99')} ms | "
        f"{report['rss_after_warmup_mb']} -> {report['rss_end_mb']} MB "
        f"(**{report['rss_growth_pct']:+.1f} %**) | {report['server_tracebacks']} | "
        f"{' '.join(f'{x:.1f}' for x in report['load_before'])} / "
        f"{' '.join(f'{x:.1f}' for x in report['load_at_end'])} |"
    )


def write_row(results: Path, row: str) -> None:
    """Put ``row`` last in the soak table (before its ``<!-- soak:rows -->`` marker)."""
    text = results.read_text()
    marker = "<!-- soak:rows -->"
    if marker not in text:
        raise SystemExit(f"{results} has no {marker} marker under the soak table")
    results.write_text(text.replace(marker, row + "\n" + marker, 1))


def main() -> None:
    """Serve, warm up, soak, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds of the same traffic first, not counted")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--inference-threads", type=int, default=None,
                        help="passed to serkit serve (its default: one per CPU)")  # fmt: skip
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true",
                        help="add the row to the soak table of benchmarks/RESULTS.md")  # fmt: skip
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "serkit", "serve", "--port", str(port), "-q", "--api-key", KEY]
    if args.model:
        cmd += ["--model", args.model]
    if args.inference_threads is not None:
        cmd += ["--inference-threads", str(args.inference_threads)]
    load_before = os.getloadavg()
    # the server's log goes to a file: a pipe nobody reads would block it once full
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        samples: list = []
        done = threading.Event()
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
            seeds = range(args.concurrency)
            rss_idle = rss_mb(server.pid)
            # warm-up: the same mix at the same concurrency (other seeds), not counted
            warm = traffic(port, range(1000, 1000 + args.concurrency), args.warmup, clips, hostile)
            rss_start = rss_mb(server.pid)
            sampler = threading.Thread(target=sample_rss, args=(server.pid, 10.0, samples, done))
            sampler.start()
            t0 = time.perf_counter()
            out = traffic(port, seeds, args.seconds, clips, hostile)
            wall = time.perf_counter() - t0
            rss_end = rss_mb(server.pid)
        finally:
            done.set()
            server.terminate()
            server.wait(timeout=60)
            log.seek(0)
            err = log.read()
    statuses = dict(sorted(out["status"].items()))
    n_5xx = sum(n for k, n in statuses.items() if k.split()[-1].startswith("5"))
    kinds = sorted(k for k in out["latency"] if k not in ("all", "answered"))
    report = {
        "command": " ".join(["python", "benchmarks/soak.py", *sys.argv[1:]]),
        "seconds": round(wall, 1),
        "warmup_seconds": args.warmup,
        "concurrency": args.concurrency,
        "inference_threads": args.inference_threads or "default",
        "requests": sum(statuses.values()),
        "warmup_requests": sum(warm["status"].values()),
        "server_errors_5xx": n_5xx,
        "client_failures": sum(n for k, n in statuses.items() if k.endswith(" -1")),
        "statuses": statuses,
        "latency_valid_ms": percentiles(out["latency"].get("valid", [])),
        "latency_answered_ms": percentiles(out["latency"]["answered"]),
        "latency_all_ms": percentiles(out["latency"]["all"]),
        "latency_by_kind_ms": {k: percentiles(out["latency"][k]) for k in kinds},
        "rss_idle_mb": round(rss_idle, 1),
        "rss_after_warmup_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
        "rss_every_10s_mb": samples,
        "server_tracebacks": err.decode(errors="replace").count("Traceback"),
        "server_log_tail": err.decode(errors="replace")[-1000:],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": load_before,
        "load_at_end": os.getloadavg(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    print(results_row(report))
    if args.json:
        args.json.write_text(text + "\n")
    if args.write:
        write_row(REPO / "benchmarks" / "RESULTS.md", results_row(report))


if __name__ == "__main__":
    main()
