"""What a Dask worker process sets up once, before its first serkit task.

Dask's nannies start their workers with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``). Setting any of glibc's malloc
thresholds turns off its *dynamic* mmap threshold, so every large numpy buffer
of an STFT (a few hundred KB per clip) is mapped and unmapped afresh, page
faults included: feature extraction ran about 40 % slower with that variable
(480 RAVDESS clips, ``stats``: 16.5 s against 11.8 s).

glibc cannot switch the dynamic threshold back on, but ``mallopt`` can set the
values it would settle at: an mmap threshold at its dynamic ceiling (32 MiB on
64-bit) and a trim threshold twice that. :func:`prepare_worker` does so once per
process, only on glibc, and only when the environment set a threshold (without
one the dynamic default is already in force and is left alone). Set
``SERKIT_DASK_MALLOPT=0`` on the workers to keep Dask's setting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading

__all__ = [
    "MALLOC_VARIABLES",
    "MMAP_THRESHOLD",
    "TRIM_THRESHOLD",
    "malloc_state",
    "prepare_worker",
    "tune_malloc",
]

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's ceiling for its dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)."""
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
"""What glibc's dynamic rule sets the trim threshold to: twice the mmap threshold."""
MALLOC_VARIABLES = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)
"""Environment variables that turn glibc's dynamic mmap threshold off when set."""

_DONE = False
_LOCK = threading.Lock()
_TUNED: bool | None = None


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def tune_malloc(environ: dict[str, str] | os._Environ | None = None) -> bool:
    """Set glibc's mmap and trim thresholds to the values its dynamic rule settles at.

    Only when ``environ`` (default ``os.environ``) sets one of
    :data:`MALLOC_VARIABLES` and not ``SERKIT_DASK_MALLOPT=0``, and only on glibc.
    Returns whether the thresholds were set.
    """
    env = os.environ if environ is None else environ
    if env.get("SERKIT_DASK_MALLOPT", "1") == "0":
        return False
    if not any(name in env for name in MALLOC_VARIABLES):
        return False
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if ok:
        logger.info(
            "glibc malloc: mmap threshold %d, trim threshold %d (the environment had set %s)",
            MMAP_THRESHOLD,
            TRIM_THRESHOLD,
            ", ".join(name for name in MALLOC_VARIABLES if name in env),
        )
    return ok


def prepare_worker() -> bool:
    """Once per worker process: :func:`tune_malloc`. Returns whether malloc was tuned."""
    global _DONE, _TUNED
    if _DONE:
        return bool(_TUNED)
    with _LOCK:
        if not _DONE:
            _TUNED = tune_malloc()
            _DONE = True
    return bool(_TUNED)


def malloc_state() -> dict[str, bool]:
    """Run on a worker by the client: ``trimmed`` (its environment set a malloc threshold)
    and ``tuned`` (:func:`prepare_worker` reset the thresholds). Prepares the worker too."""
    return {
        "trimmed": any(name in os.environ for name in MALLOC_VARIABLES),
        "tuned": prepare_worker(),
    }
