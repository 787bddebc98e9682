"""Speaker-independent accuracy and training time of serkit's neural models.

RAVDESS speech, 8 classes, ``speaker-kfold`` (5 folds grouped by actor, clips
sorted by path, as in ``benchmarks/accuracy.py``), UAR over all predicted clips.
``cnn1d`` reads the seed's 180-value vectors, ``specnet`` log-mel frames. Each
fold's network picks its epoch on validation actors drawn from that fold's
training actors only; the test actors are never looked at before scoring.

Usage::

    python benchmarks/neural.py [--models cnn1d,specnet] [--folds 0,1,2,3,4]
        [--threads 2] [--param specnet:max_epochs=40] [--ensemble svm:compare]
        [--json out.json] [--save-probas probas.npz]

``--ensemble MODEL:FEATURES`` adds, per neural model, a row for the equal-weight
average of its probabilities with those of a classic zoo model on another feature
set, fitted on the same training clips of each fold
(:func:`serkit.models.average_probabilities`).

Prints a markdown table (and the per-fold numbers); nothing is written unless
``--json`` is given. Torch runs with ``--threads`` threads and BLAS with one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import numpy as np  # noqa: E402
from features import DEFAULT_ROOT, machine  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from serkit.cli import default_cache_dir  # noqa: E402
from serkit.corpora import load_corpus  # noqa: E402
from serkit.datasets import build_feature_table  # noqa: E402
from serkit.evaluation import compute_metrics, speaker_kfold  # noqa: E402
from serkit.models import average_probabilities, make_model, parse_params  # noqa: E402

FEATURES = {"cnn1d": "seed", "specnet": "logmel"}


def load(
    root: Path, features: str, cache: Path
) -> tuple[list | np.ndarray, np.ndarray, np.ndarray]:
    scan = load_corpus(root, "ravdess")
    table = build_feature_table(scan, features, jobs=2, cache_dir=cache)
    y = table.meta["emotion"].astype(str).to_numpy()
    groups = (table.meta["corpus"].astype(str) + ":" + table.meta["speaker"].astype(str)).to_numpy()
    X = table.features if table.is_sequence else np.asarray(table.features)
    return X, y, groups


def run(name: str, params: dict, X, y, groups, folds: list[int], threads: int) -> dict:
    splits = speaker_kfold(groups, n_splits=5)
    labels = sorted(set(y))
    rows, preds, truths, seconds, probas = [], [], [], [], []
    for k in folds:
        train, test = splits[k]
        take = (lambda idx: [X[i] for i in idx]) if isinstance(X, list) else (lambda idx: X[idx])
        model = make_model(name, params={"threads": threads, **params})
        start = time.perf_counter()
        model.fit(take(train), y[train], groups=groups[train])
        proba = model.predict_proba(take(test))
        pred = model.classes_[proba.argmax(axis=1)]
        elapsed = time.perf_counter() - start
        probas.append(proba)
        fold = compute_metrics(y[test], pred, labels=labels)
        rows.append(
            {
                "fold": k,
                "uar": fold["uar"],
                "accuracy": fold["accuracy"],
                "best_epoch": model.best_epoch_,
                "epochs": len(model.history_),
                "seconds": elapsed,
            }
        )
        print(
            f"  {name} fold {k}: UAR {fold['uar']:.3f}, epoch {model.best_epoch_}/"
            f"{len(model.history_)}, {elapsed:.0f} s",
            flush=True,
        )
        preds.append(pred)
        truths.append(y[test])
        seconds.append(elapsed)
    pooled = compute_metrics(np.concatenate(truths), np.concatenate(preds), labels=labels)
    uars = np.array([r["uar"] for r in rows])
    return {
        "model": name,
        "features": FEATURES[name],
        "params": params,
        "probas": probas,
        "folds": rows,
        "uar": pooled["uar"],
        "accuracy": pooled["accuracy"],
        "uar_std": float(uars.std()),
        "seconds": float(np.sum(seconds)),
    }


def ensemble(neural: dict, spec: str, y, groups, root: Path, cache: Path, folds: list[int]):
    """Equal-weight average of a neural result's probabilities with a classic model's."""
    name, _, features = spec.partition(":")
    X, y_c, groups_c = load(root, features, cache)
    if not (np.array_equal(y_c, y) and np.array_equal(groups_c, groups)):
        raise SystemExit(f"{features} does not hold the same clips as {neural['features']}")
    splits = speaker_kfold(groups, n_splits=5)
    labels = sorted(set(y))
    preds, truths, rows, seconds = [], [], [], []
    for proba, k in zip(neural["probas"], folds, strict=True):
        train, test = splits[k]
        start = time.perf_counter()
        classic = make_model(name).fit(X[train], y[train])
        mixed = average_probabilities([proba, classic.predict_proba(X[test])])
        seconds.append(time.perf_counter() - start)
        pred = classic.classes_[mixed.argmax(axis=1)]
        rows.append({"fold": k, "uar": compute_metrics(y[test], pred, labels=labels)["uar"]})
        preds.append(pred)
        truths.append(y[test])
    pooled = compute_metrics(np.concatenate(truths), np.concatenate(preds), labels=labels)
    return {
        "model": f"{neural['model']} + {name}",
        "features": f"{neural['features']} + {features}",
        "params": neural["params"],
        "folds": rows,
        "uar": pooled["uar"],
        "accuracy": pooled["accuracy"],
        "uar_std": float(np.std([r["uar"] for r in rows])),
        "seconds": neural["seconds"] + float(np.sum(seconds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--models", default="cnn1d,specnet")
    parser.add_argument("--folds", default="0,1,2,3,4", help="which of the 5 folds to run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--param", action="append", default=[], help="MODEL:NAME=VALUE, e.g. specnet:lr=0.001"
    )
    parser.add_argument(
        "--ensemble", help="MODEL:FEATURES of a classic model to average with, e.g. svm:compare"
    )
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--save-probas",
        type=Path,
        help="write each neural model's test probabilities per fold (npz), to combine later",
    )
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    folds = [int(f) for f in args.folds.split(",")]
    params: dict[str, list[str]] = {m: [] for m in models}
    for item in args.param:
        model, _, setting = item.partition(":")
        params.setdefault(model, []).append(setting)
    results = []
    with threadpool_limits(1):
        for name in models:
            X, y, groups = load(args.root, FEATURES[name], args.cache_dir)
            result = run(name, parse_params(params[name]), X, y, groups, folds, args.threads)
            results.append(result)
            if args.ensemble:
                results.append(
                    ensemble(result, args.ensemble, y, groups, args.root, args.cache_dir, folds)
                )
    scope = "5 folds" if len(folds) == 5 else f"fold(s) {args.folds} of 5"
    print(f"\nRAVDESS speech, 8 classes, speaker-kfold ({scope}); {machine()}\n")
    print("| model | features | params | UAR | WA | fold UAR std | train+predict time |")
    print("|---|---|---|---|---|---|---|")
    for res in results:
        shown = ", ".join(f"{k}={v}" for k, v in res["params"].items()) or "defaults"
        print(
            f"| {res['model']} | {res['features']} | {shown} | {100 * res['uar']:.1f} % "
            f"| {100 * res['accuracy']:.1f} % | {100 * res['uar_std']:.1f} | "
            f"{res['seconds'] / 60:.1f} min |"
        )
    if args.save_probas:
        arrays = {}
        for res in results:
            for k, proba in zip(folds, res.get("probas", []), strict=False):
                arrays[f"{res['model']}_fold{k}"] = proba
        np.savez_compressed(args.save_probas, **arrays)
    if args.json:
        for res in results:
            res.pop("probas", None)
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
