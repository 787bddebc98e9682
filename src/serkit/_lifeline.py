"""Make a worker process end when the process that started it ends.

``ProcessPoolExecutor`` workers block waiting for work; when their parent is
killed (``kill -9``, or ``SIGTERM`` with no clean-up) nothing tells them, and they
stay alive, adopted by PID 1, holding their memory. :func:`die_with_parent`, run
in each worker's initializer, asks Linux to send SIGKILL when the parent dies
(``prctl(PR_SET_PDEATHSIG)``) and, everywhere, watches the parent's PID from a
daemon thread as a fallback.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def _watch(parent: int, every: float) -> None:
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: nothing is waiting for our results


def die_with_parent(parent: int | None = None, every: float = 0.5) -> None:
    """End this process (at once) when its parent process ends.

    Parameters
    ----------
    parent : int or None
        PID of the process that started this one, as it knew its own PID (pass
        ``os.getpid()`` from the parent): if it already died before this runs, we are
        already adopted by another process and must end now. ``None``: the current parent.
    every : float > 0
        Seconds between checks of the fallback watcher.
    """
    parent = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watcher still works
            pass
    if os.getppid() != parent:  # the parent died before we got here
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, every), daemon=True, name="lifeline").start()
