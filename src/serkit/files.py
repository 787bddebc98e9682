"""Audio files under folders, and file lists: one listing for every path through serkit.

``serkit predict`` (local or ``--dask``), ``serkit features --dask`` and
:func:`serkit.batch.collect_audio_files` list inputs the same way: folders are walked
with :func:`os.scandir`, names sorted at each level (so the same tree always gives the
same order), hidden files and folders and ``__MACOSX`` skipped, links to folders
followed (a link loop is visited once). The corpus readers (:mod:`serkit.corpora`) walk
a corpus folder by the same rules. Only the folders on the current path are held in
memory, so a listing of millions of files streams. ``--files-from`` lists are read line
by line.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ._errors import ParameterError, SerkitWarning

__all__ = [
    "AUDIO_EXTENSIONS",
    "CORPUS_EXTENSIONS",
    "iter_audio_files", "iter_files_from", "session_key", "walk_audio"]

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        # libsndfile
        *("wav", "flac", "ogg", "oga", "aiff", "aif", "au", "w64", "rf64", "caf", "opus"),
        # FFmpeg (serkit._ffmpeg): phones, browsers and call systems
        *("mp3", "m4a", "m4b", "aac", "mp4", "mov", "3gp", "webm", "weba", "mka", "wma", "amr"),
    }
)
"""File extensions (lower case, no dot) that serkit lists in folders."""

CORPUS_EXTENSIONS: frozenset[str] = AUDIO_EXTENSIONS - {"mp4", "mov", "3gp"}
"""Extensions the corpus readers treat as clips: not the video containers, since a corpus's
videos (RAVDESS's audio-visual MP4s) would repeat its audio clips."""


def _is_hidden(name: str) -> bool:
    # ".DS_Store", "._x.wav" (macOS resource forks), ".partial" (the downloader's work area)
    return name.startswith(".") or name == "__MACOSX"


def _has_extension(name: str, extensions: frozenset[str]) -> bool:
    return "." in name and name.rsplit(".", 1)[-1].lower() in extensions


def walk_audio(
    folder: str,
    on_error: Callable[[OSError], None] | None = None,
    *,
    extensions: frozenset[str] = AUDIO_EXTENSIONS,
) -> Iterator[str]:
    """Audio files under ``folder``, recursively, names sorted per folder, lazily.

    Hidden files and folders (and ``__MACOSX``) are skipped and links to folders
    followed, each folder once (a link loop ends there). A folder that cannot be read
    is passed to ``on_error`` (its ``filename`` names it); without one, a
    :class:`~serkit.SerkitWarning` names it. Either way its files are not listed and
    the walk goes on. ``extensions`` (lower case, no dot) are the names listed.
    """
    yield from _walk(folder, set(), on_error or _warn_unreadable, extensions)


def _warn_unreadable(exc: OSError) -> None:
    warnings.warn(
        f"{exc.filename}: folder cannot be read ({exc.strerror or exc}); its files were not listed",
        SerkitWarning,
        stacklevel=4,
    )


def _walk(
    folder: str,
    seen: set[tuple[int, int]],
    on_error: Callable[[OSError], None],
    extensions: frozenset[str],
) -> Iterator[str]:
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a link loop
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = folder
        on_error(exc)
        return
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            yield from _walk(entry.path, seen, on_error, extensions)
        elif _has_extension(entry.name, extensions):
            yield entry.path


def iter_audio_files(
    inputs: Iterable[str | os.PathLike], *, absolute: bool = True
) -> Iterator[str]:
    """Audio files under each input folder (recursive, sorted per folder); files as given.

    A file named explicitly is kept whatever its extension, so that a bad file
    gets an error row instead of vanishing. Only the folders on the current path are
    held in memory. ``absolute=False`` keeps each path relative where its input was
    (``serkit predict``'s output names files as the user gave them). A folder that
    cannot be read is named in a :class:`~serkit.SerkitWarning` (:func:`walk_audio`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.wav", "a.flac", "notes.txt", ".hidden.wav"):
    ...     (d / name).touch()
    >>> [pathlib.Path(p).name for p in iter_audio_files([d])]
    ['a.flac', 'b.wav']
    """
    for item in inputs:
        path = os.fspath(item)
        if absolute:
            path = os.path.abspath(path)
        if os.path.isdir(path):
            yield from walk_audio(path)
        else:
            yield path


def iter_files_from(list_file: str | os.PathLike) -> Iterator[str]:
    """Paths from a text file, one per line (blank lines and ``#`` comments skipped).

    Relative paths are taken relative to the list file's folder.

    Raises
    ------
    ParameterError
        If the list file cannot be opened.
    """
    list_path = Path(list_file)
    try:
        handle = open(list_path, encoding="utf-8")  # noqa: SIM115 - closed by the generator
    except OSError as exc:
        raise ParameterError(f"{list_path}: cannot read the file list ({exc.strerror})") from exc
    base = list_path.resolve().parent
    with handle:
        for line in handle:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            yield os.fspath(base / text) if not os.path.isabs(text) else text


def session_key(group_by: str) -> Callable[[str | os.PathLike], str]:
    """The function that gives a path's session (speaker, call) under a ``--group-by`` regex.

    The regex is searched in the path; its group named ``session``, else its first
    group, else the whole match is the session.

    Raises
    ------
    ParameterError
        For an invalid regex; the returned function, for a path the regex does not match.

    Examples
    --------
    >>> key = session_key(r"-(\\d+)\\.\\w+$")
    >>> key("calls/03-01-05-02-01-01-23.flac")
    '23'
    """
    try:
        pattern = re.compile(group_by)
    except re.error as exc:
        raise ParameterError(
            f"--group-by {group_by!r} is not a valid regular expression: {exc}"
        ) from exc

    def key(path: str | os.PathLike) -> str:
        match = pattern.search(os.fspath(path))
        if match is None:
            raise ParameterError(f"{os.fspath(path)}: does not match --group-by {group_by!r}")
        named = match.groupdict().get("session")
        return named or (match.group(1) if pattern.groups else None) or match.group(0)

    return key
