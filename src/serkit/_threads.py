"""One BLAS/OpenMP thread for feature extraction and small-model inference.

serkit parallelises over clips with processes; BLAS threads on top of that
oversubscribe the cores and also change the last bits of results. A cached
``ThreadpoolController`` makes the switch cheap enough for per-request use
(rescanning the loaded libraries on every call cost about 4 ms).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

__all__ = ["one_blas_thread"]

_CONTROLLER: Any = None


def one_blas_thread() -> AbstractContextManager:
    """Context manager limiting BLAS and OpenMP pools to one thread inside it."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)
