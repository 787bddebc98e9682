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

    @classmethod
    def from_probabilities(
        cls: type[_R],
        classes: Sequence[Any] | np.ndarray,
        proba: Sequence[float] | np.ndarray,
        **where: Any,
    ) -> _R:
        """The result for one row of probabilities [shape=(n_classes,)], columns in ``classes``
        order; ``where`` fills the subclass's own fields (``path``, ``start`` ...).

        Examples
        --------
        >>> EmotionScores.from_probabilities(["angry", "calm"], [0.25, 0.75]).emotion
        'calm'
        """
        row = np.asarray(proba, dtype=np.float64)
        best = int(np.argmax(row))
        return cls(
            **where,
            emotion=str(classes[best]),
            confidence=float(row[best]),
            probabilities={str(c): float(p) for c, p in zip(classes, row, strict=True)},
        )

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
        out: dict[str, Any] = {
            "path": self.path,
            "emotion": self.emotion,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def to_predictions(
    classes: Sequence[Any] | np.ndarray, proba: np.ndarray, names: Sequence[str]
) -> list[Prediction]:
    """One :class:`Prediction` per row of ``proba`` [shape=(n, n_classes)], named by ``names``."""
    return [
        Prediction.from_probabilities(classes, row, path=name)
        for name, row in zip(names, proba, strict=True)
    ]
