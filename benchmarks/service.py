"""Throughput and latency of ``serkit serve`` under concurrent load.

Starts ``serkit serve`` in a subprocess on a free loopback port, waits for
``/healthz``, sends ``--requests`` POST ``/v1/predict`` requests (raw body, one
clip) from ``--concurrency`` client threads with keep-alive connections, then
stops the server. Reports errors, predictions per second and latency
percentiles, and checks them against the targets (zero errors, >= 50
predictions/s, p99 <= 250 ms at concurrency 8 on 2 cores).

Usage::

    serkit train ../shared/data/ravdess-speech-16k --features stats --model mlp --out /tmp/svc-model
    python benchmarks/service.py --model /tmp/svc-model [--requests 2000] [--concurrency 8]
        [--workers 1] [--clip examples/03-01-05-02-01-01-23.flac] [--json out.json]

Everything is bounded: at most ``--requests`` requests, each with a timeout,
and an overall ``--deadline`` after which the clients stop.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CLIP = REPO / "examples" / "03-01-05-02-01-01-23.flac"
TARGETS = {"errors": 0, "throughput": 50.0, "p99_ms": 250.0}


def machine() -> str:
    """CPU model and usable cores of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, Python {platform.python_version()}"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``/healthz`` until it answers 200; raise if the server dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serkit serve exited with code {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"serkit serve did not become healthy within {timeout:.0f} s")


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and all its descendants (Linux /proc)."""
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    text = (entry / "stat").read_text()
                except OSError:
                    continue
                fields = text.rsplit(")", 1)[1].split()
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        tree, frontier = {pid}, [pid]
        while frontier:
            parent = frontier.pop()
            for child, (ppid, _) in stats.items():
                if ppid == parent and child not in tree:
                    tree.add(child)
                    frontier.append(child)
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(stats[p][1] for p in tree if p in stats) / ticks
    except (OSError, ValueError, IndexError):
        return None


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def load(
    port: int,
    body: bytes,
    content_type: str,
    *,
    requests: int,
    concurrency: int,
    timeout: float,
    deadline: float,
) -> dict[str, Any]:
    """Send ``requests`` predictions from ``concurrency`` threads; collect latencies/errors."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    emotions: dict[str, int] = {}
    stop_at = time.monotonic() + deadline
    headers = {"Content-Type": content_type, "Connection": "keep-alive"}

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            with lock:
                index = next(counter)
            if index >= requests or time.monotonic() > stop_at:
                break
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                conn.request("POST", "/v1/predict", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
                emotion = json.loads(payload)["emotion"]
                with lock:
                    latencies.append(elapsed)
                    emotions[emotion] = emotions.get(emotion, 0) + 1
            except Exception as exc:  # every failure is counted, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(deadline + timeout + 5)
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:5],
        "wall_s": round(wall, 3),
        "throughput": round(len(latencies) / wall, 1) if wall > 0 else 0.0,
        "latency_ms": {
            "mean": round(1000 * sum(ordered) / len(ordered), 1) if ordered else None,
            "p50": round(1000 * percentile(ordered, 50), 1),
            "p90": round(1000 * percentile(ordered, 90), 1),
            "p99": round(1000 * percentile(ordered, 99), 1),
            "max": round(1000 * ordered[-1], 1) if ordered else None,
        },
        "emotions": emotions,
    }


def stop(process: subprocess.Popen) -> None:
    """Ask the server to shut down, then make sure it is gone."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="bundle folder the server loads")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP), help="audio file sent every time")
    parser.add_argument("--requests", type=int, default=2000, help="requests to send (2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (8)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (1)")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted first requests (20)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--deadline", type=float, default=900.0, help="whole load phase, s")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="server start, s")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    clip = Path(args.clip)
    body = clip.read_bytes()
    suffix = clip.suffix.lower().lstrip(".")
    content_type = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg",
                    "mp3": "audio/mpeg"}.get(suffix, "application/octet-stream")  # fmt: skip
    import soundfile as sf

    clip_seconds = sf.info(str(clip)).duration
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERKIT_")}
    command = [
        sys.executable, "-m", "serkit", "serve", "--model", args.model, "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(args.workers), "-q",
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            wait_healthy(port, process, args.startup_timeout)
            startup = time.perf_counter() - started
            if args.warmup:
                load(port, body, content_type, requests=args.warmup, concurrency=1,
                     timeout=args.timeout, deadline=args.deadline)  # fmt: skip
            cpu_before = tree_cpu_seconds(process.pid)
            client_before = time.process_time()
            result = load(
                port,
                body,
                content_type,
                requests=args.requests,
                concurrency=args.concurrency,
                timeout=args.timeout,
                deadline=args.deadline,
            )
            cpu_after = tree_cpu_seconds(process.pid)
            client_cpu = time.process_time() - client_before
        except RuntimeError as exc:
            log.seek(0)
            print(f"error: {exc}\n--- server log ---\n{log.read()[-4000:]}", file=sys.stderr)
            return 1
        finally:
            stop(process)

    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "model": str(args.model),
        "clip": f"{clip.name} ({clip_seconds:.2f} s)",
        "server_workers": args.workers,
        "concurrency": args.concurrency,
        "startup_s": round(startup, 1),
        **result,
    }
    if cpu_before is not None and cpu_after is not None and result["ok"]:
        per = 1000 * (cpu_after - cpu_before) / result["ok"]
        report["server_cpu_ms_per_prediction"] = round(per, 1)
        report["client_cpu_ms_per_request"] = round(1000 * client_cpu / result["requests"], 1)
        try:
            load_avg = os.getloadavg()
            report["load_average_after"] = [round(x, 2) for x in load_avg]
        except OSError:
            pass
    checks = {
        "errors": report["errors"] == TARGETS["errors"] and report["ok"] == args.requests,
        "throughput": report["throughput"] >= TARGETS["throughput"],
        "p99_ms": report["latency_ms"]["p99"] <= TARGETS["p99_ms"],
    }
    report["targets_met"] = checks
    lat = report["latency_ms"]
    print(f"machine      {report['machine']}")
    print(f"server       serkit serve --workers {args.workers}, model {args.model}")
    print(f"load         {args.requests} x POST /v1/predict of {report['clip']}, "
          f"concurrency {args.concurrency}")  # fmt: skip
    example = f"  e.g. {report['error_examples'][0]}" if report["error_examples"] else ""
    print(f"errors       {report['errors']} of {report['requests']}{example}")
    print(f"throughput   {report['throughput']} predictions/s ({report['wall_s']} s)")
    print(f"latency ms   p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    if "server_cpu_ms_per_prediction" in report:
        per, client = report["server_cpu_ms_per_prediction"], report["client_cpu_ms_per_request"]
        print(f"server CPU   {per} ms per prediction (client {client} ms per request); "
              f"load average after {report.get('load_average_after')}")  # fmt: skip
    print("targets      " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(checks.values()) else 3


if __name__ == "__main__":
    sys.exit(main())
