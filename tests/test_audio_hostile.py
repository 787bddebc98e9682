"""serkit.audio against hostile and unlucky input (issue 13: decoded-size bombs,
out-of-range floats, honest file-system messages)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, tone
from serkit import AudioDecodeError, AudioEmptyError, AudioTooLongError, SerkitWarning, audio


def _flac(path: Path, rate: int, channels: int, seconds: float, value: float = 0.25) -> Path:
    with sf.SoundFile(path, "w", rate, channels, "PCM_16", format="FLAC") as handle:
        block = np.full((rate, channels), value, "f4")
        whole, part = int(seconds), seconds - int(seconds)
        for _ in range(whole):
            handle.write(block)
        if part:
            handle.write(block[: int(part * rate)])
    return path


# ------------------------------------------------------------------ decoded-size bombs
def test_rate_beyond_the_cap_is_refused_from_the_header(tmp_path):
    bomb = _flac(tmp_path / "b.flac", 655350, 8, 0.5)
    for source in (bomb, bomb.read_bytes(), io.BytesIO(bomb.read_bytes())):
        with pytest.raises(AudioDecodeError, match="sample rate 655350 Hz is outside"):
            audio.load(source)
    with pytest.raises(AudioDecodeError, match="sample rate 655350 Hz"):
        next(audio.stream(bomb))


def test_too_many_channels_are_refused(tmp_path):
    path = tmp_path / "many.wav"
    sf.write(path, np.zeros((1600, audio.MAX_CHANNELS + 1), "f4"), SR)
    with pytest.raises(AudioDecodeError, match=f"{audio.MAX_CHANNELS + 1} channels"):
        audio.load(path)


def test_duration_over_the_limit_is_refused_before_decoding(tmp_path):
    path = _flac(tmp_path / "long.flac", 8000, 1, 3.0)
    with pytest.raises(AudioTooLongError, match="limit of 2 s"):
        audio.load(path.read_bytes(), max_duration=2.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_bomb_that_passes_the_header_decodes_in_bounded_memory(tmp_path):
    """20 s x 8 channels at 384 kHz is 246 MB of float32 decoded whole; block-wise far less."""
    bomb = _flac(tmp_path / "b384.flac", 384000, 8, 20, value=0.25)
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's (pytest's) size across exec
    code = (
        "import pathlib, serkit.audio as a\n"
        f"a.load({str(bomb)!r}, max_duration=60)\n"
        "print([l.split()[1] for l in pathlib.Path('/proc/self/status').read_text()"
        ".splitlines() if l.startswith('VmHWM')][0])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(audio.__file__).parents[1]))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    # the constant decodes, then check_signal refuses nothing (0.25 is loud): it loads
    assert out.returncode == 0, out.stderr
    peak_mb = int(out.stdout.split()[-1]) / 1024
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"


def test_blockwise_decoding_equals_whole_file_resampling(tmp_path):
    rng = np.random.default_rng(3)
    y = (0.2 * rng.standard_normal((int(44100 * 4.3), 2))).astype("f4")
    path = tmp_path / "st.wav"
    sf.write(path, y, 44100, subtype="FLOAT")
    got, _ = audio.load(path)
    expected, _ = audio.prepare_signal(y.T, 44100)
    np.testing.assert_array_equal(got, expected)
    streamed = np.concatenate(list(audio.stream(path, block_duration=0.7)))
    np.testing.assert_array_equal(streamed, expected)


# ------------------------------------------------------------------ out-of-range floats
@pytest.mark.parametrize("gain", [1e3, 1e19])
def test_float_samples_far_beyond_one_are_scaled_to_peak_one(tmp_path, gain):
    clip = tone(dur=1.0, amp=0.5)
    path = tmp_path / "loud.wav"
    sf.write(path, (clip * gain).astype("f4"), SR, subtype="FLOAT")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y, _ = audio.load(path)
        streamed = np.concatenate(list(audio.stream(path)))
        z, _ = audio.prepare_signal(clip.astype(np.float64) * gain, SR)
    kinds = {type(w.message) for w in caught}
    assert SerkitWarning in kinds and RuntimeWarning not in kinds
    assert any("scaled to a peak of 1.0" in str(w.message) for w in caught)
    for out in (y, streamed, z):
        assert abs(float(np.max(np.abs(out))) - 1.0) < 0.02
        np.testing.assert_allclose(out, y, atol=1e-4)


def test_small_overshoot_is_kept(tmp_path):
    path = tmp_path / "over.wav"
    sf.write(path, (tone(amp=1.5)).astype("f4"), SR, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, _ = audio.load(path)
    assert 1.4 < float(np.max(np.abs(y))) < 1.6


# ------------------------------------------------------------------ honest messages
def test_random_bytes_named_mp3_say_not_audio(tmp_path):
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioDecodeError) as err:
        audio.load(path)
    assert "pipe" not in str(err.value) and "no decoder recognises" in str(err.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX, not root")
def test_unreadable_file_says_permission_denied(tmp_path, audio_files):
    path = tmp_path / "locked.wav"
    path.write_bytes(Path(audio_files["tone"]).read_bytes())
    path.chmod(0)
    try:
        with pytest.raises(AudioDecodeError, match="permission denied"):
            audio.load(path)
    finally:
        path.chmod(0o644)


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs need POSIX")
def test_symlink_loop_fifo_and_device_are_named(tmp_path):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    with pytest.raises(AudioDecodeError, match="symbolic link loop"):
        audio.load(loop)
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioDecodeError, match="FIFO"):
        audio.load(fifo)
    with pytest.raises(AudioDecodeError, match="is a device"):
        audio.load("/dev/zero")
    broken = tmp_path / "broken.wav"
    broken.symlink_to(tmp_path / "missing.wav")
    with pytest.raises(AudioDecodeError, match="broken symbolic link"):
        audio.load(broken)


def test_empty_file_is_still_empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioEmptyError, match="0 bytes"):
        audio.load(path)
