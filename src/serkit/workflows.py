"""The CLI's operations as plain functions: evaluate, train, predict.

Each one goes corpus -> features -> model -> result and returns plain data
(dicts, lists, :class:`~serkit.recognizer.EmotionRecognizer`), so the CLI and
the service stay thin and Python users get the same behaviour.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ParameterError
from ._version import __version__
from .corpora import AUDIO_EXTENSIONS, load_corpus
from .datasets import FeatureTable, build_feature_table
from .evaluation import EvaluationResult, cross_validate, make_splits
from .models import (
    MODELS,
    AugmentedTraining,
    default_param_grid,
    make_model,
    speaker_standardize,
)
from .recognizer import EmotionRecognizer, Prediction

__all__ = [
    "augment_table",
    "collect_audio_files",
    "evaluate_corpus",
    "evaluate_table",
    "load_table",
    "predict_paths",
    "session_labels",
    "train_corpus",
]

logger = logging.getLogger(__name__)


def load_table(
    root: str | os.PathLike,
    *,
    corpus: str = "ravdess",
    features: Any = "stats",
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> FeatureTable:
    """Scan a corpus and extract one vector feature set for it (sorted by path)."""
    scan = load_corpus(root, corpus, emotions=emotions, speaker_pattern=speaker_pattern)
    table = build_feature_table(scan, features, jobs=jobs, cache_dir=cache_dir, progress=progress)
    if table.is_sequence:
        raise ParameterError(
            f"feature set {table.spec['name']!r} gives frame sequences; the classic models "
            "need a vector feature set (seed, stats, egemaps, compare)"
        )
    if len(table) == 0:
        raise ParameterError(f"{root}: no usable clips found for corpus {corpus!r}")
    return table


def augment_table(
    table: FeatureTable,
    *,
    copies: int = 2,
    seed: int = 0,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> FeatureTable:
    """Features of ``copies`` degraded versions of every clip, one random channel per session.

    Each speaker's copy ``k`` is one *session*: a chain of degradations drawn by
    :func:`serkit.augment.sample_chain` from a generator seeded by ``seed``, the
    speaker and ``k``, applied to all that speaker's clips (noise samples differ
    per clip). ``meta`` gains ``source_index`` (row in ``table``) and ``session``.
    """
    import hashlib

    import pandas as pd
    from tqdm.auto import tqdm

    from .augment import sample_chain
    from .features import extract_files

    if copies < 0:
        raise ParameterError(f"copies must be >= 0; got {copies}")
    speakers = table.meta["corpus"].astype(str) + ":" + table.meta["speaker"].astype(str)
    metas, rows, skipped = [], [], []
    jobs_list = [(spk, k) for k in range(copies) for spk in sorted(speakers.unique())]
    for speaker, k in tqdm(
        jobs_list, desc="augmented copies", unit="session", disable=not progress
    ):
        index = np.flatnonzero((speakers == speaker).to_numpy())
        token = hashlib.sha256(f"{seed}|{speaker}|{k}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(token[:8], "little"))
        chain = sample_chain(rng, seed=int.from_bytes(token[8:12], "little"))
        result = extract_files(
            table.meta["path"].iloc[index].tolist(),
            table.spec,
            jobs=jobs,
            cache_dir=cache_dir,
            transform=chain,
        )
        skipped += [(str(result.paths[i]), msg) for i, msg in sorted(result.errors.items())]
        ok = result.ok
        meta = table.meta.iloc[index[ok]].copy()
        meta["source_index"] = index[ok]
        meta["session"] = f"{speaker}#aug{k}"
        meta["augmentation"] = json.dumps(chain.spec()["steps"])
        metas.append(meta)
        rows.append(result.matrix())
    width = len(table.feature_names)
    return FeatureTable(
        meta=pd.concat(metas, ignore_index=True) if metas else table.meta.iloc[:0].copy(),
        features=np.vstack(rows) if rows else np.zeros((0, width), np.float32),
        feature_names=table.feature_names,
        spec=table.spec,
        skipped=skipped,
    )


def _model_list(models: str | Sequence[str]) -> list[str]:
    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise ParameterError(
            f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(MODELS)}"
        )
    return names


def evaluate_table(
    table: FeatureTable,
    *,
    models: str | Sequence[str] = ("mlp",),
    protocol: str = "speaker-kfold",
    n_splits: int = 5,
    test_speakers: Sequence[str] | None = None,
    speaker_norm: bool = False,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    search: bool = False,
    random_state: int = 7,
    augmented: FeatureTable | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, EvaluationResult]]:
    """Cross-validate named models on a feature table; returns (report, results per model).

    The report is JSON-ready: top-level ``results`` maps each model name to its
    scores (``accuracy``, ``uar``, ``macro_f1`` as fractions, fold means and
    standard deviations, per-class scores, confusion matrix), next to
    ``protocol``, ``n_clips``, ``classes`` and a data summary.

    ``augmented`` (from :func:`augment_table`) adds, in each fold, the degraded
    copies of that fold's training clips to its training set; test clips and
    their copies never train.
    """
    names = _model_list(models)
    X = np.asarray(table.features, dtype=np.float64)
    y = table.meta["emotion"].astype(str).to_numpy()
    groups = (table.meta["corpus"].astype(str) + ":" + table.meta["speaker"].astype(str)).to_numpy()
    splits = make_splits(
        protocol,
        groups=groups,
        n_splits=n_splits,
        test_speakers=[
            s if ":" in s else f"{table.meta['corpus'].iloc[0]}:{s}" for s in (test_speakers or [])
        ]
        or None,
        random_state=random_state,
    )
    if speaker_norm:
        X = speaker_standardize(X, groups)
    extra = None
    if augmented is not None and len(augmented):
        X_aug = np.asarray(augmented.features, dtype=np.float64)
        if speaker_norm:
            X_aug = speaker_standardize(X_aug, augmented.meta["session"].astype(str).to_numpy())
        extra = {
            "extra_X": X_aug,
            "extra_y": augmented.meta["emotion"].astype(str).to_numpy(),
            "extra_source": augmented.meta["source_index"].to_numpy(),
        }
    results: dict[str, EvaluationResult] = {}
    report_models: dict[str, Any] = {}
    for name in names:
        model_params = dict((params or {}).get(name, {}))

        def factory(name: str = name, model_params: dict = model_params) -> Any:
            model = make_model(name, params=model_params)
            return model if extra is None else AugmentedTraining(model, **extra)

        if extra is not None and search:
            raise ParameterError("search with augmented training is not supported yet")
        result = cross_validate(
            factory,
            X,
            y,
            splits=splits,
            groups=groups,
            search=default_param_grid(name) if search else None,
            fit_params=None if extra is None else {"source_rows": np.arange(len(y))},
            progress=progress,
        )
        results[name] = result
        summary = result.summary()
        report_models[name] = {
            **summary,
            "per_class": result.overall["per_class"],
            "confusion": result.overall["confusion"],
            "folds": result.folds,
            "params": model_params,
        }
        logger.info("%s: UAR %.3f, accuracy %.3f", name, summary["uar"], summary["accuracy"])
    classes = sorted(set(y))
    report = {
        "serkit_version": __version__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "protocol": protocol,
        "n_splits": len(splits),
        "speaker_norm": speaker_norm,
        "search": search,
        "augmented_copies": 0
        if augmented is None
        else int(augmented.meta["session"].str.split("#aug").str[-1].nunique()),
        "features": table.spec,
        "n_features": len(table.feature_names),
        "n_clips": len(table),
        "n_speakers": len(set(groups)),
        "classes": classes,
        "class_counts": {c: int((y == c).sum()) for c in classes},
        "skipped": [{"path": p, "reason": r} for p, r in table.skipped],
        "augmentation_skipped": []
        if augmented is None
        else [{"path": p, "reason": r} for p, r in augmented.skipped],
        "results": report_models,
    }
    return report, results


def evaluate_corpus(
    root: str | os.PathLike,
    *,
    corpus: str = "ravdess",
    features: Any = "stats",
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    augment: int = 0,
    **options: Any,
) -> tuple[dict[str, Any], dict[str, EvaluationResult]]:
    """:func:`load_table` then :func:`evaluate_table` (options as there).

    ``augment`` > 0 trains each fold also on that many degraded copies of its
    training clips (:func:`augment_table`).
    """
    table = load_table(
        root,
        corpus=corpus,
        features=features,
        emotions=emotions,
        speaker_pattern=speaker_pattern,
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    augmented = None
    if augment:
        augmented = augment_table(
            table, copies=augment, jobs=jobs, cache_dir=cache_dir, progress=progress
        )
    report, results = evaluate_table(table, progress=progress, augmented=augmented, **options)
    report["corpus"] = {"name": corpus, "root": str(Path(root).resolve())}
    return report, results


def train_corpus(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    corpus: str = "ravdess",
    features: Any = "stats",
    model: str = "mlp",
    params: Mapping[str, Any] | None = None,
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    exclude_speakers: Sequence[str] = (),
    session_model: bool = True,
    augment: int = 0,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> EmotionRecognizer:
    """Fit a recognizer on every usable clip of a corpus and save it as a bundle at ``out``.

    With ``session_model`` (default) a second model is fitted on features
    standardised per speaker, so the bundle also serves ``--session-norm``.
    """
    table = load_table(
        root,
        corpus=corpus,
        features=features,
        emotions=emotions,
        speaker_pattern=speaker_pattern,
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    keep = ~table.meta["speaker"].astype(str).isin([str(s) for s in exclude_speakers]).to_numpy()
    table = FeatureTable(
        meta=table.meta.loc[keep].reset_index(drop=True),
        features=np.asarray(table.features)[keep],
        feature_names=table.feature_names,
        spec=table.spec,
        skipped=table.skipped,
    )
    meta = table.meta
    X = np.asarray(table.features)
    y = meta["emotion"].astype(str).to_numpy()
    speakers = (meta["corpus"].astype(str) + ":" + meta["speaker"].astype(str)).to_numpy()
    n_augment_skipped = 0
    if augment:
        extra = augment_table(
            table, copies=augment, jobs=jobs, cache_dir=cache_dir, progress=progress
        )
        X = np.vstack([X, np.asarray(extra.features)])
        y = np.concatenate([y, extra.meta["emotion"].astype(str).to_numpy()])
        speakers = np.concatenate([speakers, extra.meta["session"].astype(str).to_numpy()])
        n_augment_skipped = len(extra.skipped)
    rec = EmotionRecognizer(features=table.spec, model=_model_list([model])[0], params=params)
    # the speaker groups also fit the session-normalised model (predict --session-norm)
    rec.fit(X, y, groups=speakers if session_model else None)
    rec.metadata_ = {
        "training": {
            "corpus": corpus,
            "n_clips": len(meta),
            "n_training_rows": len(y),
            "augmented_copies": augment,
            "n_speakers": int(meta["speaker"].nunique()),
            "speakers": sorted(map(str, meta["speaker"].unique())),
            "excluded_speakers": [str(s) for s in exclude_speakers],
            "class_counts": {
                c: int((meta["emotion"] == c).sum()) for c in sorted(set(meta["emotion"]))
            },
            "skipped": len(table.skipped),
            "augmentation_skipped": n_augment_skipped,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
    }
    rec.save(out)
    return rec


def collect_audio_files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, audio extensions only) into a sorted file list.

    A path given explicitly is kept whatever its extension, so that a bad file
    gets a clear error row instead of vanishing.
    """
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS
                and not p.name.startswith(".")
            )
            files.extend(found)
        else:
            files.append(path)
    return files


def session_labels(paths: Sequence[Path], group_by: str | None) -> list[str]:
    """Session of each file for session normalisation: all one session, or a regex group.

    ``group_by`` is searched in each file's path; its first group (or the group
    named ``session``) is the session. A path it does not match is an error.
    """
    import re

    if group_by is None:
        return ["all"] * len(paths)
    try:
        pattern = re.compile(group_by)
    except re.error as exc:
        raise ParameterError(
            f"--group-by {group_by!r} is not a valid regular expression: {exc}"
        ) from exc
    labels = []
    for path in paths:
        match = pattern.search(str(path))
        if match is None:
            raise ParameterError(f"{path}: does not match --group-by {group_by!r}")
        groups = match.groupdict().get("session") or (match.group(1) if pattern.groups else None)
        labels.append(groups or match.group(0))
    return labels


def predict_paths(
    recognizer: EmotionRecognizer,
    inputs: Iterable[str | os.PathLike],
    *,
    session_norm: bool = False,
    group_by: str | None = None,
    jobs: int | None = 1,
    progress: bool = False,
) -> list[Prediction]:
    """Predict every audio file in the given files and folders; failures become error rows.

    ``session_norm`` normalises the features of all files together (one speaker
    or call), or per session found by the ``group_by`` regex.
    """
    files = collect_audio_files(inputs)
    sessions = session_labels(files, group_by) if session_norm else None
    return recognizer.predict_files(files, sessions=sessions, jobs=jobs, progress=progress)
