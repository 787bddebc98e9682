"""Keep librosa's on-disk numba cache from crashing serkit's processes.

Root cause (numba/numba#10128, seen as librosa/librosa#1998): librosa compiles
some functions with ``@guvectorize(cache=True)``. Each is cached as *two* files,
the kernel and its ``guf-`` wrapper, written by separate ``os.replace`` calls.
When two processes compile the same function at once (two ``serkit features``
workers on a fresh install), the pair can come from different processes whose
generated symbol names differ; every later process that loads the mixed pair
dies with SIGSEGV. Deleting the cache files cures it.

What serkit does before extracting features that use librosa
(:func:`prepare_numba`):

1. Under an inter-process file lock (one per cache location), a fingerprint of the cache files is
   compared with the one recorded after the last successful check.
2. If it differs (a cold or changed cache), a *child* process computes the
   features of a synthetic clip. It compiles what is missing, alone, so no pair
   is ever mixed; and if the cache already holds a mixed pair, the child is the
   one that crashes: serkit then deletes librosa's cache files, runs the child
   again, and records the new fingerprint.
3. With ``warm=True`` (before starting worker processes) this process computes
   the same synthetic clip, loading the checked cache; forked workers inherit
   the compiled functions and never compile or write the cache themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LIBROSA_FEATURES", "cache_files", "prepare_numba"]

logger = logging.getLogger(__name__)

LIBROSA_FEATURES = frozenset({"seed", "logmel"})
"""Registered feature sets whose code calls librosa's numba-compiled functions."""

_CHECKED: set[str] = set()  # feature sets whose cache was checked in this process
_WARMED: set[str] = set()  # ... and computed once in this process

_PROBE = (
    "import json, sys, numpy as np\n"
    "from serkit.features._numba import _synthetic\n"
    "from serkit.features import get_extractor\n"
    "get_extractor(json.loads(sys.argv[1])).extract(_synthetic(), 16000)\n"
)


def _synthetic() -> np.ndarray:
    """One second of a deterministic voice-like signal (harmonics plus noise)."""
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(0)
    y = sum(0.2 / k * np.sin(2 * np.pi * 140 * k * t) for k in range(1, 6))
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _cache_roots() -> list[Path]:
    """Where numba keeps librosa's cache: ``NUMBA_CACHE_DIR``, else librosa's package dir."""
    import numba

    configured = getattr(numba.config, "CACHE_DIR", "") or ""
    if configured:
        return [Path(configured)]
    import importlib.util

    spec = importlib.util.find_spec("librosa")
    if spec is None or spec.origin is None:
        return []
    return [Path(spec.origin).parent]


def cache_files() -> list[Path]:
    """numba cache files (``*.nbi`` index, ``*.nbc`` code) under :func:`_cache_roots`, sorted.

    Under ``NUMBA_CACHE_DIR`` that is every package's cache (all safe to delete: numba
    recompiles); otherwise librosa's own ``__pycache__`` folders.
    """
    found: list[Path] = []
    for root in _cache_roots():
        if not root.is_dir():
            continue
        for pattern in ("*.nbi", "*.nbc"):
            found.extend(root.rglob(pattern))
    return sorted(found)


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _state_dir() -> Path:
    """Per-user folder for the lock and the record of checked caches."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(tempfile.gettempdir()) / f"serkit-numba-{uid}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _lock_path(state: Path, roots: str) -> Path:
    """The lock of one cache location: processes using other caches never wait for it
    (a cold cache's check compiles for minutes)."""
    return state / (hashlib.sha256(roots.encode()).hexdigest()[:16] + ".lock")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (POSIX ``flock``; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: no fork either, and workers load a checked cache
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _probe(spec: dict[str, Any]) -> int:
    """Exit status of a child process extracting ``spec`` from a synthetic clip."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        logger.debug("numba cache probe exited %s: %s", done.returncode, done.stderr[-2000:])
    return done.returncode


def prepare_numba(extractor: Any, *, warm: bool) -> None:
    """Make sure librosa's numba cache cannot crash this process or its workers.

    Parameters
    ----------
    extractor : FeatureExtractor
        What will be extracted; nothing is done unless it is in :data:`LIBROSA_FEATURES`.
    warm : bool
        Also compute a synthetic clip in this process (before forking workers), so the
        workers inherit compiled functions instead of compiling them at the same time.
    """
    name = getattr(extractor, "name", None)
    if name not in LIBROSA_FEATURES or (name in _CHECKED and (name in _WARMED or not warm)):
        return
    spec = {"name": name}  # the defaults: every group the feature set can compute
    key = name
    state = _state_dir()
    roots = "|".join(str(r) for r in _cache_roots())
    record = state / (hashlib.sha256(f"{roots}\0{key}".encode()).hexdigest()[:16] + ".ok")
    with _locked(_lock_path(state, roots)):
        files = cache_files()
        seen = record.read_text() if record.exists() else ""
        if seen != _fingerprint(files):
            status = _probe(spec)
            if status != 0:
                logger.warning(
                    "librosa's numba cache made a check process fail (exit %s); deleting "
                    "its %d cache files and compiling afresh",
                    status,
                    len(files),
                )
                for path in files:
                    with contextlib.suppress(OSError):
                        path.unlink()
                status = _probe(spec)
                if status != 0:
                    raise RuntimeError(
                        f"extracting {extractor.name!r} features fails even with an empty numba "
                        f"cache (exit {status}); run with NUMBA_DISABLE_JIT=1 to find out why"
                    )
            record.write_text(_fingerprint(cache_files()))
        if warm:
            from ._table import get_extractor

            get_extractor(spec).extract(_synthetic(), 16000)
            _WARMED.add(key)
    _CHECKED.add(key)
