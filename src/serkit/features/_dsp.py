"""Small numpy signal-processing kernels for the ``stats`` extractor.

``stats`` needs a short-time Fourier transform, a mel filterbank, framing and
the YIN pitch tracker. librosa provides all four, but importing it (a lazy
loader over numba-compiled kernels) costs about a second in a fresh process,
which dominates a one-off ``serkit predict``. These functions compute the
same numbers with numpy and ``scipy.fft`` (librosa's default FFT library,
cheap to import), following the conventions of librosa 0.11 as
``stats`` called it (centred frames with zero padding, periodic Hann window,
Slaney mel scale and area normalisation, YIN with librosa's difference
function) and mirroring its floating-point types, so the features agree to
float32 rounding. The tests compare each of them against librosa.
"""

from __future__ import annotations

import numpy as np

__all__ = ["frame", "hz_to_mel", "mel_filters", "mel_to_hz", "stft", "yin"]

# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above
# (27 steps per factor 6.4 in frequency), continuous at 1 kHz = 15 mels.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0
_STFT_BLOCK = 512  # frames per block of :func:`stft`


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Overlapping frames of a 1-D signal, as a read-only view (no copy).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
    frame_length, hop_length : int > 0
        Samples per frame and between frame starts.

    Returns
    -------
    np.ndarray [shape=(1 + (n - frame_length) // hop_length, frame_length)]
        Row ``t`` is ``x[t * hop_length : t * hop_length + frame_length]``.

    Raises
    ------
    ValueError
        If ``x`` is shorter than one frame or a length is not positive.

    Examples
    --------
    >>> frame(np.arange(7), 3, 2)
    array([[0, 1, 2],
           [2, 3, 4],
           [4, 5, 6]])
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"frame expects a 1-D signal; got shape {x.shape}")
    if frame_length < 1 or hop_length < 1:
        raise ValueError(
            f"frame_length and hop_length must be positive; got {frame_length}, {hop_length}"
        )
    if len(x) < frame_length:
        raise ValueError(f"signal of length {len(x)} is shorter than frame_length={frame_length}")
    return np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop_length]


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` points (the DFT-even form used for spectral analysis).

    Evaluated as ``0.5 + 0.5 cos`` on ``n`` points evenly spaced over ``[-pi, pi)``,
    the same expression (hence the same float64 rounding) as scipy's ``get_window``.
    """
    return 0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1)[:-1])


def stft(y: np.ndarray, n_fft: int, hop_length: int, win_length: int | None = None) -> np.ndarray:
    """Short-time Fourier transform with centred, zero-padded frames.

    Frame ``t`` is centred on sample ``t * hop_length``: the signal gets
    ``n_fft // 2`` zeros on each side (librosa's ``center=True`` with its
    default ``pad_mode="constant"``), each frame is multiplied by a periodic
    Hann window of ``win_length`` points zero-padded to ``n_fft`` at the
    centre, and transformed by a real FFT in float64.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float]
    n_fft : int > 0
        FFT size.
    hop_length : int > 0
        Samples between frame centres.
    win_length : int in [1, n_fft] or None
        Window length; ``n_fft`` when None.

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, 1 + (n + 2 * (n_fft // 2) - n_fft) // hop_length)]
        Complex spectrum, complex64 for float32 input (complex128 otherwise),
        rounded from the float64 FFT as ``librosa.stft`` does.

    Examples
    --------
    >>> spec = stft(np.ones(1600, dtype=np.float32), n_fft=512, hop_length=160, win_length=400)
    >>> spec.shape, spec.dtype
    ((257, 11), dtype('complex64'))
    """
    import scipy.fft  # here, not at module level: importing serkit.features stays light

    y = np.asarray(y)
    win_length = n_fft if win_length is None else int(win_length)
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length must lie in [1, n_fft={n_fft}]; got {win_length}")
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = _hann(win_length)
    frames = frame(np.pad(y, n_fft // 2), n_fft, hop_length)
    out_dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    spec = np.empty((len(frames), n_fft // 2 + 1), dtype=out_dtype)
    # a block of frames at a time, so a long clip's float64 frames and spectrum are never
    # all held at once; each row is transformed alone (blocks a multiple of 64 rows keep
    # the FFT's SIMD groups), so the values are those of one call over every frame
    for start in range(0, len(frames), _STFT_BLOCK):
        rows = slice(start, start + _STFT_BLOCK)
        spec[rows] = scipy.fft.rfft(frames[rows] * window, axis=-1)  # float64, like librosa
    return spec.T


def hz_to_mel(freqs: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz to Slaney mels (linear below 1 kHz, logarithmic above).

    Examples
    --------
    >>> round(float(hz_to_mel(1000.0)), 9), round(float(hz_to_mel(6400.0)), 9)
    (15.0, 42.0)
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    mels = freqs / _F_SP
    high = freqs >= _MIN_LOG_HZ
    safe = np.where(high, freqs, _MIN_LOG_HZ)
    return np.where(high, _MIN_LOG_MEL + np.log(safe / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Slaney mels to Hz, the inverse of :func:`hz_to_mel`.

    Examples
    --------
    >>> float(mel_to_hz(hz_to_mel(4000.0)))
    4000.0
    """
    mels = np.asarray(mels, dtype=np.float64)
    high = mels >= _MIN_LOG_MEL
    return np.where(high, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), _F_SP * mels)


def mel_filters(
    sr: float, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filterbank on the Slaney mel scale, each filter of unit area in Hz.

    ``n_mels + 2`` edge frequencies are spaced evenly in mels from ``fmin`` to
    ``fmax``; filter ``i`` rises linearly from edge ``i`` to a peak at edge
    ``i + 1`` and falls to zero at edge ``i + 2``, evaluated at the FFT bin
    frequencies, then is scaled by ``2 / (edge[i + 2] - edge[i])`` (Slaney's
    normalisation, so a flat spectrum gives roughly equal band energies).
    Same matrix as ``librosa.filters.mel(htk=False, norm="slaney")``.

    Parameters
    ----------
    sr : float > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size; the matrix has ``1 + n_fft // 2`` columns.
    n_mels : int > 0
    fmin, fmax : float
        Band edges in Hz; ``fmax`` defaults to ``sr / 2``.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]

    Examples
    --------
    >>> mel_filters(16000, 512, 26, fmin=20.0).shape
    (26, 257)
    """
    fmax = sr / 2 if fmax is None else fmax
    bin_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - bin_freqs[None, :]  # edge minus bin frequency
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    # rounded to float32 before and after the normalisation, as librosa stores it
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    area = 2.0 / (edges[2:] - edges[:-2])
    return (weights * area[:, None]).astype(np.float32)


def _cmnd(frames: np.ndarray, min_period: int, max_period: int) -> np.ndarray:
    """YIN's cumulative-mean-normalised difference function at lags ``min_period..max_period``.

    The difference at lag ``k`` is computed as librosa 0.11 computes it,
    ``2 (r(0) - r(k)) - sum_{m<k} x[m]^2`` with ``r`` the autocorrelation of
    the whole frame (zero-padded FFT, in float32 for float32 frames): the
    squared difference between the frame and its copy shifted by ``k``, the
    copy taken as zero past the frame's end. As in librosa, the energy term
    of lag 1 is taken as 0 (librosa zeroes it in place before use). The
    difference is then divided by its running mean over lags ``1..k``.

    Parameters
    ----------
    frames : np.ndarray [shape=(n_frames, frame_length)]
    min_period, max_period : int
        ``1 <= min_period <= max_period < frame_length``.

    Returns
    -------
    np.ndarray [shape=(n_frames, max_period - min_period + 1), dtype=float64]
    """
    import scipy.fft

    n_pad = scipy.fft.next_fast_len(2 * frames.shape[-1] - 1, real=True)
    spectrum = scipy.fft.rfft(frames, n=n_pad, axis=-1)
    power = spectrum.real**2 + spectrum.imag**2
    acf = scipy.fft.irfft(power, n=n_pad, axis=-1)[:, : max_period + 1]
    head_energy = np.cumsum(np.square(frames[:, :max_period]), axis=-1)
    head_energy[:, 0] = 0  # librosa's quirk: see above; it only moves lag 1
    diff = np.zeros_like(acf, shape=(frames.shape[0], max_period + 1))
    diff[:, 1:] = 2 * (acf[:, :1] - acf[:, 1:]) - head_energy[:, :max_period]
    running_mean = np.cumsum(diff[:, 1:], axis=-1) / np.arange(1, max_period + 1)
    denominator = running_mean[:, min_period - 1 : max_period]
    return diff[:, min_period:] / (denominator + np.finfo(denominator.dtype).tiny)


def yin(
    y: np.ndarray,
    *,
    fmin: float,
    fmax: float,
    sr: float,
    frame_length: int,
    hop_length: int,
    trough_threshold: float = 0.1,
    center: bool = True,
) -> np.ndarray:
    """Fundamental frequency of each frame by YIN (de Cheveigné & Kawahara, 2002).

    Per frame: the cumulative-mean-normalised difference function over periods
    ``floor(sr / fmax)`` .. ``ceil(sr / fmin)`` samples; the period is the
    first local minimum below ``trough_threshold`` (the absolute threshold),
    or the global minimum when there is none, refined by a parabola through
    it and its neighbours (no shift at the ends of the range, nor where the
    vertex lies more than one lag away). Same estimates as ``librosa.yin``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float]
    fmin, fmax : float
        Search range in Hz, ``0 < fmin < fmax <= sr / 2``.
    sr : float > 0
        Sample rate in Hz.
    frame_length : int
        Samples per frame; must exceed ``sr / fmin + 1``.
    hop_length : int > 0
        Samples between frames.
    trough_threshold : float
        Absolute threshold on the normalised difference.
    center : bool
        Centre frame ``t`` on sample ``t * hop_length`` (``frame_length // 2``
        zeros on each side); otherwise frame ``t`` starts there.

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float64]
        F0 in Hz, within about ``[fmin, fmax]`` (parabolic refinement may pass
        the range slightly).

    Raises
    ------
    ValueError
        If the range or frame length is infeasible, or ``y`` is shorter than
        one frame.

    Examples
    --------
    >>> sr = 16000
    >>> y = np.sin(2 * np.pi * 200 * np.arange(sr) / sr).astype(np.float32)
    >>> f0 = yin(y, fmin=60, fmax=600, sr=sr, frame_length=1024, hop_length=160)
    >>> bool(np.all(np.abs(f0[5:-5] - 200) < 0.5))
    True
    """
    if not 0 < fmin < fmax <= sr / 2:
        raise ValueError(f"need 0 < fmin < fmax <= sr / 2; got fmin={fmin}, fmax={fmax}, sr={sr}")
    if sr / fmin >= frame_length - 1:
        raise ValueError(
            f"frame_length={frame_length} must exceed sr / fmin + 1 = {sr / fmin + 1:.1f}"
        )
    y = np.asarray(y)
    if center:
        y = np.pad(y, frame_length // 2)
    frames = frame(y, frame_length, hop_length)
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    d = _cmnd(frames, min_period, max_period)  # (n_frames, n_lags)
    n_lags = d.shape[1]

    # local minima along the lags; the first lag only has to be below the second,
    # the last only below the one before it
    trough = np.zeros(d.shape, dtype=bool)
    trough[:, 1:-1] = (d[:, 1:-1] < d[:, :-2]) & (d[:, 1:-1] <= d[:, 2:])
    trough[:, 0] = d[:, 0] < d[:, 1]
    trough[:, -1] = d[:, -1] < d[:, -2]
    below = trough & (d < trough_threshold)
    rows = np.arange(d.shape[0])
    best = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(d, axis=1))

    # parabolic interpolation around the chosen lag (interior lags only)
    inner = np.clip(best, 1, n_lags - 2)
    left, mid, right = d[rows, inner - 1], d[rows, inner], d[rows, inner + 1]
    curvature = left + right - 2 * mid
    slope = (right - left) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(slope) >= np.abs(curvature), 0.0, -slope / curvature)
    shift = np.where((best == 0) | (best == n_lags - 1), 0.0, shift)
    return sr / (min_period + best + shift)
