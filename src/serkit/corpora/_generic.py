"""Readers for your own data: one folder per label, or a CSV table of clips."""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Collection
from pathlib import Path

from .._errors import CorpusError, ParameterError, SerkitWarning
from ._emotions import normalize_emotion
from ._record import (
    CorpusScan,
    Problem,
    Utterance,
    _abs,
    _audio_files,
    _check_dir,
    _finish,
    _scan_files,
    _Unusable,
    _wanted,
)

__all__ = ["load_csv", "load_folder"]

_UNKNOWN_SPEAKER = "unknown"
_GENDERS = {
    "m": "male",
    "male": "male",
    "man": "male",
    "f": "female",
    "female": "female",
    "woman": "female",
}


def _compile_speaker_pattern(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str) or not pattern:
        raise ParameterError(f"speaker_pattern must be a non-empty regex string; got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ParameterError(
            f"speaker_pattern {pattern!r} is not a valid regular expression ({exc})"
        ) from None


def _speaker_from(pattern: re.Pattern[str], text: str) -> str:
    """The speaker that ``pattern`` finds in ``text``: group ``speaker``, else group 1."""
    m = pattern.search(text)
    if m is None:
        raise _Unusable(f"path {text!r} does not match speaker_pattern {pattern.pattern!r}")
    if "speaker" in pattern.groupindex:
        speaker = m.group("speaker")
    elif pattern.groups:
        speaker = m.group(1)
    else:
        speaker = m.group(0)
    if not speaker:
        raise _Unusable(
            f"speaker_pattern {pattern.pattern!r} matches {text!r} with an empty speaker"
        )
    return speaker


def _gender(value: str) -> str | None:
    value = value.strip().lower()
    if not value:
        return None
    return _GENDERS.get(value, value)


def load_folder(
    root: str | os.PathLike[str],
    *,
    emotions: str | Collection[str] | None = None,
    speaker_pattern: str | None = None,
) -> CorpusScan:
    """Read a folder with one sub-folder per label: ``root/<label>/**/<clip>``.

    Labels are mapped onto the canonical names where they are known
    (``anger/`` -> ``"angry"``); other labels are kept, lower-cased. The
    label folder's own name is kept in ``extra["folder"]``. A clip directly in
    ``root`` (not in a label folder) is a :class:`Problem`.

    Parameters
    ----------
    root : path
        The folder holding the label folders.
    emotions : str, sequence of str or None
        Keep only these labels (canonical names, synonyms or your own labels);
        clips left out are counted in ``n_excluded``.
    speaker_pattern : str or None
        Regular expression searched in each clip's path relative to ``root``
        (with ``/`` separators, e.g. ``"angry/spk03/take1.wav"``). The speaker
        is the group named ``speaker``, else the first group, else the whole
        match. A clip whose path does not match is a :class:`Problem`.

    Returns
    -------
    CorpusScan
        With ``corpus == "folder"`` and ``gender`` ``None``.

    Raises
    ------
    CorpusError
        If ``root`` is missing or not a folder.
    ParameterError
        If ``speaker_pattern`` is not a valid regular expression.

    Notes
    -----
    Without ``speaker_pattern`` every clip gets the speaker ``"unknown"``.
    Speaker-independent evaluation (serkit's default) needs real speakers, so
    give a pattern whenever the paths carry them.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "Anger" / "spk1").mkdir(parents=True)
    >>> (root / "Anger" / "spk1" / "take1.wav").touch()
    >>> u = load_folder(root, speaker_pattern=r"/(spk\\d+)/").utterances[0]
    >>> u.emotion, u.speaker, u.extra["folder"]
    ('angry', 'spk1', 'Anger')
    """
    path = _check_dir(root, "folder")
    pattern = _compile_speaker_pattern(speaker_pattern)
    wanted = _wanted(emotions, allow_custom=True)

    def parse(file: Path) -> Utterance:
        return _folder_utterance(file, file.relative_to(path), pattern)

    return _scan_files("folder", path, _audio_files(path), parse, wanted)


def _folder_utterance(file: Path, rel: Path, pattern: re.Pattern[str] | None) -> Utterance:
    """The record of ``file`` at ``rel`` (``<label>/.../<clip>``) below a folder corpus's root.

    Shared by :func:`load_folder` and :func:`serkit.corpora.file_labeller`, so a clip is
    labelled the same way whether the whole folder is read or one file at a time.
    """
    if len(rel.parts) < 2:
        raise _Unusable("not inside a label folder (expected <root>/<label>/<clip>)")
    folder = rel.parts[0]
    speaker = _UNKNOWN_SPEAKER if pattern is None else _speaker_from(pattern, rel.as_posix())
    return Utterance(
        path=file,
        emotion=normalize_emotion(folder),
        speaker=speaker,
        gender=None,
        corpus="folder",
        extra={"folder": folder},
    )


def _read_table(table: Path) -> tuple[list[str], list[dict[str, str]]]:
    delimiter = "\t" if table.suffix.lower() in (".tsv", ".tab") else ","
    try:
        with open(table, newline="", encoding="utf-8-sig") as handle:
            # strict: an unterminated quote is an error, not a field swallowing the rest
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                raise CorpusError(f"{table} is empty; it needs a header row with path and label")
            names = [h.strip() for h in header]
            _refuse_duplicate_columns(table, names)
            rows = [
                {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(names)}
                for row in reader
                if any(cell.strip() for cell in row)
            ]
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{table} is not UTF-8 text ({exc})") from None
    except csv.Error as exc:
        raise CorpusError(
            f"{table} is not a readable CSV file (line {reader.line_num}: {exc}; "
            "an unterminated quote?)"
        ) from None
    return names, rows


def _refuse_duplicate_columns(table: Path, names: list[str]) -> None:
    """Two columns with the same name (case-insensitive) would make a row ambiguous."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        key = name.lower()
        if key and key in seen:
            raise CorpusError(
                f"{table}: column {name!r} appears twice (columns {seen[key]} and {number}); "
                "rename or remove one"
            )
        seen[key] = number


def load_csv(
    path: str | os.PathLike[str],
    *,
    emotions: str | Collection[str] | None = None,
    speaker_pattern: str | None = None,
) -> CorpusScan:
    """Read a table of clips: columns ``path``, ``label``, optional ``speaker`` and ``gender``.

    Column names are matched case-insensitively; ``emotion`` is accepted for
    ``label``. A ``.tsv`` / ``.tab`` file is read tab-separated. Relative paths
    are resolved against the CSV's folder. Any other columns (``session``,
    ``text`` ...) go into ``extra``. Labels are mapped onto the canonical
    names where known, otherwise kept lower-cased.

    Each of these makes the row a :class:`Problem` (not an error): an empty
    path, label or speaker, a file that does not exist, a path listed twice, a
    path that does not match ``speaker_pattern``.

    Parameters
    ----------
    path : path
        The CSV file.
    emotions : str, sequence of str or None
        Keep only these labels; clips left out are counted in ``n_excluded``.
    speaker_pattern : str or None
        Used only when there is no ``speaker`` column: a regular expression
        searched in the path as written in the CSV (group ``speaker``, else the
        first group, else the whole match).

    Returns
    -------
    CorpusScan
        With ``corpus == "csv"`` and ``root`` the CSV file.

    Raises
    ------
    CorpusError
        If the file is missing, not UTF-8 text, or lacks a required column
        (the message lists the columns found).
    ParameterError
        If ``speaker_pattern`` is not a valid regular expression.

    Notes
    -----
    Without a ``speaker`` column or ``speaker_pattern`` every clip gets the
    speaker ``"unknown"``, which rules out speaker-independent evaluation.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "a.wav").touch()
    >>> _ = (root / "clips.csv").write_text("path,label,speaker\\na.wav,Joy,s1\\n")
    >>> u = load_csv(root / "clips.csv").utterances[0]
    >>> u.path.name, u.emotion, u.speaker
    ('a.wav', 'happy', 's1')
    """
    if not isinstance(path, (str, os.PathLike)):
        raise CorpusError(f"csv path must be a path; got {path!r}")
    table = _abs(path)
    if not table.exists():
        raise CorpusError(f"csv file {table} does not exist")
    if table.is_dir():
        raise CorpusError(f"csv file {table} is a directory; give the CSV file itself")
    pattern = _compile_speaker_pattern(speaker_pattern)
    wanted = _wanted(emotions, allow_custom=True)
    names, rows = _read_table(table)

    lower = {name.lower(): name for name in names}  # names are unique (checked on reading)
    path_col = lower.get("path")
    label_col = lower.get("label", lower.get("emotion"))
    if path_col is None or label_col is None:
        missing = [c for c, col in (("path", path_col), ("label", label_col)) if col is None]
        raise CorpusError(
            f"{table} lacks the column(s) {', '.join(missing)}; columns found: "
            f"{', '.join(repr(n) for n in names) or 'none'} (needed: path, label; "
            "optional: speaker, gender)"
        )
    speaker_col = lower.get("speaker")
    gender_col = lower.get("gender")
    used = {path_col, label_col, speaker_col, gender_col}
    extra_cols = [n for n in dict.fromkeys(names) if n not in used and n]
    if speaker_col is not None and pattern is not None:
        warnings.warn(
            f"{table} has a speaker column; speaker_pattern {pattern.pattern!r} is ignored",
            SerkitWarning,
            stacklevel=2,
        )

    utterances: list[Utterance] = []
    problems: list[Problem] = []
    excluded = 0
    first_row: dict[Path, int] = {}
    for number, row in enumerate(rows, start=2):
        written = row[path_col]
        if not written:
            problems.append(Problem(table, f"row {number}: empty path"))
            continue
        clip = Path(written).expanduser()
        clip = _abs(clip if clip.is_absolute() else table.parent / clip)
        try:
            if clip in first_row:
                raise _Unusable(f"row {number}: listed again (first on row {first_row[clip]})")
            first_row[clip] = number
            if not row[label_col]:
                raise _Unusable(f"row {number}: empty label")
            if speaker_col is not None:
                speaker = row[speaker_col]
                if not speaker:
                    raise _Unusable(f"row {number}: empty speaker")
            elif pattern is not None:
                speaker = _speaker_from(pattern, Path(written).as_posix())
            else:
                speaker = _UNKNOWN_SPEAKER
            if not clip.is_file():
                raise _Unusable(f"row {number}: file not found")
        except _Unusable as exc:
            problems.append(Problem(clip, str(exc)))
            continue
        utt = Utterance(
            path=clip,
            emotion=normalize_emotion(row[label_col]),
            speaker=speaker,
            gender=_gender(row[gender_col]) if gender_col is not None else None,
            corpus="csv",
            extra={col: row[col] for col in extra_cols},
        )
        if wanted is not None and utt.emotion not in wanted:
            excluded += 1
            continue
        utterances.append(utt)
    if not rows:
        warnings.warn(f"{table} lists no clips", SerkitWarning, stacklevel=2)
    return _finish("csv", table, utterances, problems, excluded, n_files=len(rows))
