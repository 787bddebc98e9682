"""Feature cache and batch extraction: parallel, cached, resumable, no result lost."""

from __future__ import annotations

import numpy as np
import pytest

from serkit import ParameterError
from serkit.features import (
    FeatureCache,
    SeedFeatures,
    extract_files,
    extract_signal,
    file_digest,
    get_extractor,
    spec_key,
)

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

GOOD = ["tone", "voice", "noise", "tel8k", "stereo", "mp3", "ogg", "pcm24", "float", "flac44k"]
BAD = ["silence", "short", "nan", "empty", "text", "truncated_flac", "header_only"]


def _mixed(audio_files):
    names = [n for pair in zip(GOOD, BAD + [None] * 10, strict=False) for n in pair if n]
    return names, [audio_files[n] for n in names]


def test_batch_keeps_going_and_names_every_failure(audio_files):
    names, paths = _mixed(audio_files)
    result = extract_files(paths, "seed", jobs=1)
    assert len(result.values) == len(paths)
    failed = {names[i] for i in result.errors}
    assert failed == set(BAD)
    for index, message in result.errors.items():
        assert str(paths[index]) in message
    assert result.matrix().shape == (len(GOOD), 180)
    assert result.ok.sum() == len(GOOD)


def test_parallel_equals_serial(audio_files):
    _names, paths = _mixed(audio_files)
    serial = extract_files(paths, "seed:groups=mfcc", jobs=1)
    parallel = extract_files(paths * 3, "seed:groups=mfcc", jobs=2)
    assert set(parallel.errors) == {i + k * len(paths) for i in serial.errors for k in range(3)}
    for i, value in enumerate(serial.values):
        if value is not None:
            np.testing.assert_array_equal(value, parallel.values[i])
            np.testing.assert_array_equal(value, parallel.values[i + 2 * len(paths)])


def test_cache_round_trip_and_hits(audio_files, tmp_path):
    paths = [audio_files[n] for n in GOOD]
    first = extract_files(paths, "seed", jobs=1, cache_dir=tmp_path)
    assert first.n_cached == 0
    second = extract_files(paths, "seed", jobs=1, cache_dir=tmp_path)
    assert second.n_cached == len(paths)
    for a, b in zip(first.values, second.values, strict=True):
        np.testing.assert_array_equal(a, b)
    # another spec is another key: no stale hit
    other = extract_files(paths, "seed:groups=mfcc", jobs=1, cache_dir=tmp_path)
    assert other.n_cached == 0 and other.matrix().shape == (len(paths), 40)
    stats = FeatureCache(tmp_path).stats()
    assert stats.n_entries == 2 * len(paths)
    assert {s["spec"]["name"] for s in stats.specs} == {"seed"}
    assert FeatureCache(tmp_path).clear() == 2 * len(paths)
    assert FeatureCache(tmp_path).stats().n_entries == 0


def test_cache_is_keyed_by_content_not_path(audio_files, tmp_path):
    src = audio_files["voice"]
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(src.read_bytes())
    cache = tmp_path / "cache"
    extract_files([src], "seed", jobs=1, cache_dir=cache)
    hit = extract_files([copy], "seed", jobs=1, cache_dir=cache)
    assert hit.n_cached == 1
    # same path, changed content: a miss, and the new features
    copy.write_bytes(audio_files["tone"].read_bytes())
    changed = extract_files([copy], "seed", jobs=1, cache_dir=cache)
    assert changed.n_cached == 0
    fresh = extract_files([audio_files["tone"]], "seed", jobs=1)
    np.testing.assert_array_equal(changed.values[0], fresh.values[0])


def test_interrupted_run_leaves_a_consistent_cache(audio_files, tmp_path, monkeypatch):
    from serkit.features import _extract

    paths = [audio_files[n] for n in GOOD]
    calls = {"n": 0}
    real = _extract._extract_path

    def flaky(path, extractor, max_duration, transform=None):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(path, extractor, max_duration, transform)

    monkeypatch.setattr(_extract, "_extract_path", flaky)
    with pytest.raises(KeyboardInterrupt):
        extract_files(paths, "seed", jobs=1, cache_dir=tmp_path)
    monkeypatch.setattr(_extract, "_extract_path", real)
    # no temporary files left behind; complete entries are readable and reused
    assert not list(tmp_path.rglob(".tmp-*"))
    resumed = extract_files(paths, "seed", jobs=1, cache_dir=tmp_path)
    assert 0 < resumed.n_cached < len(paths)
    assert resumed.ok.all()


def test_corrupt_cache_entry_is_recomputed(audio_files, tmp_path):
    path = audio_files["voice"]
    first = extract_files([path], "seed", jobs=1, cache_dir=tmp_path)
    from serkit._version import __version__

    key = spec_key(SeedFeatures(), sr=16000, version=__version__)
    digest = file_digest(path)
    entry = tmp_path / key / digest[:2] / f"{digest}.npy"
    entry.write_bytes(b"garbage")
    again = extract_files([path], "seed", jobs=1, cache_dir=tmp_path)
    assert again.n_cached == 0
    np.testing.assert_array_equal(first.values[0], again.values[0])


def test_spec_key_changes_with_settings_and_version():
    a = spec_key(get_extractor("seed"), sr=16000, version="1")
    assert a == spec_key(SeedFeatures(), sr=16000, version="1")
    assert a != spec_key(get_extractor("seed:groups=mfcc"), sr=16000, version="1")
    assert a != spec_key(SeedFeatures(), sr=16000, version="2")
    assert a != spec_key(SeedFeatures(), sr=8000, version="1")


def test_extract_signal_and_bad_arguments():
    t = np.arange(32000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    assert extract_signal(y, 16000, "seed").shape == (180,)
    with pytest.raises(ParameterError, match="unknown feature set"):
        extract_files([], "nope")
    with pytest.raises(ParameterError, match="jobs"):
        extract_files([], "seed", jobs=0)
