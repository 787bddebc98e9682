"""Streamed file listings and partitions: never a list of the whole archive in memory.

The walk visits folders with :func:`os.scandir`, names sorted at each level, so
the same tree always yields the same order (partition ``i`` holds the same
files on every run, which is what makes a job resumable). ``--files-from``
lists are read line by line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._errors import ParameterError
from ..corpora import AUDIO_EXTENSIONS

__all__ = ["iter_audio_files", "iter_files_from", "partition_key", "partitions"]


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _is_audio(name: str) -> bool:
    return "." in name and name.rsplit(".", 1)[-1].lower() in AUDIO_EXTENSIONS


def _walk(folder: str, seen: set[tuple[int, int]]) -> Iterator[str]:
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a link loop
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # an unreadable folder: nothing to list (the local path does the same)
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            yield from _walk(entry.path, seen)
        elif _is_audio(entry.name):
            yield entry.path


def iter_audio_files(inputs: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Audio files under each input folder (recursive, sorted per folder); files as given.

    A file named explicitly is kept whatever its extension, so that a bad file
    gets an error row instead of vanishing (as :func:`serkit.batch.collect_audio_files`).
    Only the folders on the current path are held in memory.

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
        if os.path.isdir(path):
            yield from _walk(os.path.abspath(path), set())
        else:
            yield os.path.abspath(path)


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


TAIL_DIVISOR = 8
"""The last ``2 x size`` files of a job go in partitions of ``size // TAIL_DIVISOR`` files."""
MIN_TAIL_SIZE = 8
"""Smaller tail partitions than this are not worth their task: no tail split below it."""


def partitions(paths: Iterable[str], size: int, total: int | None = None) -> Iterator[list[str]]:
    """Consecutive chunks of ``size`` paths, lazily; with ``total``, a finer tail.

    Without ``total`` the last chunk may be shorter. With ``total`` (the number
    of paths), the last ``2 x size`` paths are cut into chunks of
    ``size // 8`` (when that is at least 8), so the workers run out of work at
    nearly the same time instead of one finishing a whole partition alone
    (with 1440 clips in 256-clip partitions on 2 workers, one worker had 96
    clips more to do). The cut depends only on ``size`` and ``total``, so the
    same listing always gives the same partitions.

    Raises
    ------
    ParameterError
        If ``size`` < 1.

    Examples
    --------
    >>> [len(p) for p in partitions(map(str, range(7)), 3)]
    [3, 3, 1]
    >>> [len(p) for p in partitions(map(str, range(200)), 64, total=200)]
    [64, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]
    """
    if size < 1:
        raise ParameterError(f"partition size must be >= 1; got {size}")
    tail_size = size // TAIL_DIVISOR
    tail_start = (
        max(0, total - 2 * size) if total is not None and tail_size >= MIN_TAIL_SIZE else None
    )
    chunk: list[str] = []
    for position, path in enumerate(paths):
        if position == tail_start and chunk:
            yield chunk
            chunk = []
        chunk.append(path)
        limit = size if tail_start is None or position < tail_start else tail_size
        if len(chunk) == limit:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def partition_key(paths: Iterable[str]) -> str:
    """Hash of each path with its size and modification time: changes when an input does.

    Costs one ``stat`` per file, not a read; the manifest keeps each file's
    content hash (computed on the worker) next to this key.
    """
    digest = hashlib.sha256()
    for path in paths:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{path}\t{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
