"""Log-mel frame sequences for neural networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._errors import ParameterError
from ._base import check_signal

__all__ = ["LogMelFeatures"]

_AMIN = 1e-10  # power floor before the log: -100 dB


def _frame_sizes(sr: int, win_dur: float, hop_dur: float) -> tuple[int, int, int]:
    """Window length, FFT size (next power of two) and hop, in samples."""
    win_length = max(1, round(win_dur * sr))
    hop_length = max(1, round(hop_dur * sr))
    n_fft = 1 << (win_length - 1).bit_length()
    return win_length, n_fft, hop_length


@dataclass(frozen=True)
class LogMelFeatures:
    """Log-mel band energies frame by frame, for neural networks.

    Each frame is a Hann window of ``win_dur`` seconds (zero-padded to the next
    power of two) every ``hop_dur`` seconds, centred on ``t = i * hop_dur``.
    Its power spectrum goes through ``n_mels`` Slaney-normalised mel filters
    between ``fmin`` and ``fmax`` and is expressed in dB against a fixed
    reference: ``10 * log10(max(power, 1e-10))``, i.e.
    ``librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None)``. The reference
    is not the clip's maximum, so a louder clip gives larger values and levels
    stay comparable across clips; normalise per speaker or per clip downstream
    if wanted. A full-scale sine gives about +38 dB in its band; digital silence
    gives -100 dB.

    Parameters
    ----------
    n_mels : int > 0
        Number of mel bands.
    win_dur, hop_dur : float > 0
        Window and hop in seconds (400 and 160 samples at 16 kHz).
    fmin, fmax : float
        Band edges in Hz, ``0 <= fmin < fmax``. ``fmax`` is lowered to ``sr / 2``
        for signals sampled below ``2 * fmax``.

    Raises
    ------
    ParameterError
        If a setting is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> y = (0.1 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype("float32")
    >>> LogMelFeatures().extract(y, sr).shape
    (101, 64)
    """

    n_mels: int = 64
    win_dur: float = 0.025
    hop_dur: float = 0.010
    fmin: float = 50.0
    fmax: float = 8000.0

    name: ClassVar[str] = "logmel"
    kind: ClassVar[str] = "sequence"

    def __post_init__(self) -> None:
        if isinstance(self.n_mels, bool) or not isinstance(self.n_mels, (int, np.integer)):
            raise ParameterError(f"n_mels must be an integer; got n_mels={self.n_mels!r}")
        if self.n_mels < 1:
            raise ParameterError(f"n_mels must be >= 1; got n_mels={self.n_mels}")
        if not 0 < self.hop_dur <= self.win_dur <= 1.0:
            raise ParameterError(
                "need 0 < hop_dur <= win_dur <= 1 s; "
                f"got win_dur={self.win_dur}, hop_dur={self.hop_dur}"
            )
        if not 0 <= self.fmin < self.fmax:
            raise ParameterError(f"need 0 <= fmin < fmax; got fmin={self.fmin}, fmax={self.fmax}")

    def feature_names(self) -> list[str]:
        """Column names ``logmel_1 .. logmel_<n_mels>``, lowest band first.

        Returns
        -------
        list of str [length=n_mels]
        """
        return [f"logmel_{i}" for i in range(1, self.n_mels + 1)]

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Log-mel frames of one signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float]
            Mono signal.
        sr : int > 0 [scalar]
            Sample rate in Hz.

        Returns
        -------
        np.ndarray [shape=(1 + n // hop, n_mels), dtype=float32]
            dB values, one row per frame; ``hop = round(hop_dur * sr)``.

        Raises
        ------
        ParameterError
            ``y`` is not a 1-D float signal, ``sr`` is not a positive integer,
            or ``fmin`` is not below ``sr / 2``.
        """
        from .._optional import require

        librosa = require("librosa", purpose="the logmel features")
        y = check_signal(y, sr)
        fmax = min(self.fmax, sr / 2)
        if self.fmin >= fmax:
            raise ParameterError(f"fmin={self.fmin} Hz must be below sr / 2 = {sr / 2} Hz")
        win_length, n_fft, hop_length = _frame_sizes(sr, self.win_dur, self.hop_dur)
        power = librosa.feature.melspectrogram(
            y=y,
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=fmax,
        )
        logmel = 10.0 * np.log10(np.maximum(power, _AMIN))
        return np.ascontiguousarray(logmel.T, dtype=np.float32)
