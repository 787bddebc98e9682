"""Write test fixtures in the containers FFmpeg reads (AAC in M4A, Opus in WebM, WMA ...).

PyAV's wheel carries the encoders; every fixture is made in the test's tmp folder
from a synthetic signal or a corpus clip, never shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Kind:
    """One container + codec as phones, browsers and call systems write them."""

    suffix: str
    container: str
    codec: str
    rate: int | None = None  # the codec's own rate (Opus runs at 48 kHz); None keeps the input's


KINDS = {
    "m4a": Kind("m4a", "ipod", "aac"),
    "aac": Kind("aac", "adts", "aac"),
    "webm": Kind("webm", "webm", "libopus", 48000),
    "mp4": Kind("mp4", "mp4", "aac"),
    "mov": Kind("mov", "mov", "aac"),
    "wma": Kind("wma", "asf", "wmav2"),
    "mp3": Kind("mp3", "mp3", "libmp3lame"),
    "alac": Kind("m4a", "ipod", "alac"),
}


def encode(
    path: Path,
    y: np.ndarray,
    sr: int,
    kind: Kind,
    *,
    bit_rate: int | None = 128_000,
    channels: int = 1,
    audio_streams: int = 1,
    video: bool = False,
) -> Path:
    """Encode mono ``y`` (float, [-1, 1]) at ``sr`` Hz into ``path``; returns ``path``.

    ``channels`` duplicates the signal; ``audio_streams`` > 1 adds streams whose
    signal is the negated, halved input (so a test can tell which one was read);
    ``video`` adds a small video stream first.
    """
    import av

    layout = "mono" if channels == 1 else "stereo"
    rate = kind.rate or sr
    with av.open(str(path), "w", format=kind.container) as out:
        if video:
            picture = out.add_stream("mpeg4", rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        streams = []
        for _ in range(audio_streams):
            stream = out.add_stream(kind.codec, rate=rate, layout=layout)
            if bit_rate:
                stream.bit_rate = bit_rate
            streams.append(stream)
        signals = [np.asarray(y, np.float32)] + [
            -0.5 * np.asarray(y, np.float32) for _ in range(audio_streams - 1)
        ]
        signals = signals[:audio_streams]
        for stream, signal in zip(streams, signals, strict=True):
            _encode_stream(out, stream, signal, sr, rate, layout, channels)
        if video:
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            for index in range(max(1, round(len(y) / sr * 10))):
                frame.pts = index
                for packet in picture.encode(frame):
                    out.mux(packet)
            for packet in picture.encode(None):
                out.mux(packet)
    return path


def _encode_stream(out, stream, y, sr, rate, layout, channels) -> None:
    import av

    codec = stream.codec_context
    resampler = av.AudioResampler(
        format=codec.format.name, layout=layout, rate=rate, frame_size=codec.frame_size or None
    )
    pts = 0
    step = 1 << 14
    for start in range(0, len(y) + 1, step):
        part = y[start : start + step] if start < len(y) else None
        if part is None or not len(part):
            frames = resampler.resample(None)
        else:
            block = np.repeat(part[None, :], channels, axis=0)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), "fltp", layout)
            frame.sample_rate = sr
            frames = resampler.resample(frame)
        for resampled in frames:
            resampled.pts = pts
            pts += resampled.samples
            for packet in stream.encode(resampled):
                out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
