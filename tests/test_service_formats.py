"""The service reads what phones and browsers upload: M4A/AAC, WebM/Opus, MP4, MP3.

The same limits hold as for WAV: a long stream behind a short header is refused
while decoding, on ``/v1/predict`` and on ``/v1/timeline``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the serve extra (fastapi)")
pytest.importorskip("av", reason="the FFmpeg path needs PyAV (a core dependency)")
from fastapi.testclient import TestClient

from _media import KINDS, encode
from serkit import audio
from serkit.recognizer import EmotionRecognizer
from serkit.service import ServiceSettings, create_app
from test_audio_formats import claim_webm_duration

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ANGRY = EXAMPLES / "03-01-05-02-01-01-23.flac"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
MEDIA = {"m4a": "audio/mp4", "aac": "audio/aac", "webm": "audio/webm", "mp4": "video/mp4",
         "mp3": "audio/mpeg", "wma": "audio/x-ms-wma"}  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(example_model_dir: Path) -> Path:
    """The shared tiny model of conftest (seed features of the example clips, logreg)."""
    return example_model_dir


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(max_timeline_seconds=60)
    with TestClient(create_app(model_dir, settings=settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    y, sr = audio.load(ANGRY)
    root = tmp_path_factory.mktemp("uploads")
    return {name: encode(root / f"angry.{KINDS[name].suffix}", y, sr, KINDS[name])
            for name in MEDIA}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_uploads_in_each_format_predict_as_the_file_does(client, model_dir, clips, name):
    path = clips[name]
    expected = EmotionRecognizer.load(model_dir).predict_file(path)
    data = path.read_bytes()
    multi = client.post("/v1/predict", files={"file": (path.name, data, MEDIA[name])})
    raw = client.post("/v1/predict", content=data, headers={"Content-Type": MEDIA[name]})
    for response in (multi, raw):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["emotion"] == expected.emotion
        assert body["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
        assert body["duration"] == pytest.approx(3.4, abs=0.15)


@pytest.mark.parametrize("name", ["m4a", "webm"])
def test_timeline_reads_compressed_uploads(client, clips, name):
    data = clips[name].read_bytes()
    response = client.post(
        "/v1/timeline?win_dur=1&hop_dur=0.5",
        files={"file": (clips[name].name, data, MEDIA[name])},
    )
    assert response.status_code == 200, response.text
    assert response.json()["duration"] == pytest.approx(3.4, abs=0.15)


def test_a_long_stream_behind_a_short_header_is_refused(client, tmp_path):
    y, sr = audio.load(ANGRY)
    long = encode(tmp_path / "long.webm", np.tile(y, 25), sr, KINDS["webm"])  # 85 s
    liar = claim_webm_duration(long.read_bytes(), 1.0)
    for route in ("/v1/predict", "/v1/timeline"):
        response = client.post(route, files={"file": ("liar.webm", liar, "audio/webm")})
        assert response.status_code == 413, response.text
        message = response.json()["error"]["message"]
        assert message.startswith("liar.webm: decodes to more than the limit")


def test_a_video_without_sound_is_a_clear_415(client, tmp_path):
    y, sr = audio.load(ANGRY)
    film = encode(tmp_path / "film.mp4", y, sr, KINDS["mp4"], audio_streams=0, video=True)
    upload = {"file": ("film.mp4", film.read_bytes(), "video/mp4")}
    response = client.post("/v1/predict", files=upload)
    assert response.status_code == 415
    assert "film.mp4: has no audio stream" in response.json()["error"]["message"]
