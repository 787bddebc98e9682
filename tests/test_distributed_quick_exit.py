"""``--dask local:N`` workers skip the interpreter's teardown once closed (issue 12: the
cluster's close is part of the command's time), and only then."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("distributed")

from serkit.distributed._client import connect


def _exit_code(status: str | None) -> int:
    """Exit code of a process that registers the handler for a worker in ``status`` and
    then exits with code 3."""
    worker = "None" if status is None else f"types.SimpleNamespace(status=Status.{status})"
    code = (
        "import atexit, sys, types\n"
        "from distributed.core import Status\n"
        "from serkit.distributed._local import exit_if_closed\n"
        f"atexit.register(exit_if_closed, {worker})\n"
        "print('flushed', end='')\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "flushed"  # the streams are flushed before the quick exit
    return done.returncode


def test_only_a_cleanly_closed_worker_exits_quickly():
    assert _exit_code("closed") == 0  # the teardown is skipped: os._exit(0)
    assert _exit_code("running") == 3  # not closed: the ordinary exit, its own code
    assert _exit_code("closing") == 3
    assert _exit_code(None) == 3


def _worker_state(dask_worker) -> tuple[int, bool]:
    import os

    return os.getpid(), "serkit-quick-exit" in dask_worker.plugins


def test_local_clusters_get_it_and_their_workers_are_gone_after_the_job():
    psutil = pytest.importorskip("psutil")
    with connect("local:1") as client:
        states = list(client.run(_worker_state).values())
        assert len(states) == 1 and states[0][1]
        process = psutil.Process(states[0][0])
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def _profiling(dask_worker) -> tuple[bool, bool]:
    import dask

    return (
        bool(dask.config.get("distributed.worker.profile.enabled")),
        "profile" in dask_worker.periodic_callbacks,
    )


def test_local_clusters_run_without_the_statistical_profiler(monkeypatch):
    from serkit.distributed._client import PROFILE_VARIABLE

    monkeypatch.delenv(PROFILE_VARIABLE, raising=False)
    with connect("local:1") as client:
        assert list(client.run(_profiling).values()) == [(False, False)]
    # a user who configured it keeps it
    monkeypatch.setenv(PROFILE_VARIABLE, "True")
    with connect("local:1") as client:
        assert list(client.run(_profiling).values()) == [(True, True)]
