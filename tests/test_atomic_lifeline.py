"""Outputs written atomically and workers that die with their parent (issue 13, finding 5),
tested with a real ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit._atomic import atomic_path, atomic_write_text

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "previous"
    assert list(tmp_path.iterdir()) == [target]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses ps --ppid and /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_parent_and_the_output_survives(tmp_path, sig):
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        sf.write(clips / f"c{i:02d}.wav", 0.1 * rng.standard_normal(16000 * 3), 16000)
    out = tmp_path / "features.npz"
    out.write_bytes(b"previous output")
    code = (
        "import sys, pathlib, numpy as np\n"
        "from serkit.features import extract_files\n"
        "files = sorted(pathlib.Path(sys.argv[1]).glob('*.wav')) * 50\n"
        "extract_files(files, 'stats', jobs=2)\n"
    )
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-c", code, str(clips)], env=env)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the pool did not start"
        os.kill(proc.pid, sig)
        proc.wait(30)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.read_bytes() == b"previous output"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_kill_9_while_writing_features_keeps_the_previous_file(tmp_path):
    """A child writes a big table over and over; kill -9 at random moments never leaves a
    truncated or empty file."""
    target = tmp_path / "big.csv"
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from serkit._atomic import atomic_path\n"
        "frame = pd.DataFrame(np.random.default_rng(0).standard_normal((20000, 40)))\n"
        "while True:\n"
        "    with atomic_path(sys.argv[1]) as tmp:\n"
        "        frame.to_csv(tmp, index=False)\n"
    )
    env = dict(os.environ, PYTHONPATH=SRC)
    sizes = set()
    for delay in (1.5, 2.2, 2.9):
        proc = subprocess.Popen([sys.executable, "-c", code, str(target)], env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if target.exists():
            sizes.add(target.stat().st_size)
    assert len(sizes) <= 1 and all(size > 1_000_000 for size in sizes)
