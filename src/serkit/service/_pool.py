"""A bounded pool for the service's CPU-heavy work (decoding, features, inference).

Starlette's ``run_in_threadpool`` lets up to 40 requests compute at once. On a
machine with a few cores that only makes them share the cores (and the GIL) and
hold every request's intermediate arrays at the same time: latency and memory both
grow with the number of clients. Here at most ``inference_threads`` requests
compute at once (by default one per available CPU); the others wait their turn,
without blocking the event loop, which keeps reading uploads and answering
``/healthz`` meanwhile.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request

__all__ = ["available_cpus", "make_limiter", "run_inference"]

T = TypeVar("T")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def make_limiter(threads: int) -> anyio.CapacityLimiter:
    """A limiter of ``threads`` slots; 0 means :func:`available_cpus`."""
    return anyio.CapacityLimiter(threads if threads > 0 else available_cpus())


async def run_inference(request: Request, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` in a worker thread, once one of the app's inference slots is free."""
    limiter = getattr(request.app.state, "inference_limiter", None)
    if limiter is None:  # an app built without create_app's state (tests)
        limiter = request.app.state.inference_limiter = make_limiter(0)
    return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=limiter)
