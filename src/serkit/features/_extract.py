"""Extract features from many files in parallel, through the cache, never losing a result.

A file that cannot be decoded or processed is reported in
:attr:`ExtractionResult.errors` with a message naming it and the cause; every
other file still gets its features.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import audio
from .._errors import AudioError, ParameterError
from .._lifeline import die_with_parent
from .._threads import one_blas_thread
from .._version import __version__
from ._base import spec_key, spec_of
from ._cache import FeatureCache, file_digest
from ._numba import prepare_numba
from ._table import get_extractor

__all__ = ["ExtractionResult", "extract_files", "extract_signal"]

logger = logging.getLogger(__name__)

_TASK_SIZE = 8  # files per task sent to a worker process


@dataclass
class ExtractionResult:
    """Features of a list of files, in the order given, with the failures named.

    Attributes
    ----------
    paths : list of Path
        The files, in input order.
    values : list of np.ndarray or None
        Features per file (``None`` where it failed).
    errors : dict of int to str
        Input index -> message naming the file and the cause.
    n_cached : int
        How many files were read back from the cache.
    feature_names : list of str
        Names of the feature columns.
    """

    paths: list[Path]
    values: list[np.ndarray | None]
    errors: dict[int, str] = field(default_factory=dict)
    n_cached: int = 0
    feature_names: list[str] = field(default_factory=list)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask [shape=(n_files,)] of files that have features."""
        return np.array([v is not None for v in self.values], dtype=bool)

    def matrix(self) -> np.ndarray:
        """Stacked vectors of the files that succeeded [shape=(n_ok, n_features)].

        Raises
        ------
        ParameterError
            If the features are frame sequences (use :attr:`values` instead).
        """
        rows = [v for v in self.values if v is not None]
        if rows and rows[0].ndim != 1:
            raise ParameterError("sequence features cannot be stacked into a matrix; use .values")
        if not rows:
            return np.zeros((0, len(self.feature_names)), dtype=np.float32)
        return np.vstack(rows).astype(np.float32, copy=False)


def extract_signal(y: np.ndarray, sr: int, features: Any = "seed") -> np.ndarray:
    """Features of one in-memory signal, after serkit's audio checks and resampling.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Signal.
    sr : int > 0
        Its sample rate.
    features : str, dict or extractor
        Feature set (see :func:`~serkit.features.get_extractor`).

    Returns
    -------
    np.ndarray
        Vector [shape=(n_features,)] or frames [shape=(n_frames, n_features)].

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(16000) / 16000
    >>> extract_signal(0.3 * np.sin(2 * np.pi * 200 * t), 16000, "seed:groups=mfcc").shape
    (40,)
    """
    extractor = get_extractor(features)
    y, sr = audio.prepare_signal(y, sr)
    return np.asarray(extractor.extract(y, sr), dtype=np.float32)


def _extract_path(
    path: str, extractor: Any, max_duration: float | None, transform: Any = None
) -> np.ndarray:
    y, sr = audio.load(path, max_duration=max_duration)
    if transform is not None:
        y = transform(y, sr)
    return np.asarray(extractor.extract(y, sr), dtype=np.float32)


def _run_task(
    items: list[tuple[int, str]], extractor: Any, max_duration: float | None, transform: Any = None
) -> list[tuple[int, np.ndarray | None, str | None]]:
    """Worker body: features or an error message for each (index, path)."""
    out: list[tuple[int, np.ndarray | None, str | None]] = []
    for index, path in items:
        try:
            out.append((index, _extract_path(path, extractor, max_duration, transform), None))
        except AudioError as exc:
            out.append((index, None, str(exc)))
        except Exception as exc:  # an extractor failing on odd input must not stop the batch
            out.append(
                (index, None, f"{path}: feature extraction failed ({type(exc).__name__}: {exc})")
            )
    return out


def _init_worker(parent: int | None = None) -> None:
    """One BLAS thread per worker: the processes already use every core, and oversubscribed
    BLAS threads made corpus extraction 2.5-4.5 times slower on 2 cores. ``parent`` is the
    PID of the process that started the pool: the worker ends when it does."""
    from threadpoolctl import threadpool_limits

    die_with_parent(parent)  # a killed serkit must not leave its workers behind
    threadpool_limits(1)


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork is fast and inherits imported modules; elsewhere fall back to spawn
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def extract_files(
    paths: Iterable[str | os.PathLike],
    features: Any = "seed",
    *,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    max_duration: float | None = 600.0,
    transform: Any = None,
) -> ExtractionResult:
    """Extract features from audio files, in parallel and through an optional cache.

    Parameters
    ----------
    paths : iterable of path
        Audio files.
    features : str, dict or extractor
        Feature set (see :func:`~serkit.features.get_extractor`).
    jobs : int or None
        Worker processes; ``None`` uses every core this process may run on,
        ``1`` runs in this process.
    cache_dir : path or None
        Feature cache folder (:class:`FeatureCache`); ``None`` disables caching.
    progress : bool
        Show a progress bar on stderr.
    max_duration : float or None
        Longest file accepted, in seconds (see :func:`serkit.audio.load`).
    transform : callable or None
        Applied to each decoded signal before extraction, ``transform(y, sr) -> y``,
        e.g. a :class:`serkit.augment.Chain`. Its ``spec()`` joins the cache key, so
        it must be deterministic for a given clip.

    Returns
    -------
    ExtractionResult
        Features in input order; failures in ``errors``, never raised.

    Raises
    ------
    ParameterError
        For an unknown feature set or ``jobs < 1``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, soundfile as sf
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> t = np.arange(16000) / 16000
    >>> sf.write(d / "a.wav", 0.3 * np.sin(2 * np.pi * 200 * t), 16000)
    >>> (d / "b.wav").write_text("not audio")
    9
    >>> res = extract_files([d / "a.wav", d / "b.wav"], "seed", jobs=1)
    >>> res.matrix().shape, sorted(res.errors)
    ((1, 180), [1])
    """
    extractor = get_extractor(features)
    path_list = [Path(p) for p in paths]
    if jobs is not None and jobs < 1:
        raise ParameterError(f"jobs must be >= 1 or None; got {jobs}")
    n_jobs = jobs or _default_jobs()
    result = ExtractionResult(
        paths=path_list, values=[None] * len(path_list), feature_names=extractor.feature_names()
    )
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    transform_spec = transform.spec() if transform is not None else None
    key = spec_key(extractor, sr=audio.SAMPLE_RATE, version=__version__, transform=transform_spec)
    digests: dict[int, str] = {}
    todo: list[tuple[int, str]] = []
    for index, path in enumerate(path_list):
        if cache is not None:
            try:
                digests[index] = file_digest(path)
            except OSError as exc:
                result.errors[index] = f"{path}: cannot read file ({exc.strerror or exc})"
                continue
            cached = cache.get(
                key,
                digests[index],
                n_features=len(result.feature_names) or None,
                sequence=extractor.kind == "sequence",
            )
            if cached is not None:
                result.values[index] = cached
                result.n_cached += 1
                continue
        todo.append((index, os.fspath(path)))
    if cache is not None and todo:
        spec = spec_of(extractor)
        if transform_spec is not None:
            spec = {**spec, "transform": transform_spec}
        cache.describe(key, spec, version=__version__, sr=audio.SAMPLE_RATE)
    logger.info(
        "%d files: %d from cache, %d to extract with %d job(s)",
        len(path_list),
        result.n_cached,
        len(todo),
        n_jobs,
    )

    def store(batch: list[tuple[int, np.ndarray | None, str | None]]) -> None:
        for index, value, error in batch:
            if value is None:
                result.errors[index] = error or f"{path_list[index]}: failed"
                continue
            result.values[index] = value
            if cache is not None:
                cache.put(key, digests[index], value)

    _run_all(todo, extractor, max_duration, n_jobs, progress, store, transform)
    return result


def _run_all(
    todo: Sequence[tuple[int, str]],
    extractor: Any,
    max_duration: float | None,
    n_jobs: int,
    progress: bool,
    store: Any,
    transform: Any = None,
) -> None:
    from tqdm.auto import tqdm

    if not todo:
        return
    bar = tqdm(
        total=len(todo), disable=not progress, unit="clip", desc=f"{extractor.name} features"
    )
    tasks = [list(todo[i : i + _TASK_SIZE]) for i in range(0, len(todo), _TASK_SIZE)]
    parallel = not (n_jobs == 1 or len(todo) <= _TASK_SIZE)
    # a crashing numba cache is found (and cured) in a child process, and workers get
    # compiled functions from this one instead of racing to write the cache
    prepare_numba(extractor, warm=parallel)
    try:
        if not parallel:
            # one file at a time, so an interruption keeps everything finished so far; one
            # BLAS thread as in the workers, so results do not depend on the number of jobs
            with one_blas_thread():
                for item in todo:
                    store(_run_task([item], extractor, max_duration, transform))
                    bar.update(1)
            return
        leftover: list[list[tuple[int, str]]] = []
        with ProcessPoolExecutor(
            max_workers=n_jobs,
            mp_context=_pool_context(),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        ) as pool:
            pending: dict[Future, list[tuple[int, str]]] = {}
            queue = iter(tasks)
            # a bounded number of tasks in flight keeps memory flat on huge lists
            for task in queue:
                pending[pool.submit(_run_task, task, extractor, max_duration, transform)] = task
                if len(pending) >= 4 * n_jobs:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        batch = future.result()
                    except BrokenProcessPool:
                        # a worker died (e.g. a native crash): finish the rest in this process
                        leftover = [task, *pending.values(), *queue]
                        pending = {}
                        logger.warning("a worker process died; finishing in this process")
                        break
                    store(batch)
                    bar.update(len(batch))
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(_run_task, nxt, extractor, max_duration, transform)] = (
                            nxt
                        )
        for task in leftover:
            batch = _run_task(
                task, extractor, max_duration, transform
            )  # rare: after a worker crash
            store(batch)
            bar.update(len(batch))
    finally:
        bar.close()
