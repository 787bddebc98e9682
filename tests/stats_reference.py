"""The ``stats`` extractor as it was before serkit had its own DSP: librosa's kernels (tests only).

``StatsFeatures`` used to call ``librosa.stft``, ``librosa.filters.mel``,
``librosa.yin`` and ``librosa.util.frame``; it now calls the numpy versions
in ``serkit.features._dsp``, which keep librosa and numba out of a fresh
process. The ``librosa_*`` functions here are those four calls exactly as
``_stats.py`` made them, and :func:`extract_stats_reference` runs the current
extractor with them swapped back in, so a test can check that the new
kernels leave every feature value unchanged. Everything that is not a DSP
kernel (descriptors, functionals) is shared, on purpose: this reference
pins the kernels, not the feature definitions. It is not part of serkit and
must not be imported by ``src/``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import librosa
import numpy as np

from serkit.features import _stats

__all__ = [
    "extract_stats_reference",
    "librosa_frame",
    "librosa_kernels",
    "librosa_mel_basis",
    "librosa_stft",
    "librosa_yin",
]


def librosa_stft(y: np.ndarray, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """The STFT call of the librosa-based ``stats`` (centred, librosa's default padding)."""
    return librosa.stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, center=True)


@functools.lru_cache(maxsize=16)
def librosa_mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """The mel filterbank of the librosa-based ``stats`` (Slaney, 20 Hz to sr / 2)."""
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=20.0, fmax=sr / 2)


def librosa_yin(y: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``librosa.yin`` with the keyword arguments ``stats`` passes."""
    return librosa.yin(y, **kwargs)


def librosa_frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Frames as rows, as ``stats`` took them from ``librosa.util.frame(..., axis=0)``."""
    return librosa.util.frame(x, frame_length=frame_length, hop_length=hop_length, axis=0)


@contextlib.contextmanager
def librosa_kernels() -> Iterator[None]:
    """Within the block, ``serkit.features._stats`` computes with librosa's kernels."""
    names = {
        "stft": librosa_stft,
        "_mel_basis": librosa_mel_basis,
        "yin": librosa_yin,
        "frame": librosa_frame,
    }
    saved = {name: getattr(_stats, name) for name in names}
    try:
        for name, func in names.items():
            setattr(_stats, name, func)
        yield
    finally:
        for name, func in saved.items():
            setattr(_stats, name, func)


def extract_stats_reference(y: np.ndarray, sr: int, **settings: Any) -> np.ndarray:
    """``StatsFeatures(**settings).extract(y, sr)`` computed with librosa's kernels."""
    with librosa_kernels():
        return _stats.StatsFeatures(**settings).extract(y, sr)
