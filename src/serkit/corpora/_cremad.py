"""CREMA-D: the Crowd-sourced Emotional Multimodal Actors Dataset.

File names are ``<actor>_<sentence>_<emotion>_<level>`` such as
``1001_DFA_ANG_XX.wav``: actor 1001-1091, one of twelve sentence codes,
emotion ANG/DIS/FEA/HAP/NEU/SAD, level LO/MD/HI/XX (XX: unspecified).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path

from .._errors import CorpusError
from ._emotions import _corpus_code
from ._record import (
    CorpusScan,
    Utterance,
    _audio_files,
    _check_dir,
    _scan_files,
    _Unusable,
    _wanted,
    _warn_absent,
)

__all__ = ["load_cremad"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([A-Za-z]{3})_([A-Za-z]{3})_([A-Za-z]{2})$")
_SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgust")
_DEMOGRAPHICS = "VideoDemographics.csv"


def _parse(file: Path, genders: Mapping[str, str] | None = None) -> Utterance:
    """The record of one CREMA-D file; ``genders`` maps actor to sex where known."""
    m = _NAME.match(file.stem)
    if m is None:
        raise _Unusable(
            f"name {file.stem!r} is not <actor>_<sentence>_<emotion>_<level> (e.g. 1001_DFA_ANG_XX)"
        )
    actor, sentence, emo, level = (g.upper() for g in m.groups())
    if not 1001 <= int(actor) <= 1091:
        raise _Unusable(f"actor {actor} is outside 1001-1091")
    if sentence not in _SENTENCES:
        raise _Unusable(
            f"unknown sentence code {sentence!r} (expected one of {', '.join(_SENTENCES)})"
        )
    emotion = _corpus_code(emo, "cremad")
    if emotion is None:
        raise _Unusable(f"unknown emotion code {emo!r} (expected ANG, DIS, FEA, HAP, NEU or SAD)")
    if level not in _LEVELS:
        raise _Unusable(f"unknown level {level!r} (expected LO, MD, HI or XX)")
    return Utterance(
        path=file,
        emotion=emotion,
        speaker=actor,
        gender=(genders or {}).get(actor),
        corpus="cremad",
        extra={
            "sentence": sentence,
            "text": _SENTENCES[sentence],
            "level": _LEVELS[level],
            "code": file.stem,
        },
    )


def _read_genders(root: Path) -> dict[str, str]:
    """Actor -> gender from ``VideoDemographics.csv`` in ``root``, if it is there."""
    table = root / _DEMOGRAPHICS
    if not table.is_file():
        return {}
    with open(table, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip() for f in reader.fieldnames or []]
        if "ActorID" not in fields or "Sex" not in fields:
            raise CorpusError(
                f"{table} needs columns ActorID and Sex; found {', '.join(fields) or 'none'}"
            )
        genders = {}
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            sex = row["Sex"].lower()
            if row["ActorID"] and sex in ("male", "female"):
                genders[row["ActorID"]] = sex
    logger.debug("read %d actor genders from %s", len(genders), table)
    return genders


def load_cremad(
    root: str | os.PathLike[str], *, emotions: str | Collection[str] | None = None
) -> CorpusScan:
    """Read CREMA-D from a folder (e.g. its ``AudioWAV``), recursively, by file name.

    Speakers are the actor numbers ``"1001"`` ... ``"1091"``. Gender is
    ``None`` unless ``VideoDemographics.csv`` (from the CREMA-D repository,
    columns ``ActorID`` and ``Sex``) lies in ``root``. ``extra`` holds
    ``sentence`` (code), ``text``, ``level`` (``"low"``, ``"medium"``,
    ``"high"``, ``"unspecified"``) and ``code`` (the file stem).
    A file repeating a clip already read (same stem in another format or
    folder, e.g. both ``AudioWAV`` and ``AudioMP3``) is a :class:`Problem`.

    Parameters
    ----------
    root : path
        Folder holding the clips.
    emotions : str, sequence of str or None
        Keep only these emotions; clips left out are counted in ``n_excluded``.

    Returns
    -------
    CorpusScan

    Raises
    ------
    CorpusError
        If ``root`` is missing or not a folder, or ``VideoDemographics.csv``
        lacks the ``ActorID`` / ``Sex`` columns.
    ParameterError
        If ``emotions`` names an unknown emotion.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "1001_DFA_ANG_XX.wav").touch()
    >>> u = load_cremad(root).utterances[0]
    >>> u.emotion, u.speaker, u.gender, u.extra["text"]
    ('angry', '1001', None, "Don't forget a jacket")
    """
    path = _check_dir(root, "cremad")
    wanted = _wanted(emotions)
    _warn_absent(wanted, _EMOTIONS, "cremad")
    genders = _read_genders(path)
    return _scan_files(
        "cremad", path, _audio_files(path), lambda file: _parse(file, genders), wanted
    )
