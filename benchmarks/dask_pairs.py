"""Interleaved runs on all of RAVDESS: local `--jobs 2` against `--dask local:2`.

On a shared virtual machine one run of each (``benchmarks/distributed.py``) moves by +-10 %
from run to run. Here the modes alternate, ``--repeats`` times each, so slow and fast spells
fall on all of them, and the medians are compared. Modes:

- ``local --jobs 2``: the local process pool;
- ``--dask local:2``: serkit's own LocalCluster as shipped (no statistical profiler);
- ``--dask local:2, profiler on``: the same with ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=True``
  (Dask's default), what the LocalCluster ran before.

Whole command wall time (fresh process, cluster start and close included), no feature
cache. ``--workload predict`` (default model), ``stats`` or ``seed`` (``serkit features``).
Results go to ``benchmarks/dask_pairs.json``, one record per workload.

Usage::

    python benchmarks/dask_pairs.py --repeats 3
    python benchmarks/dask_pairs.py --repeats 5 --workload stats
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAVDESS = REPO.parent / "shared" / "data" / "ravdess-speech-16k"
STORE = REPO / "benchmarks" / "dask_pairs.json"
SERKIT = [sys.executable, "-m", "serkit"]
PROFILE = "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _command(args: argparse.Namespace, out: str, *, local: bool) -> list[str]:
    """The workload's command, local (``--jobs 2``) or on ``--dask local:2``."""
    root = str(args.root)
    dask = ["--dask", "local:2"]
    if args.workload == "predict":
        tail = ["--jobs", "2", "--csv"] if local else ["--out", f"{out}.parquet", *dask]
        return [*SERKIT, "predict", root, "-q", *tail]
    where = ["--out", f"{out}.parquet", "--jobs", "2"] if local else ["--out", out, *dask]
    return [*SERKIT, "features", root, "--features", args.workload, "--no-cache", "-q", *where]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=RAVDESS)
    parser.add_argument("--workload", choices=("predict", "stats", "seed"), default="predict")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k != PROFILE}
    profiled = {**base, PROFILE: "True"}
    n_clips = sum(1 for p in args.root.rglob("*") if p.suffix.lower() in {".wav", ".flac"})
    times: dict[str, list[float]] = {
        "local --jobs 2": [],
        "--dask local:2": [],
        "--dask local:2, profiler on": [],
    }
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="serkit-dask-pairs-") as work:
        for i in range(args.repeats):
            out = Path(work) / str(i)
            runs = {
                "local --jobs 2": (_command(args, f"{out}-l", local=True), base),
                "--dask local:2": (_command(args, f"{out}-d", local=False), base),
                "--dask local:2, profiler on": (_command(args, f"{out}-p", local=False), profiled),
            }
            for mode, (cmd, env) in runs.items():
                seconds = _timed(cmd, env)
                times[mode].append(round(seconds, 2))
                print(f"{mode} run {i + 1}: {seconds:.1f} s", flush=True)
    local = statistics.median(times["local --jobs 2"])
    record = {
        "workload": args.workload,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu()}, {os.cpu_count()} cores",
        "load": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        "clips": n_clips,
        "seconds": times,
        "median_seconds": {m: statistics.median(t) for m, t in times.items()},
        "share_of_local": {m: round(local / statistics.median(t), 3) for m, t in times.items()},
    }
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    if "date" in store:  # the older one-record file: predict runs
        store = {"predict": {"workload": "predict", **store}}
    store[args.workload] = record
    STORE.write_text(json.dumps(store, indent=2) + "\n")
    print("| mode | runs (s) | median (s) | clips/s | share of local `--jobs 2` |")
    print("|---|---|---|---|---|")
    for mode, t in times.items():
        med = statistics.median(t)
        print(
            f"| {mode} | {', '.join(f'{x:.1f}' for x in t)} | {med:.1f} | "
            f"{n_clips / med:.1f} | {100 * local / med:.0f} % |"
        )


if __name__ == "__main__":
    main()
