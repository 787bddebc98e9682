"""Train on a fold's clips plus the augmented copies of those same clips, and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from .._errors import ParameterError

__all__ = ["AugmentedTraining"]


class AugmentedTraining(ClassifierMixin, BaseEstimator):
    """Wrap a classifier so ``fit`` adds augmented copies of exactly the training clips.

    Cross-validation passes the training rows' indices as ``source_rows``; only
    the extra rows whose ``extra_source`` is among them join the fit, so a test
    clip's augmented copies never leak into training.

    Parameters
    ----------
    estimator : classifier
        Cloned and fitted on original + augmented rows.
    extra_X : np.ndarray [shape=(m, n_features)]
        Features of augmented copies.
    extra_y : np.ndarray [shape=(m,)]
        Their labels.
    extra_source : np.ndarray of int [shape=(m,)]
        Row index, in the original data, of the clip each copy was made from.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    classes_ : np.ndarray
        Its classes.
    n_extra_ : int
        Augmented rows used in the fit.
    n_features_in_ : int
        Width of ``X`` seen in ``fit``.
    """

    def __init__(
        self,
        estimator: Any = None,
        extra_X: np.ndarray | None = None,
        extra_y: np.ndarray | None = None,
        extra_source: np.ndarray | None = None,
    ) -> None:
        self.estimator = estimator
        self.extra_X = extra_X
        self.extra_y = extra_y
        self.extra_source = extra_source

    def fit(
        self, X: Any, y: np.ndarray, source_rows: np.ndarray | None = None
    ) -> AugmentedTraining:
        """Fit on ``X, y`` plus the augmented copies of the rows listed in ``source_rows``.

        ``X`` is a matrix, or (an ensemble whose members all read one feature set) a
        mapping with that one feature set's matrix, to which the copies are added.
        """
        # a DOK sparse matrix is a dict: it is rows of a matrix here, which validate_data refuses
        if isinstance(X, Mapping) and not issparse(X):
            if len(X) != 1:
                raise ParameterError(
                    "augmented copies hold one feature set; this input has "
                    f"{len(X)} ({', '.join(map(str, X))})"
                )
            ((key, matrix),) = X.items()
            rows, y = self._with_copies(np.asarray(matrix, dtype=np.float64), y, source_rows)
            self.estimator_ = clone(self.estimator).fit({key: rows}, y)
        else:
            X, y = validate_data(self, X, y, dtype=np.float64)
            X, y = self._with_copies(X, y, source_rows)
            self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def _with_copies(
        self, X: np.ndarray, y: Any, source_rows: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(y)
        if self.extra_X is None or source_rows is None:
            self.n_extra_ = 0
            return X, y
        keep = np.isin(np.asarray(self.extra_source), np.asarray(source_rows))
        self.n_extra_ = int(keep.sum())
        X = np.vstack([X, np.asarray(self.extra_X, dtype=np.float64)[keep]])
        return X, np.concatenate([y, np.asarray(self.extra_y)[keep]])

    def _input(self, X: Any) -> Any:
        if isinstance(X, Mapping) and not issparse(X):
            return X
        return validate_data(self, X, reset=False, dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of the wrapped classifier, columns in ``classes_`` order."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(self._input(X))

    def predict(self, X: Any) -> np.ndarray:
        """Labels of the wrapped classifier."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(self._input(X))
