"""Prediction speed of the shipped model: warm single clips, and a fresh ``serkit predict``.

- warm: one process, model loaded, ``predict_file`` on a 3 s clip, pinned to one core
  (decode + features + model), median and 90th percentile over repeated calls;
- cold: ``serkit predict examples/`` in a fresh process (imports, model load, numba
  compilation, 16 clips), wall time of several runs.

Usage::

    python benchmarks/prediction.py [--repeat 100] [--write]
    python benchmarks/prediction.py --cold-only --python /tmp/fresh/bin/python  # a fresh venv

``--python`` times the cold start with another interpreter, e.g. a fresh venv made by
``pip install .`` (``PYTHONPATH`` is dropped for it, so that venv's installed serkit runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from features import machine, write_section  # noqa: E402

REPO = HERE.parent
CLIP = REPO / "examples" / "03-01-05-02-01-01-23.flac"


def warm(repeat: int, model: str | None = None) -> dict:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from serkit import audio
    from serkit.bundles import default_model_path
    from serkit.recognizer import EmotionRecognizer

    rec = EmotionRecognizer.load(model or default_model_path())
    duration = audio.info(CLIP).duration
    for _ in range(5):
        rec.predict_file(CLIP)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        rec.predict_file(CLIP)
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return {
        "clip_s": duration,
        "median_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
    }


def cold(runs: int, model: str | None = None, python: str | None = None) -> dict:
    import resource

    walls, cpus = [], []
    extra = ["--model", model] if model else []
    env = dict(os.environ)
    if python is not None:  # that interpreter's own installed serkit, not this checkout's
        env.pop("PYTHONPATH", None)
    command = [python or sys.executable, "-m", "serkit", "predict", str(REPO / "examples"), "-q"]
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [*command, *extra],
            check=True,
            capture_output=True,
            env=env,
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(
            after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        )  # less inflated than wall time on a shared machine
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "runs": runs,
        "cpu_median_s": statistics.median(cpus),
    }


def _recipe() -> str:
    """The shipped model's feature set and classifier, as its model.json names them."""
    import json

    from serkit.bundles import default_model_path

    spec = json.loads((Path(default_model_path()) / "model.json").read_text())
    params = ",".join(f"{k}={v}" for k, v in spec["features"]["params"].items() if v != "")
    return f"`{spec['features']['name']}:{params}` + `{spec['model']['name']}`"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--model", help="time this bundle instead of the shipped default")
    parser.add_argument(
        "--python", help="time the cold start with this interpreter (e.g. a fresh venv's)"
    )
    parser.add_argument("--cold-only", action="store_true", help="skip the warm measurement")
    args = parser.parse_args()
    if args.write and (args.model or args.python or args.cold_only):
        parser.error("--write records the shipped model, this interpreter, warm and cold")
    where = machine()  # before warm() pins this process to one core
    c = cold(args.runs, args.model, args.python)
    if args.cold_only:
        print(
            f"cold `serkit predict examples/` ({args.python or sys.executable}): median "
            f"{c['median_s']:.2f} s, best {c['min_s']:.2f} s of {c['runs']} (CPU median "
            f"{c['cpu_median_s']:.2f} s); load average {os.getloadavg()[0]:.1f}"
        )
        return
    w = warm(args.repeat, args.model)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join(
        [
            "<!-- prediction:start -->",
            "## Prediction speed (`benchmarks/prediction.py`)",
            "",
            f"{where}; load average {load:.1f} when measured. Shipped default model",
            f"({_recipe()}); targets of issue 11.",
            "",
            "| measurement | result | target |",
            "|---|---|---|",
            f"| warm `predict_file`, {w['clip_s']:.1f} s clip, one core (decode + features + "
            f"model) | median {w['median_ms']:.1f} ms, p90 {w['p90_ms']:.1f} ms | <= 40 ms |",
            f"| `serkit predict examples/` (16 clips) in a fresh process | median "
            f"{c['median_s']:.2f} s, best {c['min_s']:.2f} s of {c['runs']} (CPU median "
            f"{c['cpu_median_s']:.2f} s) | <= 3 s |",
            "",
            "Reproduce: `python benchmarks/prediction.py --write`.",
            "<!-- prediction:end -->",
            "",
        ]
    )
    print(text)
    if args.write:
        write_section(text, "prediction")


if __name__ == "__main__":
    main()
