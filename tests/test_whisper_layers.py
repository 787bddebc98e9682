"""Whisper encoder layers as a feature option: the cut model, its cache, its identity."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from serkit._errors import ParameterError
from serkit.features import WhisperFeatures, spec_of
from serkit.features._whisper import PACKAGE_SHA256, packaged_model_dir
from serkit.features._whisper_layers import (
    MANIFEST_NAME,
    count_encoder_layers,
    truncated_model_dir,
)

pytest.importorskip("ctranslate2")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SERKIT_CACHE_DIR", str(root))
    return root


def _speech_like(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    voiced = np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * voiced + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def test_packaged_encoder_has_four_layers() -> None:
    assert count_encoder_layers(packaged_model_dir() / "model.bin") == 4


def test_cut_model_keeps_the_first_layers_and_is_built_once(cache: Path) -> None:
    source = packaged_model_dir()
    folder = truncated_model_dir(source, 2, pinned=PACKAGE_SHA256)
    assert folder.parent == cache / "whisper"
    assert count_encoder_layers(folder / "model.bin") == 2
    assert (folder / "model.bin").stat().st_size < (source / "model.bin").stat().st_size
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["encoder_layers"] == 2 and manifest["source_sha256"] == PACKAGE_SHA256
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert truncated_model_dir(source, 2, pinned=PACKAGE_SHA256) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp  # reused, not rebuilt
    # no temporary folder is left behind
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_all_layers_is_the_source_itself(cache: Path) -> None:
    source = packaged_model_dir()
    assert truncated_model_dir(source, 4, pinned=PACKAGE_SHA256) == source
    assert not (cache / "whisper").exists()


def test_last_layer_features_equal_the_default(cache: Path) -> None:
    y = _speech_like()
    full = WhisperFeatures(pad=0, pool="mean").extract(y, 16000)
    four = WhisperFeatures(pad=0, pool="mean", layer=4).extract(y, 16000)
    two = WhisperFeatures(pad=0, pool="mean", layer=2).extract(y, 16000)
    np.testing.assert_array_equal(full, four)
    assert two.shape == full.shape and not np.allclose(two, full)


def test_damaged_cut_model_is_rebuilt(cache: Path) -> None:
    source = packaged_model_dir()
    folder = truncated_model_dir(source, 1, pinned=PACKAGE_SHA256)
    good = (folder / "model.bin").read_bytes()
    with open(folder / "model.bin", "r+b") as fh:  # flip one byte of the weights
        fh.seek(len(good) // 2)
        byte = fh.read(1)
        fh.seek(len(good) // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    again = truncated_model_dir(source, 1, pinned=PACKAGE_SHA256)
    assert (again / "model.bin").read_bytes() == good


def test_layer_out_of_range_names_the_range(cache: Path) -> None:
    with pytest.raises(ParameterError, match=r"layer=5 is outside .* layers 1\.\.4"):
        truncated_model_dir(packaged_model_dir(), 5, pinned=PACKAGE_SHA256)
    with pytest.raises(ParameterError, match="layer must be a whole number"):
        WhisperFeatures(layer=-1)


def test_truncated_source_is_refused(cache: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (packaged_model_dir() / "model.bin").read_bytes()
    (broken / "model.bin").write_bytes(data[: len(data) // 3])
    with pytest.raises(ParameterError, match="truncated CTranslate2 model file"):
        truncated_model_dir(broken, 1)


def test_old_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(struct.pack("<I", 3) + b"\0" * 64)
    with pytest.raises(ParameterError, match="format 3 is too old"):
        count_encoder_layers(tmp_path / "model.bin")


def test_user_folder_is_cut_by_identity(cache: Path, tmp_path: Path) -> None:
    own = tmp_path / "own-model"
    own.mkdir()
    for item in packaged_model_dir().iterdir():
        os.symlink(item, own / item.name)
    y = _speech_like(seed=1)
    mine = WhisperFeatures(pad=0, pool="mean", layer=2, model=str(own)).extract(y, 16000)
    packaged = WhisperFeatures(pad=0, pool="mean", layer=2).extract(y, 16000)
    np.testing.assert_array_equal(mine, packaged)
    names = [p.name for p in (cache / "whisper").iterdir()]
    # named by the file's identity, not by the packaged model's pinned hash
    assert any(n.endswith("-layers2") and not n.startswith(PACKAGE_SHA256[:16]) for n in names)


def test_default_layer_keeps_the_old_identity() -> None:
    params = spec_of(WhisperFeatures(pad=0, pool="mean"))["params"]
    assert "layer" not in params  # caches and saved models from before keep their keys
    assert spec_of(WhisperFeatures(pad=0, pool="mean", layer=2))["params"]["layer"] == 2


def test_parts_read_as_one_file(tmp_path: Path) -> None:
    from serkit.features._whisper_layers import _open

    rng = np.random.default_rng(0)
    blobs = [rng.bytes(n) for n in (1000, 1, 4097)]
    parts = []
    for i, blob in enumerate(blobs):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(blob)
    whole = b"".join(blobs)
    with _open(parts) as fh:
        assert fh.read() == whole
        for offset, n in ((0, 10), (995, 10), (1000, 3), (1001, 5000), (5000, 200)):
            fh.seek(offset)
            assert fh.read(n) == whole[offset : offset + n]
        fh.seek(-3, os.SEEK_END)
        assert fh.read() == whole[-3:]


def _base_installed() -> bool:
    import importlib.util

    from serkit.features._whisper import BASE_PACKAGES

    return all(importlib.util.find_spec(name) for name in BASE_PACKAGES)


@pytest.mark.skipif(not _base_installed(), reason='needs pip install "serkit[whisper-base]"')
def test_base_layer_is_cut_from_the_parts_without_joining(cache: Path) -> None:
    from serkit.features._whisper import BASE_SHA256

    y = _speech_like(1.0, seed=2)
    two = WhisperFeatures(pad=0, pool="mean", model="base", layer=2)
    vector = two.extract(y, 16000)
    assert vector.shape == (512,) and len(two.feature_names()) == 512
    names = [p.name for p in (cache / "whisper").iterdir()]
    assert names == [f"{BASE_SHA256[:16]}-layers2"]  # no joined 145 MB copy was needed
    assert count_encoder_layers(cache / "whisper" / names[0] / "model.bin") == 2


@pytest.mark.skipif(not _base_installed(), reason='needs pip install "serkit[whisper-base]"')
def test_base_all_layers_joins_the_parts_once_and_checks_them(
    cache: Path, tmp_path: Path
) -> None:
    from serkit.features._whisper import BASE_SHA256, base_model_parts
    from serkit.features._whisper_layers import joined_model_dir

    source, parts = base_model_parts()
    folder = joined_model_dir(source, parts, pinned=BASE_SHA256)
    assert json.loads((folder / MANIFEST_NAME).read_text())["sha256"] == BASE_SHA256
    assert count_encoder_layers(folder / "model.bin") == 6
    with pytest.raises(ParameterError, match="not the pinned 0000"):
        joined_model_dir(source, parts, pinned="0" * 64, cache_root=tmp_path / "x")
    assert [p.name for p in (tmp_path / "x").iterdir()] == []  # nothing half-built is kept
    with pytest.raises(ParameterError, match=r"part2 \+ .*part1: not a CTranslate2 model"):
        joined_model_dir(source, parts[::-1], pinned=BASE_SHA256, cache_root=tmp_path / "y")
