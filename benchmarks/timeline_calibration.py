"""How calibrated are the timeline's windows? The shipped model, temperature alone vs + shift blend.

The timeline predicts windows (3 s, 1 s hop, inside speech regions), not whole clips, so its
windows' features can sit farther from the training clips' than whole clips do, and the
shift-aware blend then flattens them too. This measures, on the long one-speaker recordings of
``benchmarks/timeline_norm.py`` (``recording``: a held-out speaker's clips shuffled, pauses
between them), each window's top-class confidence against the emotion of the clip it overlaps
most: ECE (15 bins), share of wrong answers with confidence >= 0.9, mean confidence, accuracy
and window UAR, per window and normalised over the recording (the timeline's default), with
the default smoothing (3 windows). Truth and answers are compared by group (the model's calm
counts as neutral); windows of emotions the model lacks (EmoDB's bored) are left out.

Usage::

    python benchmarks/timeline_calibration.py [--layout shuffled]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import timeline_norm as tn  # noqa: E402

from serkit.calibration import expected_calibration_error  # noqa: E402
from serkit.corpora._emotions import emotion_group  # noqa: E402

STORE = ROOT / "benchmarks" / "timeline_calibration.json"


def _windows(timeline, truth) -> tuple[list[str], np.ndarray]:
    """The true group of each window (clip it overlaps most) and its probability rows."""
    starts = np.array([s for s, _, _ in truth])
    ends = np.array([e for _, e, _ in truth])
    labels, rows = [], []
    for seg in timeline.windows:
        overlap = np.minimum(ends, seg.end) - np.maximum(starts, seg.start)
        k = int(np.argmax(overlap))
        if overlap[k] > 0:
            labels.append(emotion_group(truth[k][2]))
            rows.append([seg.probabilities[c] for c in timeline.classes])
    return labels, np.array(rows)


def _scores(labels: list[str], proba: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Window answers (by group) against the truth."""
    groups = np.array([emotion_group(c) for c in classes])
    truth = np.array(labels)
    keep = np.isin(truth, groups)
    truth, proba = truth[keep], proba[keep]
    answer = groups[proba.argmax(axis=1)]
    conf = proba.max(axis=1)
    right = answer == truth
    # ECE of the top-class confidence (a right answer = the truth's group)
    index = np.where(right, proba.argmax(axis=1), (proba.argmax(axis=1) + 1) % proba.shape[1])
    recalls = [np.mean(answer[truth == g] == g) for g in np.unique(truth)]
    return {
        "n_windows": int(keep.sum()),
        "uar": round(float(np.mean(recalls)), 4),
        "accuracy": round(float(right.mean()), 4),
        "ece": round(expected_calibration_error(proba, index), 4),
        "confident_errors": round(float((conf[~right] >= 0.9).mean()), 4)
        if (~right).any()
        else 0.0,
        "mean_confidence": round(float(conf.mean()), 4),
    }


def main() -> int:
    import copy
    import warnings

    from tqdm import tqdm

    from serkit.bundles import default_model_path
    from serkit.recognizer import EmotionRecognizer
    from serkit.timeline import predict_timeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="shuffled", choices=("shuffled", "runs"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rec = EmotionRecognizer.load(default_model_path())
    calibrations = {
        "temperature": {k: v for k, v in rec.calibration_.items() if k != "shift"},
        "temperature + shift blend": copy.deepcopy(rec.calibration_),
    }
    tn._memoised(rec)
    frames = tn._frames()
    known = {str(c) for c in rec.classes_}
    out: dict[str, dict] = {}
    start = time.perf_counter()
    for corpus, speakers in tn.SHIPPED_TEST.items():
        frame = frames[corpus][frames[corpus]["emotion"].isin(known)]
        acc: dict[tuple[str, bool], tuple[list, list]] = {}
        for spk in tqdm(speakers, desc=corpus, file=sys.stderr):
            y, truth = tn.recording(frame, spk, args.layout)
            for norm in (False, True):
                for name, cal in calibrations.items():
                    rec.calibration_ = cal
                    tl = predict_timeline(rec, (y, tn.SR), speaker_norm=norm)
                    labels, proba = _windows(tl, truth)
                    got = acc.setdefault((name, norm), ([], []))
                    got[0].extend(labels)
                    got[1].append(proba)
        for (name, norm), (labels, parts) in acc.items():
            mode = "recording norm" if norm else "per window"
            key = f"{corpus} ({args.layout}, {len(speakers)} speakers), {mode}, {name}"
            out[key] = _scores(labels, np.vstack(parts), [str(c) for c in rec.classes_])
            print(key, out[key], flush=True)
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    runs = [r for r in store.pop("_runs", []) if r.get("layout") != args.layout]
    store.update(out)
    runs.append({
        "layout": args.layout,
        "seconds": round(time.perf_counter() - start, 1),
        "load_1min": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/timeline_calibration.py " + " ".join(sys.argv[1:]),
    })  # fmt: skip
    store["_runs"] = runs
    STORE.write_text(json.dumps(store, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
