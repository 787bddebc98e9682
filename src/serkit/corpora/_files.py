"""Label one audio file at a time, without scanning its corpus.

The ``load_*`` readers scan a whole folder and return a table. A job over a
streamed listing (``serkit features --dask``, millions of files, or a
``--files-from`` list) needs the same labels one file at a time: this module
gives each naming scheme's parser as a function of one path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .._errors import ParameterError
from ._emodb import _parse as _parse_emodb
from ._generic import _compile_speaker_pattern, _folder_utterance
from ._ravdess import _parse as _parse_ravdess
from ._record import Utterance, _Unusable
from ._savee import _parse as _parse_savee
from ._tess import _parse as _parse_tess

__all__ = ["FILE_CORPORA", "file_labeller", "label_file"]

_NAMED: dict[str, Callable[[Path], Utterance]] = {
    "ravdess": _parse_ravdess,
    "emodb": _parse_emodb,
    "savee": _parse_savee,
    "tess": _parse_tess,
}
FILE_CORPORA: tuple[str, ...] = (*_NAMED, "folder")
"""Corpora whose labels come from a file's name (or its label folder) alone; CREMA-D's
and CSV corpora's come from a table, so they need their reader."""


def file_labeller(
    corpus: str,
    *,
    root: str | os.PathLike[str] | None = None,
    speaker_pattern: str | None = None,
) -> Callable[[str | os.PathLike[str]], Utterance]:
    """A function labelling one file of ``corpus`` as its reader would.

    Parameters
    ----------
    corpus : str
        One of :data:`FILE_CORPORA`.
    root : path or None
        The corpus folder; needed by ``folder`` (the label is the first folder
        below it), unused by the named corpora.
    speaker_pattern : str or None
        As in :func:`~serkit.corpora.load_folder`.

    Returns
    -------
    callable
        ``label(path) -> Utterance``; raises :class:`ValueError` naming the file
        and the reason when its name (or place) gives no label.

    Raises
    ------
    ParameterError
        For a corpus not in :data:`FILE_CORPORA`, ``folder`` without ``root``,
        or an invalid ``speaker_pattern``.

    Examples
    --------
    >>> label = file_labeller("ravdess")
    >>> u = label("Actor_12/03-01-05-02-01-01-12.wav")
    >>> u.emotion, u.speaker, u.gender
    ('angry', '12', 'female')
    """
    parse: Callable[[Path], Utterance]
    if corpus == "folder":
        if root is None:
            raise ParameterError("--corpus folder needs the corpus folder")
        base = Path(root).resolve()
        pattern = _compile_speaker_pattern(speaker_pattern)

        def parse_folder(path: Path) -> Utterance:
            try:
                rel = path.resolve().relative_to(base)
            except ValueError:
                raise _Unusable(f"not inside the corpus folder {base}") from None
            return _folder_utterance(path, rel, pattern)

        parse = parse_folder
    elif corpus in _NAMED:
        parse = _NAMED[corpus]
    else:
        raise ParameterError(
            f"corpus {corpus!r} cannot be labelled one file at a time (its labels are in a "
            f"table); use one of {', '.join(FILE_CORPORA)}"
        )

    def label(path: str | os.PathLike[str]) -> Utterance:
        file = Path(path)
        try:
            return parse(file)
        except _Unusable as exc:
            raise ValueError(f"{file}: {exc}") from None

    return label


def label_file(
    path: str | os.PathLike[str],
    corpus: str = "ravdess",
    *,
    root: str | os.PathLike[str] | None = None,
    speaker_pattern: str | None = None,
) -> Utterance:
    """The labels of one file, as :func:`file_labeller` gives them (see there)."""
    return file_labeller(corpus, root=root, speaker_pattern=speaker_pattern)(path)
