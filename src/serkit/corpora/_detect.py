"""Which naming scheme fits a folder's files: the hint when the chosen reader fits few of them.

A folder read with the wrong reader (EmoDB read as RAVDESS, the default) gives a
problem for every file. Each named reader's parser is tried on the file names
(names only, nothing is decoded), so the warning can say which reader fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ._cremad import _parse as _parse_cremad
from ._emodb import _parse as _parse_emodb
from ._emotions import EMOTIONS, EXTRA_EMOTIONS, normalize_emotion
from ._ravdess import _parse as _parse_ravdess
from ._record import _Unusable
from ._savee import _parse as _parse_savee
from ._tess import _parse as _parse_tess

__all__ = ["SAMPLE", "fitting_scheme"]

SAMPLE = 2000
"""Most file names tried per scheme (spread over the listing), so a huge folder stays fast."""

_KNOWN = frozenset((*EMOTIONS, *EXTRA_EMOTIONS))


def _fits_folder(root: Path) -> Callable[[Path], bool]:
    """``root/<emotion>/.../<clip>``, where the label folder is a known emotion name."""

    def fits(path: Path) -> bool:
        try:
            rel = path.relative_to(root)
        except ValueError:
            return False
        return len(rel.parts) >= 2 and normalize_emotion(rel.parts[0]) in _KNOWN

    return fits


def _fits(parse: Callable[[Path], object]) -> Callable[[Path], bool]:
    def fits(path: Path) -> bool:
        try:
            parse(path)
        except _Unusable:
            return False
        return True

    return fits


def fitting_scheme(
    root: Path, files: Sequence[Path], *, chosen: str, n_fit: int
) -> tuple[str, int, int] | None:
    """The corpus reader whose names fit the most of ``files``, if it beats ``chosen``.

    Parameters
    ----------
    root : Path
        The folder read (the ``folder`` layout is judged relative to it).
    files : sequence of Path
        The audio files found.
    chosen : str
        The reader used; it is not suggested again.
    n_fit : int
        Files ``chosen`` could use.

    Returns
    -------
    (name, n_fitting, n_tried) or None
        The best other reader, how many of the ``n_tried`` file names it parses
        (at most :data:`SAMPLE`, spread evenly), or ``None`` when none fits a larger
        share of the files than ``chosen`` does.
    """
    if not files:
        return None
    n = min(len(files), SAMPLE)
    tried = [files[i * len(files) // n] for i in range(n)]
    schemes: dict[str, Callable[[Path], bool]] = {
        "ravdess": _fits(_parse_ravdess),
        "cremad": _fits(_parse_cremad),
        "tess": _fits(_parse_tess),
        "savee": _fits(_parse_savee),
        "emodb": _fits(_parse_emodb),
        "folder": _fits_folder(root),
    }
    best: tuple[str, int, int] | None = None
    for name, fits in schemes.items():
        if name == chosen:
            continue
        count = sum(1 for path in tried if fits(path))
        if count and (best is None or count > best[1]):
            best = (name, count, len(tried))
    if best is None or best[1] / best[2] <= n_fit / len(files):
        return None
    return best
