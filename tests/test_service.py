"""The HTTP service, in-process: endpoints, limits, errors, API key, CORS, concurrency, CLI."""

from __future__ import annotations

import io
import itertools
import json
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi", reason="the service needs the serve extra (fastapi)")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

import anyio
from fastapi.testclient import TestClient

from conftest import tone, voice_like
from serkit import ParameterError
from serkit.bundles import describe_manifest, read_manifest
from serkit.recognizer import EmotionRecognizer, Prediction
from serkit.service import ServiceSettings, create_app, create_app_from_env
from serkit.service.dependencies import get_model_info, get_recognizer
from serkit.service.schemas import ModelInfo
from serkit.service.settings import MB

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ANGRY = EXAMPLES / "03-01-05-02-01-01-23.flac"
SR = 16000
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def model_dir(example_model_dir: Path) -> Path:
    """The shared tiny model of conftest (seed features of the example clips, logreg)."""
    return example_model_dir


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    """The app with the real tiny model, lifespan run (model loaded once)."""
    with TestClient(create_app(model_dir)) as test_client:
        yield test_client


def wav_bytes(y: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def error_of(response) -> dict:
    """The ``error`` object of a JSON error body (checking the shape on the way)."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    return body["error"]


class FakeRecognizer:
    """Stands in for EmotionRecognizer; ``gate`` runs inside each prediction."""

    classes_ = np.array(["angry", "calm"])

    def __init__(self, gate=None, error: Exception | None = None) -> None:
        self.gate = gate
        self.error = error
        self.calls = 0

    def predict_signal(self, y: np.ndarray, sr: int, *, name: str = "<signal>") -> Prediction:
        self.calls += 1
        if self.gate is not None:
            self.gate()
        if self.error is not None:
            raise self.error
        return Prediction(
            path=name, emotion="calm", confidence=0.75, probabilities={"angry": 0.25, "calm": 0.75}
        )


FAKE_INFO = ModelInfo(
    id="fake-000000000000",
    name="fake",
    classes=["angry", "calm"],
    features={"name": "none"},
    n_features=1,
    sample_rate=SR,
    weights_sha256="0" * 64,
    speaker_norm=False,
)


def fake_app(fake: FakeRecognizer, model_dir: Path | None = None, **settings) -> object:
    """An app whose recognizer and model card are swapped through dependency_overrides."""
    app = create_app(model_dir or "/nonexistent/model", settings=ServiceSettings(**settings))
    app.dependency_overrides[get_recognizer] = lambda: fake
    app.dependency_overrides[get_model_info] = lambda: FAKE_INFO
    return app


def call_asgi(app, *, path: str, headers: dict[str, str], chunks: Iterator[bytes]):
    """Drive the ASGI app directly, counting how many body chunks it pulled.

    Returns (status, JSON body, chunks received). ``chunks`` must be finite, so a
    server that reads everything makes the test fail instead of hang.
    """
    received = 0
    messages: list[dict] = []

    async def receive() -> dict:
        nonlocal received
        try:
            chunk = next(chunks)
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], json.loads(body), received


# ------------------------------------------------------------------------ construction
def test_create_app_loads_nothing_until_startup(tmp_path):
    app = create_app(tmp_path / "missing")  # no error: nothing is read yet
    assert app.state.recognizer is None
    paths = set(app.openapi()["paths"]) | {"/"}
    assert {"/v1/predict", "/v1/timeline", "/v1/models", "/healthz", "/"} <= paths
    with pytest.raises(Exception, match="not a model folder"), TestClient(app):
        pass  # the lifespan loads the model and fails on the missing folder


def test_importing_serkit_does_not_import_the_service():
    import subprocess

    code = "import serkit, sys; print('fastapi' in sys.modules, 'serkit.service' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_test_client_imports_without_a_deprecation_warning():
    """Starlette's TestClient warns that httpx is deprecated unless httpx2 is installed
    (the dev extra brings it); every warning is an error here, so a new one shows too."""
    import subprocess

    argv = [sys.executable, "-W", "error", "-c", "import fastapi.testclient"]
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_health_before_and_after_startup(model_dir):
    app = create_app(model_dir)
    before = TestClient(app).get("/healthz")  # no lifespan: model not loaded
    assert before.status_code == 503 and before.json()["model_loaded"] is False
    with TestClient(app) as running:
        response = running.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["auth_required"] is False


# ----------------------------------------------------------------------------- predict
def test_predict_raw_and_multipart_agree_with_the_recognizer(client, model_dir):
    data = ANGRY.read_bytes()
    expected = EmotionRecognizer.load(model_dir).predict_file(ANGRY)
    manifest = read_manifest(model_dir)
    weights = describe_manifest(manifest)["weights_sha256"]
    assert weights == manifest["members"][0]["weights"]["sha256"]  # one model: its weights
    model_id = f"{manifest['model']['name']}-{weights[:12]}"
    raw = client.post("/v1/predict", content=data, headers={"Content-Type": "audio/flac"})
    multi = client.post("/v1/predict", files={"file": (ANGRY.name, data, "audio/flac")})
    octet = client.post(
        "/v1/predict", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    for response in (raw, multi, octet):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["emotion"] == expected.emotion == "angry"
        assert body["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
        assert list(body["probabilities"]) == list(expected.probabilities)
        assert body["model_id"] == model_id
        assert body["duration"] == pytest.approx(3.4, abs=0.1)
    assert multi.json()["filename"] == ANGRY.name and raw.json()["filename"] is None


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("tel8k.wav", lambda: wav_bytes(voice_like(sr=8000), 8000)),
        ("stereo.wav", lambda: wav_bytes(np.stack([voice_like(), voice_like(seed=1)], 1))),
        ("float.wav", lambda: wav_bytes(voice_like(), subtype="FLOAT")),
    ],
)
def test_predict_reads_other_rates_and_layouts(client, name, make):
    response = client.post("/v1/predict", files={"file": (name, make(), "audio/wav")})
    assert response.status_code == 200, response.text
    assert sum(response.json()["probabilities"].values()) == pytest.approx(1.0)


def test_models_card(client, model_dir):
    body = client.get("/v1/models").json()
    manifest = read_manifest(model_dir)
    assert body["classes"] == manifest["classes"]
    assert body["features"]["name"] == "seed" and body["name"] == "logreg"
    assert body["id"].startswith("logreg-") and len(body["id"]) == len("logreg-") + 12
    assert body["metrics"] == {"uar": 0.5} and body["training"] == {"n_clips": 16}
    assert body["limits"]["max_upload_bytes"] == 50 * MB


def test_openapi_documents_the_audio_body(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/timeline", "/v1/models", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "audio/*", "application/octet-stream"} <= set(body)


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for text in (page.text, client.get("/static/style.css").text):
        assert "http://" not in text.replace("http://www.w3.org", "")
        assert "https://" not in text


# ------------------------------------------------------------------------------ errors
def _multipart(body: bytes, boundary: str = "XyZ") -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _bad_requests(audio_files):
    """(label, request kwargs, status, error code) for every kind of bad input."""
    silent = wav_bytes(np.zeros(SR, np.float32))
    nan = voice_like()
    nan[100:110] = np.nan
    no_file, no_file_headers = _multipart(
        b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nhello\r\n--XyZ--\r\n'
    )
    return [
        ("empty raw", {"content": b"", "headers": {"Content-Type": "audio/wav"}}, 400,
         "empty_body"),
        ("empty file", {"files": {"file": ("a.wav", b"", "audio/wav")}}, 400, "empty_body"),
        ("no file field", {"content": no_file, "headers": no_file_headers}, 400,
         "missing_file"),
        ("no boundary", {"content": b"abc", "headers": {"Content-Type": "multipart/form-data"}},
         400, "invalid_multipart"),
        ("two files", {"files": [("file", ("a.wav", b"x", "audio/wav")),
                                 ("file", ("b.wav", b"y", "audio/wav"))]}, 400,
         "invalid_multipart"),
        ("text as audio", {"content": b"not audio at all\n" * 20,
                           "headers": {"Content-Type": "audio/wav"}}, 415,
         "audio_decode_error"),
        ("text file", {"files": {"file": ("notes.txt", b"hello " * 50, "text/plain")}}, 415,
         "audio_decode_error"),
        ("json body", {"content": b"{}", "headers": {"Content-Type": "application/json"}}, 415,
         "unsupported_media_type"),
        ("form body", {"content": b"a=1",
                       "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
         415, "unsupported_media_type"),
        ("silent", {"files": {"file": ("s.wav", silent, "audio/wav")}}, 422, "audio_silent"),
        ("too short", {"files": {"file": ("short.wav", wav_bytes(tone(dur=0.1)), "audio/wav")}},
         422, "audio_too_short"),
        ("nan", {"files": {"file": ("nan.wav", wav_bytes(nan, subtype="FLOAT"), "audio/wav")}},
         422, "audio_non_finite"),
        ("header only", {"files": {"file": ("h.wav", audio_files["header_only"].read_bytes(),
                                            "audio/wav")}}, 422, "audio_empty"),
    ]  # fmt: skip


def test_bad_inputs_give_json_errors(client, audio_files):
    for label, kwargs, status, code in _bad_requests(audio_files):
        response = client.post("/v1/predict", **kwargs)
        assert response.status_code == status, (label, response.text)
        error = error_of(response)
        assert error["code"] == code, label
    text = client.post("/v1/predict", files={"file": ("notes.txt", b"hello " * 50, "text/plain")})
    assert error_of(text)["message"].startswith("notes.txt: not a readable audio file")


def test_not_found_and_wrong_method_are_json(client):
    assert error_of(client.get("/v1/nothing"))["code"] == "not_found"
    response = client.get("/v1/predict")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


def test_too_long_recording_is_refused_from_the_header(model_dir):
    fake = FakeRecognizer()
    app = fake_app(fake, max_predict_seconds=2.0)
    response = TestClient(app).post("/v1/predict", files={"file": ("a.flac", ANGRY.read_bytes())})
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "audio_too_long" and "/v1/timeline" in error["message"]
    assert error["message"].startswith("a.flac: is 3.4 s long")
    assert fake.calls == 0


def test_upload_limit_from_content_length():
    app = fake_app(FakeRecognizer(), max_upload_bytes=1000)
    test_client = TestClient(app)
    response = test_client.post(
        "/v1/predict", content=b"\0" * 2000, headers={"Content-Type": "audio/wav"}
    )
    assert response.status_code == 413 and error_of(response)["code"] == "upload_too_large"
    multi = test_client.post("/v1/predict", files={"file": ("a.wav", b"\0" * 2000)})
    assert multi.status_code == 413


@pytest.mark.parametrize("multipart", [False, True])
def test_upload_limit_is_enforced_while_streaming(multipart):
    """No Content-Length (chunked): the read stops soon after the limit, not at the end."""
    app = fake_app(FakeRecognizer(), max_upload_bytes=256 * 1024)
    chunk = b"\0" * 65536
    if multipart:
        head = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        chunks = itertools.chain([head], itertools.repeat(chunk, 1000))
        headers = {"content-type": "multipart/form-data; boundary=XyZ"}
    else:
        chunks = iter(itertools.repeat(chunk, 1000))  # 64 MB if it were all read
        headers = {"content-type": "audio/wav", "transfer-encoding": "chunked"}
    status, body, received = call_asgi(app, path="/v1/predict", headers=headers, chunks=chunks)
    assert status == 413 and body["error"]["code"] == "upload_too_large"
    assert received <= 6  # 256 KiB is 4 chunks; nothing much beyond


def test_huge_declared_content_length_is_refused_before_reading():
    app = fake_app(FakeRecognizer())
    status, body, received = call_asgi(
        app,
        path="/v1/predict",
        headers={"content-type": "audio/wav", "content-length": str(10**12)},
        chunks=iter([b"\0" * 1024] * 10),
    )
    assert (status, body["error"]["code"], received) == (413, "upload_too_large", 0)
    status, body, received = call_asgi(
        app,
        path="/v1/predict",
        headers={"content-type": "audio/wav", "content-length": "lots"},
        chunks=iter([b"\0"] * 10),
    )
    assert (status, body["error"]["code"], received) == (400, "bad_request", 0)


def test_huge_content_length_over_a_real_socket(model_dir):
    """A real server answers 413 at once to a client that announces 1 TB and sends nothing."""
    with serve_in_thread(fake_app(FakeRecognizer(), model_dir)) as address:
        conn = socket.create_connection(address, timeout=10)
        with conn, conn.makefile("rb") as reader:
            conn.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
                b"Content-Length: 1000000000000\r\n\r\n"
            )
            lines = []
            while (line := reader.readline(8192)) not in (b"\r\n", b""):
                lines.append(line)
            head = b"".join(lines).decode("latin-1")
            length = int(head.lower().split("content-length:")[1].split()[0])
            reply = head + reader.read(length).decode()
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"upload_too_large"' in reply


def test_fuzzed_bodies_never_crash_the_server(client):
    rng = np.random.default_rng(0)
    flac = ANGRY.read_bytes()
    wav = wav_bytes(voice_like(dur=2.0))
    bodies = [rng.bytes(int(n)) for n in rng.integers(1, 20000, 12)]
    bodies += [flac[: int(n)] for n in rng.integers(1, len(flac), 8)]
    bodies += [wav[: int(n)] for n in (4, 12, 44, 45, 1000, len(wav) // 2)]
    mangled = bytearray(wav)
    mangled[22:24] = (7).to_bytes(2, "little")  # channels
    mangled[24:28] = (1).to_bytes(4, "little")  # sample rate 1 Hz
    bodies.append(bytes(mangled))
    bodies.append(b"RIFF\xff\xff\xff\xffWAVEfmt " + rng.bytes(200))
    bodies.append(b"fLaC" + rng.bytes(500))
    bodies.append(b"OggS" + rng.bytes(500))
    types_ = ["audio/wav", "audio/flac", "application/octet-stream", "audio/mpeg"]
    for i, body in enumerate(bodies):
        response = client.post("/v1/predict", content=body, headers={"Content-Type": types_[i % 4]})
        assert response.status_code in (200, 400, 413, 415, 422), (i, response.text)
        if response.status_code != 200:
            error_of(response)
    assert client.get("/healthz").status_code == 200


# ----------------------------------------------------------------------------- API key
def test_api_key_protects_v1_only(model_dir):
    app = create_app(model_dir, settings=ServiceSettings(api_key="s3cret"))
    data = ANGRY.read_bytes()
    with TestClient(app) as test_client:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer nope"}):
            response = test_client.post("/v1/predict", content=data, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert error_of(response)["code"] == "unauthorized"
        assert test_client.get("/v1/models").status_code == 401
        assert test_client.post("/v1/timeline", content=data).status_code == 401
        for good in ({"X-API-Key": "s3cret"}, {"Authorization": "Bearer s3cret"}):
            headers = {"Content-Type": "audio/flac", **good}
            assert test_client.post("/v1/predict", content=data, headers=headers).status_code == 200
        health = test_client.get("/healthz")
        assert health.status_code == 200 and health.json()["auth_required"] is True
        assert test_client.get("/").status_code == 200
        assert test_client.get("/static/app.js").status_code == 200


def test_wrong_key_is_refused_before_the_body_is_read():
    app = fake_app(FakeRecognizer(), api_key="s3cret")
    status, body, received = call_asgi(
        app,
        path="/v1/predict",
        headers={"content-type": "audio/wav", "x-api-key": "guess"},
        chunks=iter([b"\0" * 65536] * 100),
    )
    assert (status, body["error"]["code"], received) == (401, "unauthorized", 0)


# -------------------------------------------------------------------------------- CORS
def test_cors_only_when_configured(model_dir):
    origin = "https://app.example.org"
    plain = TestClient(fake_app(FakeRecognizer())).get("/healthz", headers={"Origin": origin})
    assert "access-control-allow-origin" not in plain.headers
    test_client = TestClient(fake_app(FakeRecognizer(), cors_origins=(origin,)))
    response = test_client.get("/healthz", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin
    preflight = test_client.options(
        "/v1/predict",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    other = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


# ------------------------------------------------------------------------- concurrency
def test_predictions_run_off_the_event_loop(model_dir):
    """Four requests meet inside predict_signal at once: only possible off the event loop
    (with four inference threads; the default pool has one per CPU)."""
    barrier = threading.Barrier(4, timeout=10)
    fake = FakeRecognizer(gate=barrier.wait)
    data = wav_bytes(voice_like())
    results: list[int] = []
    with TestClient(fake_app(fake, model_dir, inference_threads=4)) as test_client:

        def post() -> None:
            response = test_client.post("/v1/predict", files={"file": ("v.wav", data)})
            results.append(response.status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert results == [200] * 4 and not barrier.broken


def test_health_answers_while_a_prediction_is_busy(model_dir):
    entered, release = threading.Event(), threading.Event()

    def gate() -> None:
        entered.set()
        release.wait(10)

    data = wav_bytes(voice_like())
    with TestClient(fake_app(FakeRecognizer(gate=gate), model_dir)) as test_client:
        worker = threading.Thread(
            target=lambda: test_client.post("/v1/predict", files={"file": ("v.wav", data)})
        )
        worker.start()
        assert entered.wait(10)
        start = time.perf_counter()
        health = test_client.get("/healthz")
        elapsed = time.perf_counter() - start
        release.set()
        worker.join(10)
    assert health.status_code == 200 and elapsed < 2


def test_parallel_real_predictions_agree(client):
    data = ANGRY.read_bytes()
    out: list[dict] = []

    def post() -> None:
        out.append(client.post("/v1/predict", files={"file": ("a.flac", data)}).json())

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(out) == 6 and all(o == out[0] for o in out)


def test_unexpected_errors_become_500_json(model_dir):
    app = fake_app(FakeRecognizer(error=RuntimeError("boom")), model_dir)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/v1/predict", files={"file": wav_bytes(voice_like())})
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error" and "boom" not in error["message"]


def test_parameter_errors_are_422(model_dir):
    app = fake_app(FakeRecognizer(error=ParameterError("window too long")), model_dir)
    with TestClient(app) as test_client:
        response = test_client.post("/v1/predict", files={"file": wav_bytes(voice_like())})
    assert response.status_code == 422
    assert error_of(response) == {"code": "invalid_parameter", "message": "window too long"}


# ---------------------------------------------------------------------------- timeline
def _long_recording(seconds: float = 20.0) -> bytes:
    clips = [voice_like(dur=1.5, seed=i) for i in range(int(seconds // 2))]
    pause = np.zeros(SR // 2, np.float32)
    return wav_bytes(np.concatenate([np.concatenate([c, pause]) for c in clips]))


def test_timeline_route_passes_options_and_cleans_up(model_dir, monkeypatch):
    """The route's wiring, against a stand-in serkit.timeline module."""
    seen: dict = {}

    class Result:
        def to_dict(self) -> dict:
            seg = {"start": 0.0, "end": 3.0, "emotion": "calm", "confidence": 0.75,
                   "probabilities": {"angry": 0.25, "calm": 0.75}}  # fmt: skip
            windows = [seg, {**seg, "start": 1.0, "end": 4.0}]
            return {"source": seen["path"], "duration": 20.0, "classes": ["angry", "calm"],
                    "speech": [seg], "windows": windows}  # fmt: skip

    def predict_timeline(recognizer, source, **options):
        seen.update(options, path=str(source), existed=Path(source).is_file())
        return Result()

    module = types.ModuleType("serkit.timeline")
    module.predict_timeline = predict_timeline
    monkeypatch.setitem(sys.modules, "serkit.timeline", module)
    app = fake_app(FakeRecognizer(), model_dir, max_timeline_seconds=100)
    test_client = TestClient(app)
    response = test_client.post(
        "/v1/timeline?win_dur=2&hop_dur=0.5&smooth=5",
        files={"file": ("talk.wav", _long_recording())},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "talk.wav" and body["model_id"] == FAKE_INFO.id
    assert len(body["speech"]) == 1 and len(body["windows"]) == 2
    assert seen["win_dur"] == 2 and seen["hop_dur"] == 0.5 and seen["smooth"] == 5
    assert seen["max_duration"] == 100 and seen["existed"]
    assert seen["speaker_norm"] is None  # the timeline's own default (over the recording)
    per_window = test_client.post("/v1/timeline?speaker_norm=false", content=_long_recording())
    assert per_window.status_code == 200 and seen["speaker_norm"] is False
    assert not Path(seen["path"]).exists()  # the temporary copy is gone
    short = fake_app(FakeRecognizer(), model_dir, max_timeline_seconds=5)
    too_long = TestClient(short).post("/v1/timeline", content=_long_recording())
    assert too_long.status_code == 413 and error_of(too_long)["code"] == "audio_too_long"
    for query in ("smooth=0", "win_dur=0.1", "vad=nope"):
        bad = test_client.post(f"/v1/timeline?{query}", content=_long_recording())
        assert bad.status_code == 422 and error_of(bad)["code"] == "invalid_request", query
    junk = test_client.post("/v1/timeline", content=b"junk" * 100)
    assert junk.status_code == 415


def test_timeline_with_the_real_module(client):
    pytest.importorskip("serkit.timeline", reason="serkit.timeline is not in this checkout yet")
    response = client.post("/v1/timeline", files={"file": ("talk.wav", _long_recording())})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration"] == pytest.approx(20.0, abs=0.5)
    assert body["source"] == "talk.wav"
    assert body["classes"] == client.get("/v1/models").json()["classes"]
    assert body["windows"], "a 20 s recording has analysis windows"
    assert body["settings"]["win_dur"] == 3.0 and body["settings"]["vad"] == "energy"
    for seg in body["speech"] + body["windows"]:
        assert 0 <= seg["start"] < seg["end"] <= body["duration"] + 1e-6


# ---------------------------------------------------------------------------- settings
def test_settings_validate_and_round_trip_through_the_environment():
    settings = ServiceSettings(
        max_upload_bytes=5 * MB, api_key="k", cors_origins=("https://a.org",), workers=3
    )
    env = settings.to_env("/models/x")
    assert env["SERKIT_MODEL"] == "/models/x"
    assert ServiceSettings.from_env(env) == settings
    assert ServiceSettings.from_env({}) == ServiceSettings()
    for bad in ({"max_upload_bytes": 0}, {"max_predict_seconds": float("nan")},
                {"api_key": " "}, {"cors_origins": "https://a.org"}, {"workers": 0}):  # fmt: skip
        with pytest.raises(ParameterError):
            ServiceSettings(**bad)
    with pytest.raises(ParameterError, match="SERKIT_MAX_UPLOAD_BYTES"):
        ServiceSettings.from_env({"SERKIT_MAX_UPLOAD_BYTES": "lots"})


def test_factory_reads_the_environment(model_dir, monkeypatch):
    monkeypatch.setenv("SERKIT_MODEL", str(model_dir))
    monkeypatch.setenv("SERKIT_API_KEY", "from-env")
    monkeypatch.setenv("SERKIT_CORS_ORIGINS", "https://a.org,https://b.org")
    app = create_app_from_env()
    assert app.state.settings.api_key == "from-env"
    assert app.state.settings.cors_origins == ("https://a.org", "https://b.org")
    monkeypatch.delenv("SERKIT_MODEL")
    with pytest.raises(ParameterError, match="SERKIT_MODEL"):
        create_app_from_env()


# --------------------------------------------------------------------------------- CLI
def test_cli_serve_starts_uvicorn_with_the_factory(model_dir, monkeypatch):
    import uvicorn

    from serkit.cli import main

    calls: list = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    every = ServiceSettings(api_key="k", cors_origins=("o",)).to_env("m")
    for name in every:  # cmd_serve sets them; monkeypatch removes them afterwards
        monkeypatch.delenv(name, raising=False)
    code = main(["serve", "--model", str(model_dir), "--port", "8123", "--workers", "2",
                 "--api-key", "k", "--cors-origin", "https://a.org",
                 "--max-upload-mb", "5"])  # fmt: skip
    assert code == 0
    app, kwargs = calls[0]
    assert app == "serkit.service.app:create_app_from_env" and kwargs["factory"] is True
    assert kwargs["workers"] == 2 and kwargs["port"] == 8123 and kwargs["host"] == "127.0.0.1"
    import os

    settings = ServiceSettings.from_env(os.environ)
    assert os.environ["SERKIT_MODEL"] == str(model_dir.resolve())
    assert settings.api_key == "k" and settings.max_upload_bytes == 5 * MB
    assert settings.cors_origins == ("https://a.org",) and settings.workers == 2


def test_cli_serve_reports_a_bad_model_folder(tmp_path, capsys, monkeypatch):
    import uvicorn

    from serkit.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    assert main(["serve", "--model", str(tmp_path / "nothing")]) == 2
    assert "serkit serve: error:" in capsys.readouterr().err


# ------------------------------------------------------------------------------ helper
@contextmanager
def serve_in_thread(app) -> Iterator[tuple[str, int]]:
    """Run the app under a real uvicorn server on a free loopback port, in a thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
