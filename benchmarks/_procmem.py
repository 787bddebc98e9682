"""Memory figures of a running process from ``/proc`` (Linux), shared by the benchmarks.

``VmRSS`` is the resident memory now, ``VmHWM`` its peak ("high-water mark") since the
process started. ``ru_maxrss`` of ``getrusage`` is not used: for a child it keeps the
forking parent's size across ``exec``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["hwm_mb", "rss_mb", "status_kb"]


def status_kb(pid: int | str, field: str) -> int:
    """One ``kB`` field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``...); ``pid`` may be "self"."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process now, in MB."""
    return status_kb(pid, "VmRSS") / 1024


def hwm_mb(pid: int | str = "self") -> float:
    """Peak resident memory of a process so far, in MB."""
    return status_kb(pid, "VmHWM") / 1024
