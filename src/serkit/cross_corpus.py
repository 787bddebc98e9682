"""Cross-corpus evaluation: train on some corpora, test on another.

A model chosen on one corpus's folds may only have learned that corpus's room,
microphone, actors and language. Testing on a corpus it never heard says how it
does on someone else's recordings. :func:`load_corpora` reads several corpora,
keeps the emotions they all share (the intersection of their label sets) and
records how many clips of each class were dropped on each side;
:func:`evaluate_corpora` then runs the ``cross-corpus`` protocol (one named test
corpus) or ``leave-one-corpus-out`` through
:func:`serkit.workflows.evaluate_table`, so the report has the same shape as the
speaker protocols (and per-speaker normalisation standardises each test speaker
with that speaker's own unlabelled clips).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ParameterError
from .datasets import FeatureTable, build_feature_table

__all__ = ["CorpusSource", "evaluate_corpora", "load_corpora", "parse_source"]

CorpusSource = tuple[str | os.PathLike, str]
"""``(root, reader)``: a corpus folder and the reader that names its files (``"emodb"``)."""


def parse_source(text: str) -> CorpusSource:
    """``"DIR:READER"`` -> ``(DIR, READER)`` (the last colon splits, so Windows drives work).

    Raises
    ------
    ParameterError
        No ``:READER`` part.

    Examples
    --------
    >>> parse_source("data/emodb:emodb")
    ('data/emodb', 'emodb')
    """
    root, sep, reader = str(text).rpartition(":")
    if not sep or not root or not reader:
        raise ParameterError(
            f"corpus must be given as DIR:READER (e.g. data/emodb:emodb), got {text!r}"
        )
    return root, reader


def _concat(tables: Sequence[FeatureTable]) -> FeatureTable:
    import pandas as pd

    first = tables[0]
    if first.is_sequence:
        features: Any = [f for t in tables for f in t.features]
    else:
        features = np.vstack([np.asarray(t.features) for t in tables])
    return FeatureTable(
        meta=pd.concat([t.meta for t in tables], ignore_index=True),
        features=features,
        feature_names=first.feature_names,
        spec=first.spec,
        skipped=[s for t in tables for s in t.skipped],
        n_cached=sum(t.n_cached for t in tables),
    )


def load_corpora(
    sources: Sequence[CorpusSource],
    specs: Sequence[Any],
    *,
    emotions: Sequence[str] | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    vocabulary: str = "shared",
    label_map: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, FeatureTable], dict[str, Any]]:
    """Read several corpora, keep their shared emotions, extract ``specs`` for each.

    Parameters
    ----------
    sources : sequence of (root, reader)
        Two or more corpora. ``meta["corpus"]`` becomes the reader's name (a second
        corpus read by the same reader gets ``-2``, ``-3``...).
    specs : sequence of feature specs
        What the models read.
    emotions : sequence of str, optional
        Keep only these emotions (before the intersection).
    vocabulary : {"shared", "union"}
        Keep the emotions every corpus has (to test one corpus on another), or every
        emotion any corpus has (to train on them together: one label vocabulary).
    label_map : mapping of str to str or None, optional
        Read an emotion as another (``{"calm": "neutral"}``) or leave its clips out
        (``{"bored": None}``), before the vocabulary is formed.

    Returns
    -------
    tables : dict of feature key -> FeatureTable
        All corpora's kept clips, aligned across feature sets, corpus by corpus.
    summary : dict
        ``classes`` (the shared emotions, sorted) and ``corpora``: per corpus its
        ``reader``, ``root``, ``n_clips`` kept, ``n_speakers``, ``kept`` and
        ``dropped`` clip counts per class.

    Raises
    ------
    ParameterError
        Fewer than two corpora, or they share fewer than two emotions.
    """
    from .corpora import load_corpus
    from .models._plan import feature_key
    from .workflows import align_tables

    if vocabulary not in ("shared", "union"):
        raise ParameterError(f"vocabulary must be 'shared' or 'union'; got {vocabulary!r}")
    if vocabulary == "shared" and len(sources) < 2:
        raise ParameterError(
            f"cross-corpus evaluation needs at least 2 corpora, got {len(sources)}"
        )
    mapping = dict(label_map or {})

    def mapped(label: object) -> str | None:
        name = str(label)
        return mapping.get(name, name)

    scans, names = [], []
    for root, reader in sources:
        scan = load_corpus(root, reader, emotions=emotions)
        name, k = str(reader), 2
        while name in names:
            name, k = f"{reader}-{k}", k + 1
        names.append(name)
        scans.append(scan)
    label_sets = [
        {m for u in scan.utterances if (m := mapped(u.emotion)) is not None} for scan in scans
    ]
    combine = set.intersection if vocabulary == "shared" else set.union
    shared = sorted(combine(*label_sets))
    if len(shared) < 2:
        raise ParameterError(
            "the corpora share fewer than 2 emotions: "
            + "; ".join(
                f"{n}: {', '.join(sorted(s))}" for n, s in zip(names, label_sets, strict=True)
            )
        )
    per_corpus: dict[str, dict[str, FeatureTable]] = {}
    summary: dict[str, Any] = {"classes": shared, "corpora": {}}
    for (root, reader), name, scan in zip(sources, names, scans, strict=True):
        tables = {}
        for spec in specs:
            table = build_feature_table(
                scan, spec, jobs=jobs, cache_dir=cache_dir, progress=progress
            )
            tables[feature_key(table.spec)] = table
        tables = align_tables(tables)
        meta = next(iter(tables.values())).meta
        original = meta["emotion"].astype(str)
        emotion = original.map(lambda e: mapped(e) or "")
        for table in tables.values():
            table.meta["emotion"] = emotion.to_numpy()
        keep = np.flatnonzero(emotion.isin(shared).to_numpy())
        counts = emotion.value_counts()
        gone = original[~emotion.isin(shared)].value_counts()
        summary["corpora"][name] = {
            "reader": str(reader),
            "root": str(Path(root).resolve()),
            "n_clips": len(keep),
            "n_speakers": int(meta["speaker"].iloc[keep].nunique()),
            "kept": {c: int(counts.get(c, 0)) for c in shared},
            "dropped": {c: int(n) for c, n in sorted(gone.items())},
            "skipped": len(next(iter(tables.values())).skipped),
        }
        per_corpus[name] = {key: _subset(t, keep, name) for key, t in tables.items()}
    keys = list(next(iter(per_corpus.values())))
    merged = {key: _concat([per_corpus[name][key] for name in names]) for key in keys}
    return merged, summary


def _subset(table: FeatureTable, rows: np.ndarray, corpus: str) -> FeatureTable:
    from ._inputs import take_rows

    meta = table.meta.iloc[rows].reset_index(drop=True)
    meta["corpus"] = corpus
    return FeatureTable(
        meta=meta,
        features=take_rows(table.features, rows),
        feature_names=table.feature_names,
        spec=table.spec,
        skipped=table.skipped,
        n_cached=table.n_cached,
    )


def evaluate_corpora(
    sources: Sequence[CorpusSource],
    *,
    test_corpus: str | None = None,
    features: Any = None,
    models: str | Sequence[str] = ("mlp",),
    emotions: Sequence[str] | None = None,
    augment: int = 0,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    **options: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train on some corpora and test on another; returns (report, results per model).

    Parameters
    ----------
    sources : sequence of (root, reader)
        Every corpus taking part, test corpus included.
    test_corpus : str, optional
        Name of the test corpus (its reader's name, see :func:`load_corpora`):
        protocol ``cross-corpus``. None: ``leave-one-corpus-out``, one fold per corpus.
    features, models, emotions, augment, jobs, cache_dir, progress
        As for :func:`serkit.workflows.evaluate_corpus`; ``augment`` degrades the
        training corpora's clips only.
    **options
        Passed to :func:`serkit.workflows.evaluate_table` (``speaker_norm``,
        ``calibrate``, ``params``, ``threads``...).

    Returns
    -------
    report, results
        The report of :func:`~serkit.workflows.evaluate_table` plus ``corpora``
        (per corpus: clips kept and dropped per class) and ``shared_classes``.

    Raises
    ------
    ParameterError
        As :func:`load_corpora`, an unknown ``test_corpus``, or a bad model or option.
    """
    from .workflows import augment_table, evaluate_table, plan_evaluation

    plans, classic, specs = plan_evaluation(models, features, augment=bool(augment))
    tables, summary = load_corpora(
        sources,
        list(specs.values()),
        emotions=emotions,
        jobs=jobs,
        cache_dir=cache_dir,
        progress=progress,
    )
    if test_corpus is not None and test_corpus not in summary["corpora"]:
        raise ParameterError(
            f"test corpus {test_corpus!r} is not one of: {', '.join(summary['corpora'])}"
        )
    augmented = None
    if classic is not None:
        table = tables[classic]
        corpus = table.meta["corpus"].astype(str).to_numpy()
        train_rows = np.flatnonzero(corpus != test_corpus)
        augmented = augment_table(
            _subset_keep_corpus(table, train_rows),
            copies=augment,
            jobs=jobs,
            cache_dir=cache_dir,
            progress=progress,
        )
        augmented.meta["source_index"] = train_rows[augmented.meta["source_index"].to_numpy()]
    report, results = evaluate_table(
        tables,
        models=list(plans),
        features=features,
        protocol="leave-one-corpus-out" if test_corpus is None else "cross-corpus",
        test_corpus=test_corpus,
        augmented=augmented,
        progress=progress,
        **options,
    )
    report["corpora"] = summary["corpora"]
    report["shared_classes"] = summary["classes"]
    report["test_corpus"] = test_corpus
    return report, results


def _subset_keep_corpus(table: FeatureTable, rows: np.ndarray) -> FeatureTable:
    from ._inputs import take_rows

    return FeatureTable(
        meta=table.meta.iloc[rows].reset_index(drop=True),
        features=take_rows(table.features, rows),
        feature_names=table.feature_names,
        spec=table.spec,
        skipped=table.skipped,
    )
