"""Emotional speech corpora as tidy tables of clips.

Each reader takes a root folder and returns a :class:`CorpusScan`: one
:class:`Utterance` per clip (path, canonical emotion, speaker, gender, corpus,
the corpus's own fields), sorted by path, plus a :class:`Problem` for every
audio file whose name does not parse. Readers only look at names: they do not
decode audio, split data, extract features or write files. Labels from every
corpus map onto one vocabulary, :data:`EMOTIONS` (+ :data:`EXTRA_EMOTIONS`).

.. autosummary::

    load_corpus
    load_ravdess
    load_cremad
    load_tess
    load_savee
    load_emodb
    load_folder
    load_csv
    label_file
    file_labeller
    download_ravdess
    normalize_emotion
    parse_emotions
    Utterance
    Problem
    CorpusScan
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Any

from .._errors import ParameterError
from ._cremad import load_cremad
from ._emodb import load_emodb
from ._emotions import EMOTIONS, EXTRA_EMOTIONS, normalize_emotion, parse_emotions
from ._files import FILE_CORPORA, file_labeller, label_file
from ._generic import load_csv, load_folder
from ._ravdess import load_ravdess
from ._record import AUDIO_EXTENSIONS, CorpusScan, Problem, Utterance
from ._savee import load_savee
from ._tess import load_tess

__all__ = [
    "AUDIO_EXTENSIONS",
    "CORPORA",
    "EMOTIONS",
    "EXTRA_EMOTIONS",
    "FILE_CORPORA",
    "CorpusScan",
    "Problem",
    "Utterance",
    "download_ravdess",
    "file_labeller",
    "label_file",
    "load_corpus",
    "load_cremad",
    "load_csv",
    "load_emodb",
    "load_folder",
    "load_ravdess",
    "load_savee",
    "load_tess",
    "normalize_emotion",
    "parse_emotions",
]


def __getattr__(name: str) -> Any:
    # the downloader (urllib, http.client, zipfile) is imported on first use only: every
    # ``serkit predict`` imports this package for its file listing, none downloads
    if name == "download_ravdess":
        from ._download import download_ravdess

        return download_ravdess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CORPORA: tuple[str, ...] = ("ravdess", "cremad", "tess", "savee", "emodb", "folder", "csv")
"""Names :func:`load_corpus` accepts."""

_NAMED: dict[str, Callable[..., CorpusScan]] = {
    "ravdess": load_ravdess,
    "cremad": load_cremad,
    "tess": load_tess,
    "savee": load_savee,
    "emodb": load_emodb,
}
_GENERIC: dict[str, Callable[..., CorpusScan]] = {"folder": load_folder, "csv": load_csv}


def load_corpus(
    root: str | os.PathLike[str],
    corpus: str = "ravdess",
    *,
    emotions: str | Collection[str] | None = None,
    speaker_pattern: str | None = None,
) -> CorpusScan:
    """Read a corpus by name.

    Parameters
    ----------
    root : path
        The corpus folder; for ``corpus="csv"`` the CSV file.
    corpus : str
        One of :data:`CORPORA`: ``"ravdess"``, ``"cremad"``, ``"tess"``,
        ``"savee"``, ``"emodb"``, ``"folder"``, ``"csv"`` (case, ``-`` and
        ``_`` are ignored, so ``"CREMA-D"`` works).
    emotions : str, sequence of str or None
        Keep only these emotions (``"angry,happy,neutral,sad"``); clips left
        out are counted in ``CorpusScan.n_excluded``.
    speaker_pattern : str or None
        For ``"folder"`` and ``"csv"`` only: regular expression that finds the
        speaker in a clip's path (see :func:`load_folder`).

    Returns
    -------
    CorpusScan

    Raises
    ------
    ParameterError
        If ``corpus`` is not a known name (the message lists them), an
        emotion is unknown, or ``speaker_pattern`` is given for a named corpus
        or is not a valid regular expression.
    CorpusError
        If ``root`` does not exist or cannot be read as asked.

    Warns
    -----
    SerkitWarning
        When files cannot be used (the first is named) or none are found. When most
        file names do not fit ``corpus``, it names the reader whose names fit, as
        ``CorpusScan.better_corpus`` does (EmoDB read as ``"ravdess"``: ``"emodb"``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("03-01-01-01-01-01-02.wav", "03-01-04-02-01-01-02.wav", "notes.txt"):
    ...     (root / name).touch()
    >>> scan = load_corpus(root, "ravdess", emotions="sad")
    >>> len(scan), scan.n_excluded, scan.problems
    (1, 1, [])
    """
    if not isinstance(corpus, str):
        raise ParameterError(f"corpus must be one of {', '.join(CORPORA)}; got {corpus!r}")
    key = corpus.strip().lower().replace("-", "").replace("_", "")
    if key in _NAMED:
        if speaker_pattern is not None:
            raise ParameterError(
                f"speaker_pattern applies only to the folder and csv readers; {key} names "
                f"its speakers itself (got speaker_pattern={speaker_pattern!r})"
            )
        return _NAMED[key](root, emotions=emotions)
    if key in _GENERIC:
        return _GENERIC[key](root, emotions=emotions, speaker_pattern=speaker_pattern)
    raise ParameterError(f"unknown corpus {corpus!r}; corpus must be one of {', '.join(CORPORA)}")
