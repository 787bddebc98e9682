"""Saving a model is atomic: an interrupted save leaves the previous bundle as it was."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from serkit import BundleError
from serkit.bundles import _format
from serkit.recognizer import EmotionRecognizer


def _fitted(seed: int) -> EmotionRecognizer:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(24, 180))
    y = ["angry", "calm", "sad"] * 8
    return EmotionRecognizer("seed", "logreg").fit(X, y)


def test_failed_save_keeps_the_previous_bundle(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    _fitted(0).save(folder)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    X = np.random.default_rng(5).normal(size=(4, 180))
    expected = EmotionRecognizer.load(folder).predict_proba(X)

    def broken(*args, **kwargs):
        (args[0] / "members").mkdir(exist_ok=True)
        (args[0] / "members" / "half.skops").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(_format, "_member_entries", broken)
    with pytest.raises(OSError, match="disk full"):
        _fitted(1).save(folder)
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left
    np.testing.assert_array_equal(EmotionRecognizer.load(folder).predict_proba(X), expected)


def test_resave_replaces_the_bundle_whole(tmp_path):
    folder = tmp_path / "model"
    _fitted(0).save(folder)
    (folder / "members" / "stale.skops").write_bytes(b"left from an older save")
    second = _fitted(1)
    second.save(folder)
    assert not (folder / "members" / "stale.skops").exists()
    X = np.random.default_rng(5).normal(size=(4, 180))
    np.testing.assert_array_equal(
        EmotionRecognizer.load(folder).predict_proba(X), second.predict_proba(X)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask


def test_folder_with_other_files_is_written_in_place(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    _fitted(0).save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert EmotionRecognizer.load(tmp_path).classes_.tolist() == ["angry", "calm", "sad"]


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    target = tmp_path / "model"
    target.write_text("not a folder")
    with pytest.raises(BundleError, match="not a folder"):
        _fitted(0).save(target)
