"""PNG figures made from data serkit returns; matplotlib loads only here, headless."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_waveform_spectrogram"]


def _pyplot():
    import matplotlib

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
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
