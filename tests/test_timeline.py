"""serkit.timeline: long recordings in blocks, windows over speech, smoothing, CLI, plot."""

from __future__ import annotations

import csv
import json
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, voice_like
from serkit import AudioDecodeError, AudioNonFiniteError, AudioTooLongError, ParameterError, audio
from serkit import timeline as timeline_module
from serkit.cli import main
from serkit.features import extract_files
from serkit.plots import plot_timeline
from serkit.recognizer import EmotionRecognizer
from serkit.timeline import MIN_NORM_WINDOWS, Segment, Timeline, _smooth, predict_timeline
from serkit.vad import speech_fraction

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognizer:
    """A tiny logreg on the seed features of the 16 example clips, actor as session group."""
    paths = sorted(EXAMPLES.glob("*.flac"))
    X = extract_files(paths, "seed", jobs=1).matrix()
    labels = [EMOTIONS[p.name.split("-")[2]] for p in paths]
    actors = [p.stem.split("-")[-1] for p in paths]
    return EmotionRecognizer("seed", "logreg").fit(X, labels, groups=actors)


@pytest.fixture(scope="module")
def model_dir(recognizer, tmp_path_factory) -> Path:
    return recognizer.save(tmp_path_factory.mktemp("timeline") / "model")


def _band_span(y: np.ndarray) -> tuple[float, float]:
    """Where a clean clip's speech is: 150-4000 Hz level within 35 dB of its peak."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, (150, 4000), btype="bandpass", fs=SR, output="sos")
    start, end = audio.signal_span(sosfilt(sos, y.astype(np.float64)), SR, top_db=35)
    return start / SR, end / SR


@pytest.fixture(scope="module")
def long_recording(ravdess_root, tmp_path_factory):
    """Eight real clips (eight actors) at -26 dBFS +- 3 dB with 1.5-3 s pauses, as 16-bit FLAC.

    Returns the path, the signal as read back from the file, and each clip's speech span.
    """
    rng = np.random.default_rng(7)
    actors = rng.choice(np.arange(1, 25), size=8, replace=False)
    parts, truth, t = [], [], 0.0
    for actor in actors:
        clips = sorted((ravdess_root / f"Actor_{actor:02d}").glob("*.*"))
        y, _ = audio.load(clips[int(rng.integers(len(clips)))])
        start, end = _band_span(y)
        rms = np.sqrt(np.mean(y[round(start * SR) : round(end * SR)].astype(np.float64) ** 2))
        y = y * (10 ** ((-26 + rng.uniform(-3, 3)) / 20) / rms)
        pause = round(rng.uniform(1.5, 3.0) * SR) / SR
        truth.append((t + pause + start, t + pause + end))
        parts += [np.zeros(round(pause * SR), dtype=np.float32), y.astype(np.float32)]
        t += pause + len(y) / SR
    parts.append(np.zeros(2 * SR, dtype=np.float32))
    x = np.concatenate(parts)
    x = np.clip(x + 0.0003 * rng.standard_normal(len(x)), -1, 1).astype(np.float32)
    path = tmp_path_factory.mktemp("long") / "long.flac"
    sf.write(path, x, SR, subtype="PCM_16")
    y, _ = sf.read(path, dtype="float32")
    return path, y, truth


def _voice_scene(seconds: float, seed: int = 0) -> np.ndarray:
    """Voice-like bursts of 1-3 s with 1-4 s pauses in low noise, ``seconds`` long."""
    rng = np.random.default_rng(seed)
    bank = [voice_like(dur=d, seed=seed + i) for i, d in enumerate((1.0, 1.6, 2.2, 2.9))]
    out = np.zeros(round(seconds * SR), dtype=np.float32)
    t = 1.0
    while t < seconds - 4:
        burst = bank[int(rng.integers(len(bank)))]
        out[round(t * SR) : round(t * SR) + len(burst)] = burst
        t += len(burst) / SR + rng.uniform(1.0, 4.0)
    return out + (0.0005 * rng.standard_normal(len(out))).astype(np.float32)


# --------------------------------------------------------------------- real speech
def test_speech_regions_align_with_the_clips(recognizer, long_recording):
    path, _, truth = long_recording
    tl = predict_timeline(recognizer, path)
    assert tl.duration == pytest.approx(sf.info(path).duration, abs=1e-3)
    errors = []
    for a, b in truth:
        mine = [s for s in tl.speech if s.end > a and s.start < b]
        assert mine, f"clip at {a:.2f}-{b:.2f} s was not found"
        errors += [abs(mine[0].start - a), abs(mine[-1].end - b)]
    # no region far from every clip
    assert all(any(s.end > a - 0.5 and s.start < b + 0.5 for a, b in truth) for s in tl.speech)
    errors = np.array(errors)
    assert np.median(errors) <= 0.15 and np.mean(errors <= 0.3) >= 0.8 and errors.max() <= 0.6


def test_windows_cover_speech_only_and_rows_are_probabilities(recognizer, long_recording):
    path, _, _ = long_recording
    tl = predict_timeline(recognizer, path, win_dur=1.5, hop_dur=0.5)
    regions = [(s.start, s.end) for s in tl.speech]
    assert len(tl.windows) > len(tl.speech)
    for w in tl.windows:
        assert speech_fraction(regions, w.start, w.end) >= 0.5 - 1e-6
        assert w.end - w.start <= 1.5 + 1e-6
    assert [w.start for w in tl.windows] == sorted(w.start for w in tl.windows)
    for kind in ("windows", "speech"):
        rows = tl.rows(kind)
        assert list(rows[0])[:4] == ["start", "end", "emotion", "confidence"]
        assert list(rows[0])[4:] == tl.classes == list(recognizer.classes_)
        proba = np.array([[r[c] for c in tl.classes] for r in rows])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert [r["emotion"] for r in rows] == [tl.classes[i] for i in proba.argmax(axis=1)]
        assert all(
            r["confidence"] == pytest.approx(p.max()) for r, p in zip(rows, proba, strict=True)
        )
    json.dumps(tl.to_dict())  # JSON-ready


def test_file_streaming_equals_the_in_memory_signal(recognizer, long_recording):
    path, y, _ = long_recording
    from_file = predict_timeline(recognizer, path, block_duration=8.0)
    from_memory = predict_timeline(recognizer, (y, SR), block_duration=8.0)
    assert from_memory.source == "<signal>" and from_file.source == str(path)
    for kind in ("speech", "windows"):
        a, b = from_file.rows(kind), from_memory.rows(kind)
        assert len(a) == len(b) > 0
        for ra, rb in zip(a, b, strict=True):
            assert ra["start"] == pytest.approx(rb["start"], abs=1e-3)
            assert ra["end"] == pytest.approx(rb["end"], abs=1e-3)
            for c in from_file.classes:
                assert ra[c] == pytest.approx(rb[c], abs=1e-5)
    # the block size barely matters: the same regions
    other = predict_timeline(recognizer, path, block_duration=60.0)
    assert len(other.speech) == len(from_file.speech)
    for s, o in zip(from_file.speech, other.speech, strict=True):
        assert abs(s.start - o.start) < 0.05 and abs(s.end - o.end) < 0.05


def test_speaker_norm(recognizer, long_recording):
    path, _, _ = long_recording
    plain = predict_timeline(recognizer, path, speaker_norm=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # eight or more windows: no few-clips warning
        normed = predict_timeline(recognizer, path, speaker_norm=True)
        default = predict_timeline(recognizer, path)  # the default: over the recording
    assert normed.settings["speaker_norm"] is True and plain.settings["speaker_norm"] is False
    assert len(normed.windows) >= MIN_NORM_WINDOWS
    assert default.to_dict() == normed.to_dict()
    assert [(s.start, s.end) for s in normed.windows] == [(s.start, s.end) for s in plain.windows]
    a = np.array([list(s.probabilities.values()) for s in plain.windows])
    b = np.array([list(s.probabilities.values()) for s in normed.windows])
    np.testing.assert_allclose(b.sum(axis=1), 1.0, atol=1e-6)
    assert not np.allclose(a, b)
    without_groups = EmotionRecognizer("seed", "logreg")
    without_groups.fit(np.random.default_rng(0).normal(size=(8, 180)), ["a", "b"] * 4)
    with pytest.raises(ParameterError, match="speaker-normalised"):
        predict_timeline(without_groups, path, speaker_norm=True)
    # without a speaker-normalised part, or with few windows, the default is per window
    assert predict_timeline(without_groups, path).settings["speaker_norm"] is False
    y, sr = audio.load(sorted(EXAMPLES.glob("*.flac"))[0])
    short = predict_timeline(recognizer, (y, sr))
    assert 0 < len(short.windows) < MIN_NORM_WINDOWS and short.settings["speaker_norm"] is False
    with pytest.raises(ParameterError, match="True, False or None"):
        predict_timeline(recognizer, path, speaker_norm="yes")


# ------------------------------------------------------------------- synthetic audio
def test_ten_minutes_are_read_in_blocks_with_bounded_memory(recognizer, tmp_path, monkeypatch):
    path = tmp_path / "ten-minutes.flac"
    y = _voice_scene(600.0)
    sf.write(path, y, SR, subtype="PCM_16")
    whole_mb = len(y) * 8 / 1e6  # the whole signal as float64
    del y
    blocks = []
    real_stream = audio.stream

    def spy(source, **kwargs):
        for block in real_stream(source, **kwargs):
            blocks.append(len(block))
            yield block

    monkeypatch.setattr(timeline_module.audio, "stream", spy)
    tracemalloc.start()
    try:
        tl = predict_timeline(recognizer, path, block_duration=20.0, smooth=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(blocks) == 30 and max(blocks) == 20 * SR
    assert peak / 1e6 < whole_mb / 4, f"peak {peak / 1e6:.1f} MB for a {whole_mb:.0f} MB signal"
    assert tl.duration == pytest.approx(600.0, abs=0.01)
    assert len(tl.speech) > 100 and len(tl.windows) >= len(tl.speech)
    assert tl.envelope.shape == (60000, 2) and tl.envelope_rate == 100.0


def test_a_long_region_is_cut_into_windows_while_it_streams(recognizer):
    y = np.concatenate([np.zeros(SR), voice_like(dur=1.0)] * 2 + [np.zeros(SR)])
    y = np.concatenate([np.zeros(SR), np.tile(voice_like(dur=2.0, seed=1), 6), y])
    y = (y + 0.0005 * np.random.default_rng(0).standard_normal(len(y))).astype(np.float32)
    tl = predict_timeline(recognizer, (y, SR), block_duration=6.0)  # the region spans blocks
    first = tl.speech[0]
    assert first.start < 1.2 and first.end > 12.5
    inside = [w for w in tl.windows if w.start >= first.start - 1e-6 and w.end <= first.end + 1e-6]
    assert len(inside) >= 10 and all(w.end - w.start == pytest.approx(3.0) for w in inside)
    assert first.end - max(w.end for w in inside) <= 0.5  # the tail is covered to half a hop


def test_silent_recording_gives_an_empty_timeline(recognizer, tmp_path, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(10 * SR, dtype=np.float32), SR)
    tl = predict_timeline(recognizer, silent)
    assert tl.speech == [] and tl.windows == [] and tl.duration == pytest.approx(10.0)
    assert tl.rows("speech") == [] and tl.to_dict()["windows"] == []
    hiss = (0.01 * np.random.default_rng(0).standard_normal(8 * SR)).astype(np.float32)
    assert predict_timeline(recognizer, (hiss, SR)).speech == []


def test_in_memory_input_any_rate_and_channels(recognizer):
    y = _voice_scene(20.0, seed=3)
    stereo44 = np.stack([audio.resample(y, SR, 44100)] * 2)
    a = predict_timeline(recognizer, (y, SR))
    b = predict_timeline(recognizer, (stereo44, 44100))
    assert len(a.speech) == len(b.speech) > 0
    for s, t in zip(a.speech, b.speech, strict=True):
        assert abs(s.start - t.start) < 0.05 and abs(s.end - t.end) < 0.05
    pcm = (y * 32767).astype(np.int16)
    assert len(predict_timeline(recognizer, (pcm, SR)).speech) == len(a.speech)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"win_dur": 0}, "win_dur must be"),
        ({"win_dur": 0.1}, "win_dur must be >= 0.25"),
        ({"hop_dur": -1}, "hop_dur must be"),
        ({"smooth": 0}, "smooth must be an integer"),
        ({"smooth": 2.5}, "smooth must be an integer"),
        ({"vad": "psychic"}, "unknown VAD method"),
        ({"block_duration": float("nan")}, "block_duration"),
    ],
)
def test_bad_settings(recognizer, kwargs, words):
    with pytest.raises(ParameterError, match=words):
        predict_timeline(recognizer, (np.zeros(SR, dtype=np.float32), SR), **kwargs)


def test_bad_audio(recognizer, tmp_path, audio_files):
    with pytest.raises(AudioDecodeError):
        predict_timeline(recognizer, tmp_path / "missing.wav")
    with pytest.raises(AudioDecodeError):
        predict_timeline(recognizer, audio_files["text"])
    bad = _voice_scene(6.0)
    bad[100] = np.inf
    with pytest.raises(AudioNonFiniteError):
        predict_timeline(recognizer, (bad, SR))
    with pytest.raises(AudioTooLongError, match="limit of 1 s"):
        predict_timeline(recognizer, audio_files["voice"], max_duration=1.0)
    with pytest.raises(ParameterError, match="tuple"):
        predict_timeline(recognizer, (np.zeros(10),))
    with pytest.raises(ParameterError, match="reads feature vectors"):
        EmotionRecognizer("logmel", "logreg").fit(np.eye(4), ["a", "b", "a", "b"])


def test_smoothing_stays_within_runs():
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    starts = np.array([0.0, 1.0, 2.0, 10.0, 11.0])  # a 5 s pause before the fourth window
    out = _smooth(proba, starts, starts + 3.0, width=3, max_gap=2.0)
    np.testing.assert_allclose(out[1], [2 / 3, 1 / 3])
    np.testing.assert_allclose(out[0], [0.5, 0.5])  # edges average what exists
    np.testing.assert_allclose(out[3:], [[0.0, 1.0], [0.0, 1.0]])  # nothing crosses the pause
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(_smooth(proba, starts, starts + 3, 1, 2.0), proba)


def test_rows_and_dict():
    proba = {"happy": 0.3, "sad": 0.7}
    seg = Segment(start=1.0, end=2.5, emotion="sad", confidence=0.7, probabilities=proba)
    tl = Timeline("x.wav", 10.0, ["happy", "sad"], speech=[seg], windows=[seg, seg])
    assert tl.rows("speech") == [
        {"start": 1.0, "end": 2.5, "emotion": "sad", "confidence": 0.7, "happy": 0.3, "sad": 0.7}
    ]
    assert len(tl.rows()) == 2 and tl.speech_duration == 1.5
    assert tl.to_dict()["speech"][0]["probabilities"] == {"happy": 0.3, "sad": 0.7}
    with pytest.raises(ParameterError, match="kind"):
        tl.rows("frames")


# ------------------------------------------------------------------------- plot, CLI
def test_plot_from_signal_envelope_and_nothing(recognizer, tmp_path):
    y = _voice_scene(30.0, seed=5)
    tl = predict_timeline(recognizer, (y, SR))
    for name, data, rate in (("signal", y, SR), ("envelope", tl.envelope, tl.envelope_rate),
                             ("none", None, 1.0)):  # fmt: skip
        out = plot_timeline(tl, data, rate, tmp_path / f"{name}.png", width=800)
        assert out.stat().st_size > 5000 and out.read_bytes()[:4] == b"\x89PNG"
    empty = Timeline("silent.wav", 5.0, ["a", "b"], speech=[], windows=[])
    assert plot_timeline(empty, np.zeros((500, 2)), 100.0, tmp_path / "empty.png").exists()
    with pytest.raises(ParameterError, match="shape"):
        plot_timeline(tl, np.zeros((10, 3)), 100.0, tmp_path / "bad.png")


def test_cli_writes_csv_json_png(model_dir, tmp_path, capsys):
    path = tmp_path / "scene.flac"
    sf.write(path, _voice_scene(40.0, seed=9), SR)
    rows_csv, png = tmp_path / "out" / "rows.csv", tmp_path / "timeline.png"
    code = main(["timeline", str(path), "--model", str(model_dir), "--out", str(rows_csv),
                 "--plot", str(png), "-q"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "speech segments" in out and "emotion" in out
    with rows_csv.open() as handle:
        table = list(csv.DictReader(handle))
    assert table and list(table[0])[:4] == ["start", "end", "emotion", "confidence"]
    assert len(table) == out.count("\n") - 2  # one printed line per speech segment
    assert png.read_bytes()[:4] == b"\x89PNG"

    rows_json = tmp_path / "rows.json"
    code = main(["timeline", str(path), "--model", str(model_dir), "--segments", "windows",
                 "--win", "2", "--hop", "0.5", "--smooth", "1", "--out", str(rows_json),
                 "-q"])  # fmt: skip
    assert code == 0
    windows = json.loads(rows_json.read_text())
    assert len(windows) > len(table) and all(r["end"] - r["start"] <= 2.002 for r in windows)
    capsys.readouterr()

    assert main(["timeline", str(path), "--model", str(model_dir), "--json", "-q"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert set(whole) >= {"source", "duration", "classes", "speech", "windows", "settings"}
    # the default: over the recording when it gives enough windows
    assert whole["settings"]["speaker_norm"] is (len(whole["windows"]) >= MIN_NORM_WINDOWS)
    argv = ["timeline", str(path), "--model", str(model_dir), "--json", "-q"]
    for flag, used in (("--per-window", False), ("--speaker-norm", True)):
        assert main([*argv, flag]) == 0
        assert json.loads(capsys.readouterr().out)["settings"]["speaker_norm"] is used
    with pytest.raises(SystemExit):
        main([*argv, "--per-window", "--speaker-norm"])  # one or the other
    capsys.readouterr()

    assert main(["timeline", str(path), "--model", str(model_dir), "--out", "x.txt", "-q"]) == 2
    assert "--out must end in .csv or .json" in capsys.readouterr().err


def test_cli_says_when_there_is_no_speech(model_dir, tmp_path, capsys):
    silent = tmp_path / "quiet.wav"
    sf.write(silent, np.zeros(5 * SR, dtype=np.float32), SR)
    rows = tmp_path / "rows.csv"
    code = main(["timeline", str(silent), "--model", str(model_dir), "--out", str(rows), "-q"])
    assert code == 1  # nothing to predict, as predict exits for a silent file
    assert "no speech found" in capsys.readouterr().out
    assert rows.read_text().startswith("start,end,emotion,confidence,")
