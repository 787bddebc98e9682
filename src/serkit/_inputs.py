"""Model inputs of every shape: rows of a matrix, a list of frame sequences, or one of each per
feature set.

Classic models read a matrix [shape=(n_clips, n_features)], networks on frames a
list of arrays [shape=(n_frames, n_mels)], and ensembles a mapping from feature
key to either. These helpers count, select and stack rows the same way for all
three, so evaluation and the recognizer need no special cases. This is the bottom layer: it
imports nothing from serkit but the errors.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._errors import ParameterError

__all__ = ["as_matrix", "is_sparse", "n_rows", "stack_rows", "take_rows"]


def n_rows(X: Any) -> int:
    """Number of clips in ``X`` (matrix, list of sequences or mapping of those).

    Raises
    ------
    ParameterError
        A mapping whose entries disagree on the number of clips, or an empty mapping.
    """
    if isinstance(X, Mapping):
        if not X:
            raise ParameterError("X is an empty mapping; give one input per feature set")
        counts = {key: n_rows(value) for key, value in X.items()}
        if len(set(counts.values())) != 1:
            raise ParameterError(f"the inputs hold different numbers of clips: {counts}")
        return next(iter(counts.values()))
    if isinstance(X, list | tuple):
        return len(X)
    return int(np.shape(X)[0])


def take_rows(X: Any, index: Sequence[int] | np.ndarray) -> Any:
    """The clips at ``index`` (integer positions), in that order, in the same container type."""
    idx = np.asarray(index, dtype=np.intp)
    if isinstance(X, Mapping):
        return {key: take_rows(value, idx) for key, value in X.items()}
    if isinstance(X, list | tuple):
        return [X[i] for i in idx]
    return np.asarray(X)[idx]


def stack_rows(rows: Sequence[Any]) -> Any:
    """Join single-clip inputs (a vector, a frame array, or a mapping of those) into one input.

    Vectors become a matrix; frame arrays (2-D) stay a list; mappings are joined per key.
    """
    if not rows:
        raise ParameterError("no rows to stack")
    first = rows[0]
    if isinstance(first, Mapping):
        return {key: stack_rows([row[key] for row in rows]) for key in first}
    if np.ndim(first) == 1:
        return np.vstack([np.asarray(row) for row in rows])
    return [np.asarray(row) for row in rows]


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a scipy sparse matrix or array (without importing scipy: a sparse
    object exists only once ``scipy.sparse`` was imported)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(X))


def as_matrix(X: Any) -> np.ndarray:
    """``X`` as a float64 matrix [shape=(n_clips, n_features)], NaN left in place.

    A numeric 2-D array is converted as :func:`sklearn.utils.check_array` converts it
    (``dtype=float64``: no copy when it is one already) without importing scikit-learn;
    anything else goes through ``check_array`` itself where scikit-learn is installed, so
    sparse, complex, 1-D or empty input gets its messages.

    Raises
    ------
    ValueError
        Not a dense, non-empty 2-D array of real numbers (:class:`ParameterError` without
        scikit-learn).
    """
    if (
        isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype.kind in "fiu"
        and X.shape[0] > 0
        and X.shape[1] > 0
    ):
        return np.asarray(X, dtype=np.float64)
    try:
        from sklearn.utils.validation import check_array
    except ImportError:
        return _checked_matrix(X)
    return check_array(X, dtype=np.float64, ensure_all_finite=False, input_name="X")


def _checked_matrix(X: Any) -> np.ndarray:
    """:func:`as_matrix`'s checks without scikit-learn."""
    if is_sparse(X):
        raise ParameterError("X is a sparse matrix; give a dense array (X.toarray())")
    try:
        if np.iscomplexobj(X):
            raise ParameterError("X holds complex numbers; give real-valued features")
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"X is not a matrix of numbers ({exc})") from exc
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise ParameterError(
            f"X must be a non-empty 2-D array [shape=(n_clips, n_features)]; got shape "
            f"{matrix.shape}"
        )
    return matrix
