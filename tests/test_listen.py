"""serkit.listen: the live loop on a fake input stream, and the missing-microphone messages."""

from __future__ import annotations

import builtins
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import SR
from serkit import ParameterError, SerkitError, audio
from serkit import listen as live
from serkit.cli import main
from serkit.features import extract_files
from serkit.listen import ListenResult, MicrophoneError, format_result, listen
from serkit.recognizer import EmotionRecognizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognizer:
    paths = sorted(EXAMPLES.glob("*.flac"))
    X = extract_files(paths, "seed", jobs=1).matrix()
    return EmotionRecognizer("seed", "logreg").fit(
        X, [EMOTIONS[p.name.split("-")[2]] for p in paths]
    )


class FakeStream:
    """Plays a recorded signal through ``sounddevice.InputStream``'s blocking interface."""

    def __init__(self, y: np.ndarray, samplerate: int, channels: int = 1, fail_at: int = -1):
        self.samplerate = float(samplerate)
        self.data = np.repeat(y[:, None], channels, axis=1).astype(np.float32)
        self.reads: list[int] = []
        self.entered = self.exited = False
        self.fail_at = fail_at

    def __enter__(self):
        self.entered = True
        return self

    def __exit__(self, *exc):
        self.exited = True

    def read(self, frames: int):
        if len(self.reads) == self.fail_at:
            raise KeyboardInterrupt
        self.reads.append(frames)
        out, self.data = self.data[:frames], self.data[frames:]
        return out, False


def _hiss(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.001 * rng.standard_normal(round(seconds * rate))).astype(np.float32)


@pytest.fixture(scope="module")
def recorded_48k() -> np.ndarray:
    """3 s of hiss, an example clip, 3 s of hiss: at 48 kHz, as a sound card may deliver."""
    y, _ = audio.load(EXAMPLES / "03-01-05-02-01-01-23.flac")
    y48 = audio.resample(y, SR, 48000)
    return np.concatenate(
        [_hiss(3, 48000), y48 + _hiss(len(y48) / 48000, 48000, 1), _hiss(3, 48000, 2)]
    )


def test_live_loop_on_a_recorded_stream(recognizer, recorded_48k):
    results: list[ListenResult] = []
    stream = FakeStream(recorded_48k, 48000, channels=2)
    rates = []
    count = listen(
        recognizer,
        every=1.0,
        window=3.0,
        stream_factory=lambda rate, block: stream,
        on_result=results.append,
        on_start=rates.append,
    )
    assert stream.entered and stream.exited and rates == [48000]
    assert count == len(results) == int(np.ceil(len(recorded_48k) / 48000))
    assert [r.time for r in results[:3]] == [1.0, 2.0, 3.0]
    assert not results[0].speech and not results[1].speech  # hiss only
    spoken = [r for r in results if r.speech]
    assert len(spoken) >= 3
    classes = [str(c) for c in recognizer.classes_]
    for r in spoken:
        assert r.emotion in classes and 0 < r.confidence <= 1
        assert list(r.probabilities) == classes
        assert sum(r.probabilities.values()) == pytest.approx(1.0)
        assert 0.25 <= r.duration <= 3.0
    assert not results[-1].speech  # the last window holds only hiss again
    lines = [format_result(r) for r in results]
    assert lines[0].endswith("(silence)")
    assert all(
        "█" in line or "░" in line for line, r in zip(lines, results, strict=True) if r.speech
    )


def test_max_seconds_and_ctrl_c(recognizer, recorded_48k):
    stream = FakeStream(recorded_48k, 48000)
    count = listen(recognizer, every=0.5, stream_factory=lambda r, b: stream, max_seconds=2.2)
    assert count == 5 and sum(stream.reads) == round(2.2 * 48000)
    interrupted = FakeStream(recorded_48k, 48000, fail_at=3)
    seen = []
    count = listen(recognizer, stream_factory=lambda r, b: interrupted, on_result=seen.append)
    assert count == len(seen) == 3 and interrupted.exited  # stopped cleanly, stream closed


def test_overflow_is_logged(recognizer, caplog):
    class Overflowing(FakeStream):
        def read(self, frames):
            data, _ = super().read(frames)
            return data, True

    stream = Overflowing(_hiss(2, SR), SR)
    with caplog.at_level(logging.WARNING, logger="serkit.listen"):
        listen(recognizer, every=1, stream_factory=lambda r, b: stream)
    assert "input overflow" in caplog.text


def test_format_result_bar():
    full = format_result(ListenResult(time=5, duration=3, emotion="happy", confidence=1.0))
    assert full == " 0:05  happy      ██████████ 1.00"
    assert format_result(ListenResult(time=3725, duration=3)) == "62:05  (silence)"
    short = format_result(ListenResult(time=0, duration=3, emotion="sad", confidence=0.04), width=5)
    assert short.endswith("░░░░░ 0.04")


def test_ring_buffer_keeps_the_latest_samples():
    ring = live._Ring(5)
    ring.push(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(ring.last(5), [0, 1, 2])
    ring.push(np.arange(3, 7, dtype=np.float32))
    np.testing.assert_array_equal(ring.last(5), [2, 3, 4, 5, 6])
    ring.push(np.arange(10, 20, dtype=np.float32))
    np.testing.assert_array_equal(ring.last(3), [17, 18, 19])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"every": 0}, "every must be"), ({"window": -1}, "window must be"),
     ({"max_seconds": float("inf")}, "max_seconds"), ({"vad": "x"}, "unknown VAD"),
     ({"min_speech": -1}, "min_speech")],
)  # fmt: skip
def test_bad_settings(recognizer, kwargs, words):
    with pytest.raises(ParameterError, match=words):
        listen(recognizer, stream_factory=lambda r, b: FakeStream(_hiss(1, SR), SR), **kwargs)


# ---------------------------------------------------------------- no microphone
def _block_import(monkeypatch, error: Exception) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sounddevice":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.mark.parametrize(
    "error",
    [OSError("PortAudio library not found"), ImportError("No module named 'sounddevice'")],
    ids=["no-portaudio", "no-sounddevice"],
)
def test_missing_portaudio_says_what_to_install(recognizer, monkeypatch, error):
    _block_import(monkeypatch, error)
    with pytest.raises(MicrophoneError) as info:
        listen(recognizer)
    message = str(info.value)
    assert "apt-get install libportaudio2" in message and "pip install sounddevice" in message
    assert isinstance(info.value, OSError) and isinstance(info.value, SerkitError)
    with pytest.raises(MicrophoneError):
        live.list_devices()


def test_cli_reports_missing_portaudio(model_dir_listen, monkeypatch, capsys):
    _block_import(monkeypatch, OSError("PortAudio library not found"))
    assert main(["listen", "--model", str(model_dir_listen)]) == 2
    err = capsys.readouterr().err
    assert "serkit listen: error:" in err and "libportaudio2" in err
    assert "listening" not in err  # nothing claims to listen before the microphone opens


@pytest.fixture
def model_dir_listen(recognizer, tmp_path):
    return recognizer.save(tmp_path / "model")


def _fake_sounddevice(devices, *, default_input=0, supports_16k=True):
    """A stand-in sounddevice module with the calls serkit makes."""
    module = types.ModuleType("sounddevice")
    module.opened = []

    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        if kind is None:
            return devices
        index = default_input if device is None else device
        if index is None or not 0 <= index < len(devices):
            raise PortAudioError("Error querying device -1")
        return devices[index]

    def check_input_settings(device=None, samplerate=None, **kwargs):
        if samplerate == 16000 and not supports_16k:
            raise PortAudioError("Invalid sample rate")

    def input_stream(device=None, channels=1, dtype="float32", samplerate=None, blocksize=None):
        module.opened.append({"device": device, "samplerate": samplerate, "channels": channels})
        return FakeStream(_hiss(2.0, int(samplerate)), samplerate)

    module.PortAudioError = PortAudioError
    module.query_devices = query_devices
    module.check_input_settings = check_input_settings
    module.InputStream = input_stream
    module.default = types.SimpleNamespace(device=(default_input, None))
    return module


DEVICES = [
    {"name": "Speakers", "max_input_channels": 0, "default_samplerate": 48000.0},
    {"name": "USB mic", "max_input_channels": 1, "default_samplerate": 44100.0},
]


def test_default_microphone_falls_back_to_the_device_rate(recognizer, monkeypatch):
    sd = _fake_sounddevice(DEVICES, default_input=1, supports_16k=False)
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    results = []
    assert listen(recognizer, every=1, on_result=results.append) == 2
    assert sd.opened == [{"device": None, "samplerate": 44100, "channels": 1}]
    assert [r.speech for r in results] == [False, False]


def test_no_input_device(recognizer, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", _fake_sounddevice(DEVICES, default_input=None))
    with pytest.raises(MicrophoneError, match="no usable input device"):
        listen(recognizer)
    with pytest.raises(MicrophoneError, match="no input channels"):
        listen(recognizer, device=0)


def test_list_devices(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", _fake_sounddevice(DEVICES, default_input=1))
    assert live.list_devices() == [
        {"index": 1, "name": "USB mic", "channels": 1, "samplerate": 44100.0, "default": True}
    ]
    assert main(["listen", "--list-devices"]) == 0
    out = capsys.readouterr().out
    assert "USB mic" in out and "Speakers" not in out and out.startswith("*")
