"""Reproduce the numba cache crash of the ``seed`` features (issue 13, finding 2).

Each run starts from an empty numba cache (a fresh ``NUMBA_CACHE_DIR``), runs
``serkit features DIR --features seed --jobs 2`` once, then, in a new process,
``librosa.feature.chroma_stft`` on noise. Before the fix, two workers compiling
librosa's ``@guvectorize(cache=True)`` functions at the same time could leave a
mismatched pair of cache files (numba/numba#10128) and every later call died with
SIGSEGV (exit -11 / 139). Counts crashes of either step and times each step.

Usage::

    python benchmarks/numba_race.py --data ../shared/data/ravdess-speech-16k/Actor_01 \
        [--runs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = (
    "import librosa, numpy as np\n"
    "librosa.feature.chroma_stft(y=np.random.randn(16000).astype('float32'), sr=16000)\n"
)


def one_run(data: Path, tmp: Path) -> dict:
    """One reproduction on a fresh cache; exit codes and seconds of both steps."""
    cache = tmp / "numba-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    feat = subprocess.run(
        [sys.executable, "-m", "serkit", "features", str(data), "--features", "seed",
         "--jobs", "2", "--no-cache", "--out", str(tmp / "f.csv"), "-q"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    t1 = time.perf_counter()
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    t2 = time.perf_counter()
    return {
        "features_rc": feat.returncode,
        "features_s": round(t1 - t0, 2),
        "worker_died": "worker process died" in feat.stderr,
        "probe_rc": probe.returncode,
        "probe_s": round(t2 - t1, 2),
        "stderr_tail": feat.stderr[-300:] if feat.returncode else "",
    }


def main() -> None:
    """Run the reproduction ``--runs`` times and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of a few clips")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(one_run(args.data, Path(tmp)))
            print(i, json.dumps(runs[-1]), file=sys.stderr, flush=True)
    crashed = [
        r for r in runs if r["features_rc"] != 0 or r["probe_rc"] != 0 or r["worker_died"]
    ]
    report = {
        "runs": len(runs),
        "crashes": len(crashed),
        "median_features_s": sorted(r["features_s"] for r in runs)[len(runs) // 2],
        "median_probe_s": sorted(r["probe_s"] for r in runs)[len(runs) // 2],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": os.getloadavg(),
        "details": runs,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
