"""The shipped recipe on degraded audio of a corpus it never heard (leave-one-corpus-out).

For each of RAVDESS, EmoDB and TESS: the recipe of ``scripts/build_default_model.py``
(features, labels, model, calibration) trained on the clean clips of the other two, then
tested on the held-out corpus clean, through an 8 kHz telephone band (mu-law) and under pink
noise at 10 dB SNR (the chains of ``benchmarks/robustness.py``, applied to the test clips
only). UAR over the four (angry, happy, neutral, sad; arg-max restricted to them), per clip
and speaker-normalised.

Usage::

    python benchmarks/loco_robustness.py [--jobs 2]     # writes loco_robustness.json
    python benchmarks/loco_robustness.py --augment 1    # + 1 degraded copy per training clip

``--augment N`` adds N degraded copies of every training clip (``serkit.workflows.
augment_table``, ``serkit train --augment``'s mix; each copy grouped with its speaker in the
calibration's inner folds) and writes ``loco_robustness_augN.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "scripts"))
import build_default_model as recipe  # noqa: E402
from robustness import CONDITIONS, condition_features  # noqa: E402

OUT = HERE / "loco_robustness.json"
TESTED = ("clean", "telephone 8 kHz", "pink noise 10 dB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--augment", type=int, default=0, help="degraded copies per clip")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path.home() / ".cache" / "serkit" / "features")  # fmt: skip
    args = parser.parse_args()
    tables = recipe.load(args.cache_dir)
    data = {c: recipe._xyg(t) for c, t in tables.items()}
    shift = recipe.shift_parameters()
    copies = {}
    if args.augment:
        from serkit.workflows import augment_table

        for name, table in tables.items():
            extra = augment_table(table, copies=args.augment, jobs=args.jobs,
                                  cache_dir=args.cache_dir, progress=True)  # fmt: skip
            Xa, ya, _ = recipe._xyg(extra)
            labels = [recipe.LABEL_MAP.get(v, v) for v in extra.meta["emotion"].astype(str)]
            keep = np.array([v is not None for v in labels])
            ga = (extra.meta["session"].astype(str)).to_numpy()[keep]
            copies[name] = (Xa, ya, ga)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for held, table in tables.items():
        Xt, yt, gt = recipe._stack(
            [data[n] for n in data if n != held] + [copies[n] for n in copies if n != held]
        )
        with threadpool_limits(1):
            rec = recipe.fit_calibrated(Xt, yt, gt, shift)
        classes = [str(c) for c in rec.classes_]
        _, y, g = data[held]
        labels = [recipe.LABEL_MAP.get(v, v) for v in table.meta["emotion"].astype(str)]
        keep = np.array([v is not None for v in labels])
        four = np.isin(y, recipe.FOUR)
        out[held] = {}
        for name in TESTED:
            X = condition_features(table, CONDITIONS[name], args.cache_dir, args.jobs)[keep]
            row = {}
            for norm in (False, True):
                proba = rec.predict_proba(X[four], speakers=g[four] if norm else None)
                scores = recipe._scores(
                    y[four], recipe._restrict(proba, classes, recipe.FOUR), recipe.FOUR
                )
                row["speaker_norm" if norm else "per_clip"] = scores["uar"]
            out[held][name] = row
            print(held, name, row, flush=True)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, 2 cores",
        "recipe": f"{recipe.FEATURES} + {recipe.MODEL} {recipe.PARAMS}",
        "augmented_copies": args.augment,
        "uar4": out,
    }
    out_file = OUT if not args.augment else OUT.with_name(f"loco_robustness_aug{args.augment}.json")
    out_file.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
