"""One clip's features for a model: every feature set it reads, from one checked signal.

The single path from a signal to a feature row. The recognizer (files and signals), the
timeline's windows and the live loop all come through :func:`extract_row`, so a change to
how a row is made (thread limits, checks) is made once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._threads import one_blas_thread
from ._table import get_extractor

__all__ = ["extract_row"]


def extract_row(extractors: Mapping[str, Any], y: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Feature key -> vector or frames (float32) for one mono signal already at rate ``sr``.

    ``extractors`` maps each feature key to an extractor or a spec. One BLAS thread, as in
    batch extraction (:func:`serkit.features.extract_files`), so a clip gives the same
    numbers on every path. Join rows with :func:`serkit._inputs.stack_rows`.

    Examples
    --------
    >>> t = np.arange(16000) / 16000
    >>> y = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    >>> extract_row({"seed": "seed:groups=mfcc"}, y, 16000)["seed"].shape
    (40,)
    """
    with one_blas_thread():
        return {
            key: np.asarray(get_extractor(extractor).extract(y, sr), np.float32)
            for key, extractor in extractors.items()
        }
