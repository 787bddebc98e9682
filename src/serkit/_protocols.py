"""Names of the evaluation protocols, in a module light enough for the CLI's parser."""

from __future__ import annotations

PROTOCOLS: tuple[str, ...] = (
    "speaker-kfold",
    "loso",
    "holdout",
    "random",
    "cross-corpus",
    "leave-one-corpus-out",
)
"""Protocol names accepted by :func:`serkit.evaluation.make_splits`."""
