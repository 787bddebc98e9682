"""The shipped recipe on unseen RAVDESS actors, judged on the four emotions.

The model card (``scripts/build_default_model.py --measure``) scores unseen RAVDESS actors
over all seven classes and each corpus left out over the four as well. This script gives
the unseen-actor figure under the four-emotion rule too, so that one table can judge every
row alike: angry, happy, neutral, sad, arg-max restricted to them, RAVDESS's calm counted
as neutral (the recipe's label map), per clip and normalised per speaker.

It runs the build script's own fold loop: RAVDESS GroupKFold(5) by actor, EmoDB and TESS
added to every training fold, the recipe and its calibration fitted inside each training
fold (``fit_calibrated``), and scores the held-out actors' clips of the four classes.

Usage::

    python benchmarks/default_model_four.py            # writes default_model_four.json
    python benchmarks/default_model_four.py --build-script PATH   # another checkout's recipe
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("default_model_four.json")


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_build_default_model", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def unseen_actors_four(build: ModuleType, data: dict[str, Any]) -> dict[str, Any]:
    """Out-of-fold probabilities of every RAVDESS clip, restricted to the four and scored."""
    from sklearn.model_selection import GroupKFold

    X, y, g = data["ravdess"]
    others = [data[n] for n in data if n != "ravdess"]
    shift = build.shift_parameters()
    four = list(build.FOUR)
    probas = {norm: np.zeros((len(y), len(four))) for norm in (False, True)}
    for train, test in GroupKFold(build.FOLDS).split(X, y, g):
        Xt, yt, gt = build._stack([(X[train], y[train], g[train]), *others])
        rec = build.fit_calibrated(Xt, yt, gt, shift)
        classes = [str(c) for c in rec.classes_]
        for norm in (False, True):
            proba = rec.predict_proba(X[test], speakers=g[test] if norm else None)
            probas[norm][test] = build._restrict(proba, classes, four)
    rows = np.isin(y, four)
    return {
        ("speaker_norm" if norm else "global"): build._scores(y[rows], probas[norm][rows], four)
        for norm in (False, True)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--build-script", type=Path, default=ROOT / "scripts" / "build_default_model.py"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache/serkit/features")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    build = _import(args.build_script)
    start, cpu = time.time(), time.process_time()
    tables = build.load(args.cache_dir)
    data = {c: build._xyg(t) for c, t in tables.items()}
    with threadpool_limits(1):
        figures = unseen_actors_four(build, data)
    record = {
        "protocol": "RAVDESS GroupKFold(5) by actor, EmoDB and TESS in every training fold, "
        "calibration fitted inside each; clips of angry, happy, neutral (calm counted as "
        "neutral), sad; arg-max restricted to the four",
        "recipe": f"{build.FEATURES} + {build.MODEL} {build.PARAMS}",
        "command": "python benchmarks/default_model_four.py",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "wall_s": round(time.time() - start, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        **figures,
    }
    OUT.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    for tag in ("global", "speaker_norm"):
        print(tag, "UAR", figures[tag]["uar"], "ECE", figures[tag]["ece"])
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
