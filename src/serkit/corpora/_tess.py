"""TESS: the Toronto Emotional Speech Set.

Two female speakers (OAF, older; YAF, younger) say "Say the word ..." with 200
target words in seven emotions. Files are ``<speaker>_<word>_<emotion>``, e.g.
``OAF_back_angry.wav``, usually in folders such as ``OAF_angry/`` or
``YAF_pleasant_surprised/``. The emotion part may itself hold an underscore
(``pleasant_surprise``), so it is found by matching the known endings.
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

__all__ = ["load_tess"]

_SPEAKERS = ("OAF", "YAF")
# names misspelt in the corpus as distributed: ``OA_bite_neutral`` is speaker OAF's
_MISSPELT = {"OA": "OAF"}
# longest first, so "pleasant_surprised" wins over "ps"-like shorter endings
_ENDINGS = (
    "pleasant_surprised",
    "pleasant_surprise",
    "disgust",
    "neutral",
    "angry",
    "happy",
    "fear",
    "sad",
    "ps",
)
_NAME = re.compile(
    r"^(?P<speaker>[A-Za-z]+)_(?P<word>[^_]+)_(?P<emotion>" + "|".join(_ENDINGS) + r")$",
    re.IGNORECASE,
)
_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def _parse(path: Path) -> Utterance:
    stem = path.stem
    m = _NAME.match(stem)
    if m is None:
        parts = stem.split("_")
        if len(parts) < 3:
            raise _Unusable(
                f"name {stem!r} is not <speaker>_<word>_<emotion> (e.g. OAF_back_angry)"
            )
        raise _Unusable(f"name {stem!r} does not end in a TESS emotion ({', '.join(_ENDINGS)})")
    speaker = m.group("speaker").upper()
    speaker = _MISSPELT.get(speaker, speaker)
    if speaker not in _SPEAKERS:
        raise _Unusable(f"unknown speaker {m.group('speaker')!r} (expected OAF or YAF)")
    emotion = _corpus_code(m.group("emotion"), "tess")
    if emotion is None:  # pragma: no cover - the pattern only admits known endings
        raise _Unusable(f"unknown emotion {m.group('emotion')!r}")
    word = m.group("word").lower()
    return Utterance(
        path=path,
        emotion=emotion,
        speaker=speaker,
        gender="female",
        corpus="tess",
        extra={"word": word, "text": f"Say the word {word}", "code": stem},
    )


def load_tess(
    root: str | os.PathLike[str], *, emotions: str | Collection[str] | None = None
) -> CorpusScan:
    """Read TESS from a folder, recursively, by file name.

    Speakers are ``"OAF"`` and ``"YAF"`` (both female). ``ps`` and
    ``pleasant_surprise(d)`` map to ``"surprised"``, ``fear`` to
    ``"fearful"``. ``extra`` holds ``word``, ``text`` (``"Say the word
    back"``) and ``code`` (the file stem).
    A file repeating a clip already read (same stem in another format or
    folder) is a :class:`Problem`.

    Parameters
    ----------
    root : path
        Folder holding the clips (any layout).
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
    >>> (root / "YAF_pleasant_surprised").mkdir()
    >>> (root / "YAF_pleasant_surprised" / "YAF_back_ps.wav").touch()
    >>> u = load_tess(root).utterances[0]
    >>> u.emotion, u.speaker, u.gender, u.extra["word"]
    ('surprised', 'YAF', 'female', 'back')
    """
    path = _check_dir(root, "tess")
    wanted = _wanted(emotions)
    _warn_absent(wanted, _EMOTIONS, "tess")
    return _scan_files("tess", path, _audio_files(path), _parse, wanted)
