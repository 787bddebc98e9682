"""Write output files atomically: a temporary file beside the target, then a rename.

A process killed while writing (``kill -9``, a full disk, an exception) leaves
the previous file untouched and at most a hidden ``.tmp-*`` file, never a
half-written or empty output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one step.

    The temporary file sits in the target's folder (so the rename never crosses
    file systems) and keeps its suffix (so writers that infer the format from the
    name, such as ``savefig`` or ``to_parquet``, behave the same). On any error it
    is deleted and ``path`` is left as it was. A target that cannot be written
    (its folder read-only or impossible) raises :class:`OSError` naming ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".tmp-{target.stem}-", suffix=target.suffix
        )
    except OSError as exc:  # name the file asked for, not the hidden temporary one
        raise OSError(exc.errno, f"cannot be written ({exc.strerror})", os.fspath(target)) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:  # the data reaches the disk before the name changes
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
