"""SAVEE: Surrey Audio-Visual Expressed Emotion.

Four male speakers (DC, JE, JK, KL). The original layout is ``<speaker>/<code><nn>``
(``DC/a01.wav``); a common flat copy is ``<speaker>_<code><nn>`` (``DC_a01.wav``).
Emotion codes: a anger, d disgust, f fear, h happiness, n neutral, sa sadness,
su surprise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

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

__all__ = ["load_savee"]

_SPEAKERS = ("DC", "JE", "JK", "KL")
_NAME = re.compile(r"^(?:(?P<speaker>[A-Za-z]{2})_)?(?P<code>[A-Za-z]{1,2})(?P<number>\d{2})$")
_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def _parse(path: Path) -> Utterance:
    stem = path.stem
    m = _NAME.match(stem)
    if m is None:
        raise _Unusable(
            f"name {stem!r} is not [<speaker>_]<emotion code><two digits> (e.g. DC_a01 or a01)"
        )
    code = m.group("code").lower()
    emotion = _corpus_code(code, "savee")
    if emotion is None:
        raise _Unusable(
            f"unknown emotion code {m.group('code')!r} (expected a, d, f, h, n, sa or su)"
        )
    named = m.group("speaker").upper() if m.group("speaker") else None
    parent = path.parent.name.upper()
    folder = parent if parent in _SPEAKERS else None
    if named is not None and named not in _SPEAKERS:
        raise _Unusable(f"unknown speaker {m.group('speaker')!r} (expected DC, JE, JK or KL)")
    if named is not None and folder is not None and named != folder:
        raise _Unusable(f"file is in folder {path.parent.name} but its name says speaker {named}")
    speaker = named or folder
    if speaker is None:
        raise _Unusable(
            "no speaker: the name has no DC_/JE_/JK_/KL_ prefix and the folder is not a speaker"
        )
    return Utterance(
        path=path,
        emotion=emotion,
        speaker=speaker,
        gender="male",
        corpus="savee",
        extra={"sentence": m.group("number"), "code": f"{speaker}_{code}{m.group('number')}"},
    )


def load_savee(
    root: str | os.PathLike[str], *, emotions: str | Collection[str] | None = None
) -> CorpusScan:
    """Read SAVEE from a folder, recursively, by file and folder name.

    Both layouts work: ``DC/a01.wav`` (speaker from the folder) and
    ``DC_a01.wav`` (speaker from the prefix); when both are present they must
    agree. Speakers are ``"DC"``, ``"JE"``, ``"JK"``, ``"KL"`` (all male).
    ``extra`` holds ``sentence`` (the two-digit number) and ``code`` (the clip
    id in the flat form, ``"DC_a01"``, whichever layout the file is in). The
    same clip found twice (e.g. both layouts under ``root``) is a
    :class:`Problem` the second time.

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
        If ``root`` is missing or not a folder.
    ParameterError
        If ``emotions`` names an unknown emotion.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "JK").mkdir()
    >>> (root / "JK" / "sa03.wav").touch()
    >>> u = load_savee(root).utterances[0]
    >>> u.emotion, u.speaker, u.gender
    ('sad', 'JK', 'male')
    """
    path = _check_dir(root, "savee")
    wanted = _wanted(emotions)
    _warn_absent(wanted, _EMOTIONS, "savee")
    return _scan_files("savee", path, _audio_files(path), _parse, wanted)
