"""The one canonical emotion vocabulary, and every mapping onto it.

All corpus codes (RAVDESS numbers, CREMA-D three-letter codes, SAVEE and EmoDB
letters, TESS words) and the common synonyms are mapped here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .._errors import ParameterError

__all__ = [
    "EMOTIONS",
    "EXTRA_EMOTIONS",
    "MERGED_EMOTIONS",
    "emotion_group",
    "normalize_emotion",
    "parse_emotions",
]

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)
"""The canonical emotion names, in RAVDESS code order (01 ... 08)."""

EXTRA_EMOTIONS: tuple[str, ...] = ("bored",)
"""Canonical names outside RAVDESS (EmoDB's boredom)."""

MERGED_EMOTIONS: Mapping[str, str] = {"calm": "neutral"}
"""Emotions that other corpora do not tell apart from another one, and the one they are
read as: RAVDESS's ``calm`` has no counterpart in other corpora, so a model's calm answers
are counted as ``neutral`` when it is judged on them (the cross-corpus protocol of the
default model's card). The shift-aware calibration gives such a group one share of its
fallback distribution (:func:`serkit.calibration.fallback_weights`)."""

_ALL = EMOTIONS + EXTRA_EMOTIONS


def emotion_group(label: object) -> str:
    """The group an emotion label belongs to: :data:`MERGED_EMOTIONS`'s target, else the
    label itself (as a string; labels outside the vocabulary are their own group).

    Examples
    --------
    >>> emotion_group("calm"), emotion_group("neutral"), emotion_group("angry")
    ('neutral', 'neutral', 'angry')
    """
    name = str(label)
    return MERGED_EMOTIONS.get(name, name)


# Names and synonyms that mean the same in every corpus (looked up case-insensitively,
# with "-" and " " read as "_").
_SYNONYMS: dict[str, str] = {
    # neutral
    "neutral": "neutral",
    "neutrality": "neutral",
    "neu": "neutral",
    # calm
    "calm": "calm",
    "calmness": "calm",
    # happy
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "hap": "happy",
    # sad
    "sad": "sad",
    "sadness": "sad",
    # angry
    "angry": "angry",
    "anger": "angry",
    "ang": "angry",
    # fearful
    "fearful": "fearful",
    "fear": "fearful",
    "fea": "fearful",
    "afraid": "fearful",
    "scared": "fearful",
    # disgust
    "disgust": "disgust",
    "disgusted": "disgust",
    "dis": "disgust",
    # surprised
    "surprised": "surprised",
    "surprise": "surprised",
    "sur": "surprised",
    "ps": "surprised",
    "pleasant_surprise": "surprised",
    "pleasant_surprised": "surprised",
    # bored
    "bored": "bored",
    "boredom": "bored",
}

# Codes whose meaning depends on the corpus: single letters collide (SAVEE "a" is anger,
# EmoDB "A" is fear), and bare numbers would capture user folders named "01".
_CORPUS_CODES: dict[str, Mapping[str, str]] = {
    "ravdess": {
        "01": "neutral",
        "02": "calm",
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": "fearful",
        "07": "disgust",
        "08": "surprised",
    },
    "cremad": {
        "ang": "angry",
        "dis": "disgust",
        "fea": "fearful",
        "hap": "happy",
        "neu": "neutral",
        "sad": "sad",
    },
    "tess": {
        "angry": "angry",
        "disgust": "disgust",
        "fear": "fearful",
        "happy": "happy",
        "neutral": "neutral",
        "ps": "surprised",
        "pleasant_surprise": "surprised",
        "pleasant_surprised": "surprised",
        "sad": "sad",
    },
    "savee": {
        "a": "angry",
        "d": "disgust",
        "f": "fearful",
        "h": "happy",
        "n": "neutral",
        "sa": "sad",
        "su": "surprised",
    },
    "emodb": {
        "w": "angry",  # Wut
        "l": "bored",  # Langeweile
        "e": "disgust",  # Ekel
        "a": "fearful",  # Angst
        "f": "happy",  # Freude
        "t": "sad",  # Trauer
        "n": "neutral",
    },
}


def _clean(label: str) -> str:
    return label.strip().lower()


def _key(label: str) -> str:
    return "_".join(_clean(label).replace("-", " ").replace("_", " ").split())


def _corpus_code(code: str, corpus: str) -> str | None:
    """The canonical name of a corpus's own code, or ``None`` if the corpus has no such code."""
    return _CORPUS_CODES[corpus].get(_key(code))


def _lookup(label: str, corpus: str | None = None) -> str | None:
    """The canonical name for ``label``, or ``None`` when it is not a known emotion."""
    key = _key(label)
    if corpus is not None and corpus in _CORPUS_CODES:
        found = _CORPUS_CODES[corpus].get(key)
        if found is not None:
            return found
    return _SYNONYMS.get(key)


def normalize_emotion(label: str, *, corpus: str | None = None) -> str:
    """Map an emotion label or corpus code onto serkit's canonical name.

    Case does not matter, and ``-``, ``_`` and spaces are interchangeable
    (``"Pleasant Surprise"`` == ``"pleasant_surprise"``). A label that is not
    a known emotion is returned lower-cased and stripped, so user-defined
    labels (``"frustrated"``) survive unchanged.

    Parameters
    ----------
    label : str
        A name (``"anger"``, ``"Happiness"``, ``"ps"``, ``"boredom"`` ...) or a
        code (``"ANG"``).
    corpus : str or None
        Also read ``label`` as that corpus's own code: ``"ravdess"`` (``"05"``),
        ``"savee"`` (``"sa"``), ``"emodb"`` (``"W"``), ``"cremad"``, ``"tess"``.
        Single letters and numbers only have a meaning within a corpus (SAVEE's
        ``"a"`` is anger, EmoDB's ``"A"`` is fear), so they are read only here.

    Returns
    -------
    str
        One of :data:`EMOTIONS` or :data:`EXTRA_EMOTIONS`, or the cleaned label
        if it is not a known emotion.

    Raises
    ------
    ParameterError
        If ``label`` is empty or not a string, or ``corpus`` is not a corpus
        with codes.

    Examples
    --------
    >>> normalize_emotion("Anger"), normalize_emotion("pleasant_surprise")
    ('angry', 'surprised')
    >>> normalize_emotion("A", corpus="emodb"), normalize_emotion("05", corpus="ravdess")
    ('fearful', 'angry')
    >>> normalize_emotion(" Frustrated ")
    'frustrated'
    """
    if not isinstance(label, str) or not label.strip():
        raise ParameterError(f"an emotion label must be a non-empty string; got {label!r}")
    if corpus is not None and corpus not in _CORPUS_CODES:
        raise ParameterError(
            f"corpus must be one of {', '.join(sorted(_CORPUS_CODES))} or None; got {corpus!r}"
        )
    found = _lookup(label, corpus)
    return found if found is not None else _clean(label)


def parse_emotions(emotions: str | Iterable[str], *, allow_custom: bool = False) -> tuple[str, ...]:
    """Read an emotion subset (``"angry,happy,neutral,sad"`` or a list) into canonical names.

    Parameters
    ----------
    emotions : str or iterable of str
        Comma-separated names, or a sequence of names. Synonyms are accepted
        (``"anger"`` -> ``"angry"``); duplicates are dropped, first one wins.
    allow_custom : bool
        Keep names outside the canonical vocabulary (lower-cased) instead of
        raising; the ``folder`` and ``csv`` readers use this for user labels.

    Returns
    -------
    tuple of str
        Canonical names, in the order given.

    Raises
    ------
    ParameterError
        If the subset is empty, or (unless ``allow_custom``) a name is not an
        emotion; the message names the bad value and lists the valid ones.

    Examples
    --------
    >>> parse_emotions("angry,happy,neutral,sad")
    ('angry', 'happy', 'neutral', 'sad')
    >>> parse_emotions(["Anger", "joy", "angry"])
    ('angry', 'happy')
    """
    if isinstance(emotions, str):
        items = emotions.split(",")
    else:
        try:
            items = list(emotions)
        except TypeError:
            raise ParameterError(
                f"emotions must be a comma-separated string or a list of names; got {emotions!r}"
            ) from None
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ParameterError(f"emotion names must be strings; got {item!r} in emotions")
        if not item.strip():
            continue
        name = _lookup(item)
        if name is None:
            if not allow_custom:
                raise ParameterError(
                    f"unknown emotion {item.strip()!r} in emotions; valid names are "
                    f"{', '.join(_ALL)} (or a synonym such as anger, fear, joy, boredom)"
                )
            name = _clean(item)
        if name not in out:
            out.append(name)
    if not out:
        raise ParameterError(f"emotions must name at least one emotion; got {emotions!r}")
    return tuple(out)
