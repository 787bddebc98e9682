"""A linear member's model, predicting in numpy: scikit-learn's arithmetic, not its import.

A linear member (:mod:`serkit.bundles._linear`) holds ``StandardScaler`` then
``LogisticRegression``, fitted. :class:`LinearPipeline` keeps each step's fitted state
(the attribute values scikit-learn's objects had) and computes ``predict_proba`` with
the operations scikit-learn 1.9 performs, in the same order, on the same dtypes and
memory layouts, so the probabilities are identical to the bit:

- ``StandardScaler.transform``: a copy of ``X`` in a float dtype (float64, float32 and
  float16 kept, anything else float64, memory order kept), then ``X -= mean_`` and
  ``X /= scale_``, each cast to ``X``'s dtype;
- ``LogisticRegression.decision_function``: ``X @ coef_.T + intercept_`` (``coef_`` in
  the memory order it was fitted in, Fortran for lbfgs: the order changes BLAS's rounding);
- the multinomial ``predict_proba``: ``sklearn.utils.extmath.softmax`` in place (subtract
  each row's maximum, ``np.exp``, divide by the row's sum).

Loading the shipped model and predicting therefore never imports scikit-learn. Steps this
arithmetic does not cover (a two-class model, which scikit-learn scores with scipy's
``expit``; an older one-vs-rest setting) are handed to the scikit-learn objects,
rebuilt on first use by :meth:`LinearPipeline.to_sklearn`, as is any tool that needs
scikit-learn objects (ONNX export).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["STEP_TYPES", "LinearPipeline", "as_sklearn"]

STEP_TYPES: dict[str, tuple[str, str]] = {
    "StandardScaler": ("sklearn.preprocessing", "StandardScaler"),
    "LogisticRegression": ("sklearn.linear_model", "LogisticRegression"),
}
"""Step types a linear member may hold: JSON name -> (module, class). Nothing else loads."""

_FLOAT_DTYPES = (np.float64, np.float32, np.float16)
"""The dtypes ``StandardScaler.transform`` keeps; any other input becomes float64."""

_MULTINOMIAL = frozenset({"multinomial", "auto", "deprecated"})
"""``multi_class`` values whose probabilities are the softmax of the decision values."""


def _class_of(type_name: str) -> type[Any]:
    module, name = STEP_TYPES[type_name]
    return getattr(importlib.import_module(module), name)


class LinearPipeline:
    """A fitted standardised linear classifier read from a bundle; predicts without
    scikit-learn where its arithmetic is covered (see the module docstring).

    Parameters
    ----------
    steps : sequence of (str, str, dict)
        ``(name, type name, fitted state)`` per step, in order; the state is the
        attribute dictionary of the scikit-learn object (arrays in their fitted memory
        order).
    document : dict
        The member's JSON steps and arrays as stored, so that saving the model again
        writes the same files (:func:`serkit.bundles._linear.linear_parts`).

    Attributes
    ----------
    classes_ : np.ndarray [shape=(n_classes,)]
        Class labels, in ``predict_proba`` column order.
    n_features_in_ : int or None
        Width of the input the first step was fitted on.
    """

    def __init__(
        self,
        steps: Sequence[tuple[str, str, dict[str, Any]]],
        document: tuple[list[dict[str, Any]], dict[str, np.ndarray]],
    ) -> None:
        self.steps_ = list(steps)
        self.document_ = document
        final = self.steps_[-1][2]
        self.classes_ = final["classes_"]
        self.n_features_in_ = self.steps_[0][2].get("n_features_in_")
        self._numpy = _numpy_form(self.steps_)
        self._sklearn: Any = None

    @property
    def in_numpy(self) -> bool:
        """True when :meth:`predict_proba` runs in numpy (no scikit-learn import)."""
        return self._numpy is not None

    def to_sklearn(self) -> Any:
        """The same model as a ``sklearn.pipeline.Pipeline`` (imports scikit-learn).

        Each step is the scikit-learn object with exactly the stored attribute values
        (built as unpickling builds one: no ``__init__``), from copies of them; built once,
        on first use.

        Raises
        ------
        serkit._optional.MissingDependencyError
            scikit-learn is not installed (``pip install "serkit[train]"``).
        """
        if self._sklearn is None:
            from .._optional import require

            pipeline_module = require("sklearn.pipeline", purpose="this model")
            rebuilt = []
            for name, type_name, state in self.steps_:
                cls = _class_of(type_name)
                estimator = object.__new__(cls)
                # a parameter this scikit-learn has and the writing one had not (multi_class:
                # dropped in 1.8, still read by 1.6 and 1.7) takes its default
                vars(estimator).update({**cls().get_params(deep=False), **copy.deepcopy(state)})
                rebuilt.append((name, estimator))
            self._sklearn = pipeline_module.Pipeline(rebuilt)
        return self._sklearn

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities [shape=(n, n_classes)], columns in ``classes_`` order.

        Raises
        ------
        ValueError
            ``X`` is not a 2-D array of the width the model was fitted on, or holds NaN
            or infinity (as scikit-learn refuses them).
        """
        if self._numpy is None:
            return np.asarray(self.to_sklearn().predict_proba(X))
        scaler, clf = self._numpy
        scores = _standardise(X, scaler, self.n_features_in_) @ clf["coef_"].T + clf["intercept_"]
        # sklearn.utils.extmath.softmax(scores, copy=False)
        scores -= np.reshape(np.max(scores, axis=1), (-1, 1))
        np.exp(scores, out=scores)
        scores /= np.reshape(np.sum(scores, axis=1), (-1, 1))
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per row, from ``classes_``."""
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "LinearPipeline(" + ", ".join(f"{n}={t}" for n, t, _ in self.steps_) + ")"


def _numpy_form(
    steps: Sequence[tuple[str, str, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(scaler state, classifier state) when numpy reproduces scikit-learn's arithmetic
    for these steps; ``None`` otherwise (the scikit-learn objects predict)."""
    if [t for _, t, _ in steps] != ["StandardScaler", "LogisticRegression"]:
        return None
    scaler, clf = steps[0][2], steps[1][2]
    classes, coef, intercept = clf.get("classes_"), clf.get("coef_"), clf.get("intercept_")
    if not (
        isinstance(classes, np.ndarray)
        and isinstance(coef, np.ndarray)
        and isinstance(intercept, np.ndarray)
    ):
        return None
    if classes.ndim != 1 or len(classes) <= 2 or coef.ndim != 2 or coef.shape[0] != len(classes):
        return None  # two classes: scored with scipy's expit; left to scikit-learn
    if intercept.shape != (len(classes),) or clf.get("solver") == "liblinear":
        return None
    if clf.get("multi_class", "deprecated") not in _MULTINOMIAL:
        return None
    for flag, attribute in (("with_mean", "mean_"), ("with_std", "scale_")):
        on = scaler.get(flag)
        if not isinstance(on, bool) or (on and not isinstance(scaler.get(attribute), np.ndarray)):
            return None
    return scaler, clf


def _standardise(X: Any, scaler: Mapping[str, Any], width: int | None) -> np.ndarray:
    """``StandardScaler.transform`` on dense input, then the finiteness check that
    ``LogisticRegression.decision_function`` makes."""
    source = np.asarray(X)
    dtype = source.dtype if source.dtype in _FLOAT_DTYPES else np.float64
    if source.ndim != 2:
        raise ValueError(f"Expected a 2-D array of features, got shape {source.shape}")
    if width is not None and source.shape[1] != width:
        raise ValueError(
            f"X has {source.shape[1]} features, but StandardScaler is expecting {width} "
            "features as input."
        )
    out = np.array(source, dtype=dtype, copy=True)
    if scaler["with_mean"]:
        out -= scaler["mean_"].astype(out.dtype, copy=False)
    if scaler["with_std"]:
        out /= scaler["scale_"].astype(out.dtype, copy=False)
    if not np.isfinite(out).all():
        what = "NaN" if np.isnan(out).any() else "infinity or a value too large"
        raise ValueError(f"Input X contains {what}; the model needs finite features")
    return out


def as_sklearn(model: Any) -> Any:
    """``model`` as scikit-learn objects: a :class:`LinearPipeline` rebuilt as its
    ``Pipeline``, anything else unchanged."""
    return model.to_sklearn() if isinstance(model, LinearPipeline) else model
