"""A bundle judged on another corpus the way issue 10 describes: ``serkit predict DIR --json``.

Runs the CLI (``serkit predict CORPUS --json [--model BUNDLE]``) in a subprocess, labels each
clip from its file name (``serkit.corpora.label_file``) and scores the printed probabilities:

- ``four`` / ``shared``: the arg-max restricted to angry, happy, neutral, sad (or to every class
  the model and the corpus share), the model's ``calm`` added to ``neutral``, renormalised;
  UAR per clip, ECE (top class, 15 bins) and share of wrong answers with confidence >= 0.9 of
  those restricted probabilities;
- ``printed``: the answer ``serkit predict`` prints (arg-max over all the model's classes, an
  answer counted right when its group, calm read as neutral, is the truth), its confidence,
  the ECE of that confidence, wrong answers >= 0.9, and the accuracy of the answers printed
  with a confidence in [0.75, 0.85] (what "0.8" means to a user), over the clips whose
  emotion the model has (EmoDB's bored left out).

Usage::

    python benchmarks/judged_as_user.py                              # shipped default model
    python benchmarks/judged_as_user.py --model OTHER_BUNDLE --name old --write
    python benchmarks/judged_as_user.py --group-by '/(\\d\\d)[a-z]\\d\\d\\w+\\.\\w+$' \\
        --name "shipped, --group-by speaker" --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from serkit.calibration import confident_error_share, expected_calibration_error  # noqa: E402
from serkit.corpora import label_file  # noqa: E402
from serkit.corpora._emotions import emotion_group  # noqa: E402

DATA = REPO.parent / "shared" / "data"
STORE = REPO / "benchmarks" / "judged_as_user.json"
FOUR = ["angry", "happy", "neutral", "sad"]


def predict(corpus: Path, model: str | None, group_by: str | None = None) -> list[dict[str, Any]]:
    """``serkit predict CORPUS --json`` (with ``--model``, ``--group-by``), as a user runs it."""
    command = [sys.executable, "-m", "serkit", "predict", str(corpus), "--json", "-q"]
    if model:
        command += ["--model", model]
    if group_by:
        command.append(f"--group-by={group_by}")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


def _uar(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[truth == c] == c) for c in np.unique(truth)]))


def restricted(rows: list[dict[str, Any]], truth: np.ndarray, keep: list[str]) -> dict[str, Any]:
    """Arg-max restricted to ``keep`` (calm added to neutral), renormalised."""
    classes = list(rows[0]["probabilities"])
    p = np.array([[r["probabilities"][c] for c in classes] for r in rows])
    merged = np.zeros((len(p), len(keep)))
    for j, c in enumerate(classes):
        if emotion_group(c) in keep:
            merged[:, keep.index(emotion_group(c))] += p[:, j]
    sel = np.isin(truth, keep)
    q = merged[sel] / merged[sel].sum(axis=1, keepdims=True)
    idx = np.searchsorted(np.asarray(keep), truth[sel])
    return {
        "n": int(sel.sum()),
        "uar": round(_uar(idx, q.argmax(axis=1)), 4),
        "ece": round(expected_calibration_error(q, idx), 4),
        "confident_errors": round(confident_error_share(q, idx), 4),
    }


def printed(rows: list[dict[str, Any]], truth: np.ndarray) -> dict[str, Any]:
    """The printed answer (arg-max over all classes) and its confidence."""
    answer = np.array([emotion_group(r["emotion"]) for r in rows])
    conf = np.array([max(r["probabilities"].values()) for r in rows])
    right = answer == truth
    # ECE of the printed confidence: 15 equal-width bins
    which = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    ece = sum(
        abs(right[which == b].mean() - conf[which == b].mean()) * np.mean(which == b)
        for b in range(15)
        if (which == b).any()
    )
    band = (conf >= 0.75) & (conf <= 0.85)
    return {
        "n": len(rows),
        "accuracy": round(float(right.mean()), 4),
        "ece": round(float(ece), 4),
        "confident_errors": round(float((conf[~right] >= 0.9).mean()), 4),
        "mean_confidence": round(float(conf.mean()), 4),
        "max_confidence": round(float(conf.max()), 4),
        "share_confidence_ge_0.8": round(float((conf >= 0.8).mean()), 4),
        "band_0.75_0.85": {
            "n": int(band.sum()),
            "accuracy": round(float(right[band].mean()), 4) if band.any() else None,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: shipped model)")
    parser.add_argument("--name", default="default", help="name of the result in the store")
    parser.add_argument("--corpus", default="emodb")
    parser.add_argument(
        "--group-by",
        default=None,
        help="per-speaker normalisation as `serkit predict --group-by` (e.g. the EmoDB speaker: "
        "'/(\\d\\d)[a-z]\\d\\d\\w+\\.\\w+$')",
    )
    parser.add_argument("--write", action="store_true", help=f"store the result in {STORE.name}")
    args = parser.parse_args()
    root = DATA / {"emodb": "emodb-2s", "ravdess": "ravdess-speech-16k"}[args.corpus]
    start = time.perf_counter()
    rows = predict(root, args.model, args.group_by)
    seconds = time.perf_counter() - start
    truth = np.array([emotion_group(label_file(r["path"], args.corpus).emotion) for r in rows])
    classes = {emotion_group(c) for c in rows[0]["probabilities"]}
    shared = sorted(classes & set(truth.tolist()))
    result = {
        "model": args.model or "shipped default",
        "corpus": args.corpus,
        "group_by": args.group_by,
        "four": restricted(rows, truth, FOUR),
        "shared": {**restricted(rows, truth, shared), "classes": shared},
        "printed": printed(
            [r for r, t in zip(rows, truth, strict=True) if t in classes],
            truth[np.isin(truth, list(classes))],
        ),
        "seconds": round(seconds, 1),
        "load_1min": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=1))
    if args.write:
        store = json.loads(STORE.read_text()) if STORE.exists() else {}
        store[f"{args.name} on {args.corpus}"] = result
        STORE.write_text(json.dumps(store, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
