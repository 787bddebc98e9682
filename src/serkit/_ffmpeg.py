"""Decode what libsndfile does not read (AAC/M4A, MP4/MOV, WebM/Opus, WMA, AMR, MP3) with FFmpeg.

FFmpeg comes from PyAV's wheels (no system ffmpeg). The container is chosen from the
file's first bytes, never by FFmpeg's own probing, so only the demuxers listed in
:data:`DEMUXERS` ever see a file: no playlist, image or device format can be opened
by content, and any nested open (a playlist entry, an MP4 data reference) is refused.
MP3 is decoded here too: libsndfile's mpg123 prints diagnostics to the terminal on
some 16 kHz files, FFmpeg's decoder (with PyAV's logging off) prints nothing.

:class:`Reader` reports what the container header says (rate, channels, duration),
so :mod:`serkit.audio` can check its limits before decoding, and then decodes the
first audio stream frame by frame, checking rate and channels on every frame (a
container can lie), so memory stays bounded by the caller's limit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from ._errors import AudioDecodeError, AudioNonFiniteError

__all__ = ["DEMUXERS", "Reader", "id3_size", "mp4_damage", "open_handle", "sniff"]

DEMUXERS: dict[str, str] = {
    "mov": "MP4",  # .m4a .mp4 .mov .3gp
    "matroska": "MATROSKA",  # .webm .mka
    "asf": "ASF",  # .wma
    "aac": "AAC",  # ADTS / ADIF .aac
    "mp3": "MP3",
    "amr": "AMR",
}
"""FFmpeg demuxers serkit uses, and the format name :func:`serkit.audio.info` reports."""

_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_EBML = b"\x1a\x45\xdf\xa3"
_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_BLOCK = 1 << 16
"""Mono frames gathered before a block is handed on (as :mod:`serkit.audio`'s blocks)."""
_TAIL = 2048
"""Frames held back until the stream ends, so the encoder's end padding can be cut."""
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def id3_size(head: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of ``head`` (0 when there is none)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)  # footer flag


def sniff(head: bytes) -> str | None:
    """The FFmpeg demuxer for a file starting with ``head``, or ``None`` (libsndfile's turn).

    ``head`` should start after any ID3v2 tag (see :func:`id3_size`); a tag followed
    by nothing recognisable is taken as MP3.

    Examples
    --------
    >>> sniff(b"\\x00\\x00\\x00\\x20ftypM4A "), sniff(b"RIFF\\x00\\x00\\x00\\x00WAVE")
    ('mov', None)
    """
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return "mov"
    if head.startswith(_EBML):
        return "matroska"
    if head.startswith(_ASF):
        return "asf"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"ADIF"):
        return "aac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 3
        if layer == 0 and head[1] & 0xF0 == 0xF0:  # ADTS: 12-bit sync, layer 0
            return "aac"
        if layer != 0 and (head[1] >> 3) & 3 != 1:  # MPEG audio, not a reserved version
            return "mp3"
    return None


def _skipped(mono: np.ndarray, skip: int) -> tuple[np.ndarray, int]:
    """Drop up to ``skip`` leading frames; the rest of the skip for later blocks."""
    if not skip:
        return mono, 0
    return mono[skip:], max(0, skip - len(mono))


def _refuse_nested(url: str, flags: int, options: dict) -> Any:
    raise PermissionError(f"serkit does not let a media file open other files ({url[:80]})")


def _reason(exc: BaseException) -> str:
    """FFmpeg's cause, without PyAV's errno and file name."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return str(text).split("; last error log", 1)[0].strip()


def _size(handle: BinaryIO) -> int | None:
    """The file's length in bytes (``None`` for a stream that cannot seek); position kept."""
    try:
        here = handle.tell()
        end = handle.seek(0, os.SEEK_END)
        handle.seek(here)
        return int(end)
    except (OSError, ValueError, AttributeError):
        return None


def mp4_damage(handle: BinaryIO) -> str | None:
    """Why an MP4 cannot be opened, from its top-level boxes: cut short, or never finished.

    Walks the box headers only (a few reads); ``None`` when they look whole.
    """
    end = _size(handle)
    if end is None:
        return None
    pos, seen = 0, set()
    try:
        while pos + 8 <= end:
            handle.seek(pos)
            head = handle.read(16)
            size, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if size == 1 and len(head) >= 16:
                size = int.from_bytes(head[8:16], "big")
            elif size == 0:  # runs to the end of the file
                size = end - pos
            if size < 8:
                return None
            seen.add(kind)
            if pos + size > end:
                if not kind.isalnum():
                    return f"is corrupt: the box at byte {pos} has no valid name"
                return (
                    f"is truncated: its '{kind.decode('ascii')}' box needs {pos + size} "
                    f"bytes, the file ends after {end}"
                )
            pos += size
    except OSError:
        return None
    finally:
        handle.seek(0)
    if b"moov" not in seen:
        return "has no 'moov' index box (a recording that was never finished?)"
    return None


class Reader:
    """One FFmpeg-decoded audio stream: its header, then mono float32 blocks.

    The first audio stream is used when a file has several (other streams,
    audio or video, are skipped); :attr:`streams` says how many there were.

    Parameters
    ----------
    handle : binary file object
        Seekable when the container needs it (MP4 keeps its index at either end).
    label : str
        Name used in error messages.
    demuxer : str
        A key of :data:`DEMUXERS`, normally from :func:`sniff`.

    Raises
    ------
    AudioDecodeError
        Not a readable file of that container, or no audio stream in it.
    """

    def __init__(self, handle: BinaryIO, label: str, demuxer: str) -> None:
        import av

        self.label = label
        try:
            self._container = av.open(
                handle, mode="r", format=demuxer, metadata_errors="ignore", io_open=_refuse_nested
            )
        except (av.FFmpegError, OSError, ValueError, UnicodeError) as exc:
            damage = mp4_damage(handle) if demuxer == "mov" else None
            raise AudioDecodeError(
                label,
                f"not a readable {DEMUXERS[demuxer]} file: "
                + (damage or f"{_reason(exc)} (corrupt, truncated, or not audio)"),
            ) from exc
        self._end = _size(handle)
        audio = self._container.streams.audio
        if not audio:
            kinds = sorted({s.type for s in self._container.streams})
            self._container.close()
            found = f" (it holds {', '.join(kinds)} only)" if kinds else ""
            raise AudioDecodeError(label, f"has no audio stream{found}")
        self._stream = audio[0]
        self.streams = len(audio)
        codec = self._stream.codec_context
        self.sample_rate = int(codec.sample_rate or 0)
        self.channels = int(codec.channels or 0)
        self.format = DEMUXERS[demuxer]
        name = codec.name or "unknown"
        self.subtype = "MPEG_LAYER_III" if name.startswith("mp3") else name.upper()
        self.frames = self._declared_frames()
        # AAC decodes every packet to a whole 1024-sample frame; MP4 marks the end
        # padding by a shorter duration of the last packet, which libavcodec ignores
        self._trim = name == "aac" and self._stream.time_base is not None
        # ADTS has no field for the encoder delay: drop AAC-LC's own one-frame delay
        # (the overlap of its transform, 1024 samples), as MP4's edit list would
        lc = name == "aac" and (codec.profile or "").upper() == "LC"
        self._skip = 1024 if demuxer == "aac" and lc else 0

    def _declared_frames(self) -> int:
        """Samples per channel the header announces; 0 when it gives no duration (live WebM)."""
        stream, seconds = self._stream, 0.0
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif self._container.duration is not None:
            seconds = self._container.duration / 1_000_000
        return max(0, round(seconds * self.sample_rate))

    def close(self) -> None:
        """Release FFmpeg's decoder and demuxer."""
        self._container.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def blocks(self, limit: int, *, max_channels: int) -> Iterator[tuple[np.ndarray, float]]:
        """Decode into mono float32 blocks and their peaks, as libsndfile's path does.

        Stops once more than ``limit`` frames were decoded (``-1``: no limit), so
        a stream longer than its header said costs at most one block beyond the
        limit. Every frame must keep the header's rate and at most ``max_channels``
        channels.

        Raises
        ------
        AudioDecodeError
            Corrupt data, or a rate or channel count that changes mid-stream.
        AudioNonFiniteError
            NaN, infinite or out-of-float32-range samples.
        """
        import av

        fifo = av.AudioFifo()  # frames joined into blocks in FFmpeg, one array per block
        done = allowed = 0  # samples decoded; samples the packets' durations allow
        skip = self._skip
        try:
            for packet in self._container.demux(self._stream):
                keep = self._packet_samples(packet)
                got = 0
                for frame in self._decode(packet):
                    self._check_frame(frame, max_channels, first=done + got == 0)
                    frame.pts = None  # the fifo would refuse a gap in the timestamps
                    try:
                        fifo.write(frame)
                    except ValueError as exc:
                        raise AudioDecodeError(
                            self.label,
                            "changes its sample format or channel layout mid-stream "
                            f"(after {done + got} samples)",
                        ) from exc
                    got += frame.samples
                done += got
                allowed += got if keep is None else min(keep, got)
                if limit >= 0 and done > limit:
                    break
                while fifo.samples >= _BLOCK + _TAIL:
                    mono, skip = _skipped(self._mono(fifo.read(_BLOCK)), skip)
                    yield self._checked(mono)
        except (av.FFmpegError, OSError, MemoryError) as exc:
            raise AudioDecodeError(
                self.label, f"decoding failed after {done} samples ({_reason(exc)})"
            ) from exc
        if fifo.samples:
            mono = self._mono(fifo.read())
            if 0 < done - allowed <= _TAIL:  # the encoder's end padding
                mono = mono[: len(mono) - (done - allowed)]
            mono, skip = _skipped(mono, skip)
            yield self._checked(mono)

    def _packet_samples(self, packet: Any) -> int | None:
        """Samples the packet's duration allows, where the decoder pads (``None``: all)."""
        if not self._trim or not packet.duration or packet.duration <= 0:
            return None
        return round(packet.duration * self._stream.time_base * self.sample_rate)

    def _decode(self, packet: Any) -> list[Any]:
        """Decode one packet; a packet cut off by the end of the file ends the stream.

        The caller's length check then says the file is truncated, as for a cut WAV.
        """
        import av

        try:
            return packet.decode()
        except av.FFmpegError:
            cut = packet.pos is not None and packet.pos >= 0 and self._end is not None
            if cut and packet.pos + packet.size >= self._end:
                return []
            raise

    def _check_frame(self, frame: Any, max_channels: int, *, first: bool) -> None:
        """Every frame keeps the header's rate; the first one has a usable channel count."""
        if frame.sample_rate != self.sample_rate:
            raise AudioDecodeError(
                self.label,
                f"changes sample rate mid-stream ({self.sample_rate} Hz in the header, "
                f"{frame.sample_rate} Hz in the data)",
            )
        if first and not 0 < frame.layout.nb_channels <= max_channels:
            raise AudioDecodeError(
                self.label,
                f"has {frame.layout.nb_channels} channels in the data; "
                f"at most {max_channels} are supported",
            )

    def _mono(self, frame: Any) -> np.ndarray:
        """A block of decoded audio as mono float (channels averaged in float64, as to_mono)."""
        channels = frame.layout.nb_channels
        data = frame.to_ndarray()
        if not frame.format.is_planar:
            data = data.reshape(-1, channels).T
        kind = frame.format.name.rstrip("p")
        if kind in _INT_SCALE:
            offset = 128.0 if kind == "u8" else 0.0
            data = (data.astype(np.float64) - offset) / _INT_SCALE[kind]
        if channels == 1:
            return data[0]
        return data.mean(axis=0, dtype=np.float64)

    def _checked(self, mono: np.ndarray) -> tuple[np.ndarray, float]:
        if not np.all(np.isfinite(mono)):
            bad = int(np.count_nonzero(~np.isfinite(mono)))
            raise AudioNonFiniteError(self.label, f"contains {bad} NaN or infinite samples")
        peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
        if peak > _FLOAT32_MAX:
            raise AudioNonFiniteError(
                self.label, f"holds samples of magnitude {peak:.3g}, beyond the float32 range"
            )
        return mono.astype(np.float32, copy=False), peak


def open_handle(source: str | os.PathLike) -> BinaryIO:
    """Open a path for :class:`Reader` (a Python file, so FFmpeg never parses the name)."""
    return open(source, "rb")
