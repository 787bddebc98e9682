"""The client side of a scale-out job: connect, submit partitions, record, report progress.

The client streams the file listing, cuts it into partitions, skips those the
manifest already records with the same inputs, and keeps a bounded number of
tasks on the cluster (so the scheduler's task count is bounded by the window,
not by the number of files). Only small summaries come back; the rows stay in
the partition files the workers wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ParameterError, SerkitError, SerkitWarning
from .._version import __version__
from ..files import session_key
from ._dataset import JobFolder
from ._listing import check_groups, iter_audio_files, iter_files_from, partition_key, partitions
from ._tasks import LABELLED_CORPORA, bundle_digest, features_partition, predict_partition
from ._worker import malloc_state

__all__ = ["JobSummary", "connect", "run_features", "run_predictions"]

logger = logging.getLogger(__name__)

DEFAULT_PARTITION_SIZE = 256
WORKER_WAIT_S = 120


@dataclass
class JobSummary:
    """What a job did.

    Attributes
    ----------
    out : Path
        The dataset folder.
    n_clips : int
        Rows in the dataset (clips, failed ones included).
    n_failed : int
        Rows with an error.
    n_excluded : int
        Clips left out by the emotion subset.
    n_partitions : int
        Partitions in the job.
    n_resumed : int
        Partitions found finished by an earlier run and skipped.
    seconds : float
        Wall time of this run.
    dashboard : str or None
        The Dask dashboard link.
    failed_partitions : dict of int to str
        Partitions whose task failed (not a file: the task itself); re-run to retry.
    """

    out: Path
    n_clips: int = 0
    n_failed: int = 0
    n_excluded: int = 0
    n_partitions: int = 0
    n_resumed: int = 0
    seconds: float = 0.0
    dashboard: str | None = None
    failed_partitions: dict[int, str] = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        """Clips computed per second in this run (resumed partitions not counted)."""
        return 0.0 if self.seconds <= 0 else self._computed / self.seconds

    _computed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "out": str(self.out),
            "n_clips": self.n_clips,
            "n_failed": self.n_failed,
            "n_excluded": self.n_excluded,
            "n_partitions": self.n_partitions,
            "n_resumed": self.n_resumed,
            "seconds": round(self.seconds, 3),
            "clips_per_second": round(self.clips_per_second, 2),
            "dashboard": self.dashboard,
            "failed_partitions": {str(k): v for k, v in self.failed_partitions.items()},
        }


def check_address(address: str) -> int:
    """Worker count of a ``local:N`` address, 0 for a scheduler address.

    Raises
    ------
    ParameterError
        For ``local:`` without a positive count, or text that is no address.
    """
    if address.startswith("local:"):
        try:
            n_workers = int(address.split(":", 1)[1])
        except ValueError:
            n_workers = 0
        if n_workers < 1:
            raise ParameterError(f"--dask {address!r}: expected local:N with N >= 1 workers")
        return n_workers
    if ":" not in address:
        raise ParameterError(
            f"--dask {address!r}: give a scheduler address (tcp://host:8786) or local:N"
        )
    return 0


def _keep_malloc_dynamic() -> None:
    """Stop Dask's nannies from setting ``MALLOC_TRIM_THRESHOLD_`` in the workers they start.

    Setting that variable (Dask sets 65536 by default) turns off glibc's dynamic mmap
    threshold, so every large numpy buffer of an STFT is mapped and unmapped afresh: feature
    extraction ran 40 % slower with it (480 RAVDESS clips, ``stats``, ``--jobs 2``: 16.5 s
    against 11.8 s). Only the LocalCluster serkit starts itself is affected; a user's own
    workers keep their configuration, and serkit's tasks reset glibc's thresholds there at
    run time instead (:mod:`serkit.distributed._worker`).
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    configured = environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    if configured is not None:
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ})
        # an earlier nanny in this process also left it in os.environ, which workers inherit
        if os.environ.get("MALLOC_TRIM_THRESHOLD_") == str(configured):
            del os.environ["MALLOC_TRIM_THRESHOLD_"]


PROFILE_VARIABLE = "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"


def _local_config() -> dict[str, Any]:
    """Dask settings for the LocalCluster serkit starts itself: no statistical profiler.

    Every Dask worker samples its threads' stacks (``distributed.worker.profile``, every
    10 ms) for the dashboard's profile page. On a small machine that sampling competes with
    the clips for the CPU and the GIL: ``--dask local:2`` predicted the whole of RAVDESS at
    80 % of local ``--jobs 2``'s rate with it and 90 % without it (2 cores,
    ``benchmarks/distributed.py``). Setting ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED``
    yourself keeps your choice; a user's own cluster keeps its configuration.
    """
    if PROFILE_VARIABLE in os.environ:
        return {}
    return {"distributed.worker.profile.enabled": False}


def _check_worker_malloc(client: Any) -> None:
    """Reset glibc's malloc thresholds on a running cluster's workers now (each task does it
    too, for workers that join later) and warn where a worker's environment set
    ``MALLOC_TRIM_THRESHOLD_`` (Dask's nanny default) and that was not possible: there,
    feature extraction ran about half as fast (see :mod:`serkit.distributed._worker`)."""
    try:
        states = client.run(malloc_state)
    except Exception:  # a worker that cannot answer is the job's business, not this check's
        return
    trimmed = [worker for worker, state in states.items() if state.get("trimmed")]
    slow = [worker for worker in trimmed if not states[worker].get("tuned")]
    if trimmed and not slow:
        logger.info(
            "%d of %d Dask workers run with a malloc threshold set (Dask's nanny default); "
            "serkit reset glibc's mmap and trim thresholds there with mallopt",
            len(trimmed),
            len(states),
        )
    if slow:
        warnings.warn(
            f"{len(slow)} of {len(states)} Dask workers run with MALLOC_TRIM_THRESHOLD_ set "
            "(Dask's nanny default) and serkit could not reset glibc's malloc thresholds there "
            "(not glibc, or SERKIT_DASK_MALLOPT=0); with that variable serkit's feature "
            "extraction ran about half as fast. Start them with `dask worker --no-nanny` or "
            "remove MALLOC_TRIM_THRESHOLD_ from distributed.nanny.pre-spawn-environ in their "
            "Dask configuration",
            SerkitWarning,
            stacklevel=3,
        )


@contextmanager
def connect(address: str, *, announce: Callable[[str], None] | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``tcp://host:port`` or ``local:N``.

    ``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes
    with one thread each (they inherit this process's environment) and stops it
    on exit; its workers skip the interpreter's teardown once closed
    (:class:`serkit.distributed._local.QuickExit`). ``announce`` receives the dashboard
    link.

    Raises
    ------
    ParameterError
        For a malformed address; SerkitError when the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "--dask needs Dask: pip install 'serkit[dist]' (dask[distributed])"
        ) from exc
    cluster = None
    n_workers = check_address(address)
    if n_workers:
        import dask

        _keep_malloc_dynamic()
        with dask.config.set(_local_config()):  # the nannies pass it to their workers
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
            )
        target: Any = cluster
    else:
        target = address
    try:
        try:
            client = Client(target, timeout="30s")
        except OSError as exc:
            raise SerkitError(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
        try:
            if announce is not None:
                announce(client.dashboard_link)
            if n_workers:
                from ._local import QuickExit

                client.register_plugin(QuickExit())  # its workers end with the command
            else:
                _check_worker_malloc(client)
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _inputs(inputs: Sequence[str | os.PathLike], files_from: str | os.PathLike | None):
    """A function returning a fresh streamed listing (called once to count, once to run)."""
    if files_from is not None:
        return lambda: iter_files_from(files_from)
    return lambda: iter_audio_files(inputs)


def _job_key(out: Path, kind: str, identity: dict[str, Any]) -> str:
    text = json.dumps(
        {"out": str(out.resolve()), "kind": kind, **identity}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _run(
    client: Any,
    folder: JobFolder,
    kind: str,
    listing: Callable[[], Iterable[str]],
    partition_size: int,
    task: Callable[..., dict[str, Any]],
    task_kwargs: dict[str, Any],
    *,
    progress: bool,
    group: Callable[[str], str] | None = None,
    total: int | None = None,
) -> JobSummary:
    from distributed import as_completed
    from tqdm.auto import tqdm

    summary = JobSummary(out=folder.root, dashboard=client.dashboard_link)
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError as exc:
            raise SerkitError(
                f"no Dask worker joined the scheduler {client.scheduler.address} in "
                f"{WORKER_WAIT_S} s; start workers with 'dask worker ADDRESS'"
            ) from exc
    start = time.perf_counter()
    # a first pass counts the files (streamed): the progress total, and where the finer
    # tail partitions begin (see partitions); with sessions the caller counted them already
    if total is None:
        total = sum(1 for _ in listing())
    nthreads = sum(client.nthreads().values()) or 1
    window = max(4, 2 * nthreads)
    job = _job_key(folder.root, kind, folder.identity)
    bar = tqdm(
        total=total,
        unit="clip",
        desc=f"{kind} on dask",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    pending: dict[str, tuple[int, str]] = {}
    done = as_completed()

    def handle(future: Any) -> None:
        index, key = pending.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:
            if client.status not in ("running", "connecting"):
                raise SerkitError(
                    f"lost the Dask scheduler ({exc}); run the same command again to resume"
                ) from exc
            summary.failed_partitions[index] = f"{type(exc).__name__}: {exc}"
            logger.warning("partition %d failed: %s", index, exc)
            return
        finally:
            future.release()
        result.pop("feature_names", None)  # the job file lists them once
        folder.record(index, {**result, "key": key})
        summary.n_clips += result["rows"]
        summary.n_failed += result["failed"]
        summary.n_excluded += result["excluded"]
        summary._computed += result["rows"]
        bar.update(result["rows"] + result["excluded"])
        bar.set_postfix(failed=summary.n_failed, refresh=False)

    try:
        for index, paths in enumerate(partitions(listing(), partition_size, total, group)):
            summary.n_partitions += 1
            key = partition_key(paths)
            entry = folder.finished(index, key)
            if entry is not None:
                summary.n_resumed += 1
                summary.n_clips += int(entry["rows"])
                summary.n_failed += int(entry["failed"])
                summary.n_excluded += int(entry.get("excluded", 0))
                bar.update(len(paths))
                continue
            future = client.submit(
                task,
                index,
                paths,
                **task_kwargs,
                key=f"serkit-{kind}-{job}-{index}-{key[:8]}",
                pure=False,
                retries=2,
            )
            pending[future.key] = (index, key)
            done.add(future)
            while done.count() >= window:
                handle(next(done))
        while done.count():
            handle(next(done))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def run_features(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    address: str,
    features: Any = "stats",
    corpus: str = "ravdess",
    root: str | os.PathLike | None = None,
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    files_from: str | os.PathLike | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    cache_dir: str | os.PathLike | None = None,
    max_duration: float | None = 600.0,
    progress: bool = False,
    announce: Callable[[str], None] | None = None,
) -> JobSummary:
    """Extract features of every audio file on a Dask cluster into a partitioned dataset.

    Parameters
    ----------
    inputs : sequence of path
        Folders (walked recursively) and files; ignored when ``files_from`` is given.
    out : path
        Dataset folder (see :mod:`serkit.distributed._dataset` for the layout).
        Running the same job again resumes it: finished partitions are skipped.
    address : str
        ``tcp://host:port`` of a running scheduler, or ``local:N``.
    features : str or dict
        A vector feature set (``stats``, ``seed``, ``egemaps``, ``compare``).
    corpus : str
        Naming scheme giving each file's labels (:data:`LABELLED_CORPORA`);
        ``none`` for unlabelled archives.
    root : path or None
        The corpus folder (needed by ``folder``); default the first input.
    emotions : sequence of str or None
        Keep only these emotions (canonical names).
    speaker_pattern : str or None
        As in :func:`serkit.corpora.load_folder`.
    files_from : path or None
        A text file listing one audio path per line.
    partition_size : int
        Files per partition (one task, one Parquet file).
    cache_dir : path or None
        Feature cache folder on the workers (``None``: no cache).
    max_duration : float or None
        Longest file accepted, in seconds.
    progress : bool
        Progress bar on stderr (clips done / total, clips/s, failed).
    announce : callable or None
        Called with the dashboard link.

    Returns
    -------
    JobSummary

    Raises
    ------
    ParameterError
        Bad arguments, a sequence feature set, or ``out`` holding another job.
    SerkitError
        When the scheduler is lost (run again to resume).
    """
    from ..features import get_extractor, spec_of

    check_address(address)
    extractor = get_extractor(features)
    if extractor.kind == "sequence":
        raise ParameterError(
            f"feature set {extractor.name!r} gives frame sequences; --dask writes vector sets"
        )
    if corpus not in LABELLED_CORPORA:
        raise ParameterError(
            f"--corpus {corpus} cannot be labelled file by file on a cluster; use one of "
            f"{', '.join(LABELLED_CORPORA)}, or run without --dask"
        )
    if root is None and inputs:
        root = inputs[0]
    root_text = None if root is None else str(Path(root).resolve())
    identity = {
        "features": spec_of(extractor),
        "corpus": corpus,
        "root": root_text,
        "emotions": None if emotions is None else list(emotions),
        "speaker_pattern": speaker_pattern,
    }
    task_kwargs = {
        "features": spec_of(extractor),
        "corpus": corpus,
        "root": root_text,
        "speaker_pattern": speaker_pattern,
        "emotions": None if emotions is None else list(emotions),
        "max_duration": max_duration,
    }
    return _job(
        "features",
        features_partition,
        task_kwargs,
        identity,
        inputs=inputs,
        out=out,
        address=address,
        files_from=files_from,
        partition_size=partition_size,
        cache_dir=cache_dir,
        progress=progress,
        announce=announce,
        feature_names=extractor.feature_names(),
    )


def run_predictions(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    address: str,
    model: str | os.PathLike | None = None,
    files_from: str | os.PathLike | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    announce: Callable[[str], None] | None = None,
    calibrated: bool = True,
    group_by: str | None = None,
    emotions: Sequence[str] | None = None,
) -> JobSummary:
    """Predict every audio file on a Dask cluster into a partitioned Parquet dataset.

    Each worker loads the model once (checked against the client's digest) and
    keeps it for every partition it runs. Parameters as :func:`run_features`;
    ``model`` is a bundle folder visible to the workers at the same path
    (``None``: the model shipped with serkit); ``calibrated=False`` drops the bundle's
    calibration (``--no-calibration``). ``group_by`` (``--group-by``, searched in each
    file's absolute path) normalises each session's files together, as the local path
    does: a partition then ends only where a session ends, and the listing must keep
    each session's files together (checked before the job starts); rows gain a
    ``session`` column. ``emotions`` (``--emotions``) answers over that label set.

    Returns
    -------
    JobSummary

    Raises
    ------
    ParameterError
        Bad arguments, or ``out`` holding another job.
    SerkitError
        When the scheduler is lost (run again to resume).
    """
    from ..bundles import read_manifest, resolve_model_path

    check_address(address)
    model_dir = resolve_model_path(model).resolve()
    manifest = read_manifest(model_dir)  # a clear error here rather than on every worker
    digest = bundle_digest(model_dir)
    identity = {
        "model": str(model_dir),
        "model_digest": digest,
        "classes": manifest.get("classes"),
    }
    task_kwargs = {"model_path": str(model_dir), "model_digest": digest, "calibrated": calibrated}
    if not calibrated:  # only then, so folders of earlier calibrated jobs still resume
        identity["calibrated"] = False
    if emotions is not None:  # checked here, not on every worker
        from ..answers import restriction_matrix

        restriction_matrix(manifest.get("classes") or [], list(emotions))
        identity["emotions"] = list(emotions)
        identity["classes"] = list(emotions)
        task_kwargs["emotions"] = list(emotions)
    group, total = None, None
    if group_by is not None:  # checked before the job folder exists: a typo costs nothing
        group = session_key(group_by)
        total = check_groups(_inputs(inputs, files_from)(), group)
        identity["group_by"] = group_by
        task_kwargs["group_by"] = group_by
    return _job(
        "predictions",
        predict_partition,
        task_kwargs,
        identity,
        inputs=inputs,
        out=out,
        address=address,
        files_from=files_from,
        partition_size=partition_size,
        cache_dir=cache_dir,
        progress=progress,
        announce=announce,
        group=group,
        total=total,
    )


def _job(
    kind: str,
    task: Callable[..., dict[str, Any]],
    task_kwargs: dict[str, Any],
    identity: dict[str, Any],
    *,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    address: str,
    files_from: str | os.PathLike | None,
    partition_size: int,
    cache_dir: str | os.PathLike | None,
    progress: bool,
    announce: Callable[[str], None] | None,
    group: Callable[[str], str] | None = None,
    total: int | None = None,
    **finish: Any,
) -> JobSummary:
    """What both kinds of job share: the job's identity, its folder, the cluster, the run."""
    identity = {
        **identity,
        "inputs": [str(Path(p).resolve()) for p in inputs] if files_from is None else None,
        "files_from": None if files_from is None else str(Path(files_from).resolve()),
        "partition_size": partition_size,
        "serkit": __version__,
    }
    folder = JobFolder(out, kind, identity)
    task_kwargs = {
        **task_kwargs,
        "out": str(folder.root.resolve()),
        "cache_dir": None if cache_dir is None else str(cache_dir),
    }
    with connect(address, announce=announce) as client:
        summary = _run(
            client,
            folder,
            kind,
            _inputs(inputs, files_from),
            partition_size,
            task,
            task_kwargs,
            progress=progress,
            group=group,
            total=total,
        )
    _finish(folder, summary, **finish)
    return summary


def _finish(folder: JobFolder, summary: JobSummary, **extra: Any) -> None:
    if summary.failed_partitions:
        first = min(summary.failed_partitions)
        raise SerkitError(
            f"{len(summary.failed_partitions)} of {summary.n_partitions} partitions failed "
            f"(partition {first}: {summary.failed_partitions[first]}); the others are saved in "
            f"{folder.root}; run the same command again to retry them"
        )
    if summary.n_partitions == 0:
        raise ParameterError("no audio files found in the given paths")
    folder.finish(summary.n_partitions, n_clips=summary.n_clips, n_failed=summary.n_failed, **extra)
