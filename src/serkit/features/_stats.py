"""Frame-level descriptors summarised by functionals: serkit's compact hand-crafted set.

Built like a small ComParE / eGeMAPS: one short-time spectrum per clip gives
MFCCs, log-mel band energies and spectral shape; the waveform gives energy and
zero crossings; YIN gives the pitch, and the normalised autocorrelation at
yin's period gives voicing and harmonicity. Each descriptor is summarised
over the clip's active frames by mean, spread, percentiles, skew and time
slope; pitch and harmonicity over voiced frames.

The signal processing (STFT, mel filters, framing, YIN) is serkit's own numpy
code in :mod:`._dsp`, which reproduces librosa's numbers without importing
librosa or numba (about a second in a fresh process).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._errors import ParameterError
from ._base import check_signal
from ._dsp import frame, mel_filters, stft, yin

__all__ = ["StatsFeatures"]

FUNCTIONALS: tuple[str, ...] = (
    "mean",
    "std",
    "p10",
    "p50",
    "p90",
    "range_p10_p90",
    "slope",
    "skew",
    "kurtosis",
)
"""Functionals applied to each descriptor (``slope`` is per second, ``kurtosis`` is excess)."""

SPECTRAL_LLDS: tuple[str, ...] = (
    "centroid",
    "bandwidth",
    "rolloff85",
    "flatness",
    "entropy",
    "flux",
    "slope_0_500",
    "slope_500_1500",
    "alpha_ratio",
    "hammarberg",
    "zcr",
    "rms_db",
)
"""Spectral-shape and energy descriptors, in output order (see :class:`StatsFeatures`)."""

PITCH_LLDS: tuple[str, ...] = ("f0_semitone", "hnr_db")
"""Descriptors measured on voiced frames only."""

GLOBALS: tuple[str, ...] = ("active_ratio", "loudness_peaks_per_s")
PITCH_GLOBALS: tuple[str, ...] = (
    "voiced_ratio",
    "voiced_segments_per_s",
    "voiced_segment_mean_s",
    "voiced_segment_std_s",
    "unvoiced_segment_mean_s",
    "f0_rising_slope_mean",
    "f0_falling_slope_mean",
    "f0_perturbation",
    "rms_perturbation_db",
)
"""Whole-clip measures; the pitch ones are present when ``pitch=True``."""

_AMIN = 1e-10  # power floor before logs: -100 dB
_F0_REF = 27.5  # semitone reference (A0), as eGeMAPS
# frames per block of the pitch analysis: bounds a long clip's memory; a multiple of 64 so
# that blocks split the frames into the same SIMD groups as one whole call would
_PITCH_BLOCK = 512


def _next_pow2(n: int) -> int:
    return 1 << (max(1, int(n)) - 1).bit_length()


CMN_MODES: tuple[str, ...] = ("none", "mean", "meanvar")
"""Values of :attr:`StatsFeatures.cmn`."""


@functools.lru_cache(maxsize=16)
def _mel_basis(
    sr: int, n_fft: int, n_mels: int, fmin: float = 20.0, fmax: float | None = None
) -> np.ndarray:
    basis = mel_filters(sr, n_fft, n_mels, fmin=fmin, fmax=sr / 2 if fmax is None else fmax)
    basis.setflags(write=False)
    return basis


def _band_pass(y: np.ndarray, sr: int, lo: float, hi: float) -> np.ndarray:
    """Zero-phase brick-wall band-pass: the signal with every component outside
    ``[lo, hi]`` Hz removed (one FFT of the whole signal)."""
    spectrum = np.fft.rfft(y.astype(np.float64))
    freqs = np.fft.rfftfreq(len(y), 1.0 / sr)
    spectrum[(freqs < lo) | (freqs > hi)] = 0.0
    return np.fft.irfft(spectrum, n=len(y)).astype(np.float32)


def _band(freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Boolean mask of FFT bins in ``[lo, hi)``, never empty."""
    mask = (freqs >= lo) & (freqs < hi)
    if not mask.any():
        mask[int(np.argmin(np.abs(freqs - lo)))] = True
    return mask


def _spectral_subtraction(
    y: np.ndarray,
    sr: int,
    *,
    quiet_share: float = 0.1,
    over: float = 2.0,
    floor: float = 1e-3,
) -> np.ndarray:
    """The signal with its stationary noise suppressed by power spectral subtraction.

    The noise power spectrum is the mean over the quietest ``quiet_share`` of the
    32 ms frames (by energy: the pauses); each STFT bin keeps
    ``max(1 - over * noise / power, floor)`` of its power (the gain's square),
    then the signal is resynthesised by overlap-add. A clean recording, whose
    pauses are near silence, passes almost unchanged.

    The numbers are those of ``scipy.signal.stft`` / ``istft`` (Hann window, hop a
    quarter of the frame, zero boundaries); on clips longer than one block the complex
    spectrum is computed twice, a block of frames at a time (:class:`_BlockSTFT`), so
    that only the power spectrum (a quarter of scipy's intermediates) is held for the
    whole clip.
    """
    nperseg = _next_pow2(round(0.032 * sr))
    hop = nperseg // 4
    if len(y) < 2 * nperseg:
        return y
    transform = _BlockSTFT(y.astype(np.float64), nperseg, hop)
    power = transform.power()
    # frames that lie wholly inside the signal (the first and last are half zero padding)
    first = -(-(nperseg // 2) // hop)
    last = (len(y) - nperseg // 2) // hop
    inner = power[:, first : last + 1]
    energy = inner.sum(axis=0)
    n_quiet = max(1, int(np.ceil(quiet_share * inner.shape[1])))
    noise = inner[:, np.argsort(energy, kind="stable")[:n_quiet]].mean(axis=1, keepdims=True)
    # the gain sqrt(max(1 - over * noise / power, floor)), in place (long files)
    gain = np.maximum(power, 1e-30, out=power)
    np.divide(over * noise, gain, out=gain)
    np.subtract(1.0, gain, out=gain)
    np.maximum(gain, floor, out=gain)
    np.sqrt(gain, out=gain)
    out = transform.resynthesise(gain)[: len(y)]
    if len(out) < len(y):
        out = np.pad(out, (0, len(y) - len(out)))
    return out.astype(np.float32)


class _BlockSTFT:
    """``scipy.signal.stft`` and ``istft`` of one float64 signal, a block of frames at a time.

    Same settings as ``stft(x, window="hann", nperseg=n, noverlap=n - hop)`` (zero
    boundaries, padded to whole frames, "spectrum" scaling) and the matching ``istft``,
    and the same operations in the same order on each frame, so the values are scipy's
    to the bit (tested against scipy). Blocks are a multiple of 64 frames, which splits
    the frames into the same SIMD groups of the FFT as one call over all of them.
    """

    block = 1024

    def __init__(self, x: np.ndarray, nperseg: int, hop: int) -> None:
        from scipy.signal import get_window

        half = nperseg // 2
        x = np.concatenate((np.zeros(half), x, np.zeros(half)))  # boundary="zeros"
        nadd = (-(x.shape[-1] - nperseg) % hop) % nperseg  # padded=True
        self.x = np.concatenate((x, np.zeros(nadd)))
        self.nperseg, self.hop = nperseg, hop
        self.win = get_window("hann", nperseg)
        self.n_frames = (len(self.x) - nperseg) // hop + 1
        self.n_bins = nperseg // 2 + 1
        self._kept: np.ndarray | None = None

    def _blocks(self) -> range:
        return range(0, self.n_frames, self.block)

    def spectrum(self, start: int, stop: int) -> np.ndarray:
        """Complex spectrum of frames ``start:stop`` [shape=(n_bins, stop - start)]."""
        import scipy.fft

        span = self.x[start * self.hop : (stop - 1) * self.hop + self.nperseg]
        frames = np.lib.stride_tricks.sliding_window_view(span, self.nperseg)[:: self.hop]
        result = scipy.fft.rfft((self.win * frames).real, n=self.nperseg)
        result *= np.sqrt(1.0 / self.win.sum() ** 2)
        return np.moveaxis(result.astype(np.complex128), -1, 0)

    def power(self) -> np.ndarray:
        """``|spectrum|^2`` of every frame [shape=(n_bins, n_frames)], laid out as scipy's."""
        power = np.empty((self.n_frames, self.n_bins)).T
        for start in self._blocks():
            stop = min(start + self.block, self.n_frames)
            spec = self.spectrum(start, stop)
            power[:, start:stop] = spec.real**2 + spec.imag**2
        # a clip of one block (up to ~8 s at 16 kHz) keeps its spectrum for resynthesis
        self._kept = spec if self.n_frames <= self.block else None
        return power

    def resynthesise(self, gain: np.ndarray) -> np.ndarray:
        """``istft`` of the spectrum times ``gain`` [shape=(n_bins, n_frames)]."""
        import scipy.fft

        nperseg, hop = self.nperseg, self.hop
        length = nperseg + (self.n_frames - 1) * hop
        x = np.zeros(length)
        norm = np.zeros(length)
        scale = self.win.sum()
        for start in self._blocks():
            stop = min(start + self.block, self.n_frames)
            spec = self._kept if self._kept is not None else self.spectrum(start, stop)
            spec *= gain[:, start:stop]
            xsubs = scipy.fft.irfft(spec + 0j, axis=-2, n=nperseg)[:nperseg, :]
            xsubs *= scale
            for i in range(stop - start):
                at = (start + i) * hop
                x[at : at + nperseg] += xsubs[:, i] * self.win
                norm[at : at + nperseg] += self.win**2
        half = nperseg // 2
        x, norm = x[half:-half], norm[half:-half]
        x /= np.where(norm > 1e-10, norm, 1.0)
        return x


def _regression_weights(x: np.ndarray) -> np.ndarray:
    """Weights ``w`` such that ``w @ y`` is the least-squares slope of ``y`` on ``x``."""
    xc = x - x.mean()
    denom = float(np.dot(xc, xc))
    return xc / denom if denom > 0 else np.zeros_like(xc)


def _centred_frame_sums(v: np.ndarray, win: int, hop: int, n_frames: int) -> np.ndarray:
    """Sums of ``v`` over windows of ``win`` samples centred on ``t * hop``, zero outside."""
    csum = np.concatenate(([0.0], np.cumsum(v, dtype=np.float64)))
    centres = np.arange(n_frames) * hop
    lo = np.clip(centres - win // 2, 0, len(v))
    hi = np.clip(centres - win // 2 + win, 0, len(v))
    return csum[hi] - csum[lo]


def _delta(x: np.ndarray, n: int = 2) -> np.ndarray:
    """Regression deltas over +-n frames along the last axis (HTK formula, edges repeated)."""
    padded = np.pad(x, ((0, 0), (n, n)), mode="edge")
    t = x.shape[-1]
    out = np.zeros_like(x)
    for k in range(1, n + 1):
        out += k * (padded[:, n + k : n + k + t] - padded[:, n - k : n - k + t])
    return out / (2 * sum(k * k for k in range(1, n + 1)))


def _functionals(x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The :data:`FUNCTIONALS` of each row of ``x`` sampled at ``times``.

    Parameters
    ----------
    x : np.ndarray [shape=(n_lld, n)]
    times : np.ndarray [shape=(n,)]
        Seconds.

    Returns
    -------
    np.ndarray [shape=(n_lld, 9)]
        All zeros where ``n == 0``.
    """
    n_lld, n = x.shape
    out = np.zeros((n_lld, len(FUNCTIONALS)))
    if n == 0:
        return out
    mean = x.mean(axis=1)
    dev = x - mean[:, None]
    m2 = np.mean(dev**2, axis=1)
    std = np.sqrt(m2)
    p10, p50, p90 = np.percentile(x, [10, 50, 90], axis=1)
    slope = _regression_weights(times) @ dev.T if n > 1 else np.zeros(n_lld)
    flat = m2 <= 1e-12 * np.maximum(mean**2, 1e-12)
    safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, np.mean(dev**3, axis=1) / safe**1.5)
    kurt = np.where(flat, 0.0, np.mean(dev**4, axis=1) / safe**2 - 3.0)
    out[:] = np.stack([mean, std, p10, p50, p90, p90 - p10, slope, skew, kurt], axis=1)
    return out


def _normalise_frames(x: np.ndarray, active: np.ndarray, mode: str) -> np.ndarray:
    """Rows of ``x`` less their mean over the ``active`` frames and, for ``meanvar``,
    divided by their standard deviation there (rows that are flat there are only
    centred)."""
    sel = x[:, active]
    out = x - sel.mean(axis=1, keepdims=True)
    if mode == "meanvar":
        std = sel.std(axis=1, keepdims=True)
        out = out / np.where(std > 1e-9, std, 1.0)
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a boolean vector."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    return starts, ends - starts


def _spectral_shape(power: np.ndarray, freqs: np.ndarray, sr: int) -> list[np.ndarray]:
    """The first ten :data:`SPECTRAL_LLDS` (spectral shape) of a power spectrogram.

    Parameters
    ----------
    power : np.ndarray [shape=(n_bins, n_frames)]
    freqs : np.ndarray [shape=(n_bins,)]
        Bin frequencies in Hz.
    sr : int > 0

    Returns
    -------
    list of np.ndarray [shape=(n_frames,)]
        centroid, bandwidth, rolloff85, flatness, entropy, flux, slope_0_500,
        slope_500_1500, alpha_ratio, hammarberg.
    """
    n_frames = power.shape[1]
    total = power.sum(axis=0) + _AMIN
    dist = power / total
    centroid = freqs @ dist
    bandwidth = np.sqrt(np.maximum((freqs**2) @ dist - centroid**2, 0.0))
    rolloff = freqs[np.minimum(np.argmax(np.cumsum(dist, axis=0) >= 0.85, axis=0), len(freqs) - 1)]
    log_power = np.log(power + _AMIN)
    flatness = np.exp(log_power.mean(axis=0)) / (power.mean(axis=0) + _AMIN)
    entropy = -(dist * np.log(dist + 1e-20)).sum(axis=0) / np.log(len(freqs))
    del dist  # (n_bins, n_frames) arrays are freed as soon as done with: long clips
    magnitude = np.sqrt(power)
    unit = magnitude / (np.linalg.norm(magnitude, axis=0) + 1e-12)
    del magnitude
    flux = np.zeros(n_frames)
    flux[1:] = np.sum(np.diff(unit, axis=1) ** 2, axis=0)
    del unit
    db = (10.0 / np.log(10.0)) * log_power
    del log_power
    slopes = []
    for lo, hi in ((0.0, 500.0), (500.0, 1500.0)):
        band = _band(freqs, lo, hi)
        slopes.append(_regression_weights(freqs[band] / 1000.0) @ db[band])
    nyq = sr / 2
    low, high = _band(freqs, 50.0, min(1000.0, nyq)), _band(freqs, 1000.0, min(5000.0, nyq))
    alpha = 10.0 * np.log10((power[low].sum(0) + _AMIN) / (power[high].sum(0) + _AMIN))
    hammarberg = db[_band(freqs, 0.0, min(2000.0, nyq))].max(0) - db[
        _band(freqs, 2000.0, min(5000.0, nyq))
    ].max(0)
    return [centroid, bandwidth, rolloff, flatness, entropy, flux, *slopes, alpha, hammarberg]


@dataclass(frozen=True)
class StatsFeatures:
    """Low-level descriptors of every frame, summarised by functionals (one vector per clip).

    Frames are ``win_dur`` Hann windows every ``hop_dur`` seconds, centred on
    ``t = i * hop_dur``, all taken from one STFT (FFT size the next power of
    two). Per frame it measures:

    - ``mfcc1 .. mfcc<n_mfcc>``: DCT-II (ortho) of the log-mel energies,
      coefficient 0 (overall level) left out; their regression deltas over
      +-2 frames when ``deltas``;
    - ``mel1 .. mel<n_mels>``: log-mel band energies in dB (Slaney filters,
      20 Hz to sr/2, power floor 1e-10, fixed reference 1.0);
    - spectral shape: ``centroid``, ``bandwidth`` (Hz), ``rolloff85`` (Hz, 85 %
      of the power below), ``flatness`` (geometric / arithmetic mean of the
      power), ``entropy`` (of the normalised power, 0..1), ``flux`` (squared
      change of the L2-normalised magnitude spectrum), ``slope_0_500`` and
      ``slope_500_1500`` (regression of the dB spectrum on frequency, dB/kHz),
      ``alpha_ratio`` (dB, 50-1000 Hz over 1-5 kHz) and ``hammarberg`` (dB,
      strongest peak 0-2 kHz over 2-5 kHz);
    - ``zcr`` (zero crossings per sample) and ``rms_db`` (RMS level in dBFS);
    - when ``pitch``: F0 by YIN (as :func:`librosa.yin`; ``f0_min`` .. ``f0_max``,
      frames of ``2 / f0_min`` seconds or more) as ``f0_semitone`` (semitones
      above 27.5 Hz), and ``hnr_db`` = ``10 log10(r / (1 - r))`` with ``r`` the
      normalised autocorrelation of the pitch frame at yin's period.

    A frame is *active* when its level is within ``active_db`` dB of the
    clip's loudest frame, and *voiced* when it is active and ``r`` reaches
    ``voicing_threshold``. Each descriptor gets the functionals mean, std,
    p10, p50, p90, p90 - p10 (``range_p10_p90``), slope over time (per second),
    skewness and excess kurtosis, over active frames (pitch descriptors over
    voiced frames); MFCC deltas get their std. Whole-clip measures follow:
    ``active_ratio``, ``loudness_peaks_per_s`` (level peaks at least 3 dB
    prominent and 100 ms apart per active second: a syllable-rate proxy) and,
    with ``pitch``, voiced ratio (of active frames), voiced segments per
    active second, mean/std voiced and mean unvoiced segment length (s), mean
    rising and falling F0 slope (semitones/s), and frame-to-frame F0 and level
    perturbation of consecutive voiced frames (jitter- and shimmer-like, at
    frame rather than cycle resolution). Values that need voiced frames are 0
    when there are none; the vector never holds NaN.

    Parameters
    ----------
    n_mfcc : int > 0
        MFCCs 1..n_mfcc; must be below ``n_mels``.
    n_mels : int > 1
        Mel bands.
    deltas : bool
        Add the std of the MFCC deltas.
    pitch : bool
        Add pitch, harmonicity and voicing measures (most of the time is yin's).
    f0_min, f0_max : float > 0
        Pitch search range in Hz; ``f0_max`` must not pass ``sr / 2``.
    voicing_threshold : float in (0, 1)
        Normalised autocorrelation at yin's period that makes a frame voiced.
    active_db : float > 0
        Frames quieter than the loudest by more than this are left out.
    win_dur, hop_dur : float > 0
        Frame length and hop in seconds.
    band_hz : () or (low, high)
        Analysis band in Hz. Empty (the default): the whole spectrum (mel filters from
        20 Hz to ``sr / 2``). ``(300, 3400)``, the telephone band, makes clean and
        telephone recordings look alike: the signal is band-passed first (zero-phase,
        so level, zero crossings, voicing and pitch see the band only), the mel filters
        span the band, and the spectral shape descriptors use its FFT bins only (their
        sub-bands clipped to it: ``slope_0_500`` then covers 300-500 Hz, the
        ``alpha_ratio`` 300-1000 over 1000-3400 Hz). ``high`` above ``sr / 2`` means
        ``sr / 2``. Spec string: ``stats:band_hz=300+3400``.
    denoise : bool
        Suppress stationary noise first, by power spectral subtraction with the noise
        spectrum measured in the quietest tenth of the clip (its pauses): twice the
        noise power is subtracted from every STFT bin, keeping at least 1/1000 of it
        (-30 dB), and the signal is resynthesised; every descriptor then reads the
        cleaned signal. A clean recording passes almost unchanged.
    cmn : {"none", "mean", "meanvar"}
        Per-utterance normalisation of the MFCC and log-mel frames before the
        functionals: ``mean`` subtracts each coefficient's mean over the active frames
        (cepstral mean normalisation: a fixed channel filter, a microphone's colour or a
        telephone line's in-band response, adds a constant to every frame and is gone;
        the ``_mean`` functionals are then 0), ``meanvar`` also divides by the standard
        deviation (their ``_std`` are then 1, and the delta stds are relative).

    Raises
    ------
    ParameterError
        If a setting is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> y = (0.3 * np.sin(2 * np.pi * 150 * t + 2 * np.sin(2 * np.pi * 3 * t))).astype("float32")
    >>> ext = StatsFeatures()
    >>> x = ext.extract(y, sr)
    >>> x.shape == (len(ext.feature_names()),)
    True
    >>> f0 = 27.5 * 2 ** (x[ext.feature_names().index("f0_semitone_p50")] / 12)  # Hz
    >>> bool(140 < f0 < 160)
    True
    """

    n_mfcc: int = 20
    n_mels: int = 26
    deltas: bool = True
    pitch: bool = True
    f0_min: float = 60.0
    f0_max: float = 600.0
    voicing_threshold: float = 0.5
    active_db: float = 40.0
    win_dur: float = 0.025
    hop_dur: float = 0.010
    band_hz: tuple[float, ...] = ()
    denoise: bool = False
    cmn: str = "none"

    name: ClassVar[str] = "stats"
    kind: ClassVar[str] = "vector"

    def __post_init__(self) -> None:
        for key in ("n_mfcc", "n_mels"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ParameterError(f"{key} must be an integer; got {key}={value!r}")
        if self.n_mels < 2:
            raise ParameterError(f"n_mels must be >= 2; got n_mels={self.n_mels}")
        if not 1 <= self.n_mfcc < self.n_mels:
            raise ParameterError(
                f"n_mfcc must lie in [1, n_mels - 1] = [1, {self.n_mels - 1}]; "
                f"got n_mfcc={self.n_mfcc}"
            )
        if not 0 < self.f0_min < self.f0_max:
            raise ParameterError(
                f"need 0 < f0_min < f0_max; got f0_min={self.f0_min}, f0_max={self.f0_max}"
            )
        if not 0 < self.voicing_threshold < 1:
            raise ParameterError(
                f"voicing_threshold must lie in (0, 1); got {self.voicing_threshold}"
            )
        if not self.active_db > 0:
            raise ParameterError(f"active_db must be > 0; got {self.active_db}")
        if not 0 < self.hop_dur <= self.win_dur <= 1.0:
            raise ParameterError(
                "need 0 < hop_dur <= win_dur <= 1 s; "
                f"got win_dur={self.win_dur}, hop_dur={self.hop_dur}"
            )
        band = self.band_hz
        if band is None:
            band = ()
        elif isinstance(band, str):
            band = tuple(v for v in band.replace(",", "+").split("+") if v.strip())
        try:
            band = tuple(float(v) for v in band)
        except (TypeError, ValueError):
            raise ParameterError(
                f"band_hz must be empty or two frequencies in Hz; got {self.band_hz!r}"
            ) from None
        if band and not (len(band) == 2 and 0 <= band[0] < band[1]):
            raise ParameterError(
                f"band_hz must be () or (low, high) with 0 <= low < high; got {self.band_hz!r}"
            )
        object.__setattr__(self, "band_hz", band)
        if self.cmn not in CMN_MODES:
            raise ParameterError(f"cmn must be one of {', '.join(CMN_MODES)}; got {self.cmn!r}")

    # ------------------------------------------------------------------ names
    def _lld_names(self) -> list[str]:
        names = [f"mfcc{i}" for i in range(1, self.n_mfcc + 1)]
        names += [f"mel{i}" for i in range(1, self.n_mels + 1)]
        return names + list(SPECTRAL_LLDS)

    def feature_names(self) -> list[str]:
        """Names of the values, ``<descriptor>_<functional>`` then whole-clip measures.

        Examples: ``mfcc3_mean``, ``mel12_p90``, ``rms_db_slope``,
        ``f0_semitone_p90``, ``mfcc3_delta_std``, ``voiced_ratio``.

        Returns
        -------
        list of str [length=n_features]
        """
        llds = self._lld_names() + (list(PITCH_LLDS) if self.pitch else [])
        names = [f"{lld}_{func}" for lld in llds for func in FUNCTIONALS]
        if self.deltas:
            names += [f"mfcc{i}_delta_std" for i in range(1, self.n_mfcc + 1)]
        names += list(GLOBALS)
        if self.pitch:
            names += list(PITCH_GLOBALS)
        return names

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        return len(self.feature_names())

    # ------------------------------------------------------------- extraction
    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Functionals of the frame descriptors of one signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float]
            Mono signal in [-1, 1].
        sr : int > 0 [scalar]
            Sample rate in Hz (serkit passes 16 kHz).

        Returns
        -------
        np.ndarray [shape=(n_features,), dtype=float32]
            In the order of :meth:`feature_names`; finite for any finite input.

        Raises
        ------
        ParameterError
            ``y`` is not a 1-D finite float signal, ``sr`` is not a positive
            integer, or ``f0_max`` passes ``sr / 2``.
        """
        from .._optional import require

        require("scipy", purpose="the stats features")
        from scipy.fft import dct
        from scipy.signal import find_peaks

        y = check_signal(y, sr)
        if not np.all(np.isfinite(y)):  # as librosa refused them; the numpy kernels would not
            raise ParameterError("y must be finite; it holds NaN or infinite samples")
        if self.pitch and self.f0_max > sr / 2:
            raise ParameterError(
                f"f0_max={self.f0_max} Hz passes the Nyquist frequency {sr / 2} Hz of sr={sr}"
            )
        win = max(2, round(self.win_dur * sr))
        hop = max(1, round(self.hop_dur * sr))
        n_fft = _next_pow2(win)
        if self.band_hz:
            lo, hi = self.band_hz[0], min(self.band_hz[1], sr / 2)
            if not lo < hi:
                raise ParameterError(f"band_hz={self.band_hz} lies above sr / 2 = {sr / 2} Hz")
            y = _band_pass(y, sr, lo, hi)
        if self.denoise:
            y = _spectral_subtraction(y, sr)

        # --- one STFT, everything spectral from it
        spec = stft(y, n_fft=n_fft, hop_length=hop, win_length=win)  # centred frames
        power = (spec.real**2 + spec.imag**2).astype(np.float64)  # (n_bins, n_frames)
        del spec
        n_frames = power.shape[1]
        times = np.arange(n_frames) * (hop / sr)
        freqs = np.linspace(0.0, sr / 2, power.shape[0])

        if self.band_hz:
            in_band = (freqs >= lo) & (freqs <= hi)
            basis = _mel_basis(sr, n_fft, self.n_mels, float(lo), float(hi))
            shape = _spectral_shape(power[in_band], freqs[in_band], sr)
        else:
            basis = _mel_basis(sr, n_fft, self.n_mels)
            shape = _spectral_shape(power, freqs, sr)
        logmel = 10.0 * np.log10(np.maximum(basis @ power, _AMIN))
        mfcc = dct(logmel, type=2, norm="ortho", axis=0)[1 : self.n_mfcc + 1]

        # --- waveform: level and zero crossings over the same centred windows
        y64 = y.astype(np.float64)
        rms_db = 10.0 * np.log10(
            np.maximum(_centred_frame_sums(y64**2, win, hop, n_frames) / win, _AMIN)
        )
        crossings = np.zeros(len(y))
        crossings[1:] = np.signbit(y[1:]) != np.signbit(y[:-1])
        zcr = _centred_frame_sums(crossings, win, hop, n_frames) / win

        active = rms_db >= rms_db.max() - self.active_db
        if self.cmn != "none" and active.any():
            mfcc, logmel = (
                _normalise_frames(mfcc, active, self.cmn),
                _normalise_frames(logmel, active, self.cmn),
            )
        lld = np.vstack([mfcc, logmel, *shape, zcr, rms_db])  # rows: _lld_names()
        parts = [_functionals(lld[:, active], times[active]).ravel()]

        if self.pitch:
            f0, harmonicity = self._pitch(y, sr, hop, active)
            voiced = active & (harmonicity >= self.voicing_threshold)
            semitone = 12.0 * np.log2(f0 / _F0_REF)
            r = np.clip(harmonicity, 1e-3, 1 - 1e-3)
            hnr = 10.0 * np.log10(r / (1.0 - r))
            pitch_lld = np.vstack([semitone, hnr])
            parts.append(_functionals(pitch_lld[:, voiced], times[voiced]).ravel())
        if self.deltas:
            parts.append(
                _delta(mfcc)[:, active].std(axis=1) if active.any() else np.zeros(self.n_mfcc)
            )

        frame_s = hop / sr
        active_s = max(active.sum() * frame_s, frame_s)
        peaks, _ = find_peaks(
            np.where(active, rms_db, rms_db.min()),
            prominence=3.0,
            distance=max(1, round(0.1 / frame_s)),
        )
        parts.append(np.array([active.mean(), len(peaks) / active_s]))
        if self.pitch:
            parts.append(self._voicing_globals(voiced, semitone, rms_db, active, active_s, frame_s))
        out = np.concatenate(parts)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)

    def _pitch(
        self, y: np.ndarray, sr: int, hop: int, frames_wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """F0 (Hz) by YIN and the normalised autocorrelation at its period.

        Only frames from the first to the last True of ``frames_wanted`` are
        analysed (the others, usually lead-in and tail silence, get
        ``f0_min`` and harmonicity 0); each is the same frame a whole-signal
        ``yin(..., center=True)`` would use.

        Returns
        -------
        f0, harmonicity : np.ndarray [shape=(len(frames_wanted),)]
        """
        n_frames = len(frames_wanted)
        f0 = np.full(n_frames, float(self.f0_min))
        harmonicity = np.zeros(n_frames)
        wanted = np.flatnonzero(frames_wanted)
        if len(wanted) == 0:
            return f0, harmonicity
        first, last = int(wanted[0]), int(wanted[-1])
        # at least two periods of f0_min per frame (yin's minimum), rounded up to a power of
        # two: 64 ms at 16 kHz, where shorter frames gave ~5x more octave errors
        frame_length = _next_pow2(2 * int(np.ceil(sr / self.f0_min)) + 2)
        half = frame_length // 2
        padded = np.pad(y, (half, half))  # as yin's center=True pads
        span = padded[first * hop : last * hop + frame_length]
        n = (len(span) - frame_length) // hop + 1
        # blocks of frames: each frame is computed alone, so the values are those of one
        # whole-span call, and a long clip's intermediates ((frames, 2 frame_length) arrays,
        # ~200 MB at 60 s) stay at one block's size
        for start in range(0, n, _PITCH_BLOCK):
            stop = min(start + _PITCH_BLOCK, n)
            block = span[start * hop : (stop - 1) * hop + frame_length]
            rows = slice(first + start, first + stop)
            f0[rows], harmonicity[rows] = self._pitch_block(block, sr, hop, frame_length)
        return f0, harmonicity

    def _pitch_block(
        self, span: np.ndarray, sr: int, hop: int, frame_length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """F0 and harmonicity of the frames of ``span`` (``frame_length`` every ``hop``)."""
        span_f0 = yin(
            span,
            fmin=self.f0_min,
            fmax=self.f0_max,
            sr=sr,
            frame_length=frame_length,
            hop_length=hop,
            center=False,
        )
        span_f0 = np.clip(np.nan_to_num(span_f0, nan=self.f0_min), self.f0_min, self.f0_max)
        frames = frame(span, frame_length, hop)
        n = len(span_f0)
        # normalised autocorrelation of each frame at yin's period p:
        # sum x[k] x[k+p] / sqrt(sum_{k<L-p} x[k]^2 * sum_{k>=p} x[k]^2)
        extended = np.zeros((n, 2 * frame_length), dtype=frames.dtype)
        extended[:, :frame_length] = frames
        period = np.rint(sr / span_f0).astype(np.intp)
        lags = period[:, None] + np.arange(frame_length)[None, :]
        shifted = np.take_along_axis(extended, lags, axis=1)  # x[k + p], 0 past the frame
        del lags
        lagged = np.einsum("ij,ij->i", extended[:, :frame_length], shifted, dtype=np.float64)
        del extended, shifted
        energy = np.cumsum(np.square(frames, dtype=np.float64), axis=1)
        rows = np.arange(n)
        head = energy[rows, frame_length - 1 - period]
        tail = energy[:, -1] - energy[rows, period - 1]
        den = np.sqrt(head * tail)
        return span_f0, np.where(den > 1e-12, lagged / np.maximum(den, 1e-300), 0.0)

    @staticmethod
    def _voicing_globals(
        voiced: np.ndarray,
        semitone: np.ndarray,
        rms_db: np.ndarray,
        active: np.ndarray,
        active_s: float,
        frame_s: float,
    ) -> np.ndarray:
        """The :data:`PITCH_GLOBALS`, zeros where there are no voiced frames."""
        out = np.zeros(len(PITCH_GLOBALS))
        n_active = max(int(active.sum()), 1)
        starts, lengths = _runs(voiced)
        if len(starts) == 0:
            return out
        out[0] = voiced.sum() / n_active
        out[1] = len(starts) / active_s
        out[2] = lengths.mean() * frame_s
        out[3] = lengths.std() * frame_s
        first, last = starts[0], starts[-1] + lengths[-1]
        _, gaps = _runs(~voiced[first:last])
        out[4] = gaps.mean() * frame_s if len(gaps) else 0.0
        pairs = voiced[1:] & voiced[:-1]  # consecutive voiced frames
        if pairs.any():
            d_st = np.diff(semitone)[pairs] / frame_s
            rising, falling = d_st[d_st > 0], d_st[d_st < 0]
            out[5] = rising.mean() if len(rising) else 0.0
            out[6] = falling.mean() if len(falling) else 0.0
            period = 2.0 ** (-semitone / 12.0)  # proportional to the period
            out[7] = np.mean(np.abs(np.diff(period))[pairs]) / np.mean(period[voiced])
            out[8] = np.mean(np.abs(np.diff(rms_db))[pairs])
        return out
