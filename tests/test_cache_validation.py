"""Feature cache entries are validated and recomputed when wrong (issue 13, finding 7)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, voice_like
from serkit.features import FeatureCache, extract_files


@pytest.fixture
def clips(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"c{i}.wav"
        sf.write(path, voice_like(dur=1.0, seed=i), SR)
        paths.append(path)
    return paths


def _entries(cache_dir):
    return sorted(cache_dir.glob("*/*/*.npy"))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(7, np.float32),  # wrong width: vstack crashed before
        np.full(571, np.nan, np.float32),  # right shape, NaN: was used silently
        np.zeros((2, 571), np.float32),  # wrong rank
        np.arange(571),  # integers
    ],
    ids=["width", "nan", "rank", "dtype"],
)
def test_a_wrong_entry_is_recomputed(tmp_path, clips, bad, caplog):
    cache_dir = tmp_path / "cache"
    first = extract_files(clips, "stats", jobs=1, cache_dir=cache_dir)
    entry = _entries(cache_dir)[0]
    np.save(entry, bad)
    again = extract_files(clips, "stats", jobs=1, cache_dir=cache_dir)
    assert again.n_cached == 2 and not again.errors
    np.testing.assert_array_equal(again.matrix(), first.matrix())
    assert "recomputing it" in caplog.text
    assert np.load(entry).shape == (571,)  # the good value was stored again


def test_a_truncated_entry_is_recomputed(tmp_path, clips):
    cache_dir = tmp_path / "cache"
    extract_files(clips, "stats", jobs=1, cache_dir=cache_dir)
    entry = _entries(cache_dir)[0]
    entry.write_bytes(entry.read_bytes()[:60])
    cache = FeatureCache(cache_dir)
    key = entry.parent.parent.name
    assert cache.get(key, entry.stem, n_features=571) is None
    assert not entry.exists()
