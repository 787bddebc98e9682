"""ProbabilityEnsemble: average the class probabilities of several fitted members.

Design
------
Members are ``(name, estimator)`` pairs, as in scikit-learn's ``VotingClassifier``,
so ``get_params`` / ``set_params`` / ``clone`` reach every member
(``ensemble.set_params(svm__C=3)``). Each member may read its own features:

- ``X`` an array (or a list of sequences): every member gets the same ``X``;
- ``X`` a mapping of feature name to data: member ``name`` reads
  ``X[inputs.get(name, name)]``. ``inputs`` maps member names to feature names, so
  two members can share one feature set (``{"svm": "egemaps", "mlp": "egemaps",
  "specnet": "logmel"}``) and a table is passed once.

All members are fitted on the same rows (same ``y`` and ``groups``), which is
what makes averaging their probabilities meaningful; ``groups`` reaches the
members whose ``fit`` takes it (the torch networks, for their validation
speakers). Nothing here imports torch.

:func:`average_probabilities` does the same averaging on probability matrices
that were computed elsewhere (for example the per-fold predictions of several
cross-validation runs over the same splits).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import ClassifierMixin, clone
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted

from .._errors import ParameterError

__all__ = ["ProbabilityEnsemble", "average_probabilities"]


def average_probabilities(
    probas: Sequence[np.ndarray], weights: Sequence[float] | None = None
) -> np.ndarray:
    """Weighted mean of probability matrices with the same rows and columns.

    Parameters
    ----------
    probas : sequence of np.ndarray [shape=(n, n_classes)]
        One matrix per model, columns in the same class order.
    weights : sequence of float >= 0, optional
        One weight per matrix (normalised to sum to 1); equal weights if omitted.

    Returns
    -------
    np.ndarray [shape=(n, n_classes)]
        Rows sum to 1 when the inputs' rows do.

    Raises
    ------
    ParameterError
        No matrices, shapes that differ, or weights of the wrong length, negative,
        or all zero.

    Examples
    --------
    >>> a = np.array([[0.8, 0.2]]); b = np.array([[0.4, 0.6]])
    >>> average_probabilities([a, b], weights=[3, 1])
    array([[0.7, 0.3]])
    """
    mats = [np.asarray(p, dtype=np.float64) for p in probas]
    if not mats:
        raise ParameterError("average_probabilities needs at least one matrix, got none")
    shapes = {m.shape for m in mats}
    if len(shapes) > 1 or mats[0].ndim != 2:
        raise ParameterError(f"probability matrices must share one 2-D shape, got {sorted(shapes)}")
    w = np.ones(len(mats)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(mats),) or (w < 0).any() or w.sum() <= 0 or not np.isfinite(w).all():
        raise ParameterError(
            f"weights must be {len(mats)} non-negative numbers, not all zero; got {weights!r}"
        )
    w = w / w.sum()
    return np.tensordot(w, np.stack(mats), axes=1)


def _fit_takes_groups(estimator: Any) -> bool:
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False
    return "groups" in params  # not **kwargs: a Pipeline would reject an unrouted "groups"


class ProbabilityEnsemble(ClassifierMixin, _BaseComposition):
    """Average ``predict_proba`` of several classifiers trained on the same clips.

    Parameters
    ----------
    members : list of (str, estimator)
        Named classifiers with ``predict_proba`` (pipelines, ``TorchClassifier``,
        ...). Names must be unique and contain no ``"__"``. They are cloned in
        ``fit``; the originals stay untouched.
    inputs : dict of str to str, optional
        Feature name read by each member when ``X`` is a mapping; a member not
        listed reads ``X[its name]``. Ignored when ``X`` is not a mapping.
    weights : list of float, optional
        One non-negative weight per member; equal weights if omitted.

    Attributes
    ----------
    members_ : list of (str, estimator)
        The fitted clones, in ``members`` order.
    classes_ : np.ndarray [shape=(n_classes,)]
        Sorted class labels (shared by every member); probability columns follow it.
    n_features_in_ : int
        Width of ``X`` in ``fit``, when it was one matrix shared by every member.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> rng = np.random.default_rng(0)
    >>> X = {"a": rng.normal(size=(40, 3)), "b": rng.normal(size=(40, 5))}
    >>> y = np.repeat(["calm", "angry"], 20)
    >>> ens = ProbabilityEnsemble([("a", LogisticRegression()), ("b", GaussianNB())])
    >>> ens.fit(X, y).predict_proba({"a": X["a"][:2], "b": X["b"][:2]}).shape
    (2, 2)
    """

    def __init__(
        self,
        members: list[tuple[str, Any]] | None = None,
        *,
        inputs: Mapping[str, str] | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self.members = members
        self.inputs = inputs
        self.weights = weights

    @classmethod
    def from_fitted(
        cls,
        members: list[tuple[str, Any]],
        *,
        inputs: Mapping[str, str] | None = None,
        weights: Sequence[float] | None = None,
    ) -> ProbabilityEnsemble:
        """An ensemble of members that are already fitted on the same classes (no refit).

        Used to rebuild a saved ensemble, and to swap members (the per-speaker model).
        """
        ensemble = cls(list(members), inputs=dict(inputs or {}), weights=weights)
        ensemble.members_ = list(members)
        ensemble.classes_ = np.asarray(members[0][1].classes_)
        return ensemble

    # get_params / set_params reach the members through their names (svm__C=...)
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of the ensemble and, with ``deep``, of every member (``name__param``)."""
        return self._get_params("members", deep=deep)

    def set_params(self, **params: Any) -> ProbabilityEnsemble:
        """Set ensemble parameters, replace members by name, or set ``name__param``."""
        self._set_params("members", **params)
        return self

    def _check_members(self) -> list[tuple[str, Any]]:
        if not self.members:
            raise ParameterError("members must be a non-empty list of (name, estimator) pairs")
        try:
            names = [name for name, _ in self.members]
        except (TypeError, ValueError) as exc:
            raise ParameterError("members must be a list of (name, estimator) pairs") from exc
        self._validate_names(names)
        for name, est in self.members:
            if not hasattr(est, "fit") or not hasattr(est, "predict_proba"):
                raise ParameterError(f"member {name!r} has no fit/predict_proba: {est!r}")
        if self.weights is not None and len(self.weights) != len(self.members):
            raise ParameterError(
                f"weights has {len(self.weights)} entries for {len(self.members)} members"
            )
        return list(self.members)

    def _input_for(self, name: str, X: Any) -> Any:
        if not isinstance(X, Mapping) or issparse(X):  # a DOK sparse matrix is a dict
            return X
        key = (self.inputs or {}).get(name, name)
        if key not in X:
            raise ParameterError(
                f"member {name!r} reads feature {key!r}, which X does not hold; "
                f"X has: {', '.join(map(str, X))}"
            )
        return X[key]

    def fit(self, X: Any, y: Sequence[Any], groups: Sequence[Any] | None = None):
        """Fit a clone of every member on the same rows.

        Parameters
        ----------
        X : array-like, sequence of arrays, or mapping of str to either
            Shared input, or one input per feature name (see ``inputs``).
        y : array-like [shape=(n,)]
            Labels.
        groups : array-like [shape=(n,)], optional
            Speakers; passed to members whose ``fit`` accepts ``groups``.

        Returns
        -------
        self : ProbabilityEnsemble

        Raises
        ------
        ParameterError
            Bad members or weights, a missing feature, or members that disagree on
            the classes.
        """
        members = self._check_members()
        if self.weights is not None:
            average_probabilities([np.zeros((1, 1))] * len(members), self.weights)
        fitted = []
        for name, est in members:
            model = clone(est)
            data = self._input_for(name, X)
            if groups is not None and _fit_takes_groups(model):
                model.fit(data, y, groups=groups)
            else:
                model.fit(data, y)
            fitted.append((name, model))
        classes = [np.asarray(m.classes_) for _, m in fitted]
        if any(c.shape != classes[0].shape or (c != classes[0]).any() for c in classes[1:]):
            raise ParameterError(
                "ensemble members learned different classes; fit them on the same y"
            )
        self.members_ = fitted
        self.classes_ = classes[0]
        if isinstance(X, np.ndarray) and X.ndim == 2:
            self.n_features_in_ = int(X.shape[1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' probabilities [shape=(n, n_classes)], classes_ order."""
        check_is_fitted(self, "members_")
        expected = getattr(self, "n_features_in_", None)
        if expected is not None and isinstance(X, np.ndarray) and X.shape[-1] != expected:
            raise ParameterError(
                f"X has {X.shape[-1]} features, but ProbabilityEnsemble is expecting "
                f"{expected} features as input"
            )
        probas = [m.predict_proba(self._input_for(name, X)) for name, m in self.members_]
        return average_probabilities(probas, self.weights)

    def predict(self, X: Any) -> np.ndarray:
        """Class with the highest mean probability [shape=(n,)]."""
        proba = self.predict_proba(X)  # raises NotFittedError first
        return self.classes_[np.argmax(proba, axis=1)]
