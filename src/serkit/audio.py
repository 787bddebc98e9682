"""The single gate audio passes through: decode, mix to mono, resample, check.

Every file, uploaded byte string or microphone block becomes a mono float32
signal at 16 kHz here, or raises an :class:`~serkit.AudioError` whose message
names the input and the problem. Nothing here writes files or caches audio.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from . import _ffmpeg
from ._errors import (
    AudioDecodeError,
    AudioEmptyError,
    AudioError,
    AudioNonFiniteError,
    AudioSilentError,
    AudioTooLongError,
    AudioTooShortError,
    ParameterError,
    SerkitWarning,
)

__all__ = [
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "PEAK_LIMIT",
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

MAX_SAMPLE_RATE = 384_000
"""Highest native sample rate, in Hz, that :func:`load` and :func:`stream` decode."""

MAX_CHANNELS = 32
"""Most channels a file may have for :func:`load` and :func:`stream` to decode it."""

PEAK_LIMIT = 2.0
"""Float signals whose peak exceeds this are scaled to a peak of 1.0 (with a warning).

Integer formats cannot exceed +/-1; float files and lossy decoders may overshoot a
little (kept as is), but a peak far beyond it means the samples are on another
scale (e.g. int16 values stored as float), which would change the prediction.
"""

_FRAME_DUR = 0.025
_HOP_DUR = 0.010
_BLOCK_FRAMES = 1 << 16
"""Frames decoded at a time: memory is bounded by one block, never by the whole file."""
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    """Native sample rate in Hz."""
    channels: int
    """Number of channels."""
    frames: int
    """Samples per channel; for compressed containers what the header announces
    (a file can lie; decoding enforces the limits again), 0 when it gives no
    duration (a live WebM recording)."""
    format: str
    """Container format (``"WAV"``, ``"FLAC"``, ``"OGG"`` as libsndfile names them;
    ``"MP3"``, ``"MP4"``, ``"MATROSKA"``, ``"ASF"``, ``"AAC"``, ``"AMR"`` read through FFmpeg)."""
    subtype: str
    """Sample encoding (``"PCM_16"``, ``"FLOAT"``, ``"AAC"``, ``"OPUS"`` ...)."""

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


class _BytesSource(io.BytesIO):
    """In-memory bytes for libsndfile: a seek before the start (which a corrupt header
    can ask for) stays where it is instead of raising inside libsndfile's callback."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Seek; a target before the start leaves the position unchanged."""
        try:
            return super().seek(offset, whence)
        except ValueError:
            return self.tell()


class _SafeSeeks:
    """A caller's binary file object, with :class:`_BytesSource`'s forgiving ``seek``."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.name = getattr(handle, "name", "<file object>")

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes."""
        return self._handle.read(size)

    def readinto(self, buffer: bytearray) -> int:
        """Read into ``buffer`` (soundfile uses it when present)."""
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        """The position."""
        return self._handle.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Seek; a target the file refuses leaves the position unchanged."""
        try:
            return self._handle.seek(offset, whence)
        except (ValueError, OSError):
            return self._handle.tell()


def _check_path(path: Path, label: str) -> None:
    """Raise an :class:`AudioError` that says what is wrong with a path that is not a readable file.

    Distinguishes a missing file, a symlink loop, a folder, a FIFO or device, an
    empty file and a file without read permission, so the message is honest.
    """
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise AudioDecodeError(label, "is a broken symbolic link") from exc
        raise AudioDecodeError(label, "file not found") from exc
    except PermissionError as exc:
        raise AudioDecodeError(label, "permission denied (cannot reach the file)") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioDecodeError(label, "is a symbolic link loop") from exc
        raise AudioDecodeError(label, f"cannot be read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise AudioDecodeError(label, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise AudioDecodeError(label, f"is {kind}, not a regular audio file")
    if st.st_size == 0:
        raise AudioEmptyError(label, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioDecodeError(label, "permission denied (no read permission)")


def _open_target(source: AudioSource) -> str | BinaryIO | _SafeSeeks:
    """Turn a source into something soundfile opens; check a path is a readable, non-empty file."""
    label = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        _check_path(path, label)
        return os.fspath(path)
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioEmptyError(label, "no data (0 bytes)")
        return _BytesSource(bytes(source))
    if hasattr(source, "read"):
        return _SafeSeeks(source) if hasattr(source, "seek") else source
    raise AudioDecodeError(
        label, f"cannot read audio from an object of type {type(source).__name__}"
    )


def _sf_reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # libsndfile prefixes messages with the path/handle; keep only the cause
    if "Error opening" in text and ":" in text:
        text = text.rsplit(":", 1)[-1].strip()
    if "possibly a pipe" in text or "Format not recognised" in text:
        # libsndfile's wording for "no decoder recognised these bytes" blames the file system;
        # a path was already checked to be a regular, readable file
        text = "no decoder recognises its contents: not audio, or a corrupt header"
    return f"not a readable audio file ({text})"


def _head(source: AudioSource, size: int = 16) -> tuple[bool, bytes]:
    """Whether the audio starts with an ID3v2 tag, and its first bytes after the tag.

    ``b""`` where they cannot be peeked at (a stream without ``seek``, an unreadable
    path: the later checks name the problem). A file object's position is restored.
    """
    try:
        if isinstance(source, (bytes, bytearray)):
            skip = _ffmpeg.id3_size(bytes(source[:10]))
            return skip > 0, bytes(source[skip : skip + size])
        if isinstance(source, (str, os.PathLike)):
            if not stat.S_ISREG(os.stat(source).st_mode):  # never open a FIFO or device here
                return False, b""
            with open(source, "rb") as handle:
                skip = _ffmpeg.id3_size(handle.read(10))
                handle.seek(skip)
                return skip > 0, handle.read(size)
        if not (hasattr(source, "seek") and hasattr(source, "tell")):
            return False, b""
        start = source.tell()
        skip = _ffmpeg.id3_size(source.read(10))
        source.seek(start + skip)
        head = source.read(size)
        source.seek(start)
        return skip > 0, head
    except (OSError, ValueError):
        return False, b""


_MPEG_SUFFIXES = frozenset({".mp1", ".mp2", ".mp3", ".mpga"})
"""Names libsndfile hands to mpg123 whatever the content (mpg123 then prints)."""


def _demuxer(source: AudioSource) -> tuple[str, bool] | None:
    """The FFmpeg demuxer for ``source`` and whether it was only guessed from the name.

    ``None`` where libsndfile reads it: its own formats (WAV, FLAC, OGG, AIFF ...)
    and anything unrecognised. FFmpeg gets the containers it alone reads, and MP3
    (see :mod:`serkit._ffmpeg`): by content, after an ID3 tag, or by an MPEG name
    (junk before the first frame; libsndfile would pass such a file to mpg123).
    """
    tagged, head = _head(source)
    found = _ffmpeg.sniff(head)
    if found is not None:
        return found, False
    if tagged:
        return "mp3", False
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in _MPEG_SUFFIXES:
        return "mp3", True
    return None


@contextmanager
def _ffmpeg_reader(
    source: AudioSource, label: str, demuxer: str, guessed: bool = False
) -> Iterator[_ffmpeg.Reader]:
    """Open ``source`` with FFmpeg (paths are checked first, as for libsndfile).

    ``guessed``: the demuxer came from the name alone, so a file it cannot open
    gets the message of a file no decoder recognises.
    """
    owned: BinaryIO | None = None
    if isinstance(source, (str, os.PathLike)):
        _check_path(Path(source), label)
        try:
            owned = handle = _ffmpeg.open_handle(source)
        except OSError as exc:
            raise AudioDecodeError(label, f"cannot be read ({exc.strerror or exc})") from exc
    elif isinstance(source, (bytes, bytearray)):
        handle = io.BytesIO(bytes(source))
    else:
        handle = source
    try:
        try:
            reader = _ffmpeg.Reader(handle, label, demuxer)
        except AudioDecodeError as exc:
            if not guessed:
                raise
            raise AudioDecodeError(label, _sf_reason(ValueError("Format not recognised"))) from exc
        with reader:
            yield reader
    finally:
        if owned is not None:
            owned.close()


def _reader_info(reader: _ffmpeg.Reader) -> AudioInfo:
    return AudioInfo(
        sample_rate=reader.sample_rate,
        channels=reader.channels,
        frames=reader.frames,
        format=reader.format,
        subtype=reader.subtype,
    )


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
        If the input is missing or not a format serkit reads.
    AudioEmptyError
        If the input has zero bytes.
    """
    label = _describe(source)
    route = _demuxer(source)
    if route is not None:
        with _ffmpeg_reader(source, label, *route) as reader:
            return _reader_info(reader)
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
    y = to_mono(y)
    if len(y) == 0:
        raise AudioEmptyError(source, "contains no samples")
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise AudioNonFiniteError(source, f"contains {bad} NaN or infinite samples")
    peak = float(np.max(np.abs(y)))
    if peak > PEAK_LIMIT:
        y = _scale_to_peak(y.astype(np.float64) / peak, peak, source)
    y = y.astype(np.float32, copy=False)
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


def _scale_to_peak(y: np.ndarray, peak: float, label: str) -> np.ndarray:
    """Warn that a signal of ``peak`` was scaled to peak 1.0 (``y`` is already scaled)."""
    warnings.warn(
        f"{label}: samples reach {peak:.3g}, far beyond the +/-1 of audio; scaled to a peak of 1.0",
        SerkitWarning,
        stacklevel=3,
    )
    return y


def _check_header(label: str, meta: AudioInfo, max_duration: float | None) -> None:
    """Refuse, from the header alone, what would decode to more than the limits allow.

    The decoded size is frames x channels; with the rate and channel caps and
    ``max_duration`` it is bounded before a single sample is decoded.
    """
    if not 0 < meta.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(
            label,
            f"sample rate {meta.sample_rate} Hz is outside the supported 1..{MAX_SAMPLE_RATE} Hz",
        )
    if not 0 < meta.channels <= MAX_CHANNELS:
        raise AudioDecodeError(
            label, f"has {meta.channels} channels; at most {MAX_CHANNELS} are supported"
        )
    if max_duration is not None and meta.duration > max_duration:
        raise AudioTooLongError(
            label, f"is {meta.duration:.1f} s long, more than the limit of {max_duration:g} s"
        )


def _mono_blocks(
    handle: sf.SoundFile, label: str, limit: int
) -> Iterator[tuple[np.ndarray, float]]:
    """Decode ``handle`` block by block into mono float32 blocks and their peaks.

    Reads at most ``limit`` frames (``-1``: all). Channels are averaged in float64
    as :func:`to_mono` does; DOUBLE files are read as float64 so huge values are
    not turned into infinities before the peak policy sees them.
    """
    dtype = "float64" if handle.subtype == "DOUBLE" else "float32"
    done = 0
    while limit < 0 or done < limit:
        want = _BLOCK_FRAMES if limit < 0 else min(_BLOCK_FRAMES, limit - done)
        data = handle.read(want, dtype=dtype, always_2d=True)
        if data.shape[0] == 0:
            break
        done += data.shape[0]
        mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float64)
        if not np.all(np.isfinite(mono)):
            bad = int(np.count_nonzero(~np.isfinite(mono)))
            raise AudioNonFiniteError(label, f"contains {bad} NaN or infinite samples")
        peak = float(np.max(np.abs(mono)))
        if peak > _FLOAT32_MAX:
            raise AudioNonFiniteError(
                label, f"holds samples of magnitude {peak:.3g}, beyond the float32 range"
            )
        yield mono.astype(np.float32, copy=False), peak
        if data.shape[0] < want:
            break


def _rechunk(
    pieces: Iterator[tuple[np.ndarray, float]], size: int
) -> Iterator[tuple[np.ndarray, bool]]:
    """Regroup decoded pieces into chunks of exactly ``size`` frames, flagging the last.

    The last chunk is what remains (possibly empty), so a resampler can flush.
    """
    pending: list[np.ndarray] = []
    held = 0
    for piece, _ in pieces:
        pending.append(piece)
        held += len(piece)
        while held >= size:
            joined = np.concatenate(pending)
            pending, held = [joined[size:]], len(joined) - size
            yield joined[:size], False
    yield (np.concatenate(pending) if pending else np.zeros(0, np.float32)), True


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


_EXACT_LENGTH = frozenset({"MP4", "MATROSKA", "ASF"})
"""FFmpeg containers whose header states the length (not estimated from the bitrate)."""


def _frame_limit(max_duration: float | None, rate: int) -> int:
    """Frames that prove a file longer than ``max_duration`` (``-1``: no limit)."""
    return -1 if max_duration is None else int(max_duration * rate) + 1


def _gather(
    blocks: Iterator[tuple[np.ndarray, float]], rate: int, sr: int
) -> tuple[list[np.ndarray], int, float]:
    """Resample decoded mono blocks to ``sr`` as one stream; the pieces, input frames, peak."""
    resampler = (
        None if rate == sr else soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ")
    )
    pieces: list[np.ndarray] = []
    frames, peak = 0, 0.0
    for mono, block_peak in blocks:
        frames += len(mono)
        peak = max(peak, block_peak)
        if resampler is not None:
            mono = resampler.resample_chunk(np.ascontiguousarray(mono), last=False)
        pieces.append(np.array(mono, dtype=np.float32))
    if resampler is not None:
        pieces.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    return pieces, frames, peak


def _until(
    blocks: Iterator[tuple[np.ndarray, float]], limit: int, label: str, max_duration: float | None
) -> Iterator[tuple[np.ndarray, float]]:
    """Pass blocks through; raise :class:`AudioTooLongError` once ``limit`` frames went by."""
    done = 0
    for mono, peak in blocks:
        done += len(mono)
        if 0 <= limit <= done:
            raise AudioTooLongError(
                label,
                f"decodes to more than the limit of {max_duration:g} s (the header said less)",
            )
        yield mono, peak


def load(
    source: AudioSource,
    *,
    sr: int = SAMPLE_RATE,
    trim: bool = False,
    min_duration: float = 0.25,
    max_duration: float | None = 600.0,
) -> tuple[np.ndarray, int]:
    """Decode audio into a checked mono float32 signal at ``sr`` Hz.

    Reads WAV (8/16/24/32-bit and float), FLAC, OGG (Vorbis, Opus), AIFF and the
    other libsndfile formats, and through FFmpeg MP3, M4A/MP4/MOV/3GP (AAC, ALAC,
    AMR), WebM/Matroska (Opus, Vorbis, AAC), WMA and ADTS AAC, at any rate and
    channel count; mixes the channels and resamples with soxr. A file with
    several audio streams gives its first one (other streams are skipped).
    The rate, channel and duration limits are checked from the header before
    decoding and again while decoding, since a container can lie.

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
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer; got {sr!r}")
    route = _demuxer(source)
    declared: int | None = None
    slack = 0
    if route is None:
        meta = info(source)
        _check_header(label, meta, max_duration)
        target = _open_target(source)
        # never decode more than the limit allows: a header's length can be an estimate
        limit = _frame_limit(max_duration, meta.sample_rate)
        try:
            with sf.SoundFile(target) as handle:
                pieces, frames, peak = _gather(
                    _mono_blocks(handle, label, limit), meta.sample_rate, sr
                )
        except AudioError:
            raise
        except Exception as exc:
            raise AudioDecodeError(label, f"decoding failed ({exc})") from exc
        if meta.format in {"WAV", "WAVEX"}:
            declared = _declared_wav_frames(source, meta)
    else:
        with _ffmpeg_reader(source, label, *route) as reader:
            meta = _reader_info(reader)
            _check_header(label, meta, max_duration)
            limit = _frame_limit(max_duration, meta.sample_rate)
            blocks = reader.blocks(limit, max_channels=MAX_CHANNELS)
            pieces, frames, peak = _gather(blocks, meta.sample_rate, sr)
        if meta.format in _EXACT_LENGTH and meta.frames > 0:
            declared = meta.frames
            slack = meta.sample_rate // 10  # encoders pad (AAC priming, the last frame)
    if max_duration is not None and frames >= limit:
        raise AudioTooLongError(
            label, f"decodes to more than the limit of {max_duration:g} s (the header said less)"
        )
    if frames == 0:
        raise AudioEmptyError(label, "contains no samples")
    if declared is not None and frames < 0.99 * declared - slack:
        warnings.warn(
            f"{label}: file is truncated (header announces {declared} samples, "
            f"{frames} could be read); using what was read",
            SerkitWarning,
            stacklevel=2,
        )
    y = np.concatenate(pieces).astype(np.float32, copy=False)
    if peak > PEAK_LIMIT:
        y = _scale_to_peak((y / np.float32(peak)).astype(np.float32), peak, label)
    check_signal(y, sr, source=label, min_duration=min_duration, max_duration=None)
    if trim:
        y = trim_silence(y, sr)
    return y, sr


def stream(
    source: str | os.PathLike,
    *,
    block_duration: float = 30.0,
    sr: int = SAMPLE_RATE,
    max_duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Read a long file in blocks of mono float32 at ``sr`` with bounded memory.

    Resampling runs as one continuous stream, so the blocks join without
    clicks; concatenated, they equal a whole-file resample up to filter edges.
    Files read through FFmpeg (see :func:`load`) are decoded twice, once for
    their peak (the same scaling policy as :func:`load`) and once for the blocks;
    a file longer than ``max_duration`` is refused in the first pass.

    Parameters
    ----------
    source : path
        Audio file.
    block_duration : float > 0
        Seconds of input per block (the last block may be shorter).
    sr : int > 0
        Output rate in Hz.
    max_duration : float or None
        Longest input accepted, in seconds: checked from the header, then while
        decoding (blocks already yielded stay yielded). ``None`` for no limit.

    Yields
    ------
    np.ndarray [shape=(m,), dtype=float32]

    Raises
    ------
    AudioDecodeError, AudioEmptyError, AudioTooLongError
    """
    if block_duration <= 0:
        raise ParameterError(f"block_duration must be > 0; got {block_duration}")
    label = _describe(source)
    route = _demuxer(source)
    if route is not None:
        yield from _stream_ffmpeg(source, label, route, block_duration, sr, max_duration)
        return
    meta = info(source)
    _check_header(label, meta, max_duration)
    if meta.frames == 0:
        raise AudioEmptyError(label, "contains no samples")
    _open_target(source)
    block = max(1, math.ceil(block_duration * meta.sample_rate))
    limit = _frame_limit(max_duration, meta.sample_rate)
    try:
        scale = 1.0
        if meta.subtype in ("FLOAT", "DOUBLE"):  # only float files can hold samples beyond +/-1
            with sf.SoundFile(os.fspath(source)) as handle:
                peak = max((p for _, p in _mono_blocks(handle, label, limit)), default=0.0)
            if peak > PEAK_LIMIT:
                scale = 1.0 / peak
                _scale_to_peak(np.zeros(0), peak, label)
        with sf.SoundFile(os.fspath(source)) as handle:
            blocks = _until(_mono_blocks(handle, label, limit), limit, label, max_duration)
            yield from _resampled(_rechunk(blocks, block), meta.sample_rate, sr, scale)
    except AudioError:
        raise
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioDecodeError(label, f"decoding failed ({exc})") from exc


def _resampled(
    chunks: Iterator[tuple[np.ndarray, bool]], rate: int, sr: int, scale: float
) -> Iterator[np.ndarray]:
    """Resample rechunked blocks as one stream and scale them; empty blocks are dropped."""
    resampler = (
        None if rate == sr else soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="HQ")
    )
    for mono, last in chunks:
        if resampler is not None:
            mono = resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
        if scale != 1.0:
            mono = mono * np.float32(scale)
        if len(mono):
            yield np.asarray(mono, dtype=np.float32)


def _stream_ffmpeg(
    source: str | os.PathLike,
    label: str,
    route: tuple[str, bool],
    block_duration: float,
    sr: int,
    max_duration: float | None,
) -> Iterator[np.ndarray]:
    """:func:`stream` for FFmpeg's containers: a peak pass, then the blocks."""
    with _ffmpeg_reader(source, label, *route) as reader:
        meta = _reader_info(reader)
        _check_header(label, meta, max_duration)
        limit = _frame_limit(max_duration, meta.sample_rate)
        blocks = _until(reader.blocks(limit, max_channels=MAX_CHANNELS), limit, label, max_duration)
        peak = max((p for _, p in blocks), default=-1.0)
    if peak < 0:
        raise AudioEmptyError(label, "contains no samples")
    scale = 1.0
    if peak > PEAK_LIMIT:
        scale = 1.0 / peak
        _scale_to_peak(np.zeros(0), peak, label)
    block = max(1, math.ceil(block_duration * meta.sample_rate))
    with _ffmpeg_reader(source, label, *route) as reader:
        blocks = _until(reader.blocks(limit, max_channels=MAX_CHANNELS), limit, label, max_duration)
        yield from _resampled(_rechunk(blocks, block), meta.sample_rate, sr, scale)
