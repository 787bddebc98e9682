"""The service's bounded inference pool: at most ``inference_threads`` requests compute at once."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import anyio
import pytest

pytest.importorskip("fastapi")

from serkit import ParameterError
from serkit.service import create_app
from serkit.service._pool import available_cpus, make_limiter, run_inference
from serkit.service.settings import ServiceSettings

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)


def _max_concurrency(limiter_slots: int, n_requests: int) -> int:
    """Run ``n_requests`` sleeping jobs through :func:`run_inference`; most seen at once."""
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def work() -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1

    request = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(inference_limiter=make_limiter(limiter_slots)))
    )

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(n_requests):
                group.start_soon(run_inference, request, work)

    anyio.run(main)
    return state["most"]


def test_requests_beyond_the_pool_wait_their_turn():
    assert _max_concurrency(2, 8) == 2
    assert _max_concurrency(1, 4) == 1


def test_the_default_pool_has_one_slot_per_cpu():
    assert make_limiter(0).total_tokens == available_cpus()
    app = create_app("no-model-loaded-here", settings=ServiceSettings(inference_threads=3))
    assert app.state.inference_limiter.total_tokens == 3


def test_inference_threads_setting_is_checked_and_read_from_the_environment():
    assert ServiceSettings.from_env({"SERKIT_INFERENCE_THREADS": "4"}).inference_threads == 4
    for bad in (-1, 1.5, True):
        with pytest.raises(ParameterError, match="inference_threads"):
            ServiceSettings(inference_threads=bad)
    with pytest.raises(ParameterError, match="SERKIT_INFERENCE_THREADS"):
        ServiceSettings.from_env({"SERKIT_INFERENCE_THREADS": "two"})
