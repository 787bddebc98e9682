"""What a worker runs for one partition: features or predictions of a list of files.

Each task reads its files, computes through the library's public pieces
(:func:`serkit.features.extract_files`, :meth:`EmotionRecognizer.predict_files`),
writes one Parquet file atomically and returns a small summary (no feature or
probability values go back to the client). A file that fails is a row with its
error. The recognizer is loaded once per worker process and kept, keyed by
its folder and content digest.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._errors import ParameterError
from ._dataset import META_COLUMNS, write_part
from ._worker import prepare_worker

__all__ = ["bundle_digest", "features_partition", "labeller", "predict_partition"]

_MODELS: dict[tuple[str, str, bool], Any] = {}
_MODELS_LOCK = threading.Lock()

LABELLED_CORPORA = ("ravdess", "emodb", "savee", "tess", "folder", "none")
"""Corpus naming schemes the scale-out path can label one file at a time."""


def bundle_digest(folder: str | os.PathLike) -> str:
    """SHA-256 over the names and contents of every file in a model folder."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise ParameterError(f"{root}: not a model folder (no files)")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _recognizer(model_path: str, model_digest: str, calibrated: bool = True) -> Any:
    """The recognizer of this worker process, loaded on first use and checked by digest;
    ``calibrated=False`` drops the bundle's calibration (``--no-calibration``)."""
    key = (model_path, model_digest, calibrated)
    with _MODELS_LOCK:
        rec = _MODELS.get(key)
        if rec is None:
            from ..recognizer import EmotionRecognizer

            found = bundle_digest(model_path)
            if found != model_digest:
                raise ParameterError(
                    f"{model_path}: the model on this worker differs from the client's "
                    f"(digest {found[:12]} vs {model_digest[:12]}); give every worker the same "
                    "model folder"
                )
            rec = EmotionRecognizer.load(model_path)
            if not calibrated:
                rec.calibration_ = None
            _MODELS.clear()  # one model per worker: a new job's model replaces the old one
            _MODELS[key] = rec
        return rec


def labeller(
    corpus: str, root: str | None, speaker_pattern: str | None
) -> Callable[[Path], dict[str, Any]]:
    """Label one file by its name: ``path, corpus, speaker, gender, emotion, extra``.

    The corpora use :func:`serkit.corpora.file_labeller` (their readers' own
    name parsers; ``folder`` takes the label from the first folder below
    ``root``); ``none`` labels nothing. A name that gives no label raises
    :class:`ValueError` naming the file, and the caller makes that an error row.

    Raises
    ------
    ParameterError
        For a corpus whose labels need more than the file name (``cremad``, ``csv``).
    """
    if corpus == "none":
        return lambda path: {
            "path": str(path),
            "corpus": None,
            "speaker": None,
            "gender": None,
            "emotion": None,
            "extra": {},
        }
    from ..corpora import file_labeller

    if corpus not in LABELLED_CORPORA:
        raise ParameterError(
            f"--corpus {corpus} cannot be labelled file by file on a cluster; use one of "
            f"{', '.join(LABELLED_CORPORA)}, or run without --dask"
        )
    label = file_labeller(corpus, root=root, speaker_pattern=speaker_pattern)

    def parse(path: Path) -> dict[str, Any]:
        utt = label(path)
        return {
            "path": str(path),
            "corpus": utt.corpus,
            "speaker": utt.speaker,
            "gender": utt.gender,
            "emotion": utt.emotion,
            "extra": dict(utt.extra),
        }

    return parse


def _digests(paths: Sequence[str]) -> tuple[list[str | None], dict[int, str]]:
    """Content hash of each file; unreadable files get an error instead."""
    from ..features import file_digest

    out: list[str | None] = []
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            out.append(file_digest(path))
        except OSError as exc:
            out.append(None)
            errors[i] = f"{path}: cannot read file ({exc.strerror or exc})"
    return out, errors


def _string_array(values: Sequence[Any]) -> Any:
    import pyarrow as pa

    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def features_partition(
    index: int,
    paths: Sequence[str],
    *,
    out: str,
    features: Any,
    corpus: str,
    root: str | None,
    speaker_pattern: str | None,
    emotions: Sequence[str] | None,
    cache_dir: str | None,
    max_duration: float | None,
) -> dict[str, Any]:
    """Features of one partition's files -> ``OUT/part-index.parquet``; returns the summary.

    Columns: ``path, corpus, speaker, gender, emotion, extra`` (JSON of the
    corpus's own fields), ``sha256``, ``error`` and one float32 column per
    feature (null where the file failed).
    """
    import json

    import numpy as np
    import pyarrow as pa

    from ..features import extract_files, get_extractor

    start = time.perf_counter()
    prepare_worker()
    extractor = get_extractor(features)
    label = labeller(corpus, root, speaker_pattern)
    rows: list[dict[str, Any]] = []
    errors: dict[int, str] = {}
    n_excluded = 0
    for path in paths:
        try:
            meta = label(Path(path))
        except Exception as exc:  # a name that does not parse is an error row, not a crash
            message = str(exc) if str(exc).startswith(path) else f"{path}: {exc}"
            meta = {
                "path": path,
                "corpus": corpus,
                "speaker": None,
                "gender": None,
                "emotion": None,
                "extra": {},
            }
            errors[len(rows)] = message
        if emotions is not None and meta["emotion"] is not None and meta["emotion"] not in emotions:
            n_excluded += 1
            continue
        rows.append(meta)
    kept = [r["path"] for r in rows]
    digests, read_errors = _digests(kept)
    for i, message in read_errors.items():
        errors.setdefault(i, message)
    todo = [i for i in range(len(kept)) if i not in errors]
    result = extract_files(
        [kept[i] for i in todo], extractor, jobs=1, cache_dir=cache_dir, max_duration=max_duration
    )
    names = result.feature_names
    matrix = np.zeros((len(kept), len(names)), dtype=np.float32)
    for j, i in enumerate(todo):
        value = result.values[j]
        if value is None:
            errors[i] = result.errors.get(j, f"{kept[i]}: failed")
        else:
            matrix[i] = value
    failed = np.array([i in errors for i in range(len(kept))], dtype=bool)
    columns: dict[str, Any] = {c: _string_array([r[c] for r in rows]) for c in META_COLUMNS}
    columns["extra"] = _string_array([json.dumps(r["extra"], sort_keys=True) for r in rows])
    columns["sha256"] = _string_array(digests)
    columns["error"] = _string_array([errors.get(i) for i in range(len(kept))])
    for k, name in enumerate(names):
        columns[name] = pa.array(matrix[:, k], type=pa.float32(), mask=failed)
    output = write_part(out, index, pa.table(columns))
    return {
        "index": index,
        "output": output,
        "rows": len(kept),
        "failed": int(failed.sum()),
        "excluded": n_excluded,
        "inputs": [[p, d] for p, d in zip(kept, digests, strict=True)],
        "feature_names": names,
        "seconds": round(time.perf_counter() - start, 3),
    }


def predict_partition(
    index: int,
    paths: Sequence[str],
    *,
    out: str,
    model_path: str,
    model_digest: str,
    cache_dir: str | None,
    calibrated: bool = True,
    group_by: str | None = None,
    emotions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Predictions of one partition's files -> ``OUT/part-index.parquet``; returns the summary.

    Columns: ``path, emotion, confidence`` (and ``uncertain`` for a model with a
    threshold), one probability column per class, ``sha256`` and ``error`` (the other
    columns null where the file failed); with ``group_by``, the files of each session are
    normalised together (the partition holds whole sessions) and a ``session`` column
    follows ``path``; ``emotions`` answers over that label set (``--emotions``).
    """
    import pyarrow as pa

    from .._threads import one_blas_thread

    start = time.perf_counter()
    prepare_worker()
    rec = _recognizer(model_path, model_digest, calibrated)
    if emotions is not None:
        rec = rec.restrict(list(emotions))
    classes = [str(c) for c in rec.classes_]
    digests, read_errors = _digests(paths)
    sessions = None
    if group_by is not None:
        from ..files import session_key

        key = session_key(group_by)
        sessions = [key(path) for path in paths]
    with one_blas_thread():
        preds = rec.predict_files(list(paths), speakers=sessions, jobs=1, cache_dir=cache_dir)
    errors = [read_errors.get(i) or p.error for i, p in enumerate(preds)]
    failed = [e is not None for e in errors]
    columns: dict[str, Any] = {"path": _string_array(list(paths))}
    if sessions is not None:
        columns["session"] = _string_array(sessions)
    columns |= {
        "emotion": _string_array(
            [None if f else p.emotion for p, f in zip(preds, failed, strict=True)]
        ),
        "confidence": pa.array(
            [None if f else p.confidence for p, f in zip(preds, failed, strict=True)],
            type=pa.float64(),
        ),
    }
    if rec.uncertain_below_ is not None:
        columns["uncertain"] = pa.array(
            [None if f else p.uncertain for p, f in zip(preds, failed, strict=True)],
            type=pa.bool_(),
        )
    for c in classes:
        columns[c] = pa.array(
            [None if f else p.probabilities[c] for p, f in zip(preds, failed, strict=True)],
            type=pa.float64(),
        )
    columns["sha256"] = _string_array(digests)
    columns["error"] = _string_array(errors)
    output = write_part(out, index, pa.table(columns))
    return {
        "index": index,
        "output": output,
        "rows": len(paths),
        "failed": sum(failed),
        "excluded": 0,
        "inputs": [[p, d] for p, d in zip(paths, digests, strict=True)],
        "seconds": round(time.perf_counter() - start, 3),
    }
