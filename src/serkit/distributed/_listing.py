"""Partitions of a streamed file listing: never a list of the whole archive in memory.

The listing (:mod:`serkit.files`) gives the same tree in the same order on every
run, so partition ``i`` holds the same files each time, which is what makes a job
resumable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator

from .._errors import ParameterError
from ..files import iter_audio_files, iter_files_from

__all__ = ["check_groups", "iter_audio_files", "iter_files_from", "partition_key", "partitions"]


TAIL_DIVISOR = 8
"""The last ``2 x size`` files of a job go in partitions of ``size // TAIL_DIVISOR`` files."""
MIN_TAIL_SIZE = 8
"""Smaller tail partitions than this are not worth their task: no tail split below it."""


def partitions(
    paths: Iterable[str],
    size: int,
    total: int | None = None,
    group: Callable[[str], str] | None = None,
) -> Iterator[list[str]]:
    """Consecutive chunks of ``size`` paths, lazily; with ``total``, a finer tail.

    Without ``total`` the last chunk may be shorter. With ``total`` (the number
    of paths), the last ``2 x size`` paths are cut into chunks of
    ``size // 8`` (when that is at least 8), so the workers run out of work at
    nearly the same time instead of one finishing a whole partition alone
    (with 1440 clips in 256-clip partitions on 2 workers, one worker had 96
    clips more to do). The cut depends only on ``size`` and ``total``, so the
    same listing always gives the same partitions.

    With ``group`` (a path's session, ``--group-by``), a chunk is cut only where the
    session changes: it grows past its size until the session's last file, so every
    session lies in one partition (whose worker normalises it). The listing must keep
    each session's files together (:func:`check_groups`).

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
    >>> [p for p in partitions(["a1", "a2", "b1", "b2", "b3", "c1"], 2, group=lambda s: s[0])]
    [['a1', 'a2'], ['b1', 'b2', 'b3'], ['c1']]
    """
    if size < 1:
        raise ParameterError(f"partition size must be >= 1; got {size}")
    tail_size = size // TAIL_DIVISOR
    tail_start = (
        max(0, total - 2 * size) if total is not None and tail_size >= MIN_TAIL_SIZE else None
    )
    chunk: list[str] = []
    limit = size  # the size the chunk is cut at: its last path's
    last_key: str | None = None
    for position, path in enumerate(paths):
        key = group(path) if group is not None else None
        at_boundary = group is None or not chunk or key != last_key
        if chunk and at_boundary and (len(chunk) >= limit or position == tail_start):
            yield chunk
            chunk = []
        chunk.append(path)
        last_key = key
        limit = size if tail_start is None or position < tail_start else tail_size
    if chunk:
        yield chunk


def check_groups(paths: Iterable[str], group: Callable[[str], str]) -> int:
    """Count the paths, checking that each session's files come together in the listing.

    A session seen again after another one began would be split over partitions,
    each normalised on its own: that is refused. The sessions already closed are
    remembered as 8-byte digests (about 100 MB for ten million sessions).

    Raises
    ------
    ParameterError
        A path the ``--group-by`` regex does not match (from ``group``), or a session
        whose files are not together.
    """
    closed: set[bytes] = set()
    last: str | None = None
    count = 0
    for path in paths:
        count += 1
        key = group(path)
        if key != last:
            if last is not None:
                closed.add(hashlib.blake2b(last.encode(), digest_size=8).digest())
            if hashlib.blake2b(key.encode(), digest_size=8).digest() in closed:
                raise ParameterError(
                    f"{path}: its session {key!r} (--group-by) appeared earlier in the listing, "
                    "apart from these files; with --dask the files of a session must come "
                    "together (one folder per session, or a --files-from list sorted by session)"
                )
            last = key
    return count


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
