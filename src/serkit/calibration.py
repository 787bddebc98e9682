"""How far to trust a probability: calibration metrics and temperature scaling.

Metrics are plain functions over numpy arrays:

- :func:`expected_calibration_error` (ECE): top-class confidence in 15 equal-width
  bins, the clip-weighted mean gap between each bin's accuracy and its mean
  confidence (Guo et al., 2017, "On calibration of modern neural networks").
- :func:`brier_score`: multiclass Brier score, the mean over clips of the sum over
  classes of the squared difference between the probability and the one-hot label.
- :func:`reliability_bins`: the per-bin numbers behind a reliability diagram.
- :func:`confident_error_share`: the share of wrong answers given with a
  confidence of at least a threshold (0.9), the answers a user is most likely to
  act on.

:class:`TemperatureScaling` divides the log-probabilities by one number ``T``
fitted by maximum likelihood on held-out predictions; ``T > 1`` softens an
over-confident model. It never changes the arg-max, so UAR and accuracy stay the
same. :class:`CalibratedClassifier` wraps any serkit estimator: in ``fit`` it
predicts the training clips out-of-fold with inner folds grouped by speaker, fits
the temperature on those predictions, then fits the estimator on all the training
clips. Nothing here reads test data.

A temperature fitted on the training corpus does not carry over to another corpus
(accuracy falls, confidence does not). The *shift-aware blend*
(:func:`apply_shift_blend`, ``shift`` in a bundle's calibration) mixes a share of a
fallback distribution into each clip's probabilities that grows with the clip's
distance from the training features (:func:`shift_score`); its three numbers
(:data:`DEFAULT_SHIFT`) were fitted on a development pair of corpora
(``benchmarks/calibration_shift.py``). The fallback (:func:`fallback_weights`, stored
as ``shift["fallback"]``) gives one equal share to each group of classes that other
corpora do not tell apart (calm and neutral share one), so every arg-max over merged
groups is kept; a ``shift`` part without it blends towards the uniform distribution
(bundles written before the fallback existed). :func:`fit_uniform_blend` and
:class:`VectorScaling` are the alternatives measured against it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._errors import ParameterError
from ._estimator import BaseEstimator, ClassifierMixin, NotFittedError, clone

__all__ = [
    "CalibratedClassifier",
    "TemperatureScaling",
    "VectorScaling",
    "apply_calibration",
    "apply_shift_blend",
    "apply_uniform_blend",
    "brier_score",
    "calibrate_proba",
    "calibration_scores",
    "confident_error_share",
    "expected_calibration_error",
    "fallback_weights",
    "fit_shift_blend",
    "fit_uniform_blend",
    "reliability_bins",
    "shift_reference",
    "shift_score",
]

logger = logging.getLogger(__name__)

_EPS = 1e-12


def _check(proba: ArrayLike, y_index: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_index)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ParameterError(f"proba must be 2-D (n_clips, n_classes) and non-empty, got {p.shape}")
    if y.shape != (p.shape[0],):
        raise ParameterError(
            f"y_index must have one entry per row of proba: {y.shape} vs {p.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= p.shape[1]:
        raise ParameterError(
            f"y_index must hold integer column indices in [0, {p.shape[1]}), got {y[:5]!r}..."
        )
    if not np.isfinite(p).all():
        raise ParameterError("proba holds NaN or infinite values")
    return p, y.astype(np.intp)


def label_index(y: ArrayLike, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Column index of each label in ``labels`` (the columns of a probability matrix).

    Raises
    ------
    ParameterError
        A label is not in ``labels``.
    """
    pos = {label: j for j, label in enumerate(labels)}
    try:
        return np.array([pos[v] for v in np.asarray(y).tolist()], dtype=np.intp)
    except KeyError as exc:
        raise ParameterError(f"label {exc.args[0]!r} is not one of {list(labels)!r}") from exc


def reliability_bins(
    proba: ArrayLike, y_index: ArrayLike, *, n_bins: int = 15
) -> dict[str, list[float]]:
    """Top-class confidence against accuracy in equal-width bins.

    Bin ``b`` holds the clips whose top-class probability lies in
    ``(b / n_bins, (b + 1) / n_bins]`` (the first bin also takes 0).

    Parameters
    ----------
    proba : array-like [shape=(n_clips, n_classes)]
        Probabilities (rows sum to 1).
    y_index : array-like of int [shape=(n_clips,)]
        Column of the true class of each clip.
    n_bins : int > 0, default=15

    Returns
    -------
    bins : dict of lists, each [length n_bins]
        ``lower``, ``upper`` (bin edges), ``count``, ``confidence`` (mean top-class
        probability, 0 for an empty bin) and ``accuracy`` (share right, 0 if empty).

    Examples
    --------
    >>> b = reliability_bins([[0.95, 0.05], [0.6, 0.4]], [0, 1], n_bins=2)
    >>> b["count"], b["accuracy"]
    ([0, 2], [0.0, 0.5])
    """
    p, y = _check(proba, y_index)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ParameterError(f"n_bins must be an int >= 1, got n_bins={n_bins!r}")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    which = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=conf, minlength=n_bins)
    hit_sum = np.bincount(which, weights=correct, minlength=n_bins)
    safe = np.maximum(count, 1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {
        "lower": edges[:-1].tolist(),
        "upper": edges[1:].tolist(),
        "count": count.astype(int).tolist(),
        "confidence": (conf_sum / safe).tolist(),
        "accuracy": (hit_sum / safe).tolist(),
    }


def expected_calibration_error(proba: ArrayLike, y_index: ArrayLike, *, n_bins: int = 15) -> float:
    """ECE of the top class: ``sum_b (n_b / n) * |accuracy_b - confidence_b|``.

    Bins as in :func:`reliability_bins` (15 equal-width bins by default). 0 is
    perfect; a model that always says 1.0 and is right 60 % of the time scores 0.4.

    Parameters
    ----------
    proba : array-like [shape=(n_clips, n_classes)]
    y_index : array-like of int [shape=(n_clips,)]
        Column of the true class of each clip.
    n_bins : int > 0, default=15

    Returns
    -------
    ece : float in [0, 1]

    Examples
    --------
    >>> expected_calibration_error([[1.0, 0.0], [1.0, 0.0]], [0, 1])
    0.5
    """
    bins = reliability_bins(proba, y_index, n_bins=n_bins)
    count = np.asarray(bins["count"], dtype=float)
    gap = np.abs(np.asarray(bins["accuracy"]) - np.asarray(bins["confidence"]))
    return float((count * gap).sum() / count.sum())


def brier_score(proba: ArrayLike, y_index: ArrayLike) -> float:
    """Multiclass Brier score: mean over clips of ``sum_k (p_k - [k == true])**2``.

    0 is perfect; 2 is a confident wrong answer on every clip; a uniform guess
    over ``K`` classes scores ``1 - 1/K``.

    Parameters
    ----------
    proba : array-like [shape=(n_clips, n_classes)]
    y_index : array-like of int [shape=(n_clips,)]

    Returns
    -------
    brier : float in [0, 2]

    Examples
    --------
    >>> brier_score([[0.5, 0.5], [1.0, 0.0]], [0, 1])
    1.25
    """
    p, y = _check(proba, y_index)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(((p - onehot) ** 2).sum(axis=1).mean())


def confident_error_share(proba: ArrayLike, y_index: ArrayLike, *, threshold: float = 0.9) -> float:
    """Share of the wrong answers whose top-class probability is >= ``threshold``.

    Returns 0.0 when no answer is wrong.

    Examples
    --------
    >>> confident_error_share([[0.95, 0.05], [0.6, 0.4], [0.2, 0.8]], [1, 1, 1])
    0.5
    """
    p, y = _check(proba, y_index)
    wrong = p.argmax(axis=1) != y
    if not wrong.any():
        return 0.0
    return float((p.max(axis=1)[wrong] >= threshold).mean())


def calibration_scores(
    proba: ArrayLike, y: ArrayLike, labels: Sequence[Any], *, n_bins: int = 15
) -> dict[str, Any]:
    """``ece``, ``brier``, ``confident_errors`` (share of wrong answers with confidence
    >= 0.9) and ``reliability`` (:func:`reliability_bins`) of labelled predictions."""
    index = label_index(y, labels)
    return {
        "ece": expected_calibration_error(proba, index, n_bins=n_bins),
        "brier": brier_score(proba, index),
        "confident_errors": confident_error_share(proba, index),
        "reliability": reliability_bins(proba, index, n_bins=n_bins),
    }


def _log_proba(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba, _EPS, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(proba: ArrayLike, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / temperature)``; temperature 1 returns ``proba`` itself.

    Examples
    --------
    >>> apply_temperature([[0.8, 0.2]], 1.0).tolist()
    [[0.8, 0.2]]
    """
    p = np.asarray(proba, dtype=np.float64)
    if not np.isfinite(temperature) or temperature <= 0:
        raise ParameterError(f"temperature must be a positive number, got {temperature!r}")
    if temperature == 1.0:
        return p
    return _softmax(_log_proba(p) / temperature)


def apply_uniform_blend(proba: ArrayLike, blend: float) -> np.ndarray:
    """``(1 - blend) * proba + blend / K``: a fixed share of the uniform distribution.

    Caps the top-class confidence at ``1 - blend + blend / K`` and keeps the
    arg-max; ``blend`` 0 returns ``proba`` itself.

    Examples
    --------
    >>> apply_uniform_blend([[0.9, 0.1]], 0.2).round(6).tolist()
    [[0.82, 0.18]]
    """
    p = np.asarray(proba, dtype=np.float64)
    if isinstance(blend, bool) or not np.isfinite(blend) or not 0.0 <= blend < 1.0:
        raise ParameterError(f"blend must be a number in [0, 1), got {blend!r}")
    if blend == 0.0:
        return p
    return (1.0 - blend) * p + blend / p.shape[1]


def fit_uniform_blend(proba: ArrayLike, y_index: ArrayLike, *, max_blend: float = 0.99) -> float:
    """The share ``a`` of the uniform distribution that maximises the likelihood of
    ``(1 - a) * proba + a / K`` on labelled predictions (bounded scalar search).

    Meant for predictions under a shift the calibration should allow for (a model
    trained on one corpus predicting another); 0 when blending does not help.

    Examples
    --------
    >>> fit_uniform_blend([[0.99, 0.01], [0.99, 0.01]], [0, 1]) > 0.5
    True
    """
    from scipy.optimize import minimize_scalar

    p, y = _check(proba, y_index)
    rows = np.arange(len(y))
    k = p.shape[1]

    def nll(a: float) -> float:
        return float(-np.log(np.clip((1 - a) * p[rows, y] + a / k, _EPS, None)).mean())

    found = minimize_scalar(nll, bounds=(0.0, max_blend), method="bounded", options={"xatol": 1e-5})
    return float(found.x) if found.fun < nll(0.0) else 0.0


def apply_calibration(proba: ArrayLike, calibration: Mapping[str, Any] | None) -> np.ndarray:
    """Apply a stored calibration (the dict of ``calibration.json`` or ``to_dict``).

    ``{"method": "temperature", "temperature": T[, "blend": a]}``:
    ``(1 - a) * softmax(log p / T) + a / K``; ``{"method": "vector", "weight": [..],
    "bias": [..]}``: :class:`VectorScaling`. None returns ``proba`` unchanged.

    Examples
    --------
    >>> apply_calibration([[0.8, 0.2]], {"method": "temperature", "temperature": 1.0,
    ...                                  "blend": 0.5}).round(6).tolist()
    [[0.65, 0.35]]
    """
    if calibration is None:
        return np.asarray(proba, dtype=np.float64)
    if calibration.get("method") == "vector":
        return VectorScaling.from_dict(calibration).predict_proba(proba)
    scaler = TemperatureScaling.from_dict(calibration)
    blend = _check_blend(calibration.get("blend"))
    return apply_uniform_blend(scaler.predict_proba(proba), blend)


def _check_blend(value: Any) -> float:
    """A stored ``blend`` (None or missing: 0)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ParameterError(f"calibration blend must be a number in [0, 1), got {value!r}")
    return float(value)


def shift_score(X: ArrayLike, mean: ArrayLike, scale: ArrayLike) -> np.ndarray:
    """How unlike the training clips each row is: ``log(mean_j ((x_j - mean_j) / scale_j)**2)``.

    ``mean`` and ``scale`` are the training features' mean and standard deviation, so
    a clip of the training corpus (or a new speaker of it) scores about 0 and a clip
    of another corpus, microphone or language scores higher (whisper features:
    held-out RAVDESS speakers -0.4 to 0.4, EmoDB-2s clips 1.8 to 2.2 under a RAVDESS
    model). Dividing by the number of features makes the score comparable across
    feature sets.

    Examples
    --------
    >>> shift_score([[1.0, 1.0], [0.0, 0.0]], [0.0, 0.0], [1.0, 1.0]).round(3).tolist()
    [0.0, -27.631]
    """
    x = np.asarray(X, dtype=np.float64)
    m, sd = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    if x.ndim != 2 or m.shape != (x.shape[1],) or sd.shape != m.shape:
        raise ParameterError(
            f"shift score needs rows of {m.shape} features with a scale per feature, got {x.shape}"
        )
    z = (x - m) / np.where(sd > 0, sd, 1.0)
    return np.log(np.maximum(np.mean(z**2, axis=1), _EPS))


def shift_blend_weight(score: ArrayLike, shift: Mapping[str, Any]) -> np.ndarray:
    """Share of the uniform distribution per clip: ``blend * sigmoid(slope * (score - center))``.

    Examples
    --------
    >>> shift_blend_weight([1.0], {"blend": 0.5, "center": 1.0, "slope": 4.0}).tolist()
    [0.25]
    """
    from ._special import expit  # scipy.special.expit's arithmetic, without scipy

    s = np.asarray(score, dtype=np.float64)
    return float(shift["blend"]) * expit(float(shift["slope"]) * (s - float(shift["center"])))


def fallback_weights(classes: Sequence[Any]) -> list[float]:
    """The distribution the shift-aware blend moves towards, one weight per class.

    Classes that other corpora do not tell apart form one group
    (:func:`serkit.corpora._emotions.emotion_group`: calm and neutral); each of the ``G``
    groups present gets ``1 / G``, split equally between its classes. A model without
    calm gives neutral a full share; without merged classes this is the uniform
    distribution.

    Why: a model is judged on another corpus with its classes merged into groups (calm
    answers counted as neutral) and the arg-max restricted to the classes that corpus
    has. Blending towards the uniform distribution would give the merged neutral twice
    the share of any other group and turn uncertain answers into neutral; with one share
    per group, every such judged arg-max is kept (:func:`apply_shift_blend`).

    Examples
    --------
    >>> fallback_weights(["angry", "calm", "neutral", "sad"])
    [0.3333333333333333, 0.16666666666666666, 0.16666666666666666, 0.3333333333333333]
    >>> fallback_weights(["angry", "neutral"])
    [0.5, 0.5]
    """
    from collections import Counter

    from .corpora._emotions import emotion_group

    groups = [emotion_group(c) for c in classes]
    if not groups:
        raise ParameterError("fallback weights need at least one class")
    size = Counter(groups)
    return [1.0 / (len(size) * size[g]) for g in groups]


def apply_shift_blend(proba: ArrayLike, score: ArrayLike, shift: Mapping[str, Any]) -> np.ndarray:
    """``(1 - a(s)) * proba + a(s) * f`` with ``a`` from :func:`shift_blend_weight` and ``f``
    the stored ``shift["fallback"]`` (:func:`fallback_weights`), or ``1 / K`` for each of
    the ``K`` classes when there is none: clips unlike the training data get flatter
    probabilities.

    What the blend keeps (``0 <= a < 1``; ``f`` gives each group of merged classes the
    same total ``1 / G``): merge any groups' columns by summing them, keep any set of
    groups, and compare two of them, ``g`` and ``h``::

        q(g) - q(h) = (1 - a) * (p(g) - p(h)) + a * (1/G - 1/G) = (1 - a) * (p(g) - p(h))

    so the order of every two merged groups, hence every arg-max restricted to a set of
    merged groups (renormalised or not: a positive factor), is that of ``proba``; so is
    the order of two classes of equal weight (two unmerged classes, the arg-max of any
    model without merged classes). Only the order of a member of a merged group (calm or
    neutral, weight ``1 / (2G)``) and another class can change: ``q(c) - q(d) =
    (1 - a) * (p(c) - p(d)) - a / (2G)``, so it flips only where ``p(d) < p(c) < p(d) +
    a / (2G (1 - a))``.

    Examples
    --------
    >>> apply_shift_blend([[0.9, 0.1]], [1.0], {"blend": 0.4, "center": 1.0, "slope": 4.0}
    ...                   ).round(3).tolist()
    [[0.82, 0.18]]
    """
    p = np.asarray(proba, dtype=np.float64)
    a = shift_blend_weight(score, shift)[:, None]
    fallback = shift.get("fallback")
    if fallback is None:
        return (1.0 - a) * p + a / p.shape[1]
    f = np.asarray(fallback, dtype=np.float64)
    if f.shape != (p.shape[1],):
        raise ParameterError(
            f"the shift-aware calibration has {f.size} fallback weights for {p.shape[1]} classes"
        )
    return (1.0 - a) * p + a * f


# Shift-aware blend fitted on development data only (``python benchmarks/calibration_shift.py``,
# 2026-12-02): a whisper:pad=10,pool=mean + logreg(C=0.1) model trained on EmoDB-2s, its
# held-out speakers against its predictions of RAVDESS (the development direction E>R, 6
# shared classes). ``center`` and ``slope`` are in units of :func:`shift_score`. The shipped
# default model uses its own recipe's fit (``scripts/default_model_shift.json``, written by
# ``python benchmarks/calibration_shift.py --refit --recipe default``).
DEFAULT_SHIFT: dict[str, float] = {"blend": 0.726, "center": 1.186, "slope": 8.0}


def _shift_matrix(X: Any, width: int, key: str | None = None) -> np.ndarray:
    """The vector feature set the shift score reads: ``X`` itself, or from a mapping (an
    ensemble's or an ONNX model's inputs) the entry ``key``, else the first 2-D entry with
    ``width`` columns."""
    if isinstance(X, Mapping):
        named = X.get(key) if key is not None else None
        candidates = ([named] if named is not None else []) + list(X.values())
        for value in candidates:
            if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == width:
                return value
        raise ParameterError(
            f"the shift-aware calibration reads a vector feature set of {width} values; "
            f"none of the inputs ({', '.join(map(str, X))}) has that width"
        )
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != width:
        raise ParameterError(
            f"the shift-aware calibration reads {width} features per clip, got shape {x.shape}"
        )
    return x


def shift_reference(X: Any) -> dict[str, Any]:
    """``mean`` and ``scale`` (standard deviation) of training features for
    :func:`shift_score`, from ``X`` or the first vector feature set of a mapping (its
    key then stored as ``features``).

    Raises
    ------
    ParameterError
        No vector feature set (a network's frame sequences only).
    """
    key: str | None = None
    if isinstance(X, Mapping):
        matrices = [(str(k), v) for k, v in X.items() if isinstance(v, np.ndarray) and v.ndim == 2]
        if not matrices:
            raise ParameterError(
                "the shift-aware calibration needs a vector feature set (not frames only)"
            )
        key, X = matrices[0]
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ParameterError(
            "the shift-aware calibration needs a vector feature set (not frames only)"
        )
    out: dict[str, Any] = {"mean": x.mean(axis=0).tolist(), "scale": x.std(axis=0).tolist()}
    if key is not None:
        out["features"] = key
    return out


def calibrate_proba(
    proba: ArrayLike,
    calibration: Mapping[str, Any] | None,
    X: Any = None,
    *,
    session: bool = False,
) -> np.ndarray:
    """Apply a bundle's calibration: its temperature (``session_temperature`` when
    ``session``), then, when it has a ``shift`` part, the shift-aware blend computed
    from the clips' features ``X``. The temperature and a blend towards the uniform
    distribution keep the arg-max; a blend towards a stored ``fallback`` keeps the arg-max
    over its groups of classes (the top class may move from a member of a merged group,
    calm or neutral, to another class: :func:`apply_shift_blend`)."""
    p = np.asarray(proba, dtype=np.float64)
    if not calibration:
        return p
    t = calibration.get("session_temperature" if session else "temperature")
    if t is not None:
        p = apply_temperature(p, float(t))
    shift = calibration.get("shift")
    if shift:
        if X is None:
            raise ParameterError("the shift-aware calibration needs the clips' features")
        matrix = _shift_matrix(X, len(shift["mean"]), shift.get("features"))
        p = apply_shift_blend(p, shift_score(matrix, shift["mean"], shift["scale"]), shift)
    return p


def _check_shift(shift: Any) -> None:
    """Validate a stored ``shift`` part: numbers, equal-length mean and scale."""
    if not isinstance(shift, Mapping):
        raise ParameterError(f"calibration shift must be a mapping, got {shift!r}")
    for key in ("blend", "center", "slope"):
        value = shift.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ParameterError(f"calibration shift {key} must be a number, got {value!r}")
    if shift.get("features") is not None and not isinstance(shift["features"], str):
        raise ParameterError("calibration shift features must be a feature key (a string)")
    if not 0 <= shift["blend"] < 1 or shift["slope"] < 0:
        raise ParameterError("calibration shift needs 0 <= blend < 1 and slope >= 0")
    fallback = shift.get("fallback")
    if fallback is not None and (
        not isinstance(fallback, list)
        or not fallback
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in fallback)
        or not np.isfinite(np.asarray(fallback, dtype=float)).all()
        or min(fallback) < 0
        or abs(sum(fallback) - 1.0) > 1e-6
    ):
        raise ParameterError(
            "calibration shift fallback must be a list of non-negative numbers summing to 1, "
            f"one per class; got {fallback!r}"
        )
    mean, scale = shift.get("mean"), shift.get("scale")
    if (
        not isinstance(mean, list)
        or not isinstance(scale, list)
        or len(mean) != len(scale)
        or not mean
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in mean + scale)
        or not np.isfinite(np.asarray(mean + scale, dtype=float)).all()
    ):
        raise ParameterError("calibration shift needs equal-length lists of numbers mean, scale")


def fit_shift_blend(
    proba_in: ArrayLike,
    score_in: ArrayLike,
    y_in: ArrayLike,
    proba_out: ArrayLike,
    score_out: ArrayLike,
    y_out: ArrayLike,
    *,
    max_slope: float = 8.0,
    fallback: ArrayLike | None = None,
    out_groups: ArrayLike | None = None,
) -> dict[str, float]:
    """Fit ``blend``, ``center``, ``slope`` of :func:`apply_shift_blend` by maximum likelihood.

    ``*_in``: held-out speakers of the training corpus (no shift); ``*_out``: a model
    predicting another corpus (shift). The two sets weigh equally (mean NLL of each,
    averaged). ``slope`` is bounded by ``max_slope`` (the sets are often separable,
    which would otherwise make it a step).

    Parameters
    ----------
    fallback : array-like [shape=(n_classes,)], optional
        The distribution blended towards (:func:`fallback_weights`); uniform if omitted.
    out_groups : array-like of int [shape=(n_classes,)], optional
        How the other corpus judges the model: column ``j`` counts towards group
        ``out_groups[j]`` (columns summed), ``-1`` drops it (a class that corpus does
        not have), and the probabilities are renormalised over the groups kept; ``y_out``
        then holds group indices. Omitted: ``y_out`` holds column indices.
    """
    from scipy.optimize import minimize

    p_in, yi_in = _check(proba_in, y_in)
    k = p_in.shape[1]
    f = np.full(k, 1.0 / k) if fallback is None else np.asarray(fallback, dtype=np.float64)
    if f.shape != (k,):
        raise ParameterError(f"fallback needs {k} weights, got shape {f.shape}")
    p_out = np.asarray(proba_out, dtype=np.float64)
    if out_groups is None:
        p_out, yo = _check(p_out, y_out)
        member = np.zeros_like(p_out)
        member[np.arange(len(yo)), yo] = 1.0
        kept = np.ones(k)
    else:
        groups = np.asarray(out_groups)
        yo = np.asarray(y_out).astype(np.intp)
        if groups.shape != (k,) or p_out.ndim != 2 or p_out.shape[1] != k:
            raise ParameterError(f"out_groups and proba_out need {k} columns")
        if yo.shape != (len(p_out),) or not np.isin(yo, groups[groups >= 0]).all():
            raise ParameterError("y_out must hold one kept group index per row of proba_out")
        member = (groups[None, :] == yo[:, None]).astype(np.float64)
        kept = (groups >= 0).astype(np.float64)

    # per clip: probability and fallback mass of the true class (or group), and of all
    # the columns kept (1 without out_groups)
    sets = [
        (p_in[np.arange(len(yi_in)), yi_in], np.ones(len(yi_in)), f[yi_in],
         np.ones(len(yi_in)), np.asarray(score_in, dtype=np.float64)),
        ((p_out * member).sum(1), p_out @ kept, member @ f, np.full(len(yo), f @ kept),
         np.asarray(score_out, dtype=np.float64)),
    ]  # fmt: skip

    def unpack(theta: np.ndarray) -> dict[str, float]:
        return {
            "blend": float(1 / (1 + np.exp(-theta[0]))),
            "center": float(theta[1]),
            "slope": float(max_slope / (1 + np.exp(-theta[2]))),
        }

    def nll(theta: np.ndarray) -> float:
        shift = unpack(theta)
        total = 0.0
        for p_true, p_all, f_true, f_all, s in sets:
            a = shift_blend_weight(s, shift)
            q = ((1 - a) * p_true + a * f_true) / ((1 - a) * p_all + a * f_all)
            total += -np.log(np.clip(q, _EPS, None)).mean()
        return total / 2

    centre = float(np.mean([np.median(sets[0][4]), np.median(sets[1][4])]))
    found = minimize(
        nll,
        np.array([0.0, centre, 0.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 4000},
    )
    return unpack(found.x)


class VectorScaling(BaseEstimator):
    """Per-class scale and bias on the log-probabilities: ``softmax(w * log p + b)``.

    Fitted by minimising the negative log-likelihood of held-out probabilities
    (L-BFGS, a small L2 pull of ``w`` towards 1 and ``b`` towards 0). Unlike
    :class:`TemperatureScaling` it can change the arg-max.

    Attributes
    ----------
    weight_, bias_ : np.ndarray [shape=(n_classes,)]
    """

    def __init__(self, *, l2: float = 1e-3) -> None:
        self.l2 = l2

    def fit(self, proba: ArrayLike, y_index: ArrayLike) -> VectorScaling:
        """Fit ``w`` and ``b`` on probabilities and the true column of each clip."""
        from scipy.optimize import minimize

        p, y = _check(proba, y_index)
        logp = _log_proba(p)
        n, k = p.shape
        onehot = np.zeros_like(p)
        onehot[np.arange(n), y] = 1.0

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[:k], theta[k:]
            q = _softmax(logp * w + b)
            value = -np.log(np.clip(q[np.arange(n), y], _EPS, None)).mean()
            value += self.l2 * (((w - 1) ** 2).sum() + (b**2).sum())
            d = (q - onehot) / n
            grad = np.concatenate([(d * logp).sum(0), d.sum(0)])
            grad += 2 * self.l2 * np.concatenate([w - 1, b])
            return float(value), grad

        theta0 = np.concatenate([np.ones(k), np.zeros(k)])
        found = minimize(loss, theta0, jac=True, method="L-BFGS-B")
        self.weight_, self.bias_ = found.x[:k].copy(), found.x[k:].copy()
        return self

    def predict_proba(self, proba: ArrayLike) -> np.ndarray:
        """Calibrated probabilities [shape=(n_clips, n_classes)], same column order."""
        if not hasattr(self, "weight_"):
            raise NotFittedError("VectorScaling is not fitted yet; call fit first")
        p = np.asarray(proba, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(self.weight_):
            raise ParameterError(f"proba must have {len(self.weight_)} columns, got {p.shape}")
        return _softmax(_log_proba(p) * self.weight_ + self.bias_)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "vector", "weight": [...], "bias": [...]}`` (plain JSON numbers)."""
        if not hasattr(self, "weight_"):
            raise NotFittedError("VectorScaling is not fitted yet; call fit first")
        return {"method": "vector", "weight": self.weight_.tolist(), "bias": self.bias_.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VectorScaling:
        """Rebuild a fitted scaler from :meth:`to_dict`'s output."""
        w, b = np.asarray(data.get("weight"), float), np.asarray(data.get("bias"), float)
        if (
            w.ndim != 1
            or w.shape != b.shape
            or not np.isfinite(w).all()
            or not np.isfinite(b).all()
        ):
            raise ParameterError(f"vector calibration needs equal-length weight and bias: {data!r}")
        out = cls()
        out.weight_, out.bias_ = w, b
        return out


class TemperatureScaling(BaseEstimator):
    """One temperature ``T`` for all classes: ``p' = softmax(log p / T)``.

    Fitted by minimising the negative log-likelihood of held-out probabilities
    (bounded scalar search over ``log T``). Keeps the arg-max.

    Parameters
    ----------
    min_temperature, max_temperature : float > 0
        Search range of ``T``.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature.
    nll_before_, nll_after_ : float
        Mean negative log-likelihood of the fitting data at ``T = 1`` and at ``T``.

    Examples
    --------
    >>> p = np.array([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.99, 0.01]])
    >>> ts = TemperatureScaling().fit(p, np.array([0, 1, 1, 0]))
    >>> ts.temperature_ > 1
    True
    """

    def __init__(self, *, min_temperature: float = 0.05, max_temperature: float = 20.0) -> None:
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature

    def fit(self, proba: ArrayLike, y_index: ArrayLike) -> TemperatureScaling:
        """Fit ``T`` on probabilities and the true column of each clip."""
        from scipy.optimize import minimize_scalar

        if not 0 < self.min_temperature < 1 < self.max_temperature:
            raise ParameterError(
                "need 0 < min_temperature < 1 < max_temperature, got "
                f"{self.min_temperature!r}, {self.max_temperature!r}"
            )
        p, y = _check(proba, y_index)
        logp = _log_proba(p)
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean())

        found = minimize_scalar(
            nll,
            bounds=(np.log(self.min_temperature), np.log(self.max_temperature)),
            method="bounded",
            options={"xatol": 1e-5},
        )
        self.temperature_ = float(np.exp(found.x))
        self.nll_before_ = nll(0.0)
        self.nll_after_ = float(found.fun)
        if self.nll_after_ > self.nll_before_:  # keep T = 1 when the search cannot beat it
            self.temperature_, self.nll_after_ = 1.0, self.nll_before_
        return self

    def predict_proba(self, proba: ArrayLike) -> np.ndarray:
        """Calibrated probabilities [shape=(n_clips, n_classes)], same column order."""
        if not hasattr(self, "temperature_"):
            raise NotFittedError("TemperatureScaling is not fitted yet; call fit first")
        return apply_temperature(proba, self.temperature_)

    transform = predict_proba

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON numbers for a bundle: ``{"method": "temperature", "temperature": T}``."""
        if not hasattr(self, "temperature_"):
            raise NotFittedError("TemperatureScaling is not fitted yet; call fit first")
        return {"method": "temperature", "temperature": float(self.temperature_)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemperatureScaling:
        """Rebuild a fitted scaler from :meth:`to_dict`'s output.

        Raises
        ------
        ParameterError
            Not a temperature calibration, or the temperature is not a positive number.
        """
        if not isinstance(data, Mapping) or data.get("method") != "temperature":
            raise ParameterError(
                f"calibration must be {{'method': 'temperature', ...}}, got {data!r}"
            )
        t = data.get("temperature")
        if isinstance(t, bool) or not isinstance(t, int | float) or not np.isfinite(t) or t <= 0:
            raise ParameterError(f"calibration temperature must be a positive number, got {t!r}")
        out = cls()
        out.temperature_ = float(t)
        return out


def _base_speaker(groups: np.ndarray) -> np.ndarray:
    """Speaker of each row with the augmentation session suffix (``#augK``) removed,
    so a clip's degraded copies never sit in another inner fold than the clip."""
    return np.array([str(g).split("#aug")[0] for g in groups.tolist()])


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """An estimator whose probabilities are temperature-scaled on its own training data.

    ``fit`` predicts every training clip out-of-fold with ``GroupKFold(inner_splits)``
    over the training speakers (the estimator fitted afresh on the other speakers),
    fits :class:`TemperatureScaling` on those predictions, then fits the estimator
    on all the training clips. ``predict`` is the estimator's arg-max, unchanged.

    Parameters
    ----------
    estimator : estimator with ``predict_proba``
        Cloned for each inner fold and for the final fit.
    inner_splits : int >= 2, default=3
        Inner folds (fewer when there are fewer training speakers).
    shift : mapping, optional
        ``blend``, ``center``, ``slope`` of the shift-aware blend applied after the
        temperature (as a bundle's ``shift`` part: the training features' mean and
        scale and :func:`fallback_weights` over ``classes_`` are taken in ``fit``).
        Needs a vector feature set.

    Attributes
    ----------
    estimator_ : the estimator fitted on all training clips
    calibrator_ : TemperatureScaling
    temperature_ : float
    shift_ : dict or None
        The complete ``shift`` part (as stored in a bundle), when ``shift`` is given.
    classes_ : np.ndarray
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        inner_splits: int = 3,
        shift: Mapping[str, float] | None = None,
    ) -> None:
        self.estimator = estimator
        self.inner_splits = inner_splits
        self.shift = shift

    def fit(
        self,
        X: Any,
        y: ArrayLike,
        groups: ArrayLike | None = None,
        **fit_params: Any,
    ) -> CalibratedClassifier:
        """Fit the temperature on out-of-fold predictions, then the estimator on all rows.

        ``groups`` (speaker of each row) is required; ``fit_params`` with one entry
        per row (``source_rows``) follow the rows of each inner fold.
        """
        from sklearn.model_selection import GroupKFold

        from ._inputs import n_rows, take_rows
        from .evaluation import _fit_takes_groups

        if self.estimator is None:
            raise ParameterError("CalibratedClassifier needs an estimator")
        if (
            isinstance(self.inner_splits, bool)
            or not isinstance(self.inner_splits, int)
            or (self.inner_splits < 2)
        ):
            raise ParameterError(f"inner_splits must be an int >= 2, got {self.inner_splits!r}")
        if groups is None:
            raise ParameterError("calibration needs groups: inner folds are grouped by speaker")
        y_arr = np.asarray(y)
        n = n_rows(X)
        g = np.asarray(groups)
        if g.shape != (n,) or y_arr.shape != (n,):
            raise ParameterError(f"X has {n} rows but y has {y_arr.shape} and groups {g.shape}")
        self.classes_ = np.unique(y_arr)
        speakers = _base_speaker(g)
        n_speakers = len(np.unique(speakers))
        if n_speakers < 2:
            raise ParameterError("calibration needs at least 2 training speakers")
        k = min(self.inner_splits, n_speakers)

        def fit_one(rows: np.ndarray) -> Any:
            model = clone(self.estimator)
            params = {
                key: np.asarray(v)[rows] if _per_row(v, n) else v for key, v in fit_params.items()
            }
            if _fit_takes_groups(model):
                params["groups"] = g[rows]
            return model.fit(take_rows(X, rows), y_arr[rows], **params)

        oof = np.zeros((n, len(self.classes_)))
        pos = {c: j for j, c in enumerate(self.classes_.tolist())}
        for train, test in GroupKFold(n_splits=k).split(np.zeros((n, 1)), groups=speakers):
            inner = fit_one(train)
            cols = [pos[c] for c in np.asarray(inner.classes_).tolist()]
            oof[np.ix_(test, cols)] = np.asarray(inner.predict_proba(take_rows(X, test)))
        self.calibrator_ = TemperatureScaling().fit(oof, label_index(y_arr, self.classes_))
        self.temperature_ = self.calibrator_.temperature_
        logger.info(
            "temperature %.3f (inner %d-fold NLL %.3f -> %.3f)",
            self.temperature_,
            k,
            self.calibrator_.nll_before_,
            self.calibrator_.nll_after_,
        )
        self.estimator_ = fit_one(np.arange(n))
        self.shift_ = None
        if self.shift is not None:
            self.shift_ = {
                "blend": float(self.shift["blend"]),
                "center": float(self.shift["center"]),
                "slope": float(self.shift["slope"]),
                "fallback": fallback_weights(self.classes_.tolist()),
                **shift_reference(X),
            }
            _check_shift(self.shift_)
        return self

    def _raw(self, X: Any) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise NotFittedError("CalibratedClassifier is not fitted yet; call fit first")
        raw = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        out = np.zeros((raw.shape[0], len(self.classes_)))
        pos = {c: j for j, c in enumerate(self.classes_.tolist())}
        out[:, [pos[c] for c in np.asarray(self.estimator_.classes_).tolist()]] = raw
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Temperature-scaled probabilities [shape=(n_clips, n_classes)] in ``classes_`` order,
        then the shift-aware blend when ``shift`` was given."""
        proba = self.calibrator_.predict_proba(self._raw(X))
        shift = getattr(self, "shift_", None)
        if not shift:
            return proba
        return calibrate_proba(
            proba, {"method": "temperature", "temperature": 1.0, "shift": shift}, X
        )

    def predict(self, X: Any) -> np.ndarray:
        """The estimator's own prediction (temperature scaling keeps the arg-max; the
        shift-aware blend keeps it for classes of equal fallback weight)."""
        if not hasattr(self, "estimator_"):
            raise NotFittedError("CalibratedClassifier is not fitted yet; call fit first")
        return np.asarray(self.estimator_.predict(X))


def _per_row(value: Any, n: int) -> bool:
    return not isinstance(value, str) and hasattr(value, "__len__") and len(value) == n


def fit_recognizer_calibration(
    recognizer: Any,
    X: Any,
    y: ArrayLike,
    *,
    groups: ArrayLike,
    inner_splits: int = 3,
    shift: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Temperatures for a recognizer, from out-of-fold predictions of its training clips.

    The clips are split with ``GroupKFold(inner_splits)`` over the speakers
    (augmented copies, whose group is ``speaker#augK``, stay with their speaker); in
    each inner fold an unfitted copy of ``recognizer`` (``sklearn.base.clone``) is
    fitted on the other speakers with their groups, and predicts the held-out
    speakers' original clips, per clip and, when it has a session-normalised
    part, per session. One temperature is fitted on each set of predictions.

    Parameters
    ----------
    recognizer : serkit.recognizer.EmotionRecognizer
        The recognizer to calibrate (its parameters; it is not refitted).
    X, y, groups
        Its training data as given to ``fit``.
    inner_splits : int >= 2, default=3
    shift : mapping, optional
        ``blend``, ``center``, ``slope`` of the shift-aware blend
        (:func:`apply_shift_blend`; :data:`DEFAULT_SHIFT` holds values fitted on
        development data). Given, the calibration also stores the training clips'
        feature ``mean`` and ``scale`` (:func:`shift_reference`) and the ``fallback``
        distribution over the recognizer's classes (:func:`fallback_weights`), so clips
        unlike the training data (another corpus, microphone, language) get flatter
        probabilities. Needs a vector feature set.

    Returns
    -------
    calibration : dict of plain JSON values
        ``method`` ("temperature"), ``temperature``, ``session_temperature`` (or
        None), ``inner_splits``, ``n_clips`` (clips predicted), the mean
        negative log-likelihood ``nll_before`` / ``nll_after``, and ``shift`` when
        asked for.

    Raises
    ------
    ParameterError
        Fewer than two speakers.
    """
    import warnings

    from sklearn.model_selection import GroupKFold

    from ._inputs import n_rows, take_rows

    y_arr = np.asarray(y).astype(str)
    g = np.asarray(groups).astype(str)
    n = n_rows(X)
    speakers = _base_speaker(g)
    original = np.array(["#aug" not in s for s in g.tolist()])
    n_speakers = len(np.unique(speakers))
    if n_speakers < 2:
        raise ParameterError("calibration needs at least 2 training speakers")
    k = min(int(inner_splits), n_speakers)
    classes = np.unique(y_arr)
    pos = {c: j for j, c in enumerate(classes.tolist())}
    oof = np.zeros((n, len(classes)))
    oof_session = np.zeros((n, len(classes)))
    has_session = True
    for train, test in GroupKFold(n_splits=k).split(np.zeros((n, 1)), groups=speakers):
        test = test[original[test]]
        inner = clone(recognizer).fit(take_rows(X, train), y_arr[train], groups=g[train])
        cols = [pos[c] for c in np.asarray(inner.classes_).tolist()]
        oof[np.ix_(test, cols)] = inner.predict_proba(take_rows(X, test))
        if inner.supports_speaker_norm:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session = inner.predict_proba(take_rows(X, test), speakers=g[test])
            oof_session[np.ix_(test, cols)] = session
        else:
            has_session = False
    rows = np.flatnonzero(original)
    truth = label_index(y_arr[rows], classes)
    scaler = TemperatureScaling().fit(oof[rows], truth)
    session_t = None
    if has_session:
        session_t = TemperatureScaling().fit(oof_session[rows], truth).temperature_
    logger.info("bundle temperature %.3f, session %s", scaler.temperature_, session_t)
    extra: dict[str, Any] = {}
    if shift is not None:
        extra["shift"] = {
            "blend": float(shift["blend"]),
            "center": float(shift["center"]),
            "slope": float(shift["slope"]),
            "fallback": fallback_weights(np.asarray(recognizer.classes_).tolist()),
            **shift_reference(take_rows(X, rows)),
        }
        _check_shift(extra["shift"])
    return {
        "method": "temperature",
        "temperature": float(scaler.temperature_),
        "session_temperature": None if session_t is None else float(session_t),
        "inner_splits": k,
        "n_clips": len(rows),
        "nll_before": float(scaler.nll_before_),
        "nll_after": float(scaler.nll_after_),
        **extra,
    }


def check_calibration(data: Any, *, where: str = "calibration") -> dict[str, Any]:
    """Validate a stored calibration dict (bundle ``calibration.json``); returns it.

    Raises
    ------
    ParameterError
        Not a temperature calibration, a temperature that is not a positive number,
        a malformed ``shift`` part, or an ``uncertain_below`` threshold outside [0, 1].
    """
    TemperatureScaling.from_dict(data)
    session = data.get("session_temperature")
    if session is not None:
        TemperatureScaling.from_dict({"method": "temperature", "temperature": session})
    if data.get("shift") is not None:
        _check_shift(data["shift"])
    threshold = data.get("uncertain_below")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise ParameterError(f"uncertain_below must be a number in [0, 1], got {threshold!r}")
    return dict(data)
