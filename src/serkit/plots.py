"""PNG figures made from data serkit returns; matplotlib loads only here, headless."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._atomic import atomic_path

__all__ = ["plot_timeline", "plot_waveform_spectrogram"]


def _pyplot():
    from ._optional import require

    matplotlib = require("matplotlib", purpose="plots")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_waveform_spectrogram(
    y: np.ndarray,
    sr: int,
    out: str | os.PathLike,
    *,
    title: str | None = None,
    n_fft: int = 512,
    hop_length: int = 160,
) -> Path:
    """Save the waveform above a dB spectrogram of one mono signal as a PNG.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    sr : int > 0
        Sample rate in Hz.
    out : path
        PNG file to write.
    title : str or None
        Figure title (e.g. the file name).
    n_fft, hop_length : int > 0
        STFT size and hop, in samples.

    Returns
    -------
    Path
        ``out``.
    """
    plt = _pyplot()
    times = np.arange(len(y)) / sr
    window = np.hanning(n_fft).astype(np.float32)
    n_frames = 1 + max(0, len(y) - n_fft) // hop_length
    padded = np.pad(y, (0, max(0, n_fft - len(y))))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    db = 10 * np.log10(np.maximum(power, 1e-12))
    db = np.maximum(db, db.max() - 80.0)

    fig, (ax_wave, ax_spec) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    ax_wave.plot(times, y, linewidth=0.5, color="#1f4e79")
    ax_wave.set_ylabel("amplitude")
    ax_wave.set_title(title or "waveform and spectrogram")
    ax_wave.set_xlim(0, max(times[-1] if len(times) else 0, 1e-3))
    extent = (0, len(y) / sr, 0, sr / 2)
    image = ax_spec.imshow(db.T, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax_spec.set_xlabel("time (s)")
    ax_spec.set_ylabel("frequency (Hz)")
    fig.colorbar(image, ax=[ax_wave, ax_spec], label="power (dB)", fraction=0.03)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out_path


# ----------------------------------------------------------------------------- timeline

if TYPE_CHECKING:  # typing only: importing serkit.plots must not import the timeline
    from .timeline import Timeline

_EMOTION_COLOURS = {
    "angry": "#d62728",
    "happy": "#ffbf00",
    "sad": "#1f77b4",
    "neutral": "#8c8c8c",
    "calm": "#2ca02c",
    "fearful": "#9467bd",
    "disgust": "#8c564b",
    "surprised": "#e377c2",
    "bored": "#17becf",
}


def _class_colours(classes: list[str]) -> dict[str, str]:
    """A fixed colour per known emotion, the tab10 palette for the others."""
    spare = ["#bcbd22", "#17becf", "#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#c49c94"]
    out, i = {}, 0
    for name in classes:
        if name in _EMOTION_COLOURS:
            out[name] = _EMOTION_COLOURS[name]
        else:
            out[name] = spare[i % len(spare)]
            i += 1
    return out


def _envelope_columns(
    y_or_envelope: np.ndarray | None, sr: float, n_columns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Times, minima and maxima of at most ``n_columns`` columns of a signal or an envelope.

    Parameters
    ----------
    y_or_envelope : np.ndarray [shape=(n,) or (n, 2)] or None
        A mono signal at ``sr`` Hz, or a min/max envelope at ``sr`` columns per second.
    """
    if y_or_envelope is None:
        return None
    data = np.asarray(y_or_envelope, dtype=np.float32)
    if data.ndim == 1:
        lows, highs = data, data
    elif data.ndim == 2 and data.shape[1] == 2:
        lows, highs = data[:, 0], data[:, 1]
    else:
        from ._errors import ParameterError

        raise ParameterError(
            f"y_or_envelope must have shape (n,) or (n, 2); got shape {data.shape}"
        )
    n = len(lows)
    if n == 0:
        return None
    step = max(1, -(-n // n_columns))
    m = -(-n // step)
    pad = m * step - n
    if pad:
        lows = np.concatenate([lows, np.full(pad, lows[-1])])
        highs = np.concatenate([highs, np.full(pad, highs[-1])])
    lows = lows.reshape(m, step).min(axis=1)
    highs = highs.reshape(m, step).max(axis=1)
    times = (np.arange(m) * step + step / 2) / sr
    return times, lows, highs


def _drawn_spans(segments: list[Any]) -> list[tuple[float, float]]:
    """Non-overlapping stretches to draw overlapping windows: each window owns the part of
    its extent nearer its own centre than its neighbours' centres."""
    centres = [(s.start + s.end) / 2 for s in segments]
    spans = []
    for i, seg in enumerate(segments):
        lo = seg.start if i == 0 else max(seg.start, (centres[i - 1] + centres[i]) / 2)
        hi = seg.end if i == len(segments) - 1 else min(seg.end, (centres[i] + centres[i + 1]) / 2)
        spans.append((lo, max(lo, hi)))
    return spans


def plot_timeline(
    timeline: Timeline,
    y_or_envelope: np.ndarray | None,
    sr: float,
    out: str | os.PathLike,
    *,
    title: str | None = None,
    width: int = 1600,
) -> Path:
    """Save a PNG of a recording's waveform with its emotions over time.

    The top panel shows the waveform as a min/max envelope (one column per
    pixel, so an hour-long recording draws as fast as a clip) with each speech
    region shaded in the colour of its emotion. The bottom panel shows the
    sliding windows as coloured bands whose opacity is the confidence, and the
    confidence as a line.

    Parameters
    ----------
    timeline : Timeline
        From :func:`serkit.timeline.predict_timeline`.
    y_or_envelope : np.ndarray [shape=(n,) or (n, 2)] or None
        The mono signal at ``sr`` Hz, or a min/max envelope at ``sr`` columns per
        second such as ``timeline.envelope`` (computed while streaming, so long
        files never need decoding twice); ``None`` draws the emotions only.
    sr : float > 0
        Sample rate of the signal, or columns per second of the envelope
        (``timeline.envelope_rate``).
    out : path
        PNG file to write.
    title : str or None
        Figure title (default: the timeline's source).
    width : int > 0
        Figure width in pixels; the envelope gets one column per pixel.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ParameterError
        ``y_or_envelope`` of another shape.
    """
    from matplotlib.patches import Patch

    plt = _pyplot()
    dpi = 100
    duration = max(float(timeline.duration), 1e-3)
    minutes = duration > 600
    scale = 60.0 if minutes else 1.0
    colours = _class_colours(list(timeline.classes))
    fig, (ax_wave, ax_band) = plt.subplots(
        2,
        1,
        figsize=(width / dpi, 4.6),
        dpi=dpi,
        sharex=True,
        gridspec_kw={"height_ratios": [2, 1]},
    )
    columns = _envelope_columns(y_or_envelope, sr, n_columns=width)
    if columns is not None:
        times, lows, highs = columns
        ax_wave.fill_between(times / scale, lows, highs, color="#404040", linewidth=0)
        peak = float(max(np.max(np.abs(lows)), np.max(np.abs(highs)), 1e-6))
        ax_wave.set_ylim(-1.05 * peak, 1.05 * peak)
    for seg in timeline.speech:
        ax_wave.axvspan(
            seg.start / scale, seg.end / scale, color=colours[seg.emotion], alpha=0.3, lw=0
        )
    ax_wave.set_ylabel("amplitude")
    ax_wave.set_title(title or f"{timeline.source}: emotion over time")
    if not timeline.windows:
        ax_wave.text(
            0.5, 0.5, "no speech found", transform=ax_wave.transAxes, ha="center", va="center"
        )

    spans = _drawn_spans(timeline.windows)
    for seg, (lo, hi) in zip(timeline.windows, spans, strict=True):
        ax_band.axvspan(
            lo / scale,
            hi / scale,
            color=colours[seg.emotion],
            alpha=0.2 + 0.8 * seg.confidence,
            lw=0,
        )
    if spans:  # the confidence as a step line over the same stretches
        lo, hi = np.array(spans).T / scale
        confidence = np.array([s.confidence for s in timeline.windows])
        ax_band.hlines(confidence, lo, hi, color="black", linewidth=1.0)
    ax_band.set_ylim(0, 1)
    ax_band.set_ylabel("confidence")
    ax_band.set_xlim(0, duration / scale)
    ax_band.set_xlabel("time (min)" if minutes else "time (s)")
    handles = [Patch(color=colours[c], label=c) for c in timeline.classes]
    fig.legend(handles=handles, loc="center right", frameon=False, title="emotion")
    fig.subplots_adjust(left=0.06, right=0.88, top=0.92, bottom=0.12, hspace=0.08)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return out_path
