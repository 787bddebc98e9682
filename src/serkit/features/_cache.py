"""An on-disk cache of extracted features, keyed by file content and feature spec.

Layout: ``<root>/<spec key>/spec.json`` describes one feature spec;
``<root>/<spec key>/<hh>/<sha256>.npy`` holds the features of the file whose
content has that SHA-256. The spec key hashes the spec, the sample rate and
serkit's version, so changing any of them misses instead of serving stale
values. Every file is written to a temporary name and renamed into place, so
an interrupted run leaves only complete entries behind. Decoded audio is never
cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CacheStats", "FeatureCache", "file_digest"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as 64 hex characters.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> file_digest(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _entry_problem(value: np.ndarray, *, n_features: int | None, sequence: bool) -> str | None:
    """What is wrong with a cached array, or ``None`` when it can be used."""
    if not np.issubdtype(value.dtype, np.floating):
        return f"of dtype {value.dtype}, not float"
    ndim = 2 if sequence else 1
    if value.ndim != ndim:
        return f"of shape {value.shape}, not {ndim}-D"
    if n_features is not None and value.shape[-1] != n_features:
        return f"of shape {value.shape}, not {n_features} features wide"
    if not np.all(np.isfinite(value)):
        return "holding NaN or infinite values"
    return None


@dataclass(frozen=True)
class CacheStats:
    """What a cache folder holds."""

    root: Path
    """The cache folder."""
    n_entries: int
    """Feature arrays stored, all specs together."""
    n_bytes: int
    """Disk space used, in bytes."""
    specs: list[dict[str, Any]]
    """One dict per spec: ``key``, ``spec``, ``version``, ``n_entries``, ``n_bytes``."""


class FeatureCache:
    """Features stored on disk by (spec key, content digest).

    Parameters
    ----------
    root : path
        Folder for the cache; created on first write.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> cache.put("k1", "ab" * 32, np.arange(3, dtype="float32"))
    >>> cache.get("k1", "ab" * 32)
    array([0., 1., 2.], dtype=float32)
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def _entry(self, key: str, digest: str) -> Path:
        return self.root / key / digest[:2] / f"{digest}.npy"

    def describe(self, key: str, spec: dict[str, Any], *, version: str, sr: int) -> None:
        """Record what a spec key stands for (read by :meth:`stats`); written once."""
        path = self.root / key / "spec.json"
        if path.exists():
            return
        payload = json.dumps({"spec": spec, "version": version, "sr": sr}, indent=1).encode()
        _atomic_write(path, lambda handle: handle.write(payload))

    def get(
        self,
        key: str,
        digest: str,
        *,
        n_features: int | None = None,
        sequence: bool = False,
    ) -> np.ndarray | None:
        """The stored array, or ``None`` on a miss or an entry that cannot be right.

        An entry is used only when it is a float array of the expected shape
        (``(n_features,)``, or ``(n_frames, n_features)`` when ``sequence``) with no NaN
        or infinity. A wrong one (a damaged disk, another program, an older bug) is
        deleted with a warning, so the caller recomputes and stores a good one.
        """
        path = self._entry(key, digest)
        try:
            value = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            return self._discard(path, f"unreadable ({exc})")
        problem = _entry_problem(value, n_features=n_features, sequence=sequence)
        if problem is not None:
            return self._discard(path, problem)
        return value

    def _discard(self, path: Path, problem: str) -> np.ndarray | None:
        """Delete a bad entry with a warning; always ``None`` (a miss) for :meth:`get`."""
        logger.warning("feature cache entry %s is %s; recomputing it", path, problem)
        path.unlink(missing_ok=True)
        return None

    def put(self, key: str, digest: str, value: np.ndarray) -> None:
        """Store an array atomically."""
        array = np.ascontiguousarray(value)
        _atomic_write(self._entry(key, digest), lambda handle: np.save(handle, array))

    def stats(self) -> CacheStats:
        """Count entries and bytes per spec."""
        specs: list[dict[str, Any]] = []
        total_n = total_bytes = 0
        if self.root.is_dir():
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                files = list(folder.glob("*/*.npy"))
                n_bytes = sum(f.stat().st_size for f in files)
                meta: dict[str, Any] = {}
                if (folder / "spec.json").exists():
                    try:
                        meta = json.loads((folder / "spec.json").read_text())
                    except (OSError, ValueError):
                        meta = {}
                specs.append(
                    {
                        "key": folder.name,
                        "spec": meta.get("spec"),
                        "version": meta.get("version"),
                        "n_entries": len(files),
                        "n_bytes": n_bytes,
                    }
                )
                total_n += len(files)
                total_bytes += n_bytes
        return CacheStats(root=self.root, n_entries=total_n, n_bytes=total_bytes, specs=specs)

    def clear(self) -> int:
        """Delete every entry; returns how many feature arrays were removed."""
        n = self.stats().n_entries
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.is_dir():
                    shutil.rmtree(folder)
        return n
