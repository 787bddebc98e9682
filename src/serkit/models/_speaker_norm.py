"""Per-speaker standardisation of feature vectors (label-free)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._errors import ParameterError

__all__ = ["speaker_normalize"]

_STD_FLOOR = 1e-8
"""Standard deviations at or below this are treated as 1 (the feature is only centred)."""


def _zscore_within(X: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """The per-speaker z-scores of a matrix (see :func:`speaker_normalize`)."""
    try:
        Z = np.array(X, dtype=np.float64)  # always a copy
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"X must be a 2-D array of numbers: {exc}") from exc
    if Z.ndim != 2:
        raise ParameterError(f"X must be 2-D (n_clips, n_features), got shape {Z.shape}")
    if np.isinf(Z).any():
        raise ParameterError(f"X holds {int(np.isinf(Z).sum())} infinite values")
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != Z.shape[0]:
        raise ParameterError(
            f"groups must have one entry per row of X: got {g.shape} for X of shape {Z.shape}"
        )
    if Z.shape[0] == 0:
        return Z
    _, inverse = np.unique(g, return_inverse=True)
    inverse = inverse.reshape(-1)
    with warnings.catch_warnings():
        # a column that is all NaN for one speaker gives NaN statistics; it stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(int(inverse.max()) + 1):
            rows = inverse == k
            block = Z[rows]
            block -= np.nanmean(block, axis=0)
            if block.shape[0] > 1:
                std = np.nanstd(block, axis=0)
                std[~(std > _STD_FLOOR)] = 1.0
                block /= std
            Z[rows] = block
    return Z


def speaker_normalize(X: Any, groups: Sequence[Any] | np.ndarray) -> Any:
    """Per-speaker normalisation: z-score every feature within each speaker's own clips.

    Each speaker's rows are centred on that speaker's mean and divided by that
    speaker's standard deviation (population, ``ddof=0``), feature by feature. This
    removes much of what makes voices differ (vocal tract, microphone, level) and
    keeps what varies within a speaker, which is where emotion shows.

    It uses unlabelled clips of the same speaker, as a call or session provides:
    no labels are read, and each speaker's statistics come from that speaker's rows
    only, so under speaker-grouped evaluation nothing crosses from training speakers
    to test speakers.

    Parameters
    ----------
    X : array-like [shape=(n_clips, n_features)], list of arrays, or mapping of those
        Feature vectors, one row per clip. NaN entries are left out of the
        statistics and stay NaN; infinite values are rejected. Frame sequences (a
        list of 2-D arrays, one per clip) are returned unchanged: the networks normalise each
        utterance themselves. In a mapping (one input per feature set), each entry is
        normalised.
    groups : array-like [shape=(n_clips,)]
        Speaker id of each row (strings or integers).

    Returns
    -------
    Z : np.ndarray [shape=(n_clips, n_features), dtype=float64] (or as ``X``)
        A new array; ``X`` is not modified. Within a speaker with two or more rows,
        every feature has mean 0 and standard deviation 1, except features that are
        constant for that speaker (standard deviation at or below 1e-8): those are
        only centred, so they become 0. A speaker with a single row only has its
        mean subtracted, which makes that row all zeros.

    Raises
    ------
    ParameterError
        ``X`` is not two-dimensional numbers, holds infinite values, or ``groups``
        does not have one entry per row.

    Examples
    --------
    >>> X = np.array([[1.0, 10.0], [3.0, 30.0], [100.0, 5.0], [102.0, 7.0]])
    >>> speaker_normalize(X, ["ann", "ann", "bob", "bob"])
    array([[-1., -1.],
           [ 1.,  1.],
           [-1., -1.],
           [ 1.,  1.]])
    """
    if isinstance(X, Mapping):
        return {key: speaker_normalize(value, groups) for key, value in X.items()}
    if isinstance(X, list | tuple) and len(X) and np.ndim(X[0]) == 2:
        return X  # frame sequences, one (n_frames, n_mels) array per clip
    return _zscore_within(X, groups)
