"""serkit.features._numba: a crashing numba cache is found in a child, deleted and rebuilt;
a checked cache is not checked again (issue 13, finding 2)."""

from __future__ import annotations

import pytest

from serkit.features import _numba, get_extractor


@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    """A cache folder with two files, and the lock/record folder in tmp_path."""
    root = tmp_path / "numba"
    (root / "feature_abc").mkdir(parents=True)
    files = [root / "feature_abc" / "spectral.x-1.py311.nbi", root / "feature_abc" / "x.1.nbc"]
    for path in files:
        path.write_bytes(b"cache")
    monkeypatch.setattr(_numba, "_cache_roots", lambda: [root])
    monkeypatch.setattr(_numba, "_state_dir", lambda: tmp_path)
    monkeypatch.setattr(_numba, "_CHECKED", set())
    monkeypatch.setattr(_numba, "_WARMED", set())
    return files


def test_a_cache_that_crashes_the_check_is_deleted_and_rebuilt(fake_cache, monkeypatch, caplog):
    statuses = iter([-11, 0])  # SIGSEGV in the child, then a clean compile
    calls = []
    monkeypatch.setattr(_numba, "_probe", lambda spec: calls.append(spec) or next(statuses))
    _numba.prepare_numba(get_extractor("seed"), warm=False)
    assert calls == [{"name": "seed"}, {"name": "seed"}]
    assert not any(path.exists() for path in fake_cache)
    assert "deleting its 2 cache files" in caplog.text


def test_a_checked_cache_is_not_probed_again(fake_cache, monkeypatch):
    calls = []
    monkeypatch.setattr(_numba, "_probe", lambda spec: calls.append(spec) or 0)
    _numba.prepare_numba(get_extractor("seed"), warm=False)
    _numba._CHECKED.clear()  # a new process: the record on disk is what counts
    _numba.prepare_numba(get_extractor("seed"), warm=False)
    assert len(calls) == 1
    fake_cache[0].write_bytes(b"changed by someone else")
    _numba._CHECKED.clear()
    _numba.prepare_numba(get_extractor("seed"), warm=False)
    assert len(calls) == 2


def test_a_cache_that_fails_even_when_empty_raises(fake_cache, monkeypatch):
    monkeypatch.setattr(_numba, "_probe", lambda spec: 1)
    with pytest.raises(RuntimeError, match="even with an empty numba cache"):
        _numba.prepare_numba(get_extractor("seed"), warm=False)


def test_features_without_librosa_are_left_alone(fake_cache, monkeypatch):
    monkeypatch.setattr(_numba, "_probe", lambda spec: pytest.fail("probed"))
    _numba.prepare_numba(get_extractor("stats"), warm=True)


def test_the_real_probe_compiles_into_a_fresh_cache(tmp_path):
    """End to end in a child with its own NUMBA_CACHE_DIR: the probe succeeds and fills it."""
    import os
    import subprocess
    import sys

    code = (
        "from serkit.features import _numba, get_extractor\n"
        "_numba.prepare_numba(get_extractor('seed'), warm=True)\n"
        "print(len(_numba.cache_files()))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "nc"), TMPDIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) > 0
    assert list(tmp_path.glob("serkit-numba-*/*.ok"))


def test_a_check_waits_only_for_processes_using_the_same_cache(fake_cache, tmp_path, monkeypatch):
    """The lock is per cache location: another cache's minutes-long cold check blocks nobody."""
    fcntl = pytest.importorskip("fcntl")
    import threading

    monkeypatch.setattr(_numba, "_probe", lambda spec: 0)
    this = _numba._lock_path(tmp_path, str(tmp_path / "numba"))
    other = _numba._lock_path(tmp_path, str(tmp_path / "another-cache"))
    assert this != other
    for held, blocks in ((other, False), (this, True)):
        _numba._CHECKED.clear()
        with open(held, "a+") as handle:  # another process's lock (its own file description)
            fcntl.flock(handle, fcntl.LOCK_EX)
            worker = threading.Thread(
                target=_numba.prepare_numba, args=(get_extractor("seed"),), kwargs={"warm": False}
            )
            worker.start()
            worker.join(timeout=0.5 if blocks else 10)
            assert worker.is_alive() == blocks
            fcntl.flock(handle, fcntl.LOCK_UN)
        worker.join(timeout=10)
        assert not worker.is_alive()
