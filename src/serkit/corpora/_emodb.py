"""EmoDB: the Berlin Database of Emotional Speech.

Ten actors (five male, five female) speak ten German sentences. File names
are ``<speaker><text><emotion><version>`` such as ``03a01Fa.wav``: speaker two
digits, text code ``a01`` ... ``b10``, one emotion letter from the German name
(W Wut/anger, L Langeweile/boredom, E Ekel/disgust, A Angst/fear,
F Freude/happiness, T Trauer/sadness, N neutral), one version letter.
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

__all__ = ["load_emodb"]

_NAME = re.compile(r"^(\d{2})([ab]\d{2})([A-Za-z])([a-z])$")
_GENDERS = {
    "03": "male",
    "08": "female",
    "09": "female",
    "10": "male",
    "11": "male",
    "12": "male",
    "13": "female",
    "14": "female",
    "15": "male",
    "16": "female",
}
_TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "bored")


def _parse(path: Path) -> Utterance:
    stem = path.stem
    m = _NAME.match(stem)
    if m is None:
        raise _Unusable(f"name {stem!r} is not <speaker><text><emotion><version> (e.g. 03a01Fa)")
    speaker, text, letter, version = m.groups()
    if speaker not in _GENDERS:
        raise _Unusable(f"unknown speaker {speaker!r} (expected one of {', '.join(_GENDERS)})")
    if text not in _TEXTS:
        raise _Unusable(f"unknown text code {text!r} (expected one of {', '.join(_TEXTS)})")
    # the emotion letter is upper case in EmoDB; a lower-case one is a different name scheme
    emotion = _corpus_code(letter, "emodb") if letter.isupper() else None
    if emotion is None:
        raise _Unusable(f"unknown emotion letter {letter!r} (expected W, L, E, A, F, T or N)")
    return Utterance(
        path=path,
        emotion=emotion,
        speaker=speaker,
        gender=_GENDERS[speaker],
        corpus="emodb",
        extra={"text_code": text, "text": _TEXTS[text], "version": version, "code": stem},
    )


def load_emodb(
    root: str | os.PathLike[str], *, emotions: str | Collection[str] | None = None
) -> CorpusScan:
    """Read EmoDB from a folder (e.g. its ``wav``), recursively, by file name.

    Speakers are ``"03"``, ``"08"`` ... ``"16"`` (male 03, 10, 11, 12, 15;
    female 08, 09, 13, 14, 16). Boredom maps to ``"bored"`` (one of
    :data:`~serkit.corpora.EXTRA_EMOTIONS`); EmoDB has no calm or surprised.
    ``extra`` holds ``text_code``, ``text`` (the German sentence),
    ``version`` and ``code`` (the file stem).
    A file repeating a clip already read (same stem in another format or
    folder) is a :class:`Problem`.

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
    >>> (root / "03a01Wa.wav").touch()
    >>> (root / "08b10Lc.wav").touch()
    >>> [(u.emotion, u.speaker, u.gender) for u in load_emodb(root)]
    [('angry', '03', 'male'), ('bored', '08', 'female')]
    """
    path = _check_dir(root, "emodb")
    wanted = _wanted(emotions)
    _warn_absent(wanted, _EMOTIONS, "emodb")
    return _scan_files("emodb", path, _audio_files(path), _parse, wanted)
