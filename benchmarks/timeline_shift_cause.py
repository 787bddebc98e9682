"""Why timeline windows look shifted to the shift-aware calibration, and one candidate fix measured.

The shipped model's shift score (:func:`serkit.calibration.shift_score`) compares a row of
``whisper:pad=0,pool=mean`` features (the encoder's states averaged over every frame of the
input) with the mean and scale of the training clips' rows. A RAVDESS clip is about half
silence (3.7 s long, 1.8 s of it speech), so the training rows average speech and silence
frames; a timeline window lies inside a speech region and averages speech alone. Three parts:

1. ``scores``: shift-score quantiles (10/50/90 %) against the bundle's reference of every third
   clip of RAVDESS actors 23, 24 (held out), 01, 02 (trained on) and EmoDB-2s speakers 03, 08:
   the whole clip, its active part (``timeline_norm._active``: first to last 20 ms frame within
   30 dB of the loudest) and that active part with 1 s of noise at -60 dBFS either side.
2. ``window reference``: the mean and scale of the timeline's own windows of every fourth
   training clip (actors 01-22 but 23, 24; windows cut by the timeline's code with its
   defaults: energy VAD, 3 s, hop 1 s), and the quantiles of the benchmark recordings' windows
   (``timeline_norm.recording``, layouts ``runs`` and ``shuffled``) under both references.
3. ``timeline``: window calibration as ``benchmarks/timeline_calibration.py`` measures it,
   temperature alone, + shift blend (bundle reference), + shift blend (window reference, the
   blend's other numbers unchanged), + shift blend (speech reference: the active parts of the
   same training clips, as part 1 trims them), per window and normalised over the recording.

``--clips`` measures instead what the same silence does per clip (``serkit predict``): every
clip of RAVDESS actors 23, 24 and of EmoDB-2s, whole, trimmed to its active part, and (EmoDB-2s)
that active part with 1 s of quiet noise either side, temperature alone against + shift blend,
answers judged by group as in ``timeline_calibration.py``; written under ``clips``.

Only RAVDESS rows may choose anything (EmoDB-2s is the test direction of the shipped model);
they are printed beside each other so the trade-off is visible. Writes
``benchmarks/timeline_shift_cause.json``.

Usage::

    python benchmarks/timeline_shift_cause.py [--clips]
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import timeline_calibration as tc  # noqa: E402
import timeline_norm as tn  # noqa: E402

from serkit.calibration import shift_score  # noqa: E402

STORE = ROOT / "benchmarks" / "timeline_shift_cause.json"
PROBE = {"ravdess": ["23", "24", "01", "02"], "emodb": ["03", "08"]}
HELD_OUT = ("23", "24")


def _q(score: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.percentile(score, [10, 50, 90])]


def _row(rec, y: np.ndarray) -> np.ndarray:
    (value,) = rec.feature_row(y, tn.SR).values()
    return np.asarray(value, dtype=np.float64)


def _windows(rec, y: np.ndarray) -> np.ndarray:
    """Feature rows of the windows the timeline cuts from ``y`` (its defaults)."""
    from serkit.timeline import _Builder

    builder = _Builder(rec.feature_row, sr=tn.SR, win=3.0, hop=1.0, vad="energy")
    builder.push(np.asarray(y, dtype=np.float32))
    builder.finish()
    return np.array([next(iter(row.values())) for row in builder.features], dtype=np.float64)


def part_scores(rec, frames, mean, scale) -> dict:
    """Whole clip, active part, active part padded with quiet noise."""
    from tqdm import tqdm

    from serkit import audio

    out = {}
    noise = np.random.default_rng(0).normal(0, 1e-3, tn.SR).astype(np.float32)
    for corpus, speakers in PROBE.items():
        frame = frames[corpus]
        for spk in speakers:
            paths = frame[frame["speaker"] == spk]["path"].tolist()[::3]
            rows: dict[str, list] = {"whole": [], "active": [], "active + 1 s noise each side": []}
            seconds = [0.0, 0.0]
            for path in tqdm(paths, desc=f"{corpus} {spk}", file=sys.stderr):
                y, _ = audio.load(path, sr=tn.SR)
                active = tn._active(y)
                seconds[0] += len(y) / tn.SR
                seconds[1] += len(active) / tn.SR
                rows["whole"].append(_row(rec, y))
                rows["active"].append(_row(rec, active))
                rows["active + 1 s noise each side"].append(
                    _row(rec, np.concatenate([noise, active, noise]))
                )
            out[f"{corpus} {spk}"] = {
                "clips": len(paths),
                "mean seconds (whole, active)": [round(s / len(paths), 2) for s in seconds],
                **{k: _q(shift_score(np.array(v), mean, scale)) for k, v in rows.items()},
            }
            print(corpus, spk, out[f"{corpus} {spk}"], flush=True)
    return out


def window_reference(rec, frames) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Mean and scale of the timeline windows of every fourth training clip; their active
    parts' mean and scale stacked (the speech reference)."""
    from tqdm import tqdm

    from serkit import audio

    frame = frames["ravdess"]
    paths = frame[~frame["speaker"].isin(HELD_OUT)]["path"].tolist()[::4]
    rows, speech = [], []
    for path in tqdm(paths, desc="training windows", file=sys.stderr):
        y, _ = audio.load(path, sr=tn.SR)
        rows.append(_windows(rec, y))
        speech.append(_row(rec, tn._active(y)))
    w, a = np.vstack(rows), np.array(speech)
    return w.mean(axis=0), w.std(axis=0), len(paths), len(w), np.stack([a.mean(0), a.std(0)])


def part_clips(rec, frames) -> dict:
    """Per-clip calibration of whole and trimmed (and re-padded) clips."""
    from tqdm import tqdm

    from serkit import audio
    from serkit.calibration import calibrate_proba
    from serkit.corpora._emotions import emotion_group

    calibration = rec.calibration_
    plain = {k: v for k, v in calibration.items() if k != "shift"}
    classes = [str(c) for c in rec.classes_]
    noise = np.random.default_rng(0).normal(0, 1e-3, tn.SR).astype(np.float32)
    out = {}
    for corpus, speakers in (("ravdess", HELD_OUT), ("emodb", None)):
        frame = frames[corpus]
        if speakers is not None:
            frame = frame[frame["speaker"].isin(speakers)]
        frame = frame[frame["emotion"].isin(set(classes))]
        labels = [emotion_group(e) for e in frame["emotion"]]
        versions: dict[str, list] = {"whole": [], "active": []}
        if corpus == "emodb":
            versions["active + 1 s noise each side"] = []
        for path in tqdm(frame["path"].tolist(), desc=corpus, file=sys.stderr):
            y, _ = audio.load(path, sr=tn.SR)
            active = tn._active(y)
            versions["whole"].append(_row(rec, y))
            versions["active"].append(_row(rec, active))
            if corpus == "emodb":
                versions["active + 1 s noise each side"].append(
                    _row(rec, np.concatenate([noise, active, noise]))
                )
        for version, rows in versions.items():
            x = np.array(rows)
            raw = rec.predict_uncalibrated(x)
            for name, cal in (("temperature", plain), ("+ shift blend", calibration)):
                key = f"{corpus} ({len(x)} clips), {version}, {name}"
                out[key] = tc._scores(labels, calibrate_proba(raw, cal, x), classes)
                out[key]["shift score 10/50/90"] = _q(
                    shift_score(x, calibration["shift"]["mean"], calibration["shift"]["scale"])
                )
                print(key, out[key], flush=True)
    return out


def _run_record(start: float, command: str) -> dict[str, object]:
    """How long a run took, at what load, when, and the command that repeats it."""
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "load_1min": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def main() -> int:
    from serkit.bundles import default_model_path
    from serkit.recognizer import EmotionRecognizer
    from serkit.timeline import predict_timeline

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    rec = EmotionRecognizer.load(default_model_path())
    if "--clips" in sys.argv[1:]:
        store = json.loads(STORE.read_text()) if STORE.exists() else {}
        store["clips"] = part_clips(rec, tn._frames())
        store["_run_clips"] = _run_record(
            start, "python benchmarks/timeline_shift_cause.py --clips"
        )
        STORE.write_text(json.dumps(store, indent=1) + "\n")
        return 0
    shift = rec.calibration_["shift"]
    mean, scale = np.array(shift["mean"]), np.array(shift["scale"])
    frames = tn._frames()
    out: dict = {"scores (bundle reference)": part_scores(rec, frames, mean, scale)}
    w_mean, w_scale, n_clips, n_windows, speech_ref = window_reference(rec, frames)
    out["window reference"] = {"training clips": n_clips, "training windows": n_windows}
    cal_clip = copy.deepcopy(rec.calibration_)
    cal_win = copy.deepcopy(rec.calibration_)
    cal_win["shift"].update(mean=w_mean.tolist(), scale=w_scale.tolist())
    cal_speech = copy.deepcopy(rec.calibration_)
    cal_speech["shift"].update(mean=speech_ref[0].tolist(), scale=speech_ref[1].tolist())
    calibrations = {
        "temperature": {k: v for k, v in rec.calibration_.items() if k != "shift"},
        "+ shift blend, bundle reference": cal_clip,
        "+ shift blend, window reference": cal_win,
        "+ shift blend, speech reference": cal_speech,
    }
    tn._memoised(rec)
    known = {str(c) for c in rec.classes_}
    classes = [str(c) for c in rec.classes_]
    timeline: dict = {}
    for layout in ("runs", "shuffled"):
        for corpus, speakers in tn.SHIPPED_TEST.items():
            frame = frames[corpus][frames[corpus]["emotion"].isin(known)]
            acc: dict[tuple[str, bool], tuple[list, list]] = {}
            rows = []
            for spk in speakers:
                y, truth = tn.recording(frame, spk, layout)
                rows.append(_windows(rec, y))
                for norm in (False, True):
                    for name, cal in calibrations.items():
                        rec.calibration_ = cal
                        tl = predict_timeline(rec, (y, tn.SR), speaker_norm=norm)
                        labels, proba = tc._windows(tl, truth)
                        got = acc.setdefault((name, norm), ([], []))
                        got[0].extend(labels)
                        got[1].append(proba)
            x = np.vstack(rows)
            out["window reference"][f"{corpus} {layout} windows ({len(speakers)} speakers)"] = {
                "bundle reference": _q(shift_score(x, mean, scale)),
                "window reference": _q(shift_score(x, w_mean, w_scale)),
                "speech reference": _q(shift_score(x, speech_ref[0], speech_ref[1])),
            }
            for (name, norm), (labels, parts) in acc.items():
                mode = "recording norm" if norm else "per window"
                key = f"{corpus} ({layout}), {mode}, {name}"
                timeline[key] = tc._scores(labels, np.vstack(parts), classes)
                print(key, timeline[key], flush=True)
    out["timeline"] = timeline
    if STORE.exists() and "clips" in (old := json.loads(STORE.read_text())):
        out["clips"], out["_run_clips"] = old["clips"], old["_run_clips"]
    out["_run"] = _run_record(start, "python benchmarks/timeline_shift_cause.py")
    STORE.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["window reference"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
