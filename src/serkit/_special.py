"""Small special functions in numpy, for the prediction path (which does not import scipy).

:func:`expit` computes the logistic sigmoid with the C library's ``exp``, element by
element, as :func:`scipy.special.expit` does for float64; numpy's own vectorised ``exp``
rounds differently in the last bit on some inputs, so it is not used here.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["expit"]


def _sigmoid(value: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-value))
    except OverflowError:  # exp(-value) is past the float range: the sigmoid is 0
        return 0.0


def expit(x: ArrayLike) -> np.ndarray:
    """The logistic sigmoid ``1 / (1 + exp(-x))`` of every element, as float64.

    Parameters
    ----------
    x : array-like of float
        Any shape.

    Returns
    -------
    np.ndarray [shape=x.shape, dtype=float64]
        Values in [0, 1]; NaN stays NaN.

    Examples
    --------
    >>> expit([0.0, 800.0, -800.0]).tolist()
    [0.5, 1.0, 0.0]
    """
    values = np.asarray(x, dtype=np.float64)
    flat = [_sigmoid(v) for v in values.ravel().tolist()]
    return np.array(flat, dtype=np.float64).reshape(values.shape)
