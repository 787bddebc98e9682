"""Shared fixtures: synthetic audio of every awkward kind, and the shared RAVDESS corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
RAVDESS_ROOT = SHARED / "data" / "ravdess-speech-16k"


def tone(freq: float = 220.0, dur: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A sine tone with a little vibrato, float32."""
    t = np.arange(int(dur * sr)) / sr
    phase = 2 * np.pi * freq * t + 0.5 * np.sin(2 * np.pi * 5 * t)
    return (amp * np.sin(phase)).astype(np.float32)


def voice_like(dur: float = 1.5, sr: int = SR, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A crude voiced signal: harmonics of a gliding f0 with an amplitude envelope and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * sr)) / sr
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / dur, 1)))
    y = 0.3 * env * y / np.max(np.abs(y)) + 0.003 * rng.standard_normal(len(t))
    return y.astype(np.float32)


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files written on the fly, one per awkward case, keyed by a short name."""
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    files: dict[str, Path] = {}

    def write(name: str, data: np.ndarray, sr: int, **kwargs) -> None:
        path = root / name
        sf.write(path, data, sr, **kwargs)
        files[name.rsplit(".", 1)[0]] = path

    write("tone.wav", tone(), SR)
    write("voice.wav", voice_like(), SR)
    write("noise.wav", (0.1 * rng.standard_normal(SR)).astype(np.float32), SR)
    write("silence.wav", np.zeros(SR, dtype=np.float32), SR)
    write("clipped.wav", np.clip(4 * tone(), -1, 1), SR)
    write("tel8k.wav", tone(sr=8000), 8000)
    write("hi96k.wav", tone(sr=96000), 96000, subtype="PCM_24")
    write("stereo.wav", np.stack([tone(), tone(330)], axis=1), SR)
    write("pcm24.wav", tone(), SR, subtype="PCM_24")
    write("pcm8.wav", tone(), SR, subtype="PCM_U8")
    write("pcm32.wav", tone(), SR, subtype="PCM_32")
    write("float.wav", tone(), SR, subtype="FLOAT")
    write("flac44k.flac", tone(sr=44100), 44100)
    write("mp3.mp3", tone(sr=22050), 22050)
    write("ogg.ogg", tone(), SR)
    write("short.wav", tone(dur=0.1), SR)
    write("padded_short.wav", np.concatenate([np.zeros(SR), tone(dur=0.1), np.zeros(SR)]), SR)
    nan = tone()
    nan[100:110] = np.nan
    write("nan.wav", nan, SR, subtype="FLOAT")

    good = (root / "tone.wav").read_bytes()
    (root / "truncated.wav").write_bytes(good[: len(good) // 3])
    files["truncated"] = root / "truncated.wav"
    header_only = root / "header_only.wav"
    header_only.write_bytes(good[:44])
    files["header_only"] = header_only
    flac = (root / "flac44k.flac").read_bytes()
    (root / "truncated.flac").write_bytes(flac[: len(flac) // 2])
    files["truncated_flac"] = root / "truncated.flac"
    (root / "empty.wav").write_bytes(b"")
    files["empty"] = root / "empty.wav"
    (root / "text.wav").write_text("this is not audio at all\n" * 20)
    files["text"] = root / "text.wav"
    return files


@pytest.fixture(scope="session")
def ravdess_root() -> Path:
    """The shared RAVDESS speech corpus; tests using it skip only where ../shared is absent."""
    if not RAVDESS_ROOT.is_dir():
        pytest.skip(f"shared RAVDESS corpus not found at {RAVDESS_ROOT} (../shared is absent)")
    return RAVDESS_ROOT


@pytest.fixture(scope="session")
def subset(ravdess_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Actors 01-04 of the shared corpus (240 clips), linked (not copied) into a temp folder."""
    root = tmp_path_factory.mktemp("ravdess4")
    for actor in ("Actor_01", "Actor_02", "Actor_03", "Actor_04"):
        (root / actor).symlink_to(ravdess_root / actor, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feature cache shared by the tests that extract features of ``subset``."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def lock_folder(monkeypatch: pytest.MonkeyPatch):
    """``lock_folder(path)``: listing ``path`` raises PermissionError, as an unreadable folder
    does for a user who is not root (tests run as root, where ``chmod`` cannot lock)."""
    import os

    locked: set[str] = set()
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) in locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return lambda path: locked.add(os.fspath(path))


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
"""RAVDESS emotion codes of the example clips' names."""


@pytest.fixture(scope="session")
def example_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real model shared by the service and page tests: seed features of the 16
    example clips, logistic regression, with a small card (read-only: do not write in it)."""
    from serkit.features import extract_files
    from serkit.recognizer import EmotionRecognizer

    paths = sorted(EXAMPLES.glob("*.flac"))
    X = extract_files(paths, "seed", jobs=1).matrix()
    y = [EXAMPLE_EMOTIONS[p.name.split("-")[2]] for p in paths]
    folder = tmp_path_factory.mktemp("example-model") / "model"
    EmotionRecognizer("seed", "logreg").fit(X, y).save(
        folder, metadata={"metrics": {"uar": 0.5}, "training": {"n_clips": 16}}
    )
    return folder

