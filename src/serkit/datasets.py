"""Join a corpus scan with its features: one table of clips, ready for models.

This is the layer above :mod:`serkit.corpora` (what the clips are) and
:mod:`serkit.features` (what is computed from them). Clips that fail keep a
row in :attr:`FeatureTable.skipped` with the reason; none disappear silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._atomic import atomic_path
from ._errors import ParameterError
from .corpora import CorpusScan
from .features import extract_files, get_extractor, spec_of

__all__ = ["FeatureTable", "build_feature_table"]

META_COLUMNS = ("path", "corpus", "speaker", "gender", "emotion")


@dataclass
class FeatureTable:
    """Clips with their labels, speakers and features.

    Attributes
    ----------
    meta : pandas.DataFrame
        One row per clip with features: ``path, corpus, speaker, gender, emotion``
        and the corpus's own fields, in corpus order (sorted by path).
    features : np.ndarray or list of np.ndarray
        ``(n_clips, n_features)`` for vector sets; a list of ``(n_frames,
        n_features)`` arrays for sequence sets.
    feature_names : list of str
        Names of the feature columns.
    spec : dict
        The feature spec (``{"name": ..., "params": {...}}``).
    skipped : list of (str, str)
        ``(path, reason)`` for every clip left out: unparsable names found by the
        corpus scan and files whose audio could not be used.
    n_cached : int
        Clips whose features came from the cache.
    """

    meta: pd.DataFrame
    features: Any
    feature_names: list[str]
    spec: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    n_cached: int = 0

    @property
    def is_sequence(self) -> bool:
        """True when :attr:`features` is a list of frame sequences."""
        return isinstance(self.features, list)

    def __len__(self) -> int:
        return len(self.meta)

    def to_frame(self) -> pd.DataFrame:
        """Metadata and feature columns side by side (vector feature sets only).

        Raises
        ------
        ParameterError
            For sequence feature sets, which do not fit one row per clip.
        """
        if self.is_sequence:
            raise ParameterError(
                f"feature set {self.spec['name']!r} gives frame sequences; write them as .npz"
            )
        values = pd.DataFrame(self.features, columns=self.feature_names, index=self.meta.index)
        return pd.concat([self.meta, values], axis=1)

    def write(self, path: str | os.PathLike) -> Path:
        """Write to ``.parquet`` or ``.csv`` (vector sets) or ``.npz`` (any set).

        Returns
        -------
        Path
            The file written.

        Raises
        ------
        ParameterError
            For an unsupported extension, or a sequence set to a table format.
        """
        out = Path(path)
        suffix = out.suffix.lower()
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix not in (".npz", ".parquet", ".csv"):
            raise ParameterError(
                f"cannot write features to {out.name!r}: use a .parquet, .csv or .npz file name"
            )
        with atomic_path(out) as tmp:  # a killed run leaves the previous file intact
            if suffix == ".npz":
                self._write_npz(tmp)
            elif suffix == ".parquet":
                from ._optional import require

                require("pyarrow", purpose="writing Parquet")
                frame = self.to_frame()
                frame.attrs = {}
                frame.to_parquet(tmp, index=False)
            else:
                self.to_frame().to_csv(tmp, index=False)
        return out

    def _write_npz(self, out: Path) -> None:
        meta_json = json.dumps(
            {
                "spec": self.spec,
                "feature_names": self.feature_names,
                "meta": self.meta.astype(str).to_dict(orient="list"),
            }
        )
        if self.is_sequence:
            lengths = np.array([len(f) for f in self.features], dtype=np.int64)
            width = len(self.feature_names)
            frames = (
                np.concatenate(self.features) if self.features else np.zeros((0, width), np.float32)
            )
            np.savez_compressed(out, frames=frames, lengths=lengths, info=np.array(meta_json))
        else:
            np.savez_compressed(out, features=self.features, info=np.array(meta_json))


def build_feature_table(
    scan: CorpusScan,
    features: Any = "seed",
    *,
    jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> FeatureTable:
    """Extract features for every clip of a corpus scan.

    Parameters
    ----------
    scan : CorpusScan
        From :func:`serkit.corpora.load_corpus`.
    features : str, dict or extractor
        Feature set (see :func:`serkit.features.get_extractor`).
    jobs, cache_dir, progress
        Passed to :func:`serkit.features.extract_files`.

    Returns
    -------
    FeatureTable
        Clips whose audio failed are in ``skipped``, with the corpus's own problems.
    """
    extractor = get_extractor(features)
    frame = scan.to_frame()
    result = extract_files(
        frame["path"].tolist(), extractor, jobs=jobs, cache_dir=cache_dir, progress=progress
    )
    skipped = [(str(p.path), p.reason) for p in scan.problems]
    skipped += [(str(result.paths[i]), msg) for i, msg in sorted(result.errors.items())]
    ok = result.ok
    meta = frame.loc[ok].reset_index(drop=True)
    values = [v for v in result.values if v is not None]
    if extractor.kind == "sequence":
        feats: Any = values
    else:
        feats = result.matrix()
    return FeatureTable(
        meta=meta,
        features=feats,
        feature_names=result.feature_names,
        spec=spec_of(extractor),
        skipped=skipped,
        n_cached=result.n_cached,
    )
