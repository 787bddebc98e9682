"""Which calibration carries over to another corpus? Methods compared on RAVDESS <-> EmoDB-2s.

A temperature fitted on out-of-fold predictions of the training corpus's own speakers leaves a
model over-confident on another corpus (accuracy falls, confidence does not). This script
compares calibrations, each fitted on development data only:

``none``
    The model's own probabilities.
``temperature``
    One temperature ``T`` fitted on out-of-fold predictions of held-out training speakers
    (``GroupKFold(3)``), what ``serkit train`` stores today.
``vector``
    Vector scaling on the same predictions: ``softmax(w * log p + b)``, one ``w`` and ``b``
    per class.
``aug-temperature``
    ``T`` fitted on the held-out speakers' clips *and* one degraded copy of each
    (``augment_table``: one random channel per speaker, telephone / noise / reverb / pitch...),
    i.e. out-of-fold under simulated shift. Not for the ``whisper`` rows (the encoder would
    have to run again on every degraded copy).
``temperature+blend``
    ``(1 - a) * softmax(log p / T) + a / K``: the in-corpus temperature, then a fixed share
    ``a`` of the uniform distribution. ``a`` is fitted (maximum likelihood) on the *other*
    direction only: for RAVDESS -> EmoDB-2s on a model trained on EmoDB-2s predicting RAVDESS
    (the development direction E>R); for E>R itself on R>E (so the E>R row is not a clean
    test of it either, but no row is scored on data its ``a`` was fitted on).

Every method keeps the arg-max except ``vector``. Scores: UAR, ECE (15 bins), share of wrong
answers with confidence >= 0.9, accuracy of answers with confidence in [0.75, 0.85], on the
6 shared classes, per clip; plus the in-corpus cost: RAVDESS speaker-kfold (5 folds, the
method fitted inside each training fold; ``a`` fixed from E>R).

Refit for a recipe (``--refit``): the shift-aware blend's ``blend``, ``center``, ``slope`` for
one recipe, fitted on the development direction only (the recipe trained on EmoDB-2s,
temperature-calibrated as ``EmotionRecognizer.calibrate`` does, predicting RAVDESS), never on
RAVDESS -> EmoDB-2s. The blend moves towards :func:`serkit.calibration.fallback_weights` (calm
and neutral share one share) and the other corpus's clips are scored the way the default
model is judged: calm counted as neutral, the arg-max restricted to the shared classes. The
held-out speakers of EmoDB-2s (5 folds by speaker, the recipe and its temperature fitted on
the other speakers) are the clips without shift. ``--recipe default`` uses the build script's
own recipe (``scripts/build_default_model.py``: its ``fit``, its ``AUGMENT`` degraded copies
of every training clip, added to each training fold for exactly that fold's clips, and its
``calibrate`` with ``CALIBRATION``, whose stored reference scores the shift, so a changed
recipe is refitted by the same command) and writes ``scripts/default_model_shift.json``, which
the build reads.

Usage::

    python benchmarks/calibration_shift.py --rows stats-logreg,whisper-logreg
    python benchmarks/calibration_shift.py --refit --recipe default      # the shipped recipe
    python benchmarks/calibration_shift.py --refit --features whisper:pad=10,pool=mean \
        --model logreg --params C=0.1 --out shift.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from serkit.calibration import (  # noqa: E402
    TemperatureScaling,
    VectorScaling,
    apply_calibration,
    apply_shift_blend,
    confident_error_share,
    expected_calibration_error,
    fit_shift_blend,
    fit_uniform_blend,
    shift_score,
)

DATA = REPO.parent / "shared" / "data"
CORPORA = {"ravdess": DATA / "ravdess-speech-16k", "emodb": DATA / "emodb-2s"}
SHARED = ("angry", "disgust", "fearful", "happy", "neutral", "sad")
STORE = REPO / "benchmarks" / "calibration_shift.json"
WHISPER_STORE = Path.home() / ".cache" / "serkit" / "whisper-bench" / "pad10-int8"

# row -> (features, model, params)
ROWS: dict[str, tuple[str, str, dict[str, float]]] = {
    "stats-logreg": ("stats", "logreg", {}),
    "stats-mlp": ("stats", "mlp", {}),
    "whisper-logreg": ("whisper", "logreg", {"C": 0.1}),
}
METHODS = (
    "none",
    "temperature",
    "vector",
    "aug-temperature",
    "temperature+blend",
    "temperature+shift-blend",
)


class Side:
    """One corpus's clips of the shared classes: features, labels, speakers, degraded copy."""

    def __init__(self, corpus: str, features: str, cache: Path, augment: bool) -> None:
        from serkit.corpora import load_corpus
        from serkit.workflows import augment_table, load_table

        if features == "whisper":
            data = np.load(WHISPER_STORE.with_suffix(f".{corpus}.npz"))
            meta = load_corpus(CORPORA[corpus], corpus).to_frame()
            X = np.asarray(data["mean"], dtype=np.float64)
            if len(X) != len(meta):
                raise SystemExit(f"{corpus}: whisper store differs from the corpus scan")
            self.X_aug = None
        else:
            table = load_table(
                CORPORA[corpus],
                corpus=corpus,
                features=features,
                cache_dir=cache,
                jobs=1,
                progress=True,
            )
            meta, X = table.meta, np.asarray(table.features, dtype=np.float64)
            self.X_aug = None
            if augment:
                aug = augment_table(table, copies=1, jobs=1, cache_dir=cache, progress=True)
                src = aug.meta["source_index"].to_numpy()
                full = np.full_like(X, np.nan)
                full[src] = np.asarray(aug.features, dtype=np.float64)
                self.X_aug = full
        y = meta["emotion"].astype(str).to_numpy()
        keep = np.isin(y, SHARED)
        self.X, self.y = X[keep], y[keep]
        self.speakers = meta["speaker"].astype(str).to_numpy()[keep]
        if self.X_aug is not None:
            self.X_aug = self.X_aug[keep]


def _model(row: str) -> Any:
    from serkit.models import make_model

    _, name, params = ROWS[row]
    return make_model(name, params=params)


def _index(y: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(SHARED), y)


def _oof(row: str, side: Side, rows: np.ndarray, k: int = 3) -> tuple[np.ndarray, ...]:
    """Out-of-fold probabilities of ``rows`` (clean and, if any, degraded), speakers grouped."""
    from sklearn.model_selection import GroupKFold

    p = np.zeros((len(rows), len(SHARED)))
    p_aug = np.full((len(rows), len(SHARED)), np.nan)
    score = np.zeros(len(rows))
    for tr, te in GroupKFold(n_splits=k).split(rows, groups=side.speakers[rows]):
        model = _model(row).fit(side.X[rows[tr]], side.y[rows[tr]])
        p[te] = model.predict_proba(side.X[rows[te]])
        score[te] = _score(model, side.X[rows[te]])
        if side.X_aug is not None:
            ok = ~np.isnan(side.X_aug[rows[te]]).any(axis=1)
            p_aug[te[ok]] = model.predict_proba(side.X_aug[rows[te][ok]])
    return p, p_aug, score


def _score(model: Any, X: np.ndarray) -> np.ndarray:
    """:func:`shift_score` against the fitted model's own scaler (its training statistics)."""
    scaler = model.named_steps["scaler"]
    return shift_score(X, scaler.mean_, scaler.scale_)


def _apply(raw: np.ndarray, cal: dict[str, Any] | None, score: np.ndarray) -> np.ndarray:
    if cal is None:
        return raw
    shift = cal.get("shift")
    out = apply_calibration(raw, {k: v for k, v in cal.items() if k != "shift"})
    return out if shift is None else apply_shift_blend(out, score, shift)


def fit_methods(
    row: str, side: Side, rows: np.ndarray, blend: float | None, shift: dict | None
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """Every method's calibration (plain dicts) from the training rows ``rows`` only, and
    the out-of-fold probabilities and shift scores they were fitted on."""
    p, p_aug, score = _oof(row, side, rows)
    truth = _index(side.y[rows])
    t = TemperatureScaling().fit(p, truth).to_dict()
    out: dict[str, Any] = {"none": None, "temperature": t}
    out["vector"] = VectorScaling().fit(p, truth).to_dict()
    ok = ~np.isnan(p_aug).any(axis=1)
    if ok.any():
        both = np.vstack([p, p_aug[ok]])
        out["aug-temperature"] = (
            TemperatureScaling().fit(both, np.concatenate([truth, truth[ok]])).to_dict()
        )
    if blend is not None:
        out["temperature+blend"] = {**t, "blend": blend}
    if shift is not None:
        out["temperature+shift-blend"] = {**t, "shift": shift}
    return out, (p, score)


def _scores(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import balanced_accuracy_score

    idx = _index(y)
    conf = p.max(axis=1)
    band = (conf >= 0.75) & (conf <= 0.85)
    right = p.argmax(axis=1) == idx
    return {
        "uar": float(balanced_accuracy_score(idx, p.argmax(axis=1))),
        "ece": expected_calibration_error(p, idx),
        "confident_errors": confident_error_share(p, idx),
        "mean_confidence": float(conf.mean()),
        "accuracy": float(right.mean()),
        "band_n": int(band.sum()),
        "band_accuracy": float(right[band].mean()) if band.any() else None,
    }


def cross(
    row: str, train: Side, test: Side, blend: float | None, shift: dict | None
) -> dict[str, Any]:
    """Train on all of ``train``, calibrate on its own folds, score on ``test``."""
    rows = np.arange(len(train.y))
    cals, oof = fit_methods(row, train, rows, blend, shift)
    model = _model(row).fit(train.X, train.y)
    raw, score = model.predict_proba(test.X), _score(model, test.X)
    out = {"calibrations": cals, "raw": raw, "score": score, "oof": oof}
    out["scores"] = {m: _scores(_apply(raw, c, score), test.y) for m, c in cals.items()}
    out["score_quantiles"] = {
        "test": np.percentile(score, [10, 50, 90]).tolist(),
        "held-out speakers": np.percentile(oof[1], [10, 50, 90]).tolist(),
    }
    return out


def in_corpus(
    row: str, side: Side, blend: float | None, shift: dict | None, folds: int = 5
) -> dict[str, Any]:
    """Speaker-kfold on one corpus; each method fitted inside each outer training fold."""
    from sklearn.model_selection import GroupKFold

    probs: dict[str, np.ndarray] = {}
    for tr, te in GroupKFold(n_splits=folds).split(side.X, groups=side.speakers):
        cals, _ = fit_methods(row, side, tr, blend, shift)
        model = _model(row).fit(side.X[tr], side.y[tr])
        raw, score = model.predict_proba(side.X[te]), _score(model, side.X[te])
        for m, c in cals.items():
            probs.setdefault(m, np.zeros((len(side.y), len(SHARED))))[te] = _apply(raw, c, score)
    return {m: _scores(p, side.y) for m, p in probs.items()}


def run(row: str, cache: Path) -> dict[str, Any]:
    start = time.perf_counter()
    features = ROWS[row][0]
    r = Side("ravdess", features, cache, augment=features != "whisper")
    e = Side("emodb", features, cache, augment=features != "whisper")
    dev_er = cross(row, e, r, None, None)  # E>R: the development direction
    blend_re, shift_re = _fit_shift(dev_er, e, r)
    test_re = cross(row, r, e, blend_re, shift_re)
    blend_er, shift_er = _fit_shift(test_re, r, e)
    dev_er = cross(row, e, r, blend_er, shift_er)
    return {
        "R>E all clip": test_re["scores"],
        "E>R all clip": dev_er["scores"],
        "RAVDESS kfold 6": in_corpus(row, r, blend_re, shift_re),
        "blend R>E (fitted on E>R)": blend_re,
        "blend E>R (fitted on R>E)": blend_er,
        "shift R>E (fitted on E>R)": shift_re,
        "shift E>R (fitted on R>E)": shift_er,
        "shift scores R>E": test_re["score_quantiles"],
        "shift scores E>R": dev_er["score_quantiles"],
        "calibrations R>E": test_re["calibrations"],
        "seconds": round(time.perf_counter() - start, 1),
        "load_1min": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _fit_shift(result: dict[str, Any], train: Side, test: Side) -> tuple[float, dict]:
    """Uniform blend and shift-aware blend from one direction's predictions (after its
    in-corpus temperature): the other direction's development figures."""
    t = result["calibrations"]["temperature"]
    p_out = apply_calibration(result["raw"], t)
    p_in, s_in = result["oof"]
    blend = fit_uniform_blend(p_out, _index(test.y))
    shift = fit_shift_blend(
        apply_calibration(p_in, t), s_in, _index(train.y), p_out, result["score"], _index(test.y)
    )
    return blend, shift


def bundle_check(cache: Path) -> dict[str, Any]:
    """The shipped implementation: ``EmotionRecognizer.calibrate(shift=DEFAULT_SHIFT)`` on
    whisper:pad=10,pool=mean + logreg(C=0.1), all 8 RAVDESS classes: RAVDESS -> EmoDB-2s
    (scored on the 6 shared classes, the arg-max taken over them) and RAVDESS speaker-kfold
    (5 folds, 8 classes), with temperature only and with the shift-aware blend."""
    import warnings

    from sklearn.model_selection import GroupKFold

    from serkit.calibration import DEFAULT_SHIFT
    from serkit.corpora import load_corpus
    from serkit.recognizer import EmotionRecognizer

    start = time.perf_counter()
    sides = {}
    for corpus in ("ravdess", "emodb"):
        data = np.load(WHISPER_STORE.with_suffix(f".{corpus}.npz"))
        meta = load_corpus(CORPORA[corpus], corpus).to_frame()
        sides[corpus] = (
            np.asarray(data["mean"], dtype=np.float64),
            meta["emotion"].astype(str).to_numpy(),
            meta["speaker"].astype(str).to_numpy(),
        )
    X, y, g = sides["ravdess"]

    def fitted(rows: np.ndarray) -> EmotionRecognizer:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = EmotionRecognizer("whisper", "logreg", params={"C": 0.1})
            rec.fit(X[rows], y[rows], groups=g[rows])
            rec.calibrate(X[rows], y[rows], groups=g[rows], shift=DEFAULT_SHIFT)
        return rec

    def both(rec: EmotionRecognizer, Xt: np.ndarray) -> dict[str, np.ndarray]:
        shifted = rec.predict_proba(Xt)
        cal = {k: v for k, v in rec.calibration_.items() if k != "shift"}
        plain = apply_calibration(rec.predict_uncalibrated(Xt), cal)
        return {"temperature": plain, "temperature+shift-blend": shifted}

    out: dict[str, Any] = {}
    rec = fitted(np.arange(len(y)))
    Xe, ye, _ = sides["emodb"]
    keep = np.isin(ye, SHARED)
    cols = [list(rec.classes_).index(c) for c in SHARED]
    for name, p in both(rec, Xe[keep]).items():
        q = p[:, cols] / p[:, cols].sum(axis=1, keepdims=True)
        out.setdefault("R>E all clip", {})[name] = _scores(q, ye[keep])
    probs: dict[str, np.ndarray] = {}
    labels = np.asarray(sorted(set(y)))
    for tr, te in GroupKFold(n_splits=5).split(X, groups=g):
        for name, p in both(fitted(tr), X[te]).items():
            probs.setdefault(name, np.zeros((len(y), len(labels))))[te] = p
    from sklearn.metrics import balanced_accuracy_score

    idx = np.searchsorted(labels, y)
    for name, p in probs.items():
        conf, right = p.max(axis=1), p.argmax(axis=1) == idx
        band = (conf >= 0.75) & (conf <= 0.85)
        out.setdefault("RAVDESS kfold 8", {})[name] = {
            "uar": float(balanced_accuracy_score(idx, p.argmax(axis=1))),
            "ece": expected_calibration_error(p, idx),
            "confident_errors": confident_error_share(p, idx),
            "band_n": int(band.sum()),
            "band_accuracy": float(right[band].mean()) if band.any() else None,
        }
    out["shift"] = dict(DEFAULT_SHIFT)
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["load_1min"] = round(os.getloadavg()[0], 2)
    out["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return out


DEFAULT_SHIFT_FILE = REPO / "scripts" / "default_model_shift.json"
Data = tuple[np.ndarray, np.ndarray, np.ndarray]  # features, labels, speaker groups


def _judged(
    proba: np.ndarray, classes: list[str], y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """How another corpus judges a model: each column's group (calm -> neutral) among the
    shared groups (``-1``: dropped), the rows whose true group is shared, their group
    index, and the shared groups."""
    from serkit.corpora._emotions import emotion_group

    col = [emotion_group(c) for c in classes]
    truth = np.array([emotion_group(v) for v in y.tolist()])
    shared = sorted(set(col) & set(truth.tolist()))
    groups = np.array([shared.index(g) if g in shared else -1 for g in col])
    rows = np.isin(truth, shared)
    return groups, rows, np.searchsorted(np.asarray(shared), truth[rows]), shared


def _merged(proba: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Columns summed into their groups, dropped ones left out, renormalised."""
    out = np.zeros((len(proba), n))
    for j, g in enumerate(groups.tolist()):
        if g >= 0:
            out[:, g] += proba[:, j]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


def refit_shift(
    fit: Any,
    train: Data,
    other: Data,
    *,
    folds: int = 5,
    training: Callable[[np.ndarray], Data] | None = None,
) -> dict[str, Any]:
    """Shift-blend parameters for a recipe from the development direction.

    ``fit(X, y, groups)`` returns a fitted, temperature-calibrated recognizer; ``train``
    is the corpus it is trained on (EmoDB-2s), ``other`` the corpus it predicts (RAVDESS).
    ``training(rows)`` gives the training rows for the clips ``rows`` of ``train`` (a
    recipe with augmented copies adds the copies of exactly those clips); by default the
    clips themselves. The shift scores use the reference the recognizer stores when its
    calibration has a shift part (what the bundle will use), else the training rows'.
    """
    from sklearn.model_selection import GroupKFold

    from serkit.calibration import (
        apply_shift_blend,
        fallback_weights,
        fit_shift_blend,
    )

    X, y, g = train

    def rows_of(idx: np.ndarray) -> Data:
        return training(idx) if training is not None else (X[idx], y[idx], g[idx])

    rec = fit(*rows_of(np.arange(len(y))))
    classes = np.asarray(rec.classes_).astype(str).tolist()
    pos = {c: j for j, c in enumerate(classes)}
    p_in, s_in = np.zeros((len(y), len(classes))), np.zeros(len(y))
    for tr, te in GroupKFold(n_splits=folds).split(X, y, g):
        Xt, yt, gt = rows_of(tr)
        inner = fit(Xt, yt, gt)
        cols = [pos[str(c)] for c in np.asarray(inner.classes_).tolist()]
        p_in[np.ix_(te, cols)] = _temperature_only(inner, X[te])
        s_in[te] = _shift_scores(inner, Xt, X[te])
    Xo, yo, _ = other
    p_out = _temperature_only(rec, Xo)
    s_out = _shift_scores(rec, rows_of(np.arange(len(y)))[0], Xo)
    groups, rows, truth, shared = _judged(p_out, classes, yo)
    fallback = fallback_weights(classes)
    y_in = np.array([pos[c] for c in y.astype(str).tolist()])
    shift = fit_shift_blend(
        p_in, s_in, y_in, p_out[rows], s_out[rows], truth, fallback=fallback, out_groups=groups
    )
    full = {**shift, "fallback": fallback}
    judged = {
        "temperature": _merged(p_out[rows], groups, len(shared)),
        "temperature+shift": _merged(
            apply_shift_blend(p_out[rows], s_out[rows], full), groups, len(shared)
        ),
    }
    held_out = {"temperature": p_in, "temperature+shift": apply_shift_blend(p_in, s_in, full)}
    return {
        **shift,
        "classes": classes,
        "fallback": fallback,
        "development": {
            "other corpus (judged: calm as neutral, shared classes)": {
                k: _dev_scores(v, truth) for k, v in judged.items()
            },
            "held-out speakers of the training corpus": {
                k: _dev_scores(v, y_in) for k, v in held_out.items()
            },
            "shared classes": shared,
            "shift score quantiles 10/50/90": {
                "held-out speakers": np.percentile(s_in, [10, 50, 90]).round(3).tolist(),
                "other corpus": np.percentile(s_out, [10, 50, 90]).round(3).tolist(),
            },
        },
    }


def _shift_scores(rec: Any, X_train: np.ndarray, X: np.ndarray) -> np.ndarray:
    """:func:`shift_score` of ``X`` against the reference ``rec`` stores in its calibration
    (the bundle's), or against ``X_train`` when it stores none."""
    from serkit.calibration import shift_reference

    ref = (rec.calibration_ or {}).get("shift") or shift_reference(X_train)
    return shift_score(X, np.asarray(ref["mean"]), np.asarray(ref["scale"]))


def _temperature_only(rec: Any, X: np.ndarray) -> np.ndarray:
    """The recognizer's probabilities with its temperature and without any shift part."""
    cal = {k: v for k, v in (rec.calibration_ or {}).items() if k != "shift"}
    return apply_calibration(rec.predict_uncalibrated(X), cal or None)


def _dev_scores(p: np.ndarray, idx: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score

    return {
        "uar": round(float(balanced_accuracy_score(idx, p.argmax(axis=1))), 4),
        "ece": round(expected_calibration_error(p, idx), 4),
        "confident_errors": round(confident_error_share(p, idx), 4),
    }


def _recipe(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """``fit(X, y, groups)`` (fitted + temperature-calibrated), a loader of (train, other)
    arrays, and the recipe's description."""
    from serkit.recognizer import EmotionRecognizer
    from serkit.workflows import load_table

    if args.recipe == "default":
        # the three-corpus default fits its blend on leave-one-corpus-out predictions
        sys.exit(
            "the default model's blend is fitted by python scripts/build_default_model.py "
            "--fit-shift (leave-one-corpus-out over its three corpora); --refit here fits the "
            "two-corpus EmoDB-2s -> RAVDESS direction for --features/--model recipes"
        )
    params = {}
    for item in [i for i in args.params.split(",") if i]:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)

    def fit(X: np.ndarray, y: np.ndarray, g: np.ndarray) -> Any:
        rec = EmotionRecognizer(features=args.features, model=args.model, params=params)
        return rec.fit(X, y, groups=g).calibrate(X, y, groups=g)

    def load(cache: Path) -> tuple[Data, Data, None]:
        out = []
        for corpus in ("emodb", "ravdess"):
            t = load_table(CORPORA[corpus], corpus=corpus, features=args.features,
                           cache_dir=cache, progress=True)  # fmt: skip
            out.append((
                np.asarray(t.features, dtype=np.float64),
                t.meta["emotion"].astype(str).to_numpy(),
                t.meta["speaker"].astype(str).to_numpy(),
            ))  # fmt: skip
        return out[0], out[1], None

    return fit, load, f"{args.features} + {args.model} {params}"


def refit_main(args: argparse.Namespace) -> int:
    """``--refit``: fit the recipe's shift-blend parameters, print and write them."""
    import warnings

    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    fit, load, desc = _recipe(args)
    train, other, training = load(args.cache_dir)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = refit_shift(fit, train, other, training=training)
    out = {
        "blend": round(result.pop("blend"), 4),
        "center": round(result.pop("center"), 4),
        "slope": round(result.pop("slope"), 4),
        "recipe": desc,
        "fitted_on": "EmoDB-2s -> RAVDESS (development direction) and held-out EmoDB-2s "
        "speakers; never RAVDESS -> EmoDB-2s",
        "command": "python benchmarks/calibration_shift.py " + " ".join(sys.argv[1:]),
        **result,
        "seconds": round(time.perf_counter() - start, 1),
        "load_1min": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(out, indent=1) + "\n"
    print(text, end="")
    target = args.out or (DEFAULT_SHIFT_FILE if args.recipe == "default" else None)
    if target is not None:
        target.write_text(text)
        print(f"wrote {target}", file=sys.stderr)
    return 0


def table(store: dict[str, Any]) -> str:
    lines = [
        "| row | method | R>E UAR | R>E ECE | R>E wrong >= 0.9 | R>E acc. at 0.75-0.85 (n) "
        "| E>R (dev) ECE | E>R wrong >= 0.9 | RAVDESS kfold ECE | RAVDESS kfold UAR |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, r in store.items():
        if row.startswith("_") or row == "bundle":
            continue
        for m in METHODS:
            if m not in r["R>E all clip"]:
                continue
            a, d, k = r["R>E all clip"][m], r["E>R all clip"][m], r["RAVDESS kfold 6"][m]
            band = "-" if not a["band_n"] else f"{100 * a['band_accuracy']:.0f} % ({a['band_n']})"
            lines.append(
                f"| {row} | {m} | {100 * a['uar']:.1f} % | {a['ece']:.3f} "
                f"| {100 * a['confident_errors']:.0f} % | {band} | {d['ece']:.3f} "
                f"| {100 * d['confident_errors']:.0f} % | {k['ece']:.3f} | {100 * k['uar']:.1f} % |"
            )
    return "\n".join(lines)


def main() -> int:
    from serkit.cli import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--table", action="store_true", help="only print the stored table")
    parser.add_argument(
        "--bundle", action="store_true", help="check the EmotionRecognizer implementation"
    )
    refit = parser.add_argument_group("--refit: shift-blend parameters for one recipe")
    refit.add_argument("--refit", action="store_true", help="fit the blend for a recipe")
    refit.add_argument(
        "--recipe", choices=("default",), default=None,
        help="the default model's recipe (scripts/build_default_model.py); writes "
        f"{DEFAULT_SHIFT_FILE.relative_to(REPO)}",
    )  # fmt: skip
    refit.add_argument("--features", default="whisper:pad=0,pool=mean")
    refit.add_argument("--model", default="logreg")
    refit.add_argument("--params", default="C=0.1", help="KEY=JSON,... model parameters")
    refit.add_argument("--out", type=Path, default=None, help="write the fitted JSON here")
    args = parser.parse_args()
    if args.refit:
        return refit_main(args)
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    if args.bundle:
        result = bundle_check(args.cache_dir)
        store = json.loads(STORE.read_text()) if STORE.exists() else {}
        store["bundle"] = result
        STORE.write_text(json.dumps(store, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return 0
    if not args.table:
        for row in [r for r in args.rows.split(",") if r]:
            if row not in ROWS:
                parser.error(f"unknown row {row!r}; rows: {', '.join(ROWS)}")
            print(f"== {row}", file=sys.stderr, flush=True)
            result = run(row, args.cache_dir)
            store = json.loads(STORE.read_text()) if STORE.exists() else {}
            store[row] = result
            STORE.write_text(json.dumps(store, indent=1) + "\n")
    print(table(store))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
