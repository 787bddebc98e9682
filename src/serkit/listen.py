"""Live emotion from a microphone: a ring buffer, a prediction every few seconds.

:func:`listen` reads an input stream in steps of ``every`` seconds, keeps
the last ``window`` seconds in a ring buffer, and after each step predicts
the speech in that window (or reports silence when the voice activity
detector finds none). The microphone comes from ``sounddevice`` (PortAudio),
imported only when a stream is opened; any object with the same small
interface as ``sounddevice.InputStream`` (``samplerate``, ``read(frames)``,
context manager) can stand in for it, so the loop runs the same on recorded
audio.

Nothing here prints: results go to the ``on_result`` callback, and
:func:`format_result` turns one into a line with a text confidence bar.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import audio
from ._errors import MicrophoneError, ParameterError
from .results import EmotionScores
from .vad import METHODS, detect_speech

__all__ = [
    "InputStream",
    "ListenResult",
    "MicrophoneError",
    "format_result",
    "list_devices",
    "listen",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "live input needs the PortAudio library and the sounddevice package: install them with "
    "'apt-get install libportaudio2' (Debian/Ubuntu; 'brew install portaudio' on macOS) and "
    "'pip install sounddevice'"
)


class InputStream(Protocol):
    """What :func:`listen` needs from a stream (a subset of ``sounddevice.InputStream``)."""

    samplerate: float

    def read(self, frames: int) -> tuple[np.ndarray, bool]:
        """Block until ``frames`` frames arrive; return them [shape=(frames, channels)] and
        whether input was lost. Fewer frames (or none) mean the source has ended."""
        ...

    def __enter__(self) -> InputStream: ...

    def __exit__(self, *exc: object) -> Any: ...


StreamFactory = Callable[[int, int], InputStream]
"""``factory(samplerate, blocksize)`` -> an open-able input stream (mono or more channels)."""


@dataclass(kw_only=True)
class ListenResult(EmotionScores):
    """One prediction of the live loop: the scores of :class:`serkit.results.EmotionScores`
    (``emotion`` is ``None`` when no speech was found) and when they were made."""

    time: float
    """Seconds since listening started, at the end of the analysed stretch."""
    duration: float
    """Seconds of audio analysed (the speech span within the window, or the window)."""

    @property
    def speech(self) -> bool:
        """True when the window held speech (and so a prediction)."""
        return self.emotion is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "time": round(self.time, 3),
            "duration": round(self.duration, 3),
            **self._scores_dict(),
        }


def format_result(result: ListenResult, *, width: int = 10) -> str:
    """One line for a terminal: time, emotion, a confidence bar and the confidence.

    Examples
    --------
    >>> format_result(ListenResult(time=72.0, duration=4.0, emotion="angry", confidence=0.78))
    ' 1:12  angry      ████████░░ 0.78'
    >>> format_result(ListenResult(time=75.0, duration=4.0))
    ' 1:15  (silence)'
    """
    minutes, seconds = divmod(int(result.time), 60)
    stamp = f"{minutes:2d}:{seconds:02d}"
    if not result.speech or result.confidence is None:
        return f"{stamp}  (silence)"
    filled = min(width, max(0, round(result.confidence * width)))
    bar = "█" * filled + "░" * (width - filled)
    mark = "  uncertain" if result.uncertain else ""
    return f"{stamp}  {result.emotion:<10} {bar} {result.confidence:.2f}{mark}"


# ------------------------------------------------------------------- sounddevice
def _sounddevice() -> Any:
    """Import sounddevice, or raise MicrophoneError saying what to install."""
    try:
        import sounddevice
    except OSError as exc:  # the package is there, the PortAudio library is not
        raise MicrophoneError(f"{INSTALL_HINT} ({exc})") from exc
    except ImportError as exc:
        raise MicrophoneError(f"{INSTALL_HINT} (sounddevice is not installed)") from exc
    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    """The input devices PortAudio sees.

    Returns
    -------
    list of dict
        ``index``, ``name``, ``channels`` (input channels), ``samplerate`` (default,
        Hz) and ``default`` (True for the default input device).

    Raises
    ------
    MicrophoneError
        PortAudio or sounddevice is missing.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default = sd.default.device[0] if sd.default.device is not None else None
    except Exception as exc:  # PortAudioError and friends
        raise MicrophoneError(f"cannot list audio devices ({exc})") from exc
    return [
        {
            "index": index,
            "name": str(dev["name"]),
            "channels": int(dev["max_input_channels"]),
            "samplerate": float(dev["default_samplerate"]),
            "default": index == default,
        }
        for index, dev in enumerate(devices)
        if int(dev["max_input_channels"]) > 0
    ]


def _microphone_factory(device: int | str | None) -> StreamFactory:
    """A factory opening ``device`` (default input) through sounddevice, mono float32.

    It asks for the requested rate and falls back to the device's own rate
    (the loop resamples); errors become :class:`MicrophoneError`.
    """
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, kind="input")
    except Exception as exc:  # no default input device, or a bad index/name
        raise MicrophoneError(
            f"no usable input device ({exc}); connect a microphone or pick one with --device "
            "(see 'serkit listen --list-devices')"
        ) from exc
    if int(info["max_input_channels"]) < 1:
        raise MicrophoneError(f"device {info['name']!r} has no input channels")

    def factory(samplerate: int, blocksize: int) -> InputStream:
        rate = samplerate
        try:
            sd.check_input_settings(device=device, channels=1, dtype="float32", samplerate=rate)
        except Exception:
            rate = int(info["default_samplerate"])
            logger.info("%s does not record at %d Hz; using %d Hz", info["name"], samplerate, rate)
        try:
            return sd.InputStream(
                device=device, channels=1, dtype="float32", samplerate=rate, blocksize=blocksize
            )
        except Exception as exc:
            raise MicrophoneError(f"cannot open {info['name']!r} ({exc})") from exc

    return factory


# ------------------------------------------------------------------------ loop
class _Ring:
    """The last ``size`` samples of a stream."""

    def __init__(self, size: int) -> None:
        self._buf = np.zeros(size, dtype=np.float32)
        self._pos = 0
        self.filled = 0

    def push(self, x: np.ndarray) -> None:
        size = len(self._buf)
        if len(x) >= size:
            self._buf[:] = x[-size:]
            self._pos, self.filled = 0, size
            return
        first = min(len(x), size - self._pos)
        self._buf[self._pos : self._pos + first] = x[:first]
        self._buf[: len(x) - first] = x[first:]
        self._pos = (self._pos + len(x)) % size
        self.filled = min(size, self.filled + len(x))

    def last(self, n: int) -> np.ndarray:
        n = min(n, self.filled)
        idx = (self._pos - n + np.arange(n)) % len(self._buf)
        return self._buf[idx]


def _check(name: str, value: Any, *, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number of seconds; got {name}={value!r}")
    if not math.isfinite(value) or value <= low:
        raise ParameterError(f"{name} must be finite and > {low:g} s; got {name}={value}")
    return float(value)


def _analyse(
    recognizer: Any,
    y: np.ndarray,
    rate: int,
    *,
    now: float,
    vad: str,
    min_speech: float,
) -> ListenResult:
    """Predict the speech in one window, or report silence."""
    signal = audio.resample(np.asarray(y, dtype=np.float32), rate, audio.SAMPLE_RATE)
    sr = audio.SAMPLE_RATE
    duration = len(signal) / sr
    if len(signal) == 0 or not np.all(np.isfinite(signal)):
        return ListenResult(time=now, duration=duration)
    regions = detect_speech(signal, sr, method=vad)
    if sum(b - a for a, b in regions) < min_speech:
        return ListenResult(time=now, duration=duration)
    span = signal[round(regions[0][0] * sr) : round(regions[-1][1] * sr)]
    proba = recognizer.predict_row(recognizer.feature_row(span, sr))
    return ListenResult.from_probabilities(
        recognizer.classes_,
        proba,
        time=now,
        duration=len(span) / sr,
        uncertain_below=getattr(recognizer, "uncertain_below_", None),
    )


def listen(
    recognizer: Any,
    *,
    every: float = 3.0,
    window: float = 4.0,
    device: int | str | None = None,
    stream_factory: StreamFactory | None = None,
    on_result: Callable[[ListenResult], None] | None = None,
    max_seconds: float | None = None,
    vad: str = "energy",
    min_speech: float = 0.5,
    samplerate: int = audio.SAMPLE_RATE,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Predict the emotion of live input every ``every`` seconds until stopped.

    Parameters
    ----------
    recognizer : EmotionRecognizer
        A fitted recognizer with a vector feature set.
    every : float > 0
        Seconds between predictions.
    window : float > 0
        Seconds of the most recent audio each prediction looks at (the first
        predictions see what has arrived so far).
    device : int, str or None
        Input device index or name for sounddevice; ``None`` for the default.
    stream_factory : callable or None
        ``factory(samplerate, blocksize)`` returning an :class:`InputStream`;
        ``None`` opens the microphone with sounddevice.
    on_result : callable or None
        Called with each :class:`ListenResult` (silence included).
    max_seconds : float or None
        Stop after this many seconds of input; ``None`` runs until Ctrl-C or
        until the stream ends.
    vad : str
        Voice activity method (:data:`serkit.vad.METHODS`).
    min_speech : float >= 0
        Seconds of speech a window needs to be predicted; less is silence.
    samplerate : int > 0
        Rate asked of the input (a device may give its own; it is resampled).
    on_start : callable or None
        Called with the stream's sample rate once it is open.

    Returns
    -------
    int
        Number of results passed to ``on_result``.

    Raises
    ------
    MicrophoneError
        PortAudio or sounddevice is missing, or there is no usable input device.
    ParameterError
        For bad settings or a sequence feature set.

    Examples
    --------
    >>> import numpy as np
    >>> from serkit.recognizer import EmotionRecognizer
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (10, 40)), rng.normal(2, 1, (10, 40))])
    >>> rec = EmotionRecognizer("seed:groups=mfcc", "logreg").fit(X, ["calm"] * 10 + ["angry"] * 10)
    >>> class Recorded:  # stands in for sounddevice.InputStream
    ...     samplerate = 16000
    ...     def __init__(self, y): self.y = y
    ...     def __enter__(self): return self
    ...     def __exit__(self, *exc): pass
    ...     def read(self, n):
    ...         out, self.y = self.y[:n], self.y[n:]
    ...         return out[:, None], False
    >>> y = (0.001 * rng.standard_normal(6 * 16000)).astype("float32")  # six seconds of hiss
    >>> results = []
    >>> listen(rec, every=3, stream_factory=lambda sr, n: Recorded(y), on_result=results.append)
    2
    >>> [format_result(r) for r in results]
    [' 0:03  (silence)', ' 0:06  (silence)']
    """
    from threadpoolctl import threadpool_limits

    from ._estimator import check_is_fitted

    check_is_fitted(recognizer, "pipeline_")
    every = _check("every", every)
    window = _check("window", window)
    if max_seconds is not None:
        max_seconds = _check("max_seconds", max_seconds)
    if isinstance(min_speech, bool) or not isinstance(min_speech, (int, float)) or min_speech < 0:
        raise ParameterError(f"min_speech must be >= 0 s; got min_speech={min_speech!r}")
    if vad not in METHODS:
        raise ParameterError(f"unknown VAD method {vad!r}; choose one of {', '.join(METHODS)}")
    factory = stream_factory if stream_factory is not None else _microphone_factory(device)

    stream = factory(int(samplerate), max(1, round(0.1 * samplerate)))
    count = 0
    try:
        with stream, threadpool_limits(1):
            rate = round(float(stream.samplerate))
            if on_start is not None:
                on_start(rate)
            step = max(1, round(every * rate))
            ring = _Ring(max(1, round(window * rate)))
            heard = 0
            while max_seconds is None or heard < round(max_seconds * rate):
                want = step if max_seconds is None else min(step, round(max_seconds * rate) - heard)
                data, overflowed = stream.read(want)
                data = np.asarray(data, dtype=np.float32)
                if overflowed:
                    logger.warning("input overflow: some audio was lost (predictions too slow?)")
                mono = data.mean(axis=1) if data.ndim == 2 else data.reshape(-1)
                if len(mono) == 0:
                    break  # the source has ended
                ring.push(mono)
                heard += len(mono)
                result = _analyse(
                    recognizer,
                    ring.last(ring.filled),
                    rate,
                    now=heard / rate,
                    vad=vad,
                    min_speech=float(min_speech),
                )
                count += 1
                if on_result is not None:
                    on_result(result)
                if len(mono) < want:
                    break
    except KeyboardInterrupt:
        logger.info("stopped after %d results", count)
    return count
