"""openSMILE functionals (eGeMAPSv02, ComParE_2016) through audEERING's ``opensmile`` package."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ._base import check_signal

__all__ = ["CompareFeatures", "EgemapsFeatures"]

# One opensmile.Smile per feature set and process. Kept out of the (frozen, hashable)
# dataclasses; keyed by process id too, so a forked worker builds its own.
_SMILES: dict[tuple[str, int], Any] = {}

_INT16_TOP = 32767 / 32768  # opensmile scales by 32768 and casts to int16: +1.0 would wrap


def _smile(feature_set: str) -> Any:
    """The process's ``opensmile.Smile`` for ``feature_set`` (a ``FeatureSet`` member name)."""
    key = (feature_set, os.getpid())
    smile = _SMILES.get(key)
    if smile is None:
        from .._optional import require

        opensmile = require("opensmile", purpose="the opensmile feature sets")
        smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet[feature_set],
            feature_level=opensmile.FeatureLevel.Functionals,
        )
        _SMILES[key] = smile
    return smile


def _functionals(feature_set: str, y: np.ndarray, sr: int) -> np.ndarray:
    y = check_signal(y, sr)
    y = np.clip(y, -1.0, _INT16_TOP)
    frame = _smile(feature_set).process_signal(y, sr)
    return frame.to_numpy(dtype=np.float32).reshape(-1)


class _OpenSmileFunctionals:
    """Shared body of the openSMILE feature sets; subclasses name the set."""

    kind: ClassVar[str] = "vector"
    _feature_set: ClassVar[str]

    def feature_names(self) -> list[str]:
        """openSMILE's column names, e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean``."""
        return list(_smile(self._feature_set).feature_names)

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Functionals of one signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float]
            Mono signal in [-1, 1].
        sr : int > 0 [scalar]
            Sample rate in Hz.

        Returns
        -------
        np.ndarray [shape=(n_features,), dtype=float32]

        Raises
        ------
        ParameterError
            ``y`` is not a 1-D float signal or ``sr`` is not a positive integer.
        """
        return _functionals(self._feature_set, y, sr)


@dataclass(frozen=True)
class EgemapsFeatures(_OpenSmileFunctionals):
    """openSMILE eGeMAPSv02 functionals: 88 values per clip.

    The extended Geneva Minimalistic Acoustic Parameter Set (Eyben et al.
    2016): pitch, jitter, shimmer, loudness, HNR, formants, spectral slopes and
    MFCC 1-4 with a few functionals each, plus temporal measures.

    Notes
    -----
    openSMILE reads 16-bit integers; samples are clipped to
    ``[-1, 32767/32768]`` first so full-scale peaks do not wrap around. The
    extractor object is built once per process on first use (about 0.1 s).

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> y = (0.3 * np.sin(2 * np.pi * 150 * t)).astype("float32")
    >>> EgemapsFeatures().extract(y, sr).shape
    (88,)
    """

    name: ClassVar[str] = "egemaps"
    _feature_set: ClassVar[str] = "eGeMAPSv02"


@dataclass(frozen=True)
class CompareFeatures(_OpenSmileFunctionals):
    """openSMILE ComParE_2016 functionals: 6373 values per clip.

    The Interspeech Computational Paralinguistics Challenge set: 65 low-level
    descriptors (energy, spectral, MFCC 1-14, voicing, jitter, shimmer) and
    their deltas, each summarised by many functionals.

    Notes
    -----
    As for :class:`EgemapsFeatures`, samples are clipped to
    ``[-1, 32767/32768]`` and the extractor is built once per process.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> y = (0.3 * np.sin(2 * np.pi * 150 * t)).astype("float32")
    >>> CompareFeatures().extract(y, sr).shape
    (6373,)
    """

    name: ClassVar[str] = "compare"
    _feature_set: ClassVar[str] = "ComParE_2016"
