"""Long clips: the ``stats`` extractor works in blocks of frames, with the same values.

Issue 13: a 59 s upload raised the service's peak memory by ~270 MB in the ``stats``
path (whole-clip float64 frame matrices in the STFT, the noise suppression and YIN).
These tests pin that the block-wise code gives the numbers of the whole-clip code to
the bit, and that the peak stays far below the old one.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from conftest import SR, voice_like
from serkit.features import _dsp, _stats
from serkit.features._stats import StatsFeatures


def _long_voice(seconds: float, seed: int = 0) -> np.ndarray:
    """Voice-like bursts with pauses and a little noise, ``seconds`` long."""
    rng = np.random.default_rng(seed)
    parts = []
    while sum(map(len, parts)) < seconds * SR:
        parts.append(voice_like(dur=float(rng.uniform(0.8, 2.5)), f0=float(rng.uniform(90, 250))))
        parts.append(0.002 * rng.standard_normal(int(rng.uniform(0.1, 0.6) * SR)))
    return np.concatenate(parts)[: int(seconds * SR)].astype(np.float32)


def _scipy_spectral_subtraction(y: np.ndarray, sr: int) -> np.ndarray:
    """The whole-clip form of ``_spectral_subtraction``, with scipy's stft and istft."""
    from scipy.signal import istft, stft

    nperseg = _stats._next_pow2(round(0.032 * sr))
    hop = nperseg // 4
    if len(y) < 2 * nperseg:
        return y
    _, _, spec = stft(
        y.astype(np.float64), fs=sr, window="hann", nperseg=nperseg, noverlap=nperseg - hop
    )
    power = spec.real**2 + spec.imag**2
    first = -(-(nperseg // 2) // hop)
    last = (len(y) - nperseg // 2) // hop
    inner = power[:, first : last + 1]
    energy = inner.sum(axis=0)
    n_quiet = max(1, int(np.ceil(0.1 * inner.shape[1])))
    noise = inner[:, np.argsort(energy, kind="stable")[:n_quiet]].mean(axis=1, keepdims=True)
    gain = np.maximum(1.0 - 2.0 * noise / np.maximum(power, 1e-30), 1e-3)
    _, out = istft(
        spec * np.sqrt(gain), fs=sr, window="hann", nperseg=nperseg, noverlap=nperseg - hop
    )
    out = out[: len(y)]
    if len(out) < len(y):
        out = np.pad(out, (0, len(y) - len(out)))
    return out.astype(np.float32)


# the shortest cases and lengths around block edges (noise suppression: 1024 frames of 128
# samples; STFT and pitch: 512 frames of 160)
LENGTHS = [1024, 1100, 1024 * 128 - 5, 1024 * 128 + 3, 1024 * 160 + 1, 1537 * 160 + 77, 5 * SR]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("sr", [SR, 8000])
def test_noise_suppression_in_blocks_equals_scipy_stft_istft(length, sr):
    y = _long_voice(6.0, seed=length % 7)[:length]
    y = y + np.float32(0.01) * np.random.default_rng(1).standard_normal(len(y)).astype(np.float32)
    assert np.array_equal(_stats._spectral_subtraction(y, sr), _scipy_spectral_subtraction(y, sr))


@pytest.mark.parametrize("length", LENGTHS[2:])
def test_stats_in_blocks_equals_one_block(monkeypatch, length):
    y = _long_voice(12.0, seed=3)[:length]
    ext = StatsFeatures(denoise=True, active_db=20.0)
    blocked = ext.extract(y, SR)
    monkeypatch.setattr(_stats, "_PITCH_BLOCK", 10**9)
    monkeypatch.setattr(_dsp, "_STFT_BLOCK", 10**9)
    monkeypatch.setattr(_stats._BlockSTFT, "block", 10**9)
    assert np.array_equal(blocked, ext.extract(y, SR))


def test_peak_memory_of_a_60_s_clip_is_bounded():
    """numpy's allocations while extracting the shipped model's features from 60 s.

    Before the block-wise code the peak was 261 MB (YIN's and the noise
    suppression's whole-clip matrices); now 63 MB.
    """
    y = _long_voice(60.0, seed=5)
    ext = StatsFeatures(denoise=True, active_db=20.0)
    ext.extract(y[:SR], SR)  # lazy imports and cached filters outside the measurement
    tracemalloc.start()
    try:
        ext.extract(y, SR)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 80 * 2**20, f"peak {peak / 2**20:.0f} MB"
