"""The CLI's operations as plain functions: evaluate, train, predict.

Prediction over files and folders lives in :mod:`serkit.batch` (re-exported
here), so that ``serkit predict`` does not import the evaluation machinery.

Each one goes corpus -> features -> model -> result and returns plain data
(dicts, lists, :class:`~serkit.recognizer.EmotionRecognizer`), so the CLI and
the service stay thin and Python users get the same behaviour.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ParameterError
from ._version import __version__
from .batch import collect_audio_files, predict_paths, speaker_labels
from .calibration import CalibratedClassifier, apply_temperature, calibration_scores
from .corpora import load_corpus
from .datasets import FeatureTable, build_feature_table
from .distributed import is_feature_dataset
from .evaluation import EvaluationResult, cross_validate, make_splits
from .models import (
    AugmentedTraining,
    Member,
    build_estimator,
    default_param_grid,
    feature_key,
    plan_model,
    speaker_normalize,
)
from .recognizer import EmotionRecognizer

__all__ = [
    "align_tables",
    "augment_table",
    "collect_audio_files",
    "evaluate_corpus",
    "evaluate_table",
    "load_table",
    "load_tables",
    "predict_paths",
    "speaker_keys",
    "speaker_labels",
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
    """Scan a corpus and extract one vector feature set for it (sorted by path).

    ``root`` may also be a features dataset folder written by ``serkit features
    --dask`` (:mod:`serkit.distributed`): its rows are read instead of extracting.
    """
    if is_feature_dataset(root):
        return next(iter(_dataset_tables(root, [features], emotions).values()))
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


def load_tables(
    root: str | os.PathLike,
    specs: Sequence[Any],
    *,
    corpus: str = "ravdess",
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, FeatureTable]:
    """Scan a corpus once and extract several feature sets, aligned on the same clips.

    Returns feature key -> table (see :func:`serkit.models.feature_key`); a clip
    that fails in any set is left out of all of them (and listed in ``skipped``).
    ``root`` may also be a features dataset folder (``serkit features --dask``).
    """
    if is_feature_dataset(root):
        return _dataset_tables(root, specs, emotions)
    scan = load_corpus(root, corpus, emotions=emotions, speaker_pattern=speaker_pattern)
    tables = {}
    for spec in specs:
        table = build_feature_table(scan, spec, jobs=jobs, cache_dir=cache_dir, progress=progress)
        tables[feature_key(table.spec)] = table
    tables = align_tables(tables)
    if len(next(iter(tables.values()))) == 0:
        raise ParameterError(f"{root}: no usable clips found for corpus {corpus!r}")
    return tables


def _dataset_tables(
    root: str | os.PathLike, specs: Sequence[Any], emotions: Sequence[str] | None
) -> dict[str, FeatureTable]:
    """A features dataset folder as the one table the models ask for; other sets are refused."""
    from .distributed import read_feature_dataset
    from .features import get_extractor, spec_of

    table = read_feature_dataset(root, emotions=emotions)
    have = feature_key(table.spec)
    for spec in specs:
        want = feature_key(spec_of(get_extractor(spec if spec is not None else "stats")))
        if want != have:
            raise ParameterError(
                f"{root}: holds {have} features but the models need {want}; extract those "
                "with 'serkit features --dask' too, or pass --features to match"
            )
    if len(table) == 0:
        raise ParameterError(f"{root}: no usable clips in the features dataset")
    return {have: table}


def source_tables(
    root: str | os.PathLike,
    specs: Sequence[Any],
    *,
    corpus: str = "ravdess",
    also: Sequence[tuple[str | os.PathLike, str]] = (),
    label_map: Mapping[str, str | None] | None = None,
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> tuple[dict[str, FeatureTable], str]:
    """The tables of one corpus, or of several read as one (``also``: more ``(root, reader)``
    corpora), and the name of what was read (``"ravdess+emodb+tess"``).

    Several corpora share one label vocabulary (every emotion any of them has, after
    ``label_map``: ``{"calm": "neutral"}`` reads calm as neutral, ``{"bored": None}`` leaves
    boredom out); their speakers stay apart (``meta["corpus"]`` names each row's corpus,
    and folds group by corpus and speaker).
    """
    if not also and not label_map:
        tables = load_tables(
            root, specs, corpus=corpus, emotions=emotions, speaker_pattern=speaker_pattern,
            jobs=jobs, cache_dir=cache_dir, progress=progress,
        )  # fmt: skip
        return tables, corpus
    if speaker_pattern:
        raise ParameterError("--speaker-pattern is not supported with several corpora")
    from .cross_corpus import load_corpora

    tables, summary = load_corpora(
        [(root, corpus), *also], specs, emotions=emotions, jobs=jobs, cache_dir=cache_dir,
        progress=progress, vocabulary="union", label_map=label_map,
    )  # fmt: skip
    if len(next(iter(tables.values()))) == 0:
        raise ParameterError(f"{root}: no usable clips found for corpus {corpus!r}")
    return tables, "+".join(summary["corpora"])


def align_tables(tables: Mapping[str, FeatureTable]) -> dict[str, FeatureTable]:
    """Keep only the clips present in every table, in the first table's order."""
    from ._inputs import take_rows

    if not tables:
        raise ParameterError("no feature tables to align")
    paths = [t.meta["path"].astype(str).tolist() for t in tables.values()]
    common = set(paths[0]).intersection(*paths[1:])
    order = [p for p in paths[0] if p in common]
    skipped = sorted({item for t in tables.values() for item in t.skipped})
    out = {}
    for key, table in tables.items():
        position = {p: i for i, p in enumerate(table.meta["path"].astype(str))}
        rows = np.array([position[p] for p in order], dtype=np.intp)
        out[key] = FeatureTable(
            meta=table.meta.iloc[rows].reset_index(drop=True),
            features=take_rows(table.features, rows),
            feature_names=table.feature_names,
            spec=table.spec,
            skipped=skipped,
            n_cached=table.n_cached,
        )
    return out


def augment_table(
    table: FeatureTable,
    *,
    copies: int = 2,
    seed: int = 0,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    chain_options: Mapping[str, Any] | None = None,
) -> FeatureTable:
    """Features of ``copies`` degraded versions of every clip, one random channel per session.

    Each speaker's copy ``k`` is one *session*: a chain of degradations drawn by
    :func:`serkit.augment.sample_chain` from a generator seeded by ``seed``, the
    speaker and ``k``, applied to all that speaker's clips (noise samples differ
    per clip); ``chain_options`` go to :func:`~serkit.augment.sample_chain` (its
    probabilities and SNR range). ``meta`` gains ``source_index`` (row in ``table``)
    and ``session``.
    """
    import hashlib

    import pandas as pd
    from tqdm.auto import tqdm

    from .augment import sample_chain
    from .features import extract_files

    if copies < 0:
        raise ParameterError(f"copies must be >= 0; got {copies}")
    speakers = speaker_keys(table.meta)
    metas, rows, skipped = [], [], []
    jobs_list = [(spk, k) for k in range(copies) for spk in sorted(speakers.unique())]
    for speaker, k in tqdm(
        jobs_list, desc="augmented copies", unit="session", disable=not progress
    ):
        index = np.flatnonzero((speakers == speaker).to_numpy())
        token = hashlib.sha256(f"{seed}|{speaker}|{k}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(token[:8], "little"))
        chain = sample_chain(
            rng, seed=int.from_bytes(token[8:12], "little"), **dict(chain_options or {})
        )
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
    if not names:
        raise ParameterError("no model given; name one, e.g. mlp, specnet or ensemble:A+B")
    return names


def model_plans(models: str | Sequence[str], features: Any = None) -> dict[str, list[Member]]:
    """Model name -> its members and their feature sets (see :func:`serkit.models.plan_model`)."""
    return {name: plan_model(name, features) for name in _model_list(models)}


def _model_input(plan: list[Member], tables: Mapping[str, FeatureTable]) -> Any:
    """The input a plan's estimator reads: one table's features, or a mapping for ensembles."""
    data = {}
    for member in plan:
        if member.key not in tables:
            raise ParameterError(
                f"model member {member.name!r} reads feature set {member.key!r}, which was "
                f"not extracted (have: {', '.join(tables)})"
            )
        table = tables[member.key]
        data[member.key] = (
            table.features if table.is_sequence else np.asarray(table.features, np.float64)
        )
    return data[plan[0].key] if len(plan) == 1 else data


def evaluate_table(
    table: FeatureTable | Mapping[str, FeatureTable],
    *,
    models: str | Sequence[str] = ("mlp",),
    features: Any = None,
    protocol: str = "speaker-kfold",
    n_splits: int = 5,
    test_speakers: Sequence[str] | None = None,
    speaker_norm: bool = False,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    search: bool = False,
    random_state: int = 7,
    augmented: FeatureTable | None = None,
    threads: int | None = None,
    progress: bool = False,
    test_corpus: str | None = None,
    calibrate: bool | Mapping[str, float] = False,
) -> tuple[dict[str, Any], dict[str, EvaluationResult]]:
    """Cross-validate named models on feature tables; returns (report, results per model).

    ``table`` is one feature table, or several aligned ones keyed by feature key
    (:func:`load_tables`) for networks and ensembles. Models are zoo names,
    networks (``cnn1d``, ``specnet``) or ensembles (``ensemble:specnet+svm@compare``);
    members without their own feature set read ``features`` (default: the single
    table's set, or each model's default).

    The report is JSON-ready: top-level ``results`` maps each model name to its
    scores (``accuracy``, ``uar``, ``macro_f1`` as fractions, fold means and
    standard deviations, per-class scores, confusion matrix, the features read,
    and for networks each fold's training history), next to ``protocol``,
    ``n_clips``, ``classes`` and a data summary.

    ``augmented`` (from :func:`augment_table`) adds, in each fold, the degraded
    copies of that fold's training clips to the training set of the classic
    models reading its feature set; test clips and their copies never train.
    Networks read their frames as they are and train with their own augmentation.

    Every model with probabilities also gets ``ece``, ``brier``,
    ``confident_errors`` (share of wrong answers with confidence >= 0.9) and
    ``reliability`` (:mod:`serkit.calibration`). ``calibrate`` wraps each model in
    :class:`~serkit.calibration.CalibratedClassifier`: the temperature is fitted in
    each training fold on out-of-fold predictions of that fold's training speakers
    only; the report then also holds the ``uncalibrated`` scores (each fold's
    probabilities with its temperature undone) and each fold's ``temperature``. A mapping
    ``{"blend", "center", "slope"}`` adds the shift-aware blend after the temperature
    (:func:`serkit.calibration.apply_shift_blend`); the ``uncalibrated`` scores are then
    left out (the blend cannot be undone from the calibrated probabilities).

    ``protocol="cross-corpus"`` (with ``test_corpus``) and
    ``"leave-one-corpus-out"`` split on ``meta["corpus"]`` (see
    :func:`serkit.cross_corpus.evaluate_corpora`).
    """
    if isinstance(table, FeatureTable):
        tables = {feature_key(table.spec): table}
        features = table.spec if features is None else features
    else:
        tables = align_tables(table)
    primary = next(iter(tables.values()))
    plans = model_plans(models, features)
    y = primary.meta["emotion"].astype(str).to_numpy()
    groups = speaker_keys(primary.meta).to_numpy()
    splits = make_splits(
        protocol,
        groups=groups,
        n_splits=n_splits,
        test_speakers=[
            s if ":" in s else f"{primary.meta['corpus'].iloc[0]}:{s}"
            for s in (test_speakers or [])
        ]
        or None,
        random_state=random_state,
        corpora=primary.meta["corpus"].astype(str).to_numpy(),
        test_corpus=test_corpus,
    )
    extra, augmented_key = None, None
    if augmented is not None and len(augmented):
        augmented_key = feature_key(augmented.spec)
        X_aug = np.asarray(augmented.features, dtype=np.float64)
        if speaker_norm:
            X_aug = speaker_normalize(X_aug, augmented.meta["session"].astype(str).to_numpy())
        extra = {
            "extra_X": X_aug,
            "extra_y": augmented.meta["emotion"].astype(str).to_numpy(),
            "extra_source": augmented.meta["source_index"].to_numpy(),
        }
    results: dict[str, EvaluationResult] = {}
    report_models: dict[str, Any] = {}
    for name, plan in plans.items():
        model_params = dict((params or {}).get(name, {}))
        augments = extra is not None
        if augments:
            _check_augmentable(name, plan)
        if augments and plan[0].key != augmented_key:
            raise ParameterError(f"{name} reads {plan[0].key}, the copies hold {augmented_key}")
        if search and (len(plan) > 1 or plan[0].neural):
            raise ParameterError(f"{name}: search is for classic models only")
        if augments and search:
            raise ParameterError("search with augmented training is not supported yet")
        if calibrate and search:
            raise ParameterError("search with calibration is not supported yet")

        def factory(
            plan: list[Member] = plan, model_params: dict = model_params, augments: bool = augments
        ) -> Any:
            model = build_estimator(
                plan, model_params, execution={"threads": threads, "verbose": progress}
            )
            model = AugmentedTraining(model, **extra) if augments and extra else model
            if not calibrate:
                return model
            return CalibratedClassifier(
                model, shift=calibrate if isinstance(calibrate, Mapping) else None
            )

        result = cross_validate(
            factory,
            _model_input(plan, tables),
            y,
            splits=splits,
            groups=groups,
            speaker_norm=speaker_norm,
            search=default_param_grid(plan[0].model) if search else None,
            fit_params={"source_rows": np.arange(len(y))} if augments else None,
            progress=progress,
        )
        results[name] = result
        summary = result.summary()
        report_models[name] = {
            **summary,
            "features": [m.key for m in plan],
            "per_class": result.overall["per_class"],
            "confusion": result.overall["confusion"],
            "folds": result.folds,
            "params": model_params,
            **_calibration_report(result, bool(calibrate), isinstance(calibrate, Mapping)),
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
        "calibrated": calibrate,
        "augmented_copies": 0
        if augmented is None
        else int(augmented.meta["session"].str.split("#aug").str[-1].nunique()),
        "features": primary.spec,
        "feature_sets": {key: t.spec for key, t in tables.items()},
        "n_features": len(primary.feature_names),
        "n_clips": len(primary),
        "n_speakers": len(set(groups)),
        "classes": classes,
        "class_counts": {c: int((y == c).sum()) for c in classes},
        "skipped": [{"path": p, "reason": r} for p, r in primary.skipped],
        "augmentation_skipped": []
        if augmented is None
        else [{"path": p, "reason": r} for p, r in augmented.skipped],
        "results": report_models,
    }
    return report, results


def _calibration_report(
    result: EvaluationResult, calibrated: bool, shifted: bool = False
) -> dict[str, Any]:
    """ECE, Brier, confident errors and reliability bins of one model's predictions."""
    if result.proba is None:
        return {}
    out = calibration_scores(result.proba, result.y_true, result.labels)
    if calibrated and shifted:
        out["temperatures"] = [fold.get("temperature", 1.0) for fold in result.folds]
    elif calibrated:
        temperatures = [fold.get("temperature", 1.0) for fold in result.folds]
        raw = result.proba.copy()
        for k, t in enumerate(temperatures):
            rows = result.fold_of == k
            raw[rows] = apply_temperature(result.proba[rows], 1.0 / t)  # undo 1/T: back to raw
        before = calibration_scores(raw, result.y_true, result.labels)
        out["uncalibrated"] = {k: before[k] for k in ("ece", "brier", "confident_errors")}
        out["temperatures"] = temperatures
    return out


def evaluate_corpus(
    root: str | os.PathLike,
    *,
    corpus: str = "ravdess",
    features: Any = None,
    models: str | Sequence[str] = ("mlp",),
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    also: Sequence[tuple[str | os.PathLike, str]] = (),
    label_map: Mapping[str, str | None] | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    augment: int = 0,
    protocol: str = "speaker-kfold",
    n_splits: int = 5,
    test_speakers: Sequence[str] | None = None,
    speaker_norm: bool = False,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    search: bool = False,
    random_state: int = 7,
    threads: int | None = None,
    calibrate: bool | Mapping[str, float] = False,
) -> tuple[dict[str, Any], dict[str, EvaluationResult]]:
    """Extract what the models read (:func:`load_tables`), then :func:`evaluate_table`.

    ``protocol`` to ``threads`` are passed to :func:`evaluate_table` (see there).
    ``also`` adds more ``(root, reader)`` corpora, read with ``root`` as one
    (:func:`source_tables`: one label vocabulary, ``label_map`` applied; folds group by
    corpus and speaker, so every fold holds whole speakers of every corpus).

    ``features`` is the feature set of members that do not name one (``None``:
    each model's default). ``augment`` > 0 trains each fold of the classic models
    also on that many degraded copies of its training clips (:func:`augment_table`).
    """
    plans, classic, specs = plan_evaluation(models, features, augment=bool(augment))
    tables, name = source_tables(
        root,
        list(specs.values()),
        corpus=corpus,
        also=also,
        label_map=label_map,
        emotions=emotions,
        speaker_pattern=speaker_pattern,
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    augmented = None
    if augment and classic is not None:
        augmented = augment_table(
            tables[classic], copies=augment, jobs=jobs, cache_dir=cache_dir, progress=progress
        )
    report, results = evaluate_table(
        tables,
        models=list(plans),
        features=features,
        progress=progress,
        augmented=augmented,
        protocol=protocol,
        n_splits=n_splits,
        test_speakers=test_speakers,
        speaker_norm=speaker_norm,
        params=params,
        search=search,
        random_state=random_state,
        threads=threads,
        calibrate=calibrate,
    )
    report["corpus"] = {"name": name, "root": str(Path(root).resolve())}
    if also:
        report["corpus"]["also"] = [str(Path(r).resolve()) for r, _ in also]
    return report, results


def train_corpus(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    corpus: str = "ravdess",
    features: Any = None,
    model: str = "mlp",
    params: Mapping[str, Any] | None = None,
    emotions: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    exclude_speakers: Sequence[str] = (),
    also: Sequence[tuple[str | os.PathLike, str]] = (),
    label_map: Mapping[str, str | None] | None = None,
    augment: int = 0,
    threads: int | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    calibrate: bool = True,
    shift_calibration: bool = False,
) -> EmotionRecognizer:
    """Fit a recognizer on every usable clip of a corpus and save it as a bundle at ``out``.

    A second model is fitted on features standardised per speaker, so the bundle also
    serves ``--speaker-norm`` (for ensembles, their classic members; networks have no
    session part). Networks
    pick their epoch on validation speakers drawn from the training speakers.

    ``also`` trains on more corpora with ``root`` (``(root, reader)`` pairs; one label
    vocabulary over all of them after ``label_map``, see :func:`source_tables`); speakers
    are kept apart per corpus in the speaker-normalised model and the calibration's inner
    folds, and ``exclude_speakers`` may name ``corpus:speaker``.

    With ``calibrate`` (default) temperature scaling is fitted on out-of-fold
    predictions of the training clips, inner folds grouped by speaker
    (:meth:`EmotionRecognizer.calibrate`), and saved in the bundle;
    ``shift_calibration`` adds the shift-aware blend
    (:data:`serkit.calibration.DEFAULT_SHIFT`: clips unlike the training data get
    flatter probabilities).
    """
    if shift_calibration and not calibrate:
        raise ParameterError("the shift-aware calibration needs calibrate=True")
    plan = plan_model(model, features)
    specs = {m.key: m.features for m in plan}
    tables, name = source_tables(
        root,
        list(specs.values()),
        corpus=corpus,
        also=also,
        label_map=label_map,
        emotions=emotions,
        speaker_pattern=speaker_pattern,
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    from ._inputs import take_rows

    excluded = [str(s) for s in exclude_speakers]
    first = next(iter(tables.values()))
    speaker = first.meta["speaker"].astype(str)
    # a speaker is named alone, or as corpus:speaker when several corpora are read
    qualified = first.meta["corpus"].astype(str) + ":" + speaker
    drop = speaker.isin(excluded) | qualified.isin(excluded)
    keep = np.flatnonzero(~drop.to_numpy())
    tables = {
        key: FeatureTable(
            meta=t.meta.iloc[keep].reset_index(drop=True),
            features=take_rows(t.features, keep),
            feature_names=t.feature_names,
            spec=t.spec,
            skipped=t.skipped,
        )
        for key, t in tables.items()
    }
    table = next(iter(tables.values()))
    meta = table.meta
    X = _model_input(plan, tables)
    y = meta["emotion"].astype(str).to_numpy()
    speakers = speaker_keys(meta).to_numpy()
    n_augment_skipped = 0
    if augment:
        _check_augmentable(model, plan)
        extra = augment_table(
            table, copies=augment, jobs=jobs, cache_dir=cache_dir, progress=progress
        )
        copies = np.asarray(extra.features)
        if isinstance(X, Mapping):  # an ensemble on one feature set: {key: matrix}
            X = {key: np.vstack([matrix, copies]) for key, matrix in X.items()}
        else:
            X = np.vstack([X, copies])
        y = np.concatenate([y, extra.meta["emotion"].astype(str).to_numpy()])
        speakers = np.concatenate([speakers, extra.meta["session"].astype(str).to_numpy()])
        n_augment_skipped = len(extra.skipped)
    rec = EmotionRecognizer(
        features=features if features is not None else (table.spec if len(plan) == 1 else None),
        model=model,
        params=params,
        threads=threads,
        verbose=progress,
    )
    # the speaker groups also fit the speaker-normalised model (predict --speaker-norm)
    # and give networks their validation speakers
    rec.fit(X, y, groups=speakers)
    if calibrate:
        from .calibration import DEFAULT_SHIFT

        rec.calibrate(X, y, groups=speakers, shift=DEFAULT_SHIFT if shift_calibration else None)
    # several corpora: speakers named corpus:speaker, so none of two corpora merge
    speakers_of_meta = speaker_keys(meta) if also else meta["speaker"].astype(str)
    rec.metadata_ = {
        "training": {
            "corpus": name,
            **({"label_map": dict(label_map)} if label_map else {}),
            "n_clips": len(meta),
            "n_training_rows": len(y),
            "augmented_copies": augment,
            "n_speakers": int(speakers_of_meta.nunique()),
            "speakers": sorted(map(str, speakers_of_meta.unique())),
            "excluded_speakers": excluded,
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


def speaker_keys(meta: Any) -> Any:
    """``corpus:speaker`` of every row of a table's ``meta`` (a pandas Series): speakers of
    different corpora never share a key, so grouping never merges them."""
    return meta["corpus"].astype(str) + ":" + meta["speaker"].astype(str)


def plan_evaluation(
    models: str | Sequence[str], features: Any = None, *, augment: bool = False
) -> tuple[dict[str, list[Member]], str | None, dict[str, Any]]:
    """The plans of the models to evaluate, the feature key ``--augment`` degrades
    (None without ``augment``) and the feature specs to extract (key -> spec).

    Raises
    ------
    ParameterError
        ``augment`` with a network, an ensemble, or classic models on several feature sets.
    """
    plans = model_plans(models, features)
    classic = {m.key for plan in plans.values() for m in plan if not m.neural}
    for name, plan in plans.items() if augment else ():
        _check_augmentable(name, plan)
    if augment and len(classic) != 1:
        raise ParameterError("--augment needs the classic models to share one feature set")
    specs = {m.key: m.features for plan in plans.values() for m in plan}
    return plans, (next(iter(classic)) if augment else None), specs


def _check_augmentable(name: str, plan: Sequence[Member]) -> None:
    """Raise unless ``plan`` is classic models on one feature set (one model, or an ensemble
    of them), what ``--augment`` trains: the copies hold one feature set."""
    neural = [m.name for m in plan if m.neural]
    if neural:
        raise ParameterError(
            f"{name}: --augment trains classic models only (networks such as "
            f"{', '.join(neural)} augment their own frames)"
        )
    keys = sorted({m.key for m in plan})
    if len(keys) > 1:
        raise ParameterError(
            f"{name}: --augment needs all of an ensemble's members to read one feature set; "
            f"they read {', '.join(keys)}"
        )
