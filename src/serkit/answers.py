"""What a model answers over: a user's own label set, and when an answer is uncertain.

A call-centre user wants angry, happy, neutral or sad, not eight emotions. Restricting a
model to such a set (:func:`restriction_matrix`) sums, for every emotion asked for, the
probability of the model's classes that are read as it (the class itself and, when it is
not asked for itself, every class merged into it: RAVDESS's ``calm`` into ``neutral``),
then renormalises each row over the set. Classes outside the set and not merged into one
of it are dropped, and the remaining probabilities renormalised: the answer is the most
probable emotion *of the set*, with the confidence it has among them.

An answer is *uncertain* when its confidence is below the model's threshold
(``uncertain_below``, chosen on development corpora so that answers above it are right at
least twice as often as answers below it; the model card gives the figures). The answer is
still given: the mark says how much to trust it.

Importing this module is cheap (numpy only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._errors import ParameterError

__all__ = ["is_uncertain", "restrict_proba", "restriction_matrix"]


def restriction_matrix(
    classes: Sequence[Any] | np.ndarray,
    emotions: Sequence[str],
    merged: Mapping[str, str] | None = None,
) -> np.ndarray:
    """The matrix [shape=(n_classes, n_emotions)] that maps a model's probabilities onto
    ``emotions``: column j sums the classes read as ``emotions[j]``.

    Parameters
    ----------
    classes : sequence of str
        The model's classes, in its column order.
    emotions : sequence of str
        The label set asked for, in the order the answers should use; each must be one
        of ``classes`` or a class that others are merged into.
    merged : mapping of str to str, optional
        Class -> the emotion it is read as when it is not asked for itself (default
        :data:`serkit.corpora.MERGED_EMOTIONS`: calm -> neutral).

    Raises
    ------
    ParameterError
        An emotion the model cannot answer, a repeated one, or an empty set.

    Examples
    --------
    >>> restriction_matrix(["angry", "calm", "neutral"], ["neutral", "angry"]).tolist()
    [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]
    """
    if merged is None:
        from .corpora._emotions import MERGED_EMOTIONS

        merged = MERGED_EMOTIONS
    names = [str(c) for c in classes]
    wanted = [str(e).strip() for e in emotions]
    if not wanted:
        raise ParameterError("the emotion list is empty; give one or more of " + ", ".join(names))
    if len(set(wanted)) != len(wanted):
        raise ParameterError(f"the emotion list repeats a name: {', '.join(wanted)}")
    targets = {merged[c] for c in names if c in merged}
    unknown = [e for e in wanted if e not in names and e not in targets]
    if unknown:
        raise ParameterError(
            f"this model cannot answer {', '.join(unknown)}; its emotions are {', '.join(names)}"
        )
    matrix = np.zeros((len(names), len(wanted)))
    for i, name in enumerate(names):
        if name in wanted:
            matrix[i, wanted.index(name)] = 1.0
        elif merged.get(name) in wanted:
            matrix[i, wanted.index(merged[name])] = 1.0
    return matrix


def restrict_proba(proba: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Probabilities over a restricted label set [shape=(n, n_emotions)], rows summing to 1.

    A row with no probability on the set at all (not seen from a calibrated model) becomes
    uniform over it.
    """
    mapped = np.asarray(proba, dtype=np.float64) @ matrix
    total = mapped.sum(axis=1, keepdims=True)
    uniform = np.full_like(mapped, 1.0 / mapped.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, mapped / np.where(total > 0, total, 1.0), uniform)


def is_uncertain(confidence: float | None, threshold: float | None) -> bool | None:
    """True when ``confidence`` is below ``threshold``; None when either is unknown."""
    if confidence is None or threshold is None:
        return None
    return bool(confidence < threshold)
