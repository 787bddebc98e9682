"""Emotion over time in long recordings: speech regions, sliding windows, smoothing.

:func:`predict_timeline` reads a recording in blocks (a file through
:func:`serkit.audio.stream`, or an in-memory signal cut into the same
blocks), finds the speech with :mod:`serkit.vad`, cuts sliding windows over
each speech region, extracts the recognizer's features of every window and
predicts them in one batch. Memory stays bounded by the block size, the VAD's
look-ahead and the feature rows of the windows (a few kB each), so an
hour-long file never sits in memory as a whole.

Window placement, for a speech region ``[a, b]`` of length ``d``:

- ``d >= win_dur``: windows ``[a + k * hop_dur, a + k * hop_dur + win_dur]``
  inside the region, plus one window ending at ``b`` when more than half a hop
  of the region's end would be left uncovered. Every such window is speech.
- ``d < win_dur``: one window centred on the region, of length
  ``min(win_dur, 2 * d)`` (so at least half of it is speech), shifted inside
  the recording where it would cross an end.
- regions shorter than 0.25 s are ignored.

Window probabilities are smoothed over time by a centred moving average of
``smooth`` windows that never reaches across a pause longer than ``max_gap``
seconds. Each speech region gets the mean of its windows' (unsmoothed)
probabilities.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import audio
from ._errors import AudioEmptyError, AudioNonFiniteError, AudioTooLongError, ParameterError
from ._inputs import stack_rows
from .results import EmotionScores
from .vad import METHODS, SpeechDetector

__all__ = [
    "ENCODER_CHUNK",
    "MIN_NORM_WINDOWS",
    "Segment",
    "Timeline",
    "predict_timeline",
    "window_batcher",
]

logger = logging.getLogger(__name__)

MIN_REGION = 0.25
"""Speech regions shorter than this many seconds get no window."""

MIN_NORM_WINDOWS = 8
"""Fewest windows for which ``speaker_norm=None`` normalises over the recording."""

ENCODER_CHUNK = 0.0
"""Default seconds of speech per encoder pass for encoder feature sets (``whisper``): 0, one
pass per window. Encoding 10 s stretches once was 3-5 times cheaper but lost 26 points of
per-window UAR on EmoDB-2s recordings (``benchmarks/RESULTS.md``, "Timeline default")."""


@dataclass(kw_only=True)
class Segment(EmotionScores):
    """One stretch of a recording with its emotion and class probabilities.

    The scores (``emotion``, ``confidence``, ``probabilities``, summing to 1 in
    ``classes`` order) are those of :class:`serkit.results.EmotionScores`.
    """

    emotion: str
    """Most probable class."""
    confidence: float
    """Its probability, in [0, 1]."""
    start: float
    """Start in seconds from the beginning of the recording."""
    end: float
    """End in seconds."""

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"start": round(self.start, 3), "end": round(self.end, 3), **self._scores_dict()}


@dataclass
class Timeline:
    """The emotions of a long recording: per speech region and per sliding window.

    Attributes
    ----------
    source : str
        The file path, or ``"<signal>"``.
    duration : float
        Length of the recording in seconds.
    classes : list of str
        The recognizer's classes; every probability dict follows this order.
    speech : list of Segment
        One per speech region (VAD), with the mean probabilities of its windows.
    windows : list of Segment
        The sliding windows, with smoothed probabilities.
    settings : dict
        The settings that produced the timeline (window, hop, smoothing, VAD ...).
    envelope : np.ndarray [shape=(n_columns, 2), dtype=float32] or None
        Minimum and maximum sample of each ``1 / envelope_rate`` seconds of the
        recording, for plotting long audio (:func:`serkit.plots.plot_timeline`).
    envelope_rate : float
        Envelope columns per second.
    """

    source: str
    duration: float
    classes: list[str]
    speech: list[Segment]
    windows: list[Segment]
    settings: dict[str, Any] = field(default_factory=dict)
    envelope: np.ndarray | None = field(default=None, repr=False, compare=False)
    envelope_rate: float = 100.0

    @property
    def speech_duration(self) -> float:
        """Seconds of speech found."""
        return float(sum(seg.duration for seg in self.speech))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the envelope)."""
        return {
            "source": self.source,
            "duration": round(self.duration, 3),
            "classes": list(self.classes),
            "settings": dict(self.settings),
            "speech": [seg.to_dict() for seg in self.speech],
            "windows": [seg.to_dict() for seg in self.windows],
        }

    def rows(self, kind: str = "windows") -> list[dict[str, Any]]:
        """Flat rows for a table: start, end, emotion, confidence, one column per class.

        Parameters
        ----------
        kind : {"windows", "speech"}
            Which segments.

        Returns
        -------
        list of dict
            Keys ``start, end, emotion, confidence`` then the class names.

        Raises
        ------
        ParameterError
            For another ``kind``.
        """
        if kind not in ("windows", "speech"):
            raise ParameterError(f"kind must be 'windows' or 'speech'; got kind={kind!r}")
        segments = self.windows if kind == "windows" else self.speech
        return [
            {
                "start": round(seg.start, 3),
                "end": round(seg.end, 3),
                "emotion": seg.emotion,
                "confidence": seg.confidence,
                **({} if seg.uncertain is None else {"uncertain": seg.uncertain}),
                **{c: seg.probabilities[c] for c in self.classes},
            }
            for seg in segments
        ]


# ----------------------------------------------------------------------- helpers
def _smooth(proba: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int, max_gap: float):
    """Centred moving average of ``width`` rows, restarted after a pause over ``max_gap`` s.

    Parameters
    ----------
    proba : np.ndarray [shape=(n, n_classes)]
    starts, ends : np.ndarray [shape=(n,)]
        Window times in seconds, sorted by start.

    Returns
    -------
    np.ndarray [shape=(n, n_classes)]
        Rows still sum to 1.
    """
    if width <= 1 or len(proba) < 2:
        return proba.copy()
    out = np.empty_like(proba)
    # a new run starts where the pause since the furthest end so far exceeds max_gap
    reach = np.maximum.accumulate(ends)
    breaks = np.flatnonzero(starts[1:] - reach[:-1] > max_gap) + 1
    before, after = width // 2, (width - 1) // 2
    for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(proba)], strict=True):
        csum = np.vstack([np.zeros((1, proba.shape[1])), np.cumsum(proba[lo:hi], axis=0)])
        idx = np.arange(hi - lo)
        first = np.maximum(idx - before, 0)
        last = np.minimum(idx + after + 1, hi - lo)
        out[lo:hi] = (csum[last] - csum[first]) / (last - first)[:, None]
    return out


def _window_plan(start: float, end: float, win: float, hop: float, total: float):
    """Windows of a finished region, as (start, end) seconds (see the module notes)."""
    length = end - start
    if length < MIN_REGION:
        return []
    if length < win:
        size = min(win, 2 * length, total)
        lo = (start + end) / 2 - size / 2
        lo = min(max(lo, 0.0), max(total - size, 0.0))
        return [(lo, lo + size)]
    out = []
    k = 0
    while start + k * hop + win <= end + 1e-9:
        out.append((start + k * hop, start + k * hop + win))
        k += 1
    if end - out[-1][1] > hop / 2:
        out.append((end - win, end))
    return out


class _Signal:
    """Samples of the recording from ``start`` (a sample index) on, in one growing buffer."""

    def __init__(self) -> None:
        self.start = 0
        self._parts: list[np.ndarray] = []
        self._data = np.zeros(0, dtype=np.float32)

    @property
    def end(self) -> int:
        return self.start + len(self._data) + sum(len(p) for p in self._parts)

    def append(self, y: np.ndarray) -> None:
        self._parts.append(y)

    def get(self, lo: int, hi: int) -> np.ndarray:
        if self._parts:
            self._data = np.concatenate([self._data, *self._parts])
            self._parts = []
        if lo < self.start or hi > self.end:
            raise RuntimeError(f"samples {lo}:{hi} are not buffered ({self.start}:{self.end})")
        return self._data[lo - self.start : hi - self.start]

    def drop_before(self, index: int) -> None:
        if self._parts:
            self._data = np.concatenate([self._data, *self._parts])
            self._parts = []
        cut = min(max(0, index - self.start), len(self._data))
        if cut:
            self._data = self._data[cut:].copy()
            self.start += cut


class _Envelope:
    """Min/max of every ``sr / rate`` samples, accumulated block by block."""

    def __init__(self, sr: int, rate: float) -> None:
        self.step = max(1, round(sr / rate))
        self.rate = sr / self.step
        self._tail = np.zeros(0, dtype=np.float32)
        self._parts: list[np.ndarray] = []

    def add(self, y: np.ndarray) -> None:
        buf = np.concatenate([self._tail, y]) if self._tail.size else y
        n = len(buf) // self.step
        if n:
            cols = buf[: n * self.step].reshape(n, self.step)
            self._parts.append(np.stack([cols.min(axis=1), cols.max(axis=1)], axis=1))
        self._tail = buf[n * self.step :].copy()

    def result(self) -> np.ndarray:
        parts = list(self._parts)
        if self._tail.size:
            parts.append(np.array([[self._tail.min(), self._tail.max()]], dtype=np.float32))
        if not parts:
            return np.zeros((0, 2), dtype=np.float32)
        return np.vstack(parts).astype(np.float32, copy=False)


class _Builder:
    """Consumes blocks; keeps finished regions, window times and window feature rows."""

    def __init__(
        self,
        feature_row: Callable[[np.ndarray, int], dict[str, np.ndarray]],
        *,
        sr: int,
        win: float,
        hop: float,
        vad: str,
        batch: Callable[[np.ndarray, int, list[tuple[int, int]]], list[dict]] | None = None,
        chunk: float = 0.0,
    ) -> None:
        self.feature_row = feature_row
        self.batch = batch
        self.chunk = round(chunk * sr)
        self._deferred: list[tuple[int, int, int]] = []  # lo, hi, row index: features to come
        self._deferred_region = -1
        self.sr = sr
        self.win = win
        self.hop = hop
        self.detector = SpeechDetector(sr, method=vad)
        self.signal = _Signal()
        self.regions: list[tuple[float, float]] = []
        self.windows: list[tuple[float, float, int]] = []  # start, end, region index
        self.features: list[dict[str, np.ndarray]] = []
        self._open_next = 0  # windows already cut from the open region
        self._open_start: float | None = None
        self._pending: list[tuple[float, float, int, int]] = []  # finished, windows not yet cut

    def _cut(self, start: float, end: float, region: int) -> None:
        lo, hi = round(start * self.sr), min(round(end * self.sr), self.signal.end)
        self.windows.append((lo / self.sr, hi / self.sr, region))
        if self.batch is None:
            self.features.append(self.feature_row(self.signal.get(lo, hi), self.sr))
            return
        if self._deferred and (
            region != self._deferred_region
            or lo < self._deferred[0][0]
            or hi - self._deferred[0][0] > self.chunk
        ):
            self._flush()
        self._deferred.append((lo, hi, len(self.features)))
        self._deferred_region = region
        self.features.append({})

    def _flush(self) -> None:
        """Features of the deferred windows (one region, one chunk) from one batch call."""
        if not self._deferred:
            return
        first = min(lo for lo, _, _ in self._deferred)
        last = max(hi for _, hi, _ in self._deferred)
        rows = self.batch(  # type: ignore[misc]
            self.signal.get(first, last),
            self.sr,
            [(lo - first, hi - first) for lo, hi, _ in self._deferred],
        )
        for (_, _, index), row in zip(self._deferred, rows, strict=True):
            self.features[index] = row
        self._deferred = []

    def _finish_region(self, start: float, end: float) -> None:
        if end - start < MIN_REGION:
            self._open_next, self._open_start = 0, None
            return
        index = len(self.regions)
        self.regions.append((start, end))
        skip = self._open_next if self._open_start == start else 0  # cut while it was open
        self._pending.append((start, end, index, skip))
        self._open_next, self._open_start = 0, None
        self._cut_pending(total=math.inf)

    def _cut_pending(self, total: float) -> None:
        """Cut the windows of finished regions whose samples have all arrived."""
        waiting = []
        for start, end, index, skip in self._pending:
            plan = _window_plan(start, end, self.win, self.hop, total)[skip:]
            if math.isinf(total) and plan and max(we for _, we in plan) * self.sr > self.signal.end:
                waiting.append((start, end, index, skip))  # a centred window reaches ahead
                continue
            for ws, we in plan:
                self._cut(ws, we, index)
        self._pending = waiting

    def _advance_open(self) -> None:
        """Cut the windows of the unfinished region that are already certain."""
        region = self.detector.open_region
        if region is None:
            return
        start, known = region
        if self._open_start != start:
            self._open_start, self._open_next = start, 0
        while start + self._open_next * self.hop + self.win <= known:
            ws = start + self._open_next * self.hop
            self._cut(ws, ws + self.win, len(self.regions))
            self._open_next += 1

    def _release(self) -> None:
        """Forget samples no future window can need."""
        region = self.detector.open_region
        if region is not None and region[1] - region[0] >= self.win:
            # its next window, or (for what follows it) a window ending after what is known
            keep = min(region[0] + self._open_next * self.hop, region[1] - self.win)
        else:
            keep = self.detector.pending_start - self.win
        for start, *_ in self._pending:
            keep = min(keep, start - self.win)
        if self._deferred:
            keep = min(keep, self._deferred[0][0] / self.sr)
        self.signal.drop_before(max(0, math.floor((keep - 0.1) * self.sr)))

    def push(self, y: np.ndarray) -> None:
        self.signal.append(y)
        self._cut_pending(total=math.inf)
        for start, end in self.detector.push(y):
            self._finish_region(start, end)
        self._advance_open()
        self._release()

    def finish(self) -> float:
        total = self.signal.end / self.sr
        for start, end in self.detector.finish():
            self._finish_region(start, end)
        self._cut_pending(total=total)
        self._flush()
        return total


def window_batcher(recognizer: Any) -> Callable | None:
    """Features of several windows from one call, when the recognizer's features allow it.

    Only a single feature set whose extractor has ``extract_windows`` (the ``whisper``
    encoder: one encoder pass for a stretch of speech, frames pooled per window) qualifies;
    other recognizers return ``None`` and are fed window by window.
    """
    extractors = recognizer._extractors()
    if len(extractors) != 1:
        return None
    ((key, extractor),) = extractors.items()
    if not hasattr(extractor, "extract_windows") or getattr(extractor, "span", "clip") != "clip":
        return None

    def batch(samples: np.ndarray, sr: int, windows: list[tuple[int, int]]) -> list[dict]:
        from ._threads import one_blas_thread

        with one_blas_thread():
            rows = extractor.extract_windows(samples, sr, windows)
        return [{key: row} for row in rows]

    return batch


def _in_memory_blocks(y: np.ndarray, sr: int, block: float) -> Iterator[np.ndarray]:
    step = max(1, round(block * sr))
    for i in range(0, len(y), step):
        yield y[i : i + step]


def _as_signal(source: tuple, max_duration: float | None) -> tuple[np.ndarray, int]:
    """A ``(y, sr)`` tuple as mono float32 at 16 kHz, without the silence checks."""
    if len(source) != 2:
        raise ParameterError("an in-memory source must be a tuple (y, sr)")
    y, sr = source
    if isinstance(sr, bool):
        raise ParameterError(f"sr must be a positive integer (Hz); got sr={sr!r}")
    return audio.prepare_signal(y, sr, max_duration=max_duration, checks=False)


def _check_settings(win_dur, hop_dur, smooth, block_duration, vad, max_gap) -> None:
    def number(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParameterError(f"{name} must be a number; got {name}={value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ParameterError(f"{name} must be finite and > 0; got {name}={value}")
        return float(value)

    win = number("win_dur", win_dur)
    if win < MIN_REGION:
        raise ParameterError(f"win_dur must be >= {MIN_REGION} s; got win_dur={win_dur}")
    number("hop_dur", hop_dur)
    number("max_gap", max_gap)
    number("block_duration", block_duration)
    if isinstance(smooth, bool) or not isinstance(smooth, (int, np.integer)) or smooth < 1:
        raise ParameterError(f"smooth must be an integer >= 1 (windows); got smooth={smooth!r}")
    if vad not in METHODS:
        raise ParameterError(f"unknown VAD method {vad!r}; choose one of {', '.join(METHODS)}")


def predict_timeline(
    recognizer: Any,
    source: str | os.PathLike | tuple[np.ndarray, int],
    *,
    win_dur: float = 3.0,
    hop_dur: float = 1.0,
    smooth: int = 3,
    speaker_norm: bool | None = None,
    vad: str = "energy",
    block_duration: float = 60.0,
    progress: bool = False,
    max_duration: float | None = None,
    max_gap: float = 2.0,
    envelope_rate: float = 100.0,
    encoder_chunk: float = ENCODER_CHUNK,
) -> Timeline:
    """Emotions over time of a long recording, read in blocks with bounded memory.

    Parameters
    ----------
    recognizer : EmotionRecognizer
        A fitted recognizer with a vector feature set.
    source : path or (y, sr)
        An audio file (read block by block with :func:`serkit.audio.stream`), or
        an in-memory signal ``y`` [shape=(n,) or (channels, n)] at ``sr`` Hz,
        processed in the same blocks.
    win_dur : float >= 0.25
        Window length in seconds.
    hop_dur : float > 0
        Step between windows of one speech region, in seconds.
    smooth : int >= 1
        Windows in the centred moving average of window probabilities
        (1: no smoothing).
    speaker_norm : bool or None
        ``True``: standardise the features of all windows together (the recording
        is one speaker or call) and use the recognizer's speaker-normalised model.
        ``False``: every window on its own (the global model). ``None`` (default):
        ``True`` when the recognizer has a speaker-normalised model and the
        recording gives at least :data:`MIN_NORM_WINDOWS` windows, else ``False``;
        normalising over the recording beat the per-window model on long one-speaker
        recordings of both development corpora (``benchmarks/timeline_norm.py``).
        ``settings["speaker_norm"]`` says which was used.
    vad : str
        Voice activity method (:data:`serkit.vad.METHODS`).
    block_duration : float > 0
        Seconds of audio read at a time (raised to ``2 * win_dur`` if shorter).
    progress : bool
        Show a progress bar (audio seconds) on stderr.
    max_duration : float or None
        Refuse recordings longer than this many seconds (checked from the file
        header before decoding); ``None`` for no limit.
    max_gap : float > 0
        Smoothing does not reach across pauses longer than this, in seconds.
    envelope_rate : float > 0
        Columns per second of the waveform envelope kept for plotting.
    encoder_chunk : float >= 0
        For encoder feature sets (``whisper``): the consecutive windows of one speech
        region spanning at most this many seconds are encoded in one pass and each
        window pools its own frames, instead of one encoder pass per window. ``0``
        (the default) encodes every window alone, as clips are encoded in training;
        a chunk of 10 s costs 3-5 times less encoder time but changes the features
        (frames then attend to the neighbouring speech) and was measured less
        accurate on one of two corpora. Other feature sets ignore it.

    Returns
    -------
    Timeline
        Empty ``speech`` and ``windows`` when the recording holds no speech.

    Raises
    ------
    ParameterError
        Bad settings, a sequence feature set, or ``speaker_norm`` with a
        recognizer trained without speaker groups.
    AudioError
        The file cannot be decoded, is empty, longer than ``max_duration``, or
        holds NaN/Inf samples.
    sklearn.exceptions.NotFittedError
        If the recognizer is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from serkit.recognizer import EmotionRecognizer
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (10, 40)), rng.normal(2, 1, (10, 40))])
    >>> rec = EmotionRecognizer("seed:groups=mfcc", "logreg").fit(X, ["calm"] * 10 + ["angry"] * 10)
    >>> sr = 16000
    >>> t = np.arange(4 * sr) / sr
    >>> voice = 0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    >>> y = np.concatenate([np.zeros(2 * sr), voice, np.zeros(2 * sr)])
    >>> y += 0.001 * rng.standard_normal(len(y))
    >>> tl = predict_timeline(rec, (y, sr), win_dur=2.0, hop_dur=1.0)
    >>> len(tl.speech), len(tl.windows), tl.classes
    (1, 3, ['angry', 'calm'])
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    from ._estimator import check_is_fitted

    check_is_fitted(recognizer, "pipeline_")
    _check_settings(win_dur, hop_dur, smooth, block_duration, vad, max_gap)
    if speaker_norm is not None and not isinstance(speaker_norm, (bool, np.bool_)):
        raise ParameterError(f"speaker_norm must be True, False or None; got {speaker_norm!r}")
    if speaker_norm and not recognizer.supports_speaker_norm:
        raise ParameterError(
            "speaker_norm needs a recognizer with a speaker-normalised model; train it with "
            "speaker groups (serkit train does)"
        )
    sr = audio.SAMPLE_RATE
    block_duration = max(float(block_duration), 2.0 * float(win_dur))
    if isinstance(source, tuple):
        name = "<signal>"
        y, _ = _as_signal(source, max_duration)
        expected = len(y) / sr
        blocks: Iterator[np.ndarray] = _in_memory_blocks(y, sr, block_duration)
    else:
        name = os.fspath(source)
        expected = audio.info(source).duration
        if max_duration is not None and expected > max_duration:
            raise AudioTooLongError(
                name, f"is {expected:.1f} s long, more than the limit of {max_duration:g} s"
            )
        blocks = audio.stream(source, block_duration=block_duration, sr=sr)

    if isinstance(encoder_chunk, bool) or not isinstance(encoder_chunk, (int, float)):
        raise ParameterError(f"encoder_chunk must be a number of seconds; got {encoder_chunk!r}")
    if not 0 <= encoder_chunk <= 30 or not math.isfinite(encoder_chunk):
        raise ParameterError(f"encoder_chunk must lie in [0, 30] s; got {encoder_chunk}")
    batch = window_batcher(recognizer) if encoder_chunk > 0 else None
    builder = _Builder(
        recognizer.feature_row,
        sr=sr,
        win=float(win_dur),
        hop=float(hop_dur),
        vad=vad,
        batch=batch,
        chunk=max(float(encoder_chunk), float(win_dur)),
    )
    envelope = _Envelope(sr, envelope_rate)
    bar = tqdm(total=round(expected, 1), unit="s", desc="timeline", disable=not progress)
    try:
        with threadpool_limits(1):  # as the recognizer: the same numbers on every path
            for block in blocks:
                if not np.all(np.isfinite(block)):
                    bad = int(np.count_nonzero(~np.isfinite(block)))
                    raise AudioNonFiniteError(name, f"contains {bad} NaN or infinite samples")
                envelope.add(block)
                builder.push(block)
                bar.update(round(len(block) / sr, 1))
            total = builder.finish()
    finally:
        bar.close()
    if total == 0:
        raise AudioEmptyError(name, "contains no samples")

    if speaker_norm is None:
        speaker_norm = recognizer.supports_speaker_norm and len(builder.windows) >= MIN_NORM_WINDOWS
    classes = [str(c) for c in recognizer.classes_]
    settings = {
        "win_dur": float(win_dur),
        "hop_dur": float(hop_dur),
        "smooth": int(smooth),
        "max_gap": float(max_gap),
        "speaker_norm": bool(speaker_norm),
        "vad": vad,
        "encoder_chunk": float(encoder_chunk) if batch is not None else None,
        "features": recognizer.feature_spec_ or list(recognizer.input_specs_.values()),
    }
    timeline = Timeline(
        source=name,
        duration=total,
        classes=classes,
        speech=[],
        windows=[],
        settings=settings,
        envelope=envelope.result(),
        envelope_rate=envelope.rate,
    )
    if not builder.windows:
        logger.info("%s: no speech found in %.1f s", name, total)
        return timeline

    order = np.argsort([w[0] for w in builder.windows], kind="stable")
    times = np.array([builder.windows[i][:2] for i in order], dtype=np.float64)
    owner = np.array([builder.windows[i][2] for i in order])
    X = stack_rows([builder.features[i] for i in order])
    speakers = ["recording"] * len(order) if speaker_norm else None
    proba = recognizer.predict_proba(X, speakers=speakers)
    smoothed = _smooth(proba, times[:, 0], times[:, 1], int(smooth), float(max_gap))
    threshold = getattr(recognizer, "uncertain_below_", None)
    timeline.windows = [
        Segment.from_probabilities(
            classes, p, start=float(s), end=float(e), uncertain_below=threshold
        )
        for (s, e), p in zip(times, smoothed, strict=True)
    ]
    timeline.speech = [
        Segment.from_probabilities(
            classes,
            proba[owner == index].mean(axis=0),
            start=float(start),
            end=float(end),
            uncertain_below=threshold,
        )
        for index, (start, end) in enumerate(builder.regions)
    ]
    logger.info(
        "%s: %d speech regions, %d windows in %.1f s", name, len(timeline.speech), len(order), total
    )
    return timeline
