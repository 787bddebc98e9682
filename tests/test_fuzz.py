"""Bounded, deterministic fuzzing (issue 13): hypothesis on ``audio.load`` with generated
headers, rates, channel counts, sample formats and truncations; schemathesis against the
service's OpenAPI schema. Every input must give a result or a clear AudioError / 4xx:
never another exception, a crash, a hang or a 5xx."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pytest
import soundfile as sf

hypothesis = pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis (dev extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from serkit import AudioError, audio  # noqa: E402

KINDS = [
    ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("WAV", "DOUBLE"), ("WAV", "PCM_U8"),
    ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("AIFF", "PCM_16"),
]  # fmt: skip

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(source) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            y, sr = audio.load(source, max_duration=30.0)
        except AudioError:
            return
    assert sr == audio.SAMPLE_RATE
    assert y.dtype == np.float32 and y.ndim == 1 and np.all(np.isfinite(y))
    assert float(np.max(np.abs(y))) <= audio.PEAK_LIMIT + 1e-3


@FUZZ
@given(
    tag=st.sampled_from([1, 3, 6, 7, 0xFFFE, 0, 2, 0x55, 12345]),
    channels=st.integers(0, 70),
    rate=st.one_of(st.integers(0, (1 << 32) - 1), st.sampled_from([8000, 16000, 655350])),
    bits=st.sampled_from([0, 8, 12, 16, 24, 32, 64, 7]),
    block_align=st.integers(0, 600),
    declared=st.one_of(st.integers(0, (1 << 32) - 1), st.just(0xFFFFFFFF)),
    payload=st.binary(min_size=0, max_size=4000),
)
def test_load_survives_generated_wav_headers(
    tag, channels, rate, bits, block_align, declared, payload
):
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, (rate * max(block_align, 1)) % (1 << 32), block_align, bits
    )
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", declared) + payload
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    _check(data)


@FUZZ
@given(
    rate=st.sampled_from([1, 100, 8000, 11025, 16000, 44100, 96000, 384000]),
    channels=st.integers(1, 8),
    kind=st.sampled_from(KINDS),
    seconds=st.floats(0.0, 1.5),
    gain=st.sampled_from([0.0, 1e-6, 0.5, 1.0, 3.0, 1e6, 1e30]),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
    flip=st.lists(st.integers(0, 10**6), max_size=4),
)
def test_load_survives_real_files_truncated_and_corrupted(
    rate, channels, kind, seconds, gain, cut, flip
):
    fmt, subtype = kind
    if (fmt in ("OGG", "FLAC") and rate > 192000) or (fmt == "OGG" and rate < 1000):
        rate = 48000
    frames = int(rate * seconds)
    rng = np.random.default_rng(frames + channels)
    y = (0.3 * rng.standard_normal((frames, channels)) * gain).astype(np.float64)
    if subtype not in ("FLOAT", "DOUBLE"):
        y = np.clip(y, -1, 1)
    buf = io.BytesIO()
    try:
        sf.write(buf, y, rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return  # a combination libsndfile cannot write: nothing to test
    data = bytearray(buf.getvalue())
    if cut is not None:
        data = data[: int(len(data) * cut)]
    for position in flip:
        if data:
            data[position % len(data)] ^= 0xFF
    _check(bytes(data))
    _check(io.BytesIO(bytes(data)))


# ------------------------------------------------------------------ the service's API
schemathesis = pytest.importorskip("schemathesis", reason="API fuzzing needs schemathesis (dev)")
pytest.importorskip("fastapi", reason="the service needs the serve extra")

from fastapi.testclient import TestClient  # noqa: E402

from serkit.bundles import default_model_path  # noqa: E402
from serkit.service import ServiceSettings, create_app  # noqa: E402

API_KEY = "fuzz-key"


def _fuzz_operation(operation, counts: dict[str, int]) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        for headers in ({"X-API-Key": API_KEY}, {}):
            response = case.call(headers=headers)
            counts[label] = counts.get(label, 0) + 1
            assert response.status_code < 500, (label, response.text[:300])
            if response.status_code >= 400:
                body = response.json()
                assert set(body["error"]) >= {"code", "message"}, body

    run()


def test_api_never_answers_5xx():
    """Every operation of the OpenAPI schema, 40 generated requests each, with and without
    the key: never a 5xx, and every error in the JSON shape. (schemathesis' pytest plugin is
    not used: it does not run on this pytest; its strategies are driven with hypothesis.)"""
    app = create_app(
        default_model_path(),
        settings=ServiceSettings(api_key=API_KEY, max_upload_bytes=256 * 1024),
    )
    counts: dict[str, int] = {}
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/predict", "/v1/timeline", "/v1/models"}
        for operation in operations:
            _fuzz_operation(operation, counts)
    print("schemathesis requests per operation:", counts)
    assert sum(counts.values()) >= 2 * len(operations)
