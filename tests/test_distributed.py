"""Scale-out on Dask: real clusters (a LocalCluster of processes, and separate
``dask scheduler`` / ``dask worker`` processes), kill -9 of a worker and of the client,
resumption, bit-identical features and equal predictions."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serkit._errors import ParameterError
from serkit.distributed import (
    iter_audio_files,
    iter_files_from,
    partitions,
    read_dataset,
    read_feature_dataset,
)
from serkit.distributed._dataset import JobFolder

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DASK_BIN = Path(sys.executable).parent / "dask"

needs_dask = pytest.mark.skipif(
    find_spec("distributed") is None,
    reason="dask[distributed] is not installed (pip install 'serkit[dist]')",
)


def _env() -> dict[str, str]:
    """Environment of every process a test starts: this checkout first, a private numba cache,
    one BLAS thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("NUMBA_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "numba-serkit"))
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # a client that lost its scheduler gives up after 5 s instead of 30
    env["DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"] = "5s"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _serkit(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "serkit", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_manifests(out: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> int:
    """Wait until ``n`` partitions are recorded; returns how many are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(list((out / "_manifest").glob("part-*.json")))
        if done >= n:
            return done
        if proc.poll() is not None:
            raise AssertionError(f"the job ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"no {n} partitions after {timeout} s")


@dataclass
class Cluster:
    """A scheduler and its workers, each a process group of its own."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[Callable[[int], Cluster]]:
    """Start ``dask scheduler`` + N ``dask worker`` processes on 127.0.0.1 (free ports);
    every process is stopped (its whole process group) when the test ends."""
    if find_spec("distributed") is None:
        pytest.skip("dask[distributed] is not installed (pip install 'serkit[dist]')")
    if not DASK_BIN.exists():
        pytest.skip(f"the dask command is not next to {sys.executable}")
    started: list[subprocess.Popen] = []
    logs: list = []

    def start(n_workers: int = 2) -> Cluster:
        from distributed import Client

        port = _free_port()
        address = f"tcp://127.0.0.1:{port}"
        log = open(tmp_path / f"scheduler-{port}.log", "w")  # noqa: SIM115 - closed below
        logs.append(log)
        scheduler = subprocess.Popen(
            [
                str(DASK_BIN),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dashboard-address",
                "127.0.0.1:0",
            ],
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(scheduler)
        workers = []
        for i in range(n_workers):
            wlog = open(tmp_path / f"worker-{port}-{i}.log", "w")  # noqa: SIM115
            logs.append(wlog)
            proc = subprocess.Popen(
                [
                    str(DASK_BIN),
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                ],
                env=_env(),
                stdout=wlog,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append(proc)
            workers.append(proc)
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=120)
        return Cluster(address, scheduler, workers)

    yield start
    for proc in reversed(started):
        _stop(proc)
    for handle in logs:
        handle.close()


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[str]:
    """A LocalCluster of two worker processes with one thread each."""
    if find_spec("distributed") is None:
        pytest.skip("dask[distributed] is not installed (pip install 'serkit[dist]')")
    from distributed import LocalCluster

    os.environ.update({k: v for k, v in _env().items() if k not in os.environ})
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster.scheduler_address


def _ravdess_list(root: Path, n: int, dest: Path) -> tuple[Path, list[str]]:
    paths = sorted(str(p) for p in root.glob("Actor_0[1-4]/*.flac"))[:n]
    dest.write_text("\n".join(paths) + "\n")
    return dest, paths


# ------------------------------------------------------------------ no cluster needed
def test_listing_is_streamed_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ("b/2.wav", "b/1.flac", "a.wav", ".hid/x.wav", "b/.x.wav", "b/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    listing = iter_audio_files([tmp_path])
    assert not isinstance(listing, list)
    names = [Path(p).relative_to(tmp_path).as_posix() for p in listing]
    assert names == ["a.wav", "b/1.flac", "b/2.wav"]
    (tmp_path / "list.txt").write_text("# clips\nb/2.wav\n\n/abs/x.wav\n")
    assert list(iter_files_from(tmp_path / "list.txt")) == [str(tmp_path / "b/2.wav"), "/abs/x.wav"]
    assert [len(p) for p in partitions(iter(map(str, range(5))), 2)] == [2, 2, 1]
    # with the count known, the last 2 x 256 files go in 32-file partitions (workers finish
    # together); the cut depends on the count only, and every file is in exactly one partition
    cut = list(partitions(iter(map(str, range(1440))), 256, total=1440))
    assert [len(p) for p in cut] == [256, 256, 256, 160] + [32] * 16
    assert [x for p in cut for x in p] == list(map(str, range(1440)))
    assert [len(p) for p in partitions(iter(map(str, range(300))), 256, total=300)] == [32] * 9 + [
        12
    ]
    assert [len(p) for p in partitions(iter(map(str, range(17))), 5, total=17)] == [5, 5, 5, 2]


def test_partitions_keep_each_session_whole() -> None:
    from serkit.distributed._listing import check_groups

    paths = [f"{s}/{i}.wav" for s, n in (("a", 5), ("b", 1), ("c", 7), ("d", 2)) for i in range(n)]
    session = lambda path: path.split("/")[0]  # noqa: E731
    parts = list(partitions(paths, 3, total=len(paths), group=session))
    assert [p for part in parts for p in part] == paths  # every path once, in order
    assert [sorted({session(p) for p in part}) for part in parts] == [["a"], ["b", "c"], ["d"]]
    assert check_groups(paths, session) == len(paths)
    with pytest.raises(ParameterError, match=r"a/0.wav: its session 'a' .* appeared earlier"):
        check_groups([*paths, "a/0.wav"], session)


def test_job_folder_refuses_another_job(tmp_path: Path) -> None:
    JobFolder(tmp_path / "out", "features", {"features": "stats"})
    JobFolder(tmp_path / "out", "features", {"features": "stats"})  # the same job: fine
    with pytest.raises(ValueError, match="other settings"):
        JobFolder(tmp_path / "out", "features", {"features": "seed"})


def test_cli_dask_options_need_dask(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serkit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(EXAMPLES), "--out", "x.parquet"]) == 2
    assert "--out needs --dask" in capsys.readouterr().err
    assert main(["features", str(EXAMPLES), "--out", "x.parquet", "--files-from", "l"]) == 2
    assert "--files-from needs --dask" in capsys.readouterr().err
    assert main(["predict", "--files-from", "nowhere.txt"]) == 2  # local: read, not refused
    assert "nowhere.txt: cannot read the file list" in capsys.readouterr().err
    dask_out = ["--dask", "local:1", "--out", "p"]
    assert main(["predict", str(EXAMPLES), "--speaker-norm", *dask_out]) == 2
    assert "--speaker-norm with --dask needs --group-by" in capsys.readouterr().err
    assert main(["predict", str(EXAMPLES), "--group-by", "(", *dask_out]) == 2
    assert "--group-by '(' is not a valid regular expression" in capsys.readouterr().err
    assert main(["features", str(EXAMPLES), "--out", "x", "--dask", "nowhere"]) == 2
    assert "give a scheduler address" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_no_dask_import_without_the_flag(tmp_path: Path) -> None:
    code = (
        "import sys; from serkit.cli import main;"
        f"rc = main(['features', {str(EXAMPLES)!r}, '--out', {str(tmp_path / 'f.parquet')!r},"
        "'--no-cache', '-q', '--jobs', '1']);"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')];"
        "print(rc, bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr[-2000:]


def test_dask_flag_without_dask_says_how_to_install_it(tmp_path: Path) -> None:
    """Without the dist extra, --dask is one line naming the extra, not a traceback."""
    code = (
        "import sys; sys.modules['dask'] = sys.modules['distributed'] = None;"
        "from serkit.cli import main;"
        f"print(main(['predict', {str(EXAMPLES)!r}, '--dask', 'local:1', '--out',"
        f" {str(tmp_path / 'p')!r}]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert out.stdout.strip().splitlines()[-1] == "2", out.stderr[-2000:]
    assert "pip install 'serkit[dist]'" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------ LocalCluster
@needs_dask
def test_local_cluster_features_bit_identical_resumed_and_trainable(
    local_cluster: str, tmp_path: Path
) -> None:
    from serkit.distributed import run_features
    from serkit.workflows import load_table

    bad = tmp_path / "bad" / "03-01-05-01-01-01-22.wav"
    bad.parent.mkdir()
    bad.write_text("not audio")
    files = [*sorted(str(p) for p in EXAMPLES.glob("*.flac")), str(bad)]
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(files))
    out = tmp_path / "feats"
    first = run_features([], out, address=local_cluster, files_from=listing, partition_size=5)
    assert (first.n_clips, first.n_failed, first.n_partitions) == (17, 1, 4)
    rows = read_dataset(out)
    assert sorted(rows["path"]) == sorted(files)
    error = rows.loc[rows["path"] == str(bad), "error"].iloc[0]
    assert str(bad) in error and rows["error"].notna().sum() == 1
    # the local path, feature for feature
    local = load_table(EXAMPLES, features="stats", jobs=1)
    table = read_feature_dataset(out)
    assert table.meta["path"].tolist() == local.meta["path"].tolist()
    assert np.array_equal(table.features, local.features)
    assert table.features.dtype == local.features.dtype == np.float32
    for column in ("speaker", "emotion", "gender", "corpus"):
        assert table.meta[column].tolist() == local.meta[column].astype(str).tolist()
    assert [p for p, _ in table.skipped] == [str(bad)]
    # what train/evaluate read from a dataset folder
    again = load_table(out, features="stats")
    assert np.array_equal(again.features, local.features)
    with pytest.raises(ValueError, match="holds stats features but the models need seed"):
        load_table(out, features="seed")
    # the same command again: nothing computed, nothing duplicated
    second = run_features([], out, address=local_cluster, files_from=listing, partition_size=5)
    assert (second.n_resumed, second.n_clips) == (4, 17)
    assert len(read_dataset(out)) == 17
    # an input that changed: only its partition is computed again
    os.utime(bad, ns=(time.time_ns(), time.time_ns()))
    third = run_features([], out, address=local_cluster, files_from=listing, partition_size=5)
    assert third.n_resumed == 3 and len(read_dataset(out)) == 17


@needs_dask
def test_local_cluster_predictions_equal_the_local_path(local_cluster: str, tmp_path: Path) -> None:
    from serkit.batch import predict_paths
    from serkit.bundles import default_model_path
    from serkit.distributed import run_predictions
    from serkit.recognizer import EmotionRecognizer

    out = tmp_path / "pred.parquet"
    summary = run_predictions([EXAMPLES], out, address=local_cluster, partition_size=6)
    assert (summary.n_clips, summary.n_failed, summary.n_partitions) == (16, 0, 3)
    rows = pd.read_parquet(out).set_index("path")
    rec = EmotionRecognizer.load(default_model_path())
    for pred in predict_paths(rec, [EXAMPLES]):
        row = rows.loc[pred.path]
        assert row["emotion"] == pred.emotion and row["uncertain"] == pred.uncertain
        for label, p in pred.probabilities.items():
            assert row[label] == pytest.approx(p, rel=1e-6, abs=1e-9)
    # --emotions: the workers answer over the set, a job of its own
    four = ["angry", "happy", "neutral", "sad"]
    four_out = tmp_path / "four.parquet"
    run_predictions([EXAMPLES], four_out, address=local_cluster, partition_size=8, emotions=four)
    assert json.loads((four_out / "_serkit_job.json").read_text())["identity"]["emotions"] == four
    four_rows = pd.read_parquet(four_out).set_index("path")
    for pred in predict_paths(rec.restrict(four), [EXAMPLES]):
        assert four_rows.loc[pred.path, "emotion"] == pred.emotion
        assert [c for c in four_rows.columns if c in four] == four
        for label, p in pred.probabilities.items():
            assert four_rows.loc[pred.path, label] == pytest.approx(p, rel=1e-6, abs=1e-9)
    with pytest.raises(ParameterError, match="cannot answer bored"):
        run_predictions([EXAMPLES], tmp_path / "x.parquet", address=local_cluster,
                        emotions=["bored"])  # fmt: skip
    assert not (tmp_path / "x.parquet").exists()
    # --no-calibration: the bundle's calibration dropped on the workers too, a job of its own
    raw_out = tmp_path / "raw.parquet"
    run_predictions([EXAMPLES], raw_out, address=local_cluster, partition_size=8, calibrated=False)
    job = json.loads((raw_out / "_serkit_job.json").read_text())
    assert job["identity"]["calibrated"] is False
    assert "calibrated" not in json.loads((out / "_serkit_job.json").read_text())["identity"]
    raw_rows = pd.read_parquet(raw_out).set_index("path")
    rec.calibration_ = None
    for pred in predict_paths(rec, [EXAMPLES]):
        for label, p in pred.probabilities.items():
            assert raw_rows.loc[pred.path, label] == pytest.approx(p, rel=1e-6, abs=1e-9)


def test_local_cluster_group_by_equals_the_local_path(local_cluster: str, tmp_path: Path) -> None:
    """``group_by`` on the cluster: whole sessions per partition, each normalised with its
    own files, the same probabilities as ``serkit predict --group-by`` without Dask; a
    listing whose sessions are interleaved is refused before any job folder is made."""
    from serkit.batch import predict_paths
    from serkit.bundles import default_model_path
    from serkit.distributed import run_predictions
    from serkit.recognizer import EmotionRecognizer

    actor = r"-(\d+)\.flac$"
    with pytest.raises(ParameterError, match="appeared earlier in the listing"):
        run_predictions([EXAMPLES], tmp_path / "mixed", address=local_cluster, group_by=actor)
    assert not (tmp_path / "mixed").exists()
    by_actor = sorted(map(str, EXAMPLES.glob("*.flac")), key=lambda p: (p[-7:], p))
    listing = tmp_path / "by-actor.txt"
    listing.write_text("\n".join(by_actor) + "\n")
    out = tmp_path / "sessions"
    summary = run_predictions(
        [], out, address=local_cluster, files_from=listing, partition_size=3, group_by=actor
    )
    assert (summary.n_clips, summary.n_failed, summary.n_partitions) == (16, 0, 2)
    rows = pd.read_parquet(out).set_index("path")
    assert list(rows.columns[:2]) == ["session", "emotion"]
    assert sorted(rows["session"].unique()) == ["23", "24"]
    rec = EmotionRecognizer.load(default_model_path())
    local = predict_paths(rec, by_actor, speaker_norm=True, group_by=actor)
    alone = predict_paths(rec, by_actor)
    assert any(a.probabilities != b.probabilities for a, b in zip(local, alone, strict=True))
    for pred in local:
        for label, p in pred.probabilities.items():
            assert rows.loc[pred.path, label] == pytest.approx(p, rel=1e-6, abs=1e-9)


@needs_dask
def test_cli_local_n_prints_the_dashboard(tmp_path: Path) -> None:
    proc = _serkit(
        [
            "predict",
            str(EXAMPLES / "03-01-01-01-01-01-23.flac"),
            "--dask",
            "local:1",
            "--out",
            str(tmp_path / "p"),
            "--json",
        ]
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    assert "Dask dashboard: http" in stderr
    assert json.loads(stdout)["n_clips"] == 1


# ------------------------------------------------------------------ scheduler + workers
@needs_dask
def test_scheduler_and_workers_kill_worker_then_client(
    start_cluster: Callable, ravdess_root: Path, tmp_path: Path
) -> None:
    cluster = start_cluster(2)
    listing, paths = _ravdess_list(ravdess_root, 48, tmp_path / "files.txt")
    out = tmp_path / "feats"
    cmd = [
        "features",
        "--files-from",
        str(listing),
        "--out",
        str(out),
        "--dask",
        cluster.address,
        "--partition-size",
        "2",
        "--no-cache",
        "-q",
        "--json",
    ]

    # kill -9 a worker (its nanny's whole group: a machine lost) mid-run: Dask reruns its task
    proc = _serkit(cmd)
    done_at_kill = _wait_manifests(out, 2, proc)
    os.killpg(cluster.workers[0].pid, signal.SIGKILL)
    assert done_at_kill < 24, "the job finished before the worker was killed"
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert json.loads(stdout)["n_clips"] == 48
    rows = read_dataset(out)
    assert len(rows) == 48 and rows["path"].is_unique and set(rows["path"]) == set(paths)

    # kill -9 the client mid-run, then the same command: complete, nothing twice
    out2 = tmp_path / "feats2"
    cmd2 = [*cmd[:4], str(out2), *cmd[5:]]
    proc = _serkit(cmd2)
    done_at_kill = _wait_manifests(out2, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert done_at_kill < 24, "the job finished before the client was killed"
    proc = _serkit(cmd2)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout)
    assert summary["n_clips"] == 48 and summary["n_resumed"] >= 3
    rows2 = read_dataset(out2)
    assert len(rows2) == 48 and rows2["path"].is_unique and set(rows2["path"]) == set(paths)
    assert not list(out2.glob(".*.tmp"))
    # both runs gave the same features
    a = rows.sort_values("path").drop(columns=["extra"]).reset_index(drop=True)
    b = rows2.sort_values("path").drop(columns=["extra"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


@needs_dask
def test_kill_scheduler_then_rerun_on_a_new_cluster(
    start_cluster: Callable, ravdess_root: Path, tmp_path: Path
) -> None:
    cluster = start_cluster(1)
    listing, paths = _ravdess_list(ravdess_root, 24, tmp_path / "files.txt")
    out = tmp_path / "feats"
    cmd = [
        "features",
        "--files-from",
        str(listing),
        "--out",
        str(out),
        "--partition-size",
        "2",
        "--no-cache",
        "-q",
        "--json",
    ]
    proc = _serkit([*cmd, "--dask", cluster.address])
    done_at_kill = _wait_manifests(out, 2, proc)
    os.killpg(cluster.scheduler.pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert done_at_kill < 12, "the job finished before the scheduler was killed"
    assert proc.returncode == 2 and "run the same command again" in stderr, stderr[-2000:]
    proc = _serkit([*cmd, "--dask", start_cluster(1).address])
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert json.loads(stdout)["n_resumed"] >= 2
    rows = read_dataset(out)
    assert len(rows) == 24 and rows["path"].is_unique and set(rows["path"]) == set(paths)


@needs_dask
def test_scheduler_and_workers_predictions_equal_the_local_path(
    start_cluster: Callable, tmp_path: Path
) -> None:
    from distributed import Client

    from serkit.batch import predict_paths
    from serkit.bundles import default_model_path
    from serkit.distributed import run_predictions
    from serkit.distributed._worker import malloc_state
    from serkit.recognizer import EmotionRecognizer

    address = start_cluster(2).address
    out = tmp_path / "pred.parquet"
    # workers started by `dask worker` (with a nanny) get Dask's MALLOC_TRIM_THRESHOLD_;
    # serkit resets glibc's thresholds in them at run time, so there is nothing to warn about
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*MALLOC_TRIM_THRESHOLD_")
        summary = run_predictions([EXAMPLES], out, address=address, partition_size=4)
    with Client(address) as client:
        states = list(client.run(malloc_state).values())
    assert states == [{"trimmed": True, "tuned": True}] * 2
    assert summary.n_clips == 16
    rows = pd.read_parquet(out).set_index("path")
    rec = EmotionRecognizer.load(default_model_path())
    for pred in predict_paths(rec, [EXAMPLES]):
        assert rows.loc[pred.path, "emotion"] == pred.emotion
        got = [rows.loc[pred.path, c] for c in pred.probabilities]
        np.testing.assert_allclose(got, list(pred.probabilities.values()), rtol=1e-6, atol=1e-9)


@needs_dask
def test_local_n_workers_keep_glibc_dynamic_mmap_threshold() -> None:
    """serkit's own LocalCluster does not hand its workers Dask's MALLOC_TRIM_THRESHOLD_,
    which made feature extraction 40 % slower there (see ``_keep_malloc_dynamic``)."""
    import dask

    from serkit.distributed._client import connect

    os.environ.update({k: v for k, v in _env().items() if k not in os.environ})
    key = "distributed.nanny.pre-spawn-environ"
    with dask.config.set({f"{key}.MALLOC_TRIM_THRESHOLD_": 65536}):
        with connect("local:1") as client:
            seen = client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_")
            threads = client.run(os.getenv, "OMP_NUM_THREADS")
        assert "MALLOC_TRIM_THRESHOLD_" not in dask.config.get(key)
    assert list(seen.values()) == [None]
    assert list(threads.values()) == ["1"]  # the other pre-spawn settings stay


# ------------------------------------------------------------------ glibc malloc in workers
_PAGE_FAULTS = """
import resource
import numpy as np
from serkit.distributed._worker import prepare_worker

def faults(n=40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        buffer = np.ones(1 << 18)  # 2 MiB, every page written, as an STFT buffer is
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

before = faults()
tuned = prepare_worker()
print(before, tuned, faults(), prepare_worker())
"""


def _page_faults(**environ: str) -> tuple[int, bool, int, bool]:
    env = {k: v for k, v in _env().items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _PAGE_FAULTS],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, tuned, after, again = done.stdout.split()
    return int(before), tuned == "True", int(after), again == "True"


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION")),
    reason="glibc only: the malloc thresholds are glibc's",
)
def test_worker_mallopt_restores_large_buffer_reuse() -> None:
    """With Dask's nanny variable every 2 MiB buffer is a fresh mmap (512 page faults each);
    after ``prepare_worker`` the heap serves them again, as glibc's dynamic default does."""
    trimmed, tuned, after, again = _page_faults(MALLOC_TRIM_THRESHOLD_="65536")
    assert tuned and again  # done once, remembered
    assert trimmed > 40 * 400 and after < trimmed / 10
    # without a threshold in the environment glibc's dynamic default is left alone
    dynamic, tuned, after, _ = _page_faults()
    assert not tuned and dynamic < trimmed / 10 and after < trimmed / 10
    # the opt-out keeps Dask's setting
    _, tuned, after, _ = _page_faults(MALLOC_TRIM_THRESHOLD_="65536", SERKIT_DASK_MALLOPT="0")
    assert not tuned and after > 40 * 400


def test_warning_only_where_the_malloc_fix_could_not_apply() -> None:
    from serkit import SerkitWarning
    from serkit.distributed._client import _check_worker_malloc

    class FakeClient:
        def __init__(self, states: dict[str, dict[str, bool]]) -> None:
            self.states = states

        def run(self, function: Callable) -> dict[str, dict[str, bool]]:
            return self.states

    fixed = {"tcp://a": {"trimmed": True, "tuned": True}, "tcp://b": {"trimmed": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_worker_malloc(FakeClient(fixed))
    stuck = {**fixed, "tcp://c": {"trimmed": True, "tuned": False}}
    with pytest.warns(SerkitWarning, match="1 of 3 Dask workers run with MALLOC_TRIM_THRESHOLD_"):
        _check_worker_malloc(FakeClient(stuck))
