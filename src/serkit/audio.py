"""The single gate audio passes through: decode, mix to mono, resample, check.

Every file, uploaded byte string or microphone block becomes a mono float32
signal at 16 kHz here, or raises an :class:`~serkit.AudioError` whose message
names the input and the problem. Nothing here writes files or caches audio.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from ._errors import (
    AudioDecodeError,
    AudioEmptyError,
    AudioNonFiniteError,
    AudioSilentError,
    AudioTooLongError,
    AudioTooShortError,
    ParameterError,
    SerkitWarning,
)

__all__ = [
    "SAMPLE_RATE",
    "AudioInfo",
    "AudioSource",
    "check_signal",
    "info",
    "load",
    "prepare_signal",
    "resample",
    "signal_span",
    "stream",
    "to_mono",
    "trim_silence",
]

SAMPLE_RATE = 16000
"""The rate, in Hz, that every signal inside serkit runs at."""

AudioSource = str | os.PathLike | bytes | bytearray | BinaryIO
"""Anything :func:`load` accepts: a path, raw file bytes, or a binary file object."""

_FRAME_DUR = 0.025
_HOP_DUR = 0.010


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    """Native sample rate in Hz."""
    channels: int
    """Number of channels."""
    frames: int
    """Samples per channel."""
    format: str
    """Container format as libsndfile names it (``"WAV"``, ``"FLAC"``, ``"MP3"`` ...)."""
    subtype: str
    """Sample encoding (``"PCM_16"``, ``"FLOAT"`` ...)."""

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _describe(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    return "<bytes>"


def _open_target(source: AudioSource) -> str | BinaryIO:
    """Turn a source into something soundfile opens; check files exist and are non-empty."""
    label = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioDecodeError(label, "file not found")
        if path.is_dir():
            raise AudioDecodeError(label, "is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioEmptyError(label, "file is empty (0 bytes)")
        return os.fspath(path)
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioEmptyError(label, "no data (0 bytes)")
        return io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        return source
    raise AudioDecodeError(
        label, f"cannot read audio from an object of type {type(source).__name__}"
    )


def _sf_reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # libsndfile prefixes messages with the path/handle; keep only the cause
    if "Error opening" in text and ":" in text:
        text = text.rsplit(":", 1)[-1].strip()
    return f"not a readable audio file ({text})"


def info(source: AudioSource) -> AudioInfo:
    """Read a file's rate, channels and length from its header, without decoding.

    Parameters
    ----------
    source : path, bytes or binary file object
        The audio to inspect.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioDecodeError
        If the input is missing or not a format libsndfile reads.
    AudioEmptyError
        If the input has zero bytes.
    """
    label = _describe(source)
    target = _open_target(source)
    try:
        meta = sf.info(target)
    except Exception as exc:  # libsndfile raises several types for bad input
        raise AudioDecodeError(label, _sf_reason(exc)) from exc
    finally:
        if hasattr(target, "seek"):
            target.seek(0)
    return AudioInfo(
        sample_rate=int(meta.samplerate),
        channels=int(meta.channels),
        frames=int(meta.frames),
        format=str(meta.format),
        subtype=str(meta.subtype),
    )


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels of a signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal; a 2-D array is read as channels first, as librosa does.

    Returns
    -------
    np.ndarray [shape=(n,)]

    Examples
    --------
    >>> import numpy as np
    >>> to_mono(np.ones((2, 4), dtype="float32")).shape
    (4,)
    """
    y = np.asarray(y)
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise ParameterError(f"y must have shape (n,) or (channels, n); got shape {y.shape}")
    return y.mean(axis=0, dtype=np.float64).astype(y.dtype, copy=False)


def resample(y: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Change the sample rate of a mono signal with soxr (high quality).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    orig_sr, target_sr : int > 0
        Rates in Hz.

    Returns
    -------
    np.ndarray [shape=(round(n * target_sr / orig_sr),), dtype=float32]

    Examples
    --------
    >>> import numpy as np
    >>> resample(np.zeros(48000, dtype="float32"), 48000, 16000).shape
    (16000,)
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(
            f"sample rates must be > 0; got orig_sr={orig_sr}, target_sr={target_sr}"
        )
    y = np.asarray(y, dtype=np.float32)
    if orig_sr == target_sr:
        return y
    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def _frame_rms_db(y: np.ndarray, sr: int) -> np.ndarray:
    """RMS level in dBFS of 25 ms frames every 10 ms (no padding; short input gives one frame)."""
    frame = max(1, round(_FRAME_DUR * sr))
    hop = max(1, round(_HOP_DUR * sr))
    if len(y) <= frame:
        power = np.array([np.mean(np.square(y, dtype=np.float64))]) if len(y) else np.zeros(1)
    else:
        n = 1 + (len(y) - frame) // hop
        sq = np.square(y, dtype=np.float64)
        csum = np.concatenate(([0.0], np.cumsum(sq)))
        starts = np.arange(n) * hop
        power = (csum[starts + frame] - csum[starts]) / frame
    return 10.0 * np.log10(np.maximum(power, 1e-20))


def signal_span(
    y: np.ndarray, sr: int, *, top_db: float = 60.0, silence_db: float = -70.0
) -> tuple[int, int]:
    """Find where the signal starts and ends, ignoring quiet lead-in and tail.

    A frame counts as signal when its RMS level is above ``silence_db`` dBFS and
    within ``top_db`` of the loudest frame.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    sr : int > 0
        Sample rate in Hz.
    top_db : float > 0
        Frames more than this many dB below the loudest frame are quiet.
    silence_db : float
        Absolute floor in dBFS below which a frame is quiet.

    Returns
    -------
    (start, end) : tuple of int
        Sample indices; ``start == end == 0`` when nothing is above the thresholds.
    """
    if len(y) == 0:
        return 0, 0
    levels = _frame_rms_db(y, sr)
    threshold = max(silence_db, float(levels.max()) - top_db)
    loud = np.flatnonzero(levels > threshold)
    if loud.size == 0:
        return 0, 0
    hop = max(1, round(_HOP_DUR * sr))
    frame = max(1, round(_FRAME_DUR * sr))
    start = int(loud[0] * hop)
    end = int(min(len(y), loud[-1] * hop + frame))
    return start, end


def trim_silence(y: np.ndarray, sr: int, *, top_db: float = 60.0) -> np.ndarray:
    """Cut quiet lead-in and tail from a mono signal (see :func:`signal_span`).

    Examples
    --------
    >>> import numpy as np
    >>> sr = 16000
    >>> y = np.concatenate([np.zeros(sr), np.ones(sr // 2), np.zeros(sr)]).astype("float32")
    >>> 0.45 < len(trim_silence(y, sr)) / sr < 0.56
    True
    """
    start, end = signal_span(y, sr, top_db=top_db)
    return y[start:end]


def check_signal(
    y: np.ndarray,
    sr: int,
    *,
    source: str = "<signal>",
    min_duration: float = 0.25,
    max_duration: float | None = None,
    silence_db: float = -70.0,
) -> None:
    """Raise the matching :class:`AudioError` if a mono signal cannot be used.

    Checks, in order: empty, NaN/Inf samples, longer than ``max_duration``,
    silent (peak frame level below ``silence_db`` dBFS), less than
    ``min_duration`` seconds between the first and last non-quiet frame.

    Raises
    ------
    AudioEmptyError, AudioNonFiniteError, AudioTooLongError, AudioSilentError, AudioTooShortError
    """
    if len(y) == 0:
        raise AudioEmptyError(source, "contains no samples")
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise AudioNonFiniteError(source, f"contains {bad} NaN or infinite samples")
    duration = len(y) / sr
    if max_duration is not None and duration > max_duration:
        raise AudioTooLongError(
            source, f"is {duration:.1f} s long, more than the limit of {max_duration:g} s"
        )
    levels = _frame_rms_db(y, sr)
    if float(levels.max()) <= silence_db:
        raise AudioSilentError(
            source,
            f"is silent (loudest frame {float(levels.max()):.0f} dBFS, floor {silence_db:g})",
        )
    start, end = signal_span(y, sr, silence_db=silence_db)
    if (end - start) / sr < min_duration:
        raise AudioTooShortError(
            source,
            f"holds {(end - start) / sr:.3f} s of signal, "
            f"less than the minimum of {min_duration:g} s",
        )


def prepare_signal(
    y: np.ndarray,
    sr: int,
    *,
    target_sr: int = SAMPLE_RATE,
    trim: bool = False,
    source: str = "<signal>",
    min_duration: float = 0.25,
    max_duration: float | None = None,
    checks: bool = True,
) -> tuple[np.ndarray, int]:
    """Bring an in-memory signal to serkit's form: mono float32 at ``target_sr``, checked.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal, any float or integer dtype (integers are scaled to [-1, 1]).
    sr : int > 0
        Its sample rate in Hz.
    target_sr : int > 0
        Rate of the result.
    trim : bool
        Cut quiet lead-in and tail (:func:`trim_silence`).
    source : str
        Name used in error messages.
    min_duration, max_duration : float or None
        Limits in seconds, see :func:`check_signal`.
    checks : bool
        Run :func:`check_signal` (silence, minimum duration) on the result. A long
        recording cut into windows (:func:`serkit.timeline.predict_timeline`) turns it
        off: silence there is expected, not an error. Empty, non-finite and too long
        inputs are refused either way.

    Returns
    -------
    y : np.ndarray [shape=(m,), dtype=float32]
    sr : int
        Equal to ``target_sr``.

    Raises
    ------
    AudioError
        Subclass naming the problem.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(44100) / 44100
    >>> stereo = np.stack([np.sin(2 * np.pi * 220 * t)] * 2)
    >>> y, sr = prepare_signal(stereo, 44100)
    >>> y.shape, y.dtype, sr
    ((16000,), dtype('float32'), 16000)
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer; got {sr!r}")
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        scale = float(np.iinfo(y.dtype).max) + 1.0
        y = y.astype(np.float32) / scale
    elif not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"y must hold numbers; got dtype {y.dtype}")
    y = to_mono(y).astype(np.float32, copy=False)
    if len(y) == 0:
        raise AudioEmptyError(source, "contains no samples")
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise AudioNonFiniteError(source, f"contains {bad} NaN or infinite samples")
    if max_duration is not None and len(y) / sr > max_duration:
        raise AudioTooLongError(
            source, f"is {len(y) / sr:.1f} s long, more than the limit of {max_duration:g} s"
        )
    y = resample(y, int(sr), target_sr)
    if checks:
        check_signal(y, target_sr, source=source, min_duration=min_duration, max_duration=None)
    if trim:
        y = trim_silence(y, target_sr)
    return y, target_sr


def _declared_wav_frames(source: AudioSource, meta: AudioInfo) -> int | None:
    """Frames a RIFF/WAVE header's data chunk announces (libsndfile reports what is present)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            head = handle.read(1 << 16)
    elif isinstance(source, (bytes, bytearray)):
        head = bytes(source[: 1 << 16])
    else:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align = 12, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 22 <= len(head):
            block_align = int.from_bytes(head[pos + 20 : pos + 22], "little")
        if chunk == b"data":
            if block_align == 0 or size in (0, 0xFFFFFFFF):  # streaming writers leave 0 or -1
                return None
            return size // block_align
        pos += 8 + size + (size & 1)
    return None


def load(
    source: AudioSource,
    *,
    sr: int = SAMPLE_RATE,
    trim: bool = False,
    min_duration: float = 0.25,
    max_duration: float | None = 600.0,
) -> tuple[np.ndarray, int]:
    """Decode audio into a checked mono float32 signal at ``sr`` Hz.

    Reads anything libsndfile reads (WAV 8/16/24/32-bit and float, FLAC,
    OGG/Vorbis, MP3, AIFF ...) at any rate and channel count, mixes the
    channels, and resamples with soxr.

    Parameters
    ----------
    source : path, bytes or binary file object
        The audio.
    sr : int > 0
        Rate of the result in Hz.
    trim : bool
        Cut quiet lead-in and tail.
    min_duration : float
        Minimum seconds of signal (between the first and last non-quiet frame).
    max_duration : float or None
        Longest input accepted, in seconds, checked from the header before
        decoding; ``None`` for no limit. Use :func:`stream` for long recordings.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    sr : int

    Raises
    ------
    AudioDecodeError
        Missing file, not audio, corrupt or truncated beyond repair.
    AudioEmptyError, AudioTooShortError, AudioSilentError, AudioNonFiniteError, AudioTooLongError
        The decoded signal cannot be used.

    Examples
    --------
    >>> import io, numpy as np, soundfile as sf
    >>> buf = io.BytesIO()
    >>> t = np.arange(8000) / 8000
    >>> sf.write(buf, 0.5 * np.sin(2 * np.pi * 300 * t), 8000, format="WAV")
    >>> y, sr = load(buf.getvalue())
    >>> y.shape, sr
    ((16000,), 16000)
    """
    label = _describe(source)
    meta = info(source)
    if max_duration is not None and meta.duration > max_duration:
        raise AudioTooLongError(
            label, f"is {meta.duration:.1f} s long, more than the limit of {max_duration:g} s"
        )
    target = _open_target(source)
    # never decode more than the limit allows: compressed formats (VBR MP3) only
    # estimate their length in the header
    limit = -1 if max_duration is None else int(max_duration * meta.sample_rate) + 1
    try:
        data, native_sr = sf.read(target, frames=limit, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioDecodeError(label, f"decoding failed ({exc})") from exc
    if max_duration is not None and data.shape[0] >= limit:
        raise AudioTooLongError(
            label, f"decodes to more than the limit of {max_duration:g} s (the header said less)"
        )
    if data.shape[0] == 0:
        raise AudioEmptyError(label, "contains no samples")
    declared = _declared_wav_frames(source, meta) if meta.format in {"WAV", "WAVEX"} else None
    if declared is not None and data.shape[0] < 0.99 * declared:
        warnings.warn(
            f"{label}: file is truncated (header announces {declared} samples, "
            f"{data.shape[0]} could be read); using what was read",
            SerkitWarning,
            stacklevel=2,
        )
    return prepare_signal(
        data.T,
        int(native_sr),
        target_sr=sr,
        trim=trim,
        source=label,
        min_duration=min_duration,
        max_duration=max_duration,
    )


def stream(
    source: str | os.PathLike,
    *,
    block_duration: float = 30.0,
    sr: int = SAMPLE_RATE,
) -> Iterator[np.ndarray]:
    """Read a long file in blocks of mono float32 at ``sr`` with bounded memory.

    Resampling runs as one continuous stream, so the blocks join without
    clicks; concatenated, they equal a whole-file resample up to filter edges.

    Parameters
    ----------
    source : path
        Audio file.
    block_duration : float > 0
        Seconds of input per block (the last block may be shorter).
    sr : int > 0
        Output rate in Hz.

    Yields
    ------
    np.ndarray [shape=(m,), dtype=float32]

    Raises
    ------
    AudioDecodeError, AudioEmptyError
    """
    if block_duration <= 0:
        raise ParameterError(f"block_duration must be > 0; got {block_duration}")
    label = _describe(source)
    meta = info(source)
    if meta.frames == 0:
        raise AudioEmptyError(label, "contains no samples")
    block = max(1, math.ceil(block_duration * meta.sample_rate))
    resampler = (
        None
        if meta.sample_rate == sr
        else soxr.ResampleStream(meta.sample_rate, sr, 1, dtype="float32", quality="HQ")
    )
    try:
        with sf.SoundFile(os.fspath(source)) as handle:
            while True:
                data = handle.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
                if resampler is not None:
                    mono = resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
                if len(mono):
                    yield np.asarray(mono, dtype=np.float32)
                if last:
                    break
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioDecodeError(label, f"decoding failed ({exc})") from exc
