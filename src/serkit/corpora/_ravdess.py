"""RAVDESS: the Ryerson Audio-Visual Database of Emotional Speech and Song.

File names are seven two-digit fields ``MM-VV-EE-II-SS-RR-AA``: modality,
vocal channel, emotion, intensity, statement, repetition, actor. The original
layout is ``Actor_NN/*.wav`` at 48 kHz; any audio extension is read, so the
16 kHz FLAC copy works the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

from ._emotions import EMOTIONS, _corpus_code
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

__all__ = ["load_ravdess"]

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_ACTOR_DIR = re.compile(r"^actor_(\d+)$", re.IGNORECASE)

_MODALITY = {"01": "full-AV", "02": "video-only", "03": "audio-only"}
_CHANNEL = {"01": "speech", "02": "song"}
_INTENSITY = {"01": "normal", "02": "strong"}
_STATEMENT = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
_REPETITION = {"01": "1", "02": "2"}
# the song part has no disgust or surprised (RAVDESS README)
_SONG_EMOTIONS = frozenset({"neutral", "calm", "happy", "sad", "angry", "fearful"})


def _field(value: str, table: dict[str, str], what: str) -> str:
    if value not in table:
        allowed = ", ".join(f"{k} {v}" for k, v in table.items())
        raise _Unusable(f"unknown {what} code {value!r} (expected {allowed})")
    return table[value]


def _parse(path: Path) -> Utterance:
    stem = path.stem
    m = _NAME.match(stem)
    if m is None:
        raise _Unusable(
            f"name {stem!r} is not seven two-digit fields MM-VV-EE-II-SS-RR-AA "
            "(e.g. 03-01-05-02-01-01-12)"
        )
    mod, chan, emo, inten, stmt, rep, actor = m.groups()
    modality = _field(mod, _MODALITY, "modality")
    channel = _field(chan, _CHANNEL, "vocal channel")
    emotion = _corpus_code(emo, "ravdess")
    if emotion is None:
        raise _Unusable(f"unknown emotion code {emo!r} (expected 01-08: {', '.join(EMOTIONS)})")
    intensity = _field(inten, _INTENSITY, "intensity")
    statement = _field(stmt, _STATEMENT, "statement")
    repetition = _field(rep, _REPETITION, "repetition")
    number = int(actor)
    if not 1 <= number <= 24:
        raise _Unusable(f"actor {actor!r} is outside 01-24")
    if emotion == "neutral" and intensity == "strong":
        raise _Unusable("neutral with strong intensity (02) does not exist in RAVDESS")
    if channel == "song" and emotion not in _SONG_EMOTIONS:
        raise _Unusable(f"the song part has no {emotion} clips (vocal channel 02, emotion {emo})")
    folder = _ACTOR_DIR.match(path.parent.name)
    if folder is not None and int(folder.group(1)) != number:
        raise _Unusable(f"file is in folder {path.parent.name} but its actor field is {actor}")
    return Utterance(
        path=path,
        emotion=emotion,
        speaker=actor,
        gender="male" if number % 2 else "female",
        corpus="ravdess",
        extra={
            "modality": modality,
            "vocal_channel": channel,
            "intensity": intensity,
            "statement": statement,
            "repetition": repetition,
            "code": stem,
        },
    )


def load_ravdess(
    root: str | os.PathLike[str], *, emotions: str | Collection[str] | None = None
) -> CorpusScan:
    """Read RAVDESS (speech and/or song) from a folder.

    Every audio file under ``root`` is read by name, recursively; the audio is
    not decoded. Speakers are the actors ``"01"`` ... ``"24"`` (odd male, even
    female). ``extra`` holds ``modality`` (``"audio-only"`` ...),
    ``vocal_channel`` (``"speech"`` / ``"song"``), ``intensity``
    (``"normal"`` / ``"strong"``), ``statement`` (its text), ``repetition``
    (``"1"`` / ``"2"``) and ``code`` (the file stem).

    A file is a :class:`Problem` when its name does not parse, a code is out of
    range, it is neutral with strong intensity, a song clip is labelled
    disgust or surprised, it sits in an ``Actor_NN`` folder whose number
    differs from its actor field, or it repeats a clip already read (same
    code in another format or folder; the first in path order is kept).

    Parameters
    ----------
    root : path
        Corpus folder, e.g. the one holding ``Actor_01`` ... ``Actor_24``.
    emotions : str, sequence of str or None
        Keep only these emotions (``"angry,happy,neutral,sad"``; synonyms are
        accepted). Clips left out are counted in ``n_excluded``.

    Returns
    -------
    CorpusScan

    Raises
    ------
    CorpusError
        If ``root`` does not exist or is not a folder.
    ParameterError
        If ``emotions`` names an unknown emotion.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "Actor_01").mkdir()
    >>> (root / "Actor_01" / "03-01-05-02-01-01-01.wav").touch()
    >>> scan = load_ravdess(root)
    >>> u = scan.utterances[0]
    >>> u.emotion, u.speaker, u.gender, u.extra["intensity"], u.speaker_id
    ('angry', '01', 'male', 'strong', 'ravdess:01')
    """
    path = _check_dir(root, "ravdess")
    wanted = _wanted(emotions)
    _warn_absent(wanted, EMOTIONS, "ravdess")
    return _scan_files("ravdess", path, _audio_files(path), _parse, wanted)
