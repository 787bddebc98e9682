"""serkit.audio: every input format and every kind of bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, tone
from serkit import (
    AudioDecodeError,
    AudioEmptyError,
    AudioError,
    AudioNonFiniteError,
    AudioSilentError,
    AudioTooLongError,
    AudioTooShortError,
    ParameterError,
    SerkitWarning,
    audio,
)

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

GOOD = [
    "tone", "voice", "noise", "clipped", "tel8k", "hi96k", "stereo", "pcm24", "pcm8", "pcm32",
    "float", "flac44k", "mp3", "ogg",
]  # fmt: skip


@pytest.mark.parametrize("name", GOOD)
def test_load_gives_mono_float32_at_16k(audio_files, name):
    y, sr = audio.load(audio_files[name])
    assert sr == SR
    assert y.dtype == np.float32 and y.ndim == 1
    assert np.all(np.isfinite(y))
    # every good file holds one second of signal, the voice 1.5 s (codecs add a little padding)
    seconds = 1.5 if name == "voice" else 1.0
    assert 0.98 * seconds * SR <= len(y) <= 1.1 * seconds * SR
    assert 0.05 < np.max(np.abs(y)) <= 1.01


def test_resampled_tone_keeps_its_pitch(audio_files):
    for name in ("tel8k", "hi96k", "flac44k"):
        y, sr = audio.load(audio_files[name])
        spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        peak_hz = np.argmax(spectrum) * sr / len(y)
        assert abs(peak_hz - 220) < 5, name


def test_stereo_is_averaged(audio_files):
    y, _ = audio.load(audio_files["stereo"])
    expected = 0.5 * (tone() + tone(330))
    assert np.max(np.abs(y - expected)) < 1e-4


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("silence", AudioSilentError, "silent"),
        ("short", AudioTooShortError, "less than the minimum"),
        ("padded_short", AudioTooShortError, "of signal"),
        ("nan", AudioNonFiniteError, "NaN"),
        ("header_only", AudioEmptyError, "no samples"),
        ("truncated_flac", AudioDecodeError, "decoding failed"),
        ("empty", AudioEmptyError, "0 bytes"),
        ("text", AudioDecodeError, "not a readable audio file"),
    ],
)
def test_bad_files_raise_named_errors(audio_files, name, error, words):
    path = audio_files[name]
    with pytest.raises(error) as info:
        audio.load(path)
    message = str(info.value)
    assert str(path) in message and words in message
    assert isinstance(info.value, AudioError) and isinstance(info.value, ValueError)
    assert info.value.source == str(path)


def test_truncated_wav_loads_what_is_there_with_a_warning(audio_files):
    with pytest.warns(SerkitWarning, match="truncated"):
        y, _ = audio.load(audio_files["truncated"])
    assert 0.25 * SR < len(y) < 0.5 * SR


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioDecodeError, match="file not found"):
        audio.load(tmp_path / "nope.wav")
    with pytest.raises(AudioDecodeError, match="directory"):
        audio.load(tmp_path)


def test_too_long_is_refused_from_the_header(audio_files):
    with pytest.raises(AudioTooLongError, match=r"limit of 0\.5 s"):
        audio.load(audio_files["tone"], max_duration=0.5)
    y, _ = audio.load(audio_files["tone"], max_duration=None)
    assert len(y) == SR


def test_min_duration_is_configurable(audio_files):
    y, _ = audio.load(audio_files["short"], min_duration=0.05)
    assert len(y) == int(0.1 * SR)


def test_bytes_and_file_objects(audio_files):
    data = audio_files["mp3"].read_bytes()
    from_bytes, _ = audio.load(data)
    from_handle, _ = audio.load(io.BytesIO(data))
    np.testing.assert_array_equal(from_bytes, from_handle)
    with pytest.raises(AudioEmptyError, match="<bytes>"):
        audio.load(b"")
    with pytest.raises(AudioDecodeError, match="<bytes>"):
        audio.load(b"garbage" * 100)


def test_trim_removes_lead_in_and_tail():
    y = np.concatenate([np.zeros(SR), tone(dur=0.5), np.zeros(SR)]).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV")
    trimmed, _ = audio.load(buf.getvalue(), trim=True)
    assert 0.45 * SR < len(trimmed) < 0.56 * SR


def test_prepare_signal_accepts_integer_and_channels_first():
    pcm = (tone() * 32767).astype(np.int16)
    y, sr = audio.prepare_signal(np.stack([pcm, pcm]), SR)
    assert sr == SR and y.dtype == np.float32
    assert np.max(np.abs(y - tone())) < 1e-3
    with pytest.raises(ParameterError, match="sr must be a positive integer"):
        audio.prepare_signal(tone(), 0)
    with pytest.raises(ParameterError, match="shape"):
        audio.prepare_signal(np.zeros((2, 2, 2)), SR)


def test_info_reads_header_only(audio_files):
    meta = audio.info(audio_files["hi96k"])
    assert (meta.sample_rate, meta.channels, meta.frames) == (96000, 1, 96000)
    assert meta.duration == pytest.approx(1.0)
    assert meta.subtype == "PCM_24"


def test_stream_matches_whole_file_resampling(tmp_path):
    rng = np.random.default_rng(1)
    y = (0.2 * rng.standard_normal(44100 * 5)).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, np.stack([y, y], axis=1), 44100, subtype="FLOAT")
    blocks = list(audio.stream(path, block_duration=1.3))
    assert len(blocks) >= 4
    joined = np.concatenate(blocks)
    whole = audio.resample(y, 44100, SR)
    assert abs(len(joined) - len(whole)) <= 2
    n = min(len(joined), len(whole))
    # the stream resampler and the one-shot resampler agree away from the file edges
    inner = slice(100, n - 100)
    assert np.max(np.abs(joined[inner] - whole[inner])) < 1e-3
    with pytest.raises(ParameterError):
        list(audio.stream(path, block_duration=0))


def test_errors_survive_pickling():
    import pickle

    err = AudioSilentError("/x.wav", "is silent")
    # exceptions cross process boundaries in batch extraction
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is AudioSilentError and str(copy) == "/x.wav: is silent"
