"""What a corpus reader returns: one record per clip, the files it could not read, a summary.

Also the shared scanning machinery every reader uses: root checks, the walk
over audio files, and the loop that turns parsed names into a
:class:`CorpusScan`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import CorpusError
from .._warn import warn
from ..files import AUDIO_EXTENSIONS, walk_audio
from ._emotions import EMOTIONS, EXTRA_EMOTIONS, parse_emotions

if TYPE_CHECKING:  # pandas loads only when a table is asked for
    import pandas as pd

__all__ = ["AUDIO_EXTENSIONS", "CorpusScan", "Problem", "Utterance"]

logger = logging.getLogger(__name__)


_BASE_COLUMNS = ("path", "emotion", "speaker", "gender", "corpus")


@dataclass(frozen=True)
class Utterance:
    """One clip of a corpus: where it is, what it is labelled, who speaks.

    Attributes
    ----------
    path : Path
        The audio file.
    emotion : str
        Canonical emotion name (see :data:`~serkit.corpora.EMOTIONS`), or a
        user label from the ``folder`` / ``csv`` readers.
    speaker : str
        Speaker id, unique within the corpus (RAVDESS ``"01"`` ... ``"24"``).
    gender : str or None
        ``"male"``, ``"female"``, or ``None`` when the corpus does not say.
    corpus : str
        Corpus name (``"ravdess"``, ``"cremad"``, ... ``"folder"``, ``"csv"``).
    extra : Mapping[str, str]
        The corpus's own fields, as strings (RAVDESS ``intensity``,
        ``statement`` ...). Not part of the hash.
    """

    path: Path
    emotion: str
    speaker: str
    gender: str | None
    corpus: str
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "extra", {str(k): str(v) for k, v in self.extra.items()})

    @property
    def speaker_id(self) -> str:
        """``"<corpus>:<speaker>"``, unique across corpora (use it to group splits)."""
        return f"{self.corpus}:{self.speaker}"


@dataclass(frozen=True)
class Problem:
    """A file a reader could not use, and why.

    Attributes
    ----------
    path : Path
        The file (for a bad CSV row: the CSV file).
    reason : str
        What is wrong, in words a user can act on.
    """

    path: Path
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class CorpusScan:
    """The result of reading a corpus: clips, problems, and how many clips a subset left out.

    Attributes
    ----------
    corpus : str
        Corpus name.
    root : Path
        The folder read (for ``csv``: the CSV file).
    utterances : list of Utterance
        The clips, sorted by path.
    problems : list of Problem
        Files whose names do not parse or whose labels are not valid, sorted by
        path. They are reported here rather than dropped silently.
    n_excluded : int
        Valid clips left out because their emotion is not in the requested
        subset (not problems).
    better_corpus : str or None
        When most file names do not fit this reader: the reader whose naming
        scheme fits more of them (``"emodb"`` for EmoDB read as RAVDESS), as the
        warning says; else ``None``.
    """

    corpus: str
    root: Path
    utterances: list[Utterance] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    n_excluded: int = 0
    better_corpus: str | None = None

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def to_frame(self) -> pd.DataFrame:
        """One row per clip, in path order.

        Returns
        -------
        pandas.DataFrame [shape=(n_clips, 5 + n_extra)]
            Columns ``path`` (str), ``emotion``, ``speaker``, ``gender``,
            ``corpus``, then the corpus's extra fields in the order first seen
            (missing values are ``None``).

        Examples
        --------
        >>> scan = CorpusScan("folder", Path("data"), [
        ...     Utterance(Path("data/sad/a.wav"), "sad", "s1", None, "folder", {"x": "1"})])
        >>> list(scan.to_frame().columns)
        ['path', 'emotion', 'speaker', 'gender', 'corpus', 'x']
        """
        import pandas as pd

        extra_cols: list[str] = []
        for utt in self.utterances:
            for key in utt.extra:
                if key not in extra_cols and key not in _BASE_COLUMNS:
                    extra_cols.append(key)
        columns: dict[str, list[Any]] = {name: [] for name in (*_BASE_COLUMNS, *extra_cols)}
        for utt in self.utterances:
            columns["path"].append(str(utt.path))
            columns["emotion"].append(utt.emotion)
            columns["speaker"].append(utt.speaker)
            columns["gender"].append(utt.gender)
            columns["corpus"].append(utt.corpus)
            for key in extra_cols:
                columns[key].append(utt.extra.get(key))
        return pd.DataFrame(columns, columns=list(columns))

    def summary(self) -> dict[str, Any]:
        """Counts that describe the scan (no audio is read; durations are not included).

        Returns
        -------
        dict
            ``corpus``, ``root`` (str), ``n_clips``, ``n_speakers``,
            ``emotions`` (clips per emotion, canonical order first),
            ``speakers_by_gender`` (distinct speakers per gender; ``"unknown"``
            for ``None``), ``n_problems`` and ``n_excluded``. Plain types, so it
            serialises to JSON as is.

        Examples
        --------
        >>> scan = CorpusScan("folder", Path("data"), [
        ...     Utterance(Path("data/sad/a.wav"), "sad", "s1", "female", "folder")])
        >>> scan.summary()["emotions"], scan.summary()["speakers_by_gender"]
        ({'sad': 1}, {'female': 1})
        """
        counts = Counter(utt.emotion for utt in self.utterances)
        order = [e for e in (*EMOTIONS, *EXTRA_EMOTIONS) if e in counts]
        order += sorted(e for e in counts if e not in order)
        genders: dict[str, set[str]] = {}
        for utt in self.utterances:
            genders.setdefault(utt.gender or "unknown", set()).add(utt.speaker)
        return {
            "corpus": self.corpus,
            "root": str(self.root),
            "n_clips": len(self.utterances),
            "n_speakers": len({utt.speaker for utt in self.utterances}),
            "emotions": {e: counts[e] for e in order},
            "speakers_by_gender": {g: len(genders[g]) for g in sorted(genders)},
            "n_problems": len(self.problems),
            "n_excluded": self.n_excluded,
        }


# --------------------------------------------------------------------------------------------
# shared scanning machinery (private)


class _Unusable(Exception):
    """Raised by a name parser: the file is a Problem, with this reason."""


def _abs(path: str | os.PathLike[str]) -> Path:
    """Absolute, normalised path, without resolving symlinks."""
    return Path(os.path.abspath(Path(path).expanduser()))


def _check_dir(root: str | os.PathLike[str], corpus: str) -> Path:
    if not isinstance(root, (str, os.PathLike)):
        raise CorpusError(f"{corpus} root must be a path; got {root!r}")
    path = _abs(root)
    if not path.exists():
        raise CorpusError(f"{corpus} root {path} does not exist")
    if not path.is_dir():
        raise CorpusError(f"{corpus} root {path} is not a directory")
    return path


class _Found(list):
    """Audio files found, plus the folders that could not be read (``unreadable``)."""

    unreadable: list[Problem]


def _audio_files(root: Path) -> _Found:
    """Every audio file under ``root`` (recursively, following links once), sorted.

    Hidden files and folders and non-audio files are skipped silently; a folder
    that cannot be read is kept in ``.unreadable`` and becomes a Problem of the scan.
    """
    found = _Found()
    found.unreadable = []

    def unreadable(exc: OSError) -> None:
        reason = f"folder cannot be read ({exc.strerror or exc}); its files were not scanned"
        found.unreadable.append(Problem(Path(exc.filename or root), reason))

    found.extend(Path(path) for path in walk_audio(os.fspath(root), on_error=unreadable))
    found.sort()
    return found


def _wanted(
    emotions: str | Collection[str] | None, *, allow_custom: bool = False
) -> tuple[str, ...] | None:
    return None if emotions is None else parse_emotions(emotions, allow_custom=allow_custom)


def _warn_absent(wanted: tuple[str, ...] | None, available: Collection[str], corpus: str) -> None:
    """Warn about requested emotions a named corpus does not contain."""
    if wanted is None:
        return
    absent = [e for e in wanted if e not in available]
    if absent:
        has = [e for e in (*EMOTIONS, *EXTRA_EMOTIONS) if e in available]
        warn(
            f"{corpus} has no clips labelled {', '.join(absent)}; its emotions are {', '.join(has)}"
        )


def _scan_files(
    corpus: str,
    root: Path,
    files: list[Path],
    parse: Callable[[Path], Utterance],
    wanted: tuple[str, ...] | None,
) -> CorpusScan:
    """Parse each file into an Utterance or a Problem, apply the subset, and collect.

    A second file with the same speaker and ``extra["code"]`` (the same clip in another
    format or folder) is a Problem, so no clip is counted twice.
    """
    if not files:
        warn(
            f"no audio files found under {root} (extensions: {', '.join(sorted(AUDIO_EXTENSIONS))})"
        )
    utterances: list[Utterance] = []
    problems: list[Problem] = list(getattr(files, "unreadable", []))
    excluded = 0
    first: dict[tuple[str, str], Path] = {}
    for path in files:
        try:
            utt = parse(path)
            code = utt.extra.get("code")
            if code is not None:
                seen = first.setdefault((utt.speaker, code), path)
                if seen != path:
                    raise _Unusable(f"the same clip ({code}) as {seen}")
        except _Unusable as exc:
            problems.append(Problem(path, str(exc)))
            continue
        if wanted is not None and utt.emotion not in wanted:
            excluded += 1
            continue
        utterances.append(utt)
    n_unusable = len(problems) - len(getattr(files, "unreadable", []))
    better = None
    if n_unusable * 2 > len(files):  # most names do not fit: which reader's do?
        from ._detect import fitting_scheme  # imports every reader, which import this module

        better = fitting_scheme(root, files, chosen=corpus, n_fit=len(files) - n_unusable)
    return _finish(corpus, root, utterances, problems, excluded, n_files=len(files), better=better)


def _finish(
    corpus: str,
    root: Path,
    utterances: list[Utterance],
    problems: list[Problem],
    excluded: int,
    *,
    n_files: int,
    better: tuple[str, int, int] | None = None,
) -> CorpusScan:
    """The scan, sorted; warns when files could not be used, naming a reader that fits better.

    ``better`` is :func:`~serkit.corpora._detect.fitting_scheme`'s answer (or ``None``).
    """
    if problems:
        message = (
            f"{corpus}: {len(problems)} of {n_files} files could not be used (first: {problems[0]})"
        )
        if better is not None:
            name, n_fit, n_tried = better
            message += (
                f"; these names fit --corpus {name} ({n_fit} of {n_tried} checked; in Python: "
                f"load_corpus(root, {name!r}))"
            )
        warn(message)
    logger.info(
        "%s: %d clips from %s (%d excluded by the emotion subset, %d problems)",
        corpus,
        len(utterances),
        root,
        excluded,
        len(problems),
    )
    return CorpusScan(
        corpus=corpus,
        root=root,
        utterances=sorted(utterances, key=lambda u: u.path),
        problems=sorted(problems, key=lambda p: (p.path, p.reason)),
        n_excluded=excluded,
        better_corpus=None if better is None else better[0],
    )
