"""Reproduce the numba cache crash of the ``seed`` features (issue 13, finding 2).

Each run starts from an empty numba cache (a fresh ``NUMBA_CACHE_DIR``), runs
``serkit features DIR --features seed --jobs 2`` once, then, in a new process,
``librosa.feature.chroma_stft`` on noise. Before the fix, two workers compiling
librosa's ``@guvectorize(cache=True)`` functions at the same time could leave a
mismatched pair of cache files (numba/numba#10128) and every later call died with
SIGSEGV (exit -11 / 139). Counts crashes of either step and times each step.

Runs are appended, one JSON line each, to ``--log`` as they finish, and a later call
with the same ``--log`` only runs what is missing to reach ``--runs``: an interrupted
series resumes instead of starting over.

``--cost K`` measures the first-run cost of the fix instead: K pairs of
``serkit features`` runs on a fresh cache, with the fix and with it switched off
(``prepare_numba`` replaced by a no-op in that process, i.e. the racing workers of
before), then each once more on the cache it left (the second run of a user).

Usage::

    python benchmarks/numba_race.py --data DIR [--runs 20] [--log runs.jsonl] [--json out.json]
    python benchmarks/numba_race.py --data DIR --cost 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm.auto import tqdm

PROBE = (
    "import librosa, numpy as np\n"
    "librosa.feature.chroma_stft(y=np.random.randn(16000).astype('float32'), sr=16000)\n"
)
# ``serkit features`` with the fix switched off: the workers compile (and race) themselves
UNFIXED = (
    "import sys, serkit.features._extract as e\n"
    "e.prepare_numba = lambda *a, **k: None\n"
    "from serkit.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def features(data: Path, tmp: Path, env: dict, *, fixed: bool = True) -> tuple[int, float, str]:
    """``serkit features DIR --features seed --jobs 2``: exit code, seconds, stderr."""
    args = ["features", str(data), "--features", "seed", "--jobs", "2", "--no-cache",
            "--out", str(tmp / "f.csv"), "-q"]  # fmt: skip
    head = [sys.executable, "-m", "serkit"] if fixed else [sys.executable, "-c", UNFIXED]
    t0 = time.perf_counter()
    done = subprocess.run(head + args, env=env, capture_output=True, text=True, timeout=1800)
    return done.returncode, round(time.perf_counter() - t0, 2), done.stderr


def fresh_cache(tmp: Path) -> dict:
    """An environment whose ``NUMBA_CACHE_DIR`` is a new, empty folder."""
    cache = tmp / "numba-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    return dict(os.environ, NUMBA_CACHE_DIR=str(cache))


def one_run(data: Path, tmp: Path) -> dict:
    """One reproduction on a fresh cache; exit codes and seconds of both steps."""
    env = fresh_cache(tmp)
    rc, seconds, err = features(data, tmp, env)
    t1 = time.perf_counter()
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600
    )
    return {
        "features_rc": rc,
        "features_s": seconds,
        "worker_died": "worker process died" in err,
        "probe_rc": probe.returncode,
        "probe_s": round(time.perf_counter() - t1, 2),
        "stderr_tail": err[-300:] if rc else "",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def crashed(run: dict) -> bool:
    """A non-zero exit of either step, or a worker that died."""
    return run["features_rc"] != 0 or run["probe_rc"] != 0 or run["worker_died"]


def series(data: Path, runs: int, log: Path) -> dict:
    """Run until ``log`` holds ``runs`` runs (resuming), then summarise all of them."""
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in tqdm(range(len(done), runs), desc="fresh-cache runs", initial=len(done),
                      total=runs):  # fmt: skip
            done.append(one_run(data, Path(tmp)))
            with log.open("a") as handle:
                handle.write(json.dumps(done[-1]) + "\n")
    return {
        "runs": len(done),
        "crashes": sum(crashed(r) for r in done),
        "median_features_s": statistics.median(r["features_s"] for r in done),
        "median_probe_s": statistics.median(r["probe_s"] for r in done),
        "first_run": done[0]["date"] if done and "date" in done[0] else None,
        "last_run": done[-1].get("date") if done else None,
        "details": done,
    }


def cost(data: Path, pairs: int) -> dict:
    """Seconds of ``serkit features`` with and without the fix, cold cache then warm cache."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in tqdm(range(pairs), desc="cost pairs"):
            row: dict = {"load": [round(x, 2) for x in os.getloadavg()]}
            for fixed in (True, False):
                env = fresh_cache(Path(tmp))
                name = "fixed" if fixed else "unfixed"
                rc, cold, _ = features(data, Path(tmp), env, fixed=fixed)
                rc2, warm, _ = features(data, Path(tmp), env, fixed=fixed)
                row[name] = {"cold_s": cold, "warm_s": warm, "rc": [rc, rc2]}
            rows.append(row)

    def med(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in rows)

    return {
        "pairs": pairs,
        "median_cold_fixed_s": med("fixed", "cold_s"),
        "median_cold_unfixed_s": med("unfixed", "cold_s"),
        "median_warm_fixed_s": med("fixed", "warm_s"),
        "median_warm_unfixed_s": med("unfixed", "warm_s"),
        "details": rows,
    }


def main() -> None:
    """Run the reproduction series (or the cost pairs) and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of a few clips")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--log", type=Path, default=Path("numba_race_runs.jsonl"),
                        help="one JSON line per finished run; resumed from")  # fmt: skip
    parser.add_argument("--cost", type=int, default=0, metavar="K",
                        help="measure the fix's first-run cost over K pairs instead")  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = cost(args.data, args.cost) if args.cost else series(args.data, args.runs, args.log)
    report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report["load"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
