"""What a prediction is: an emotion, its confidence and every class's probability.

One type, :class:`EmotionScores`, and one way to make it from a row of probabilities,
:meth:`EmotionScores.from_probabilities`. Every result serkit returns builds on it: a file's
:class:`Prediction`, a stretch of a long recording (:class:`serkit.timeline.Segment`) and a
live window (:class:`serkit.listen.ListenResult`) each add only where the scores came from.

The probabilities themselves always come from
:meth:`serkit.recognizer.EmotionRecognizer.predict_proba`, the one place that turns
features into probabilities on every path (files, signals, timelines, live input, the
service); anything that adjusts probabilities (such as calibration) belongs there.
Importing this module is cheap (numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from .answers import is_uncertain

__all__ = ["EmotionScores", "Prediction", "to_predictions"]

_R = TypeVar("_R", bound="EmotionScores")


@dataclass(kw_only=True)
class EmotionScores:
    """An emotion with its confidence and the probability of every class."""

    emotion: str | None = None
    """Most probable class; ``None`` when there was nothing to predict (an error, silence)."""
    confidence: float | None = None
    """Its probability in [0, 1]."""
    probabilities: dict[str, float] = field(default_factory=dict)
    """Probability per class, in the recognizer's ``classes_`` order."""
    uncertain: bool | None = None
    """True when the confidence is below the model's threshold for a trustworthy answer
    (:mod:`serkit.answers`); ``None`` when the model has none or there is no answer."""

    @classmethod
    def from_probabilities(
        cls: type[_R],
        classes: Sequence[Any] | np.ndarray,
        proba: Sequence[float] | np.ndarray,
        *,
        uncertain_below: float | None = None,
        **where: Any,
    ) -> _R:
        """The result for one row of probabilities [shape=(n_classes,)], columns in ``classes``
        order; ``uncertain_below`` is the model's confidence threshold (the answer is marked
        ``uncertain`` under it); ``where`` fills the subclass's own fields (``path``, ``start``).

        Examples
        --------
        >>> EmotionScores.from_probabilities(["angry", "calm"], [0.25, 0.75]).emotion
        'calm'
        >>> scores = EmotionScores.from_probabilities(["angry", "calm"], [0.4, 0.6],
        ...                                          uncertain_below=0.7)
        >>> scores.uncertain
        True
        """
        row = np.asarray(proba, dtype=np.float64)
        best = int(np.argmax(row))
        return cls(
            **where,
            emotion=str(classes[best]),
            confidence=float(row[best]),
            probabilities={str(c): float(p) for c, p in zip(classes, row, strict=True)},
            uncertain=is_uncertain(float(row[best]), uncertain_below),
        )

    def _scores_dict(self) -> dict[str, Any]:
        """``emotion``, ``confidence``, ``probabilities`` (and ``uncertain`` when known)."""
        out: dict[str, Any] = {
            "emotion": self.emotion,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
        }
        if self.uncertain is not None:
            out["uncertain"] = self.uncertain
        return out

    @property
    def runner_up(self) -> tuple[str, float] | None:
        """Second most probable class and its probability."""
        if len(self.probabilities) < 2:
            return None
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return ranked[1]


@dataclass(kw_only=True)
class Prediction(EmotionScores):
    """The result for one input file or signal: the scores, or why the input failed."""

    path: str
    """The file (or ``"<signal>"``)."""
    error: str | None = None
    """Why the input could not be used."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"path": self.path, **self._scores_dict()}
        if self.error is not None:
            out["error"] = self.error
        return out


def to_predictions(
    classes: Sequence[Any] | np.ndarray,
    proba: np.ndarray,
    names: Sequence[str],
    *,
    uncertain_below: float | None = None,
) -> list[Prediction]:
    """One :class:`Prediction` per row of ``proba`` [shape=(n, n_classes)], named by ``names``."""
    return [
        Prediction.from_probabilities(classes, row, path=name, uncertain_below=uncertain_below)
        for name, row in zip(names, proba, strict=True)
    ]
