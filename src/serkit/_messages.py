"""How the ``serkit`` command speaks to its user: warnings, log lines, hints, exit codes.

The library warns with :class:`~serkit.SerkitWarning` and logs through named
loggers; both are for Python callers. On the command line a warning is one line,
``serkit: warning: ...``, with no source line and no module name, and a log record
reads the same way. The command's own wording for a few common situations (no
audio found, a recording too long for ``predict``, the exit-status rule) lives
here too, so it is written once.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .files import AUDIO_EXTENSIONS

__all__ = [
    "EXIT_STATUS",
    "PREDICT_CEILING_S",
    "command_list",
    "long_recording_hint",
    "no_audio_found",
    "user_messages",
]

EXIT_STATUS = (
    "Exit status: 0 when at least one prediction was made; 1 when there was nothing to "
    "predict (every file, or the recording, could not be read, is empty, too short, too "
    "long, silent or holds no speech); 2 when the command cannot run (a bad option, a model "
    "that cannot be loaded, no audio files in the given paths, an output that cannot be "
    "written)."
)
"""The one exit-status rule of ``predict`` and ``timeline``, shown in both commands' help."""

PREDICT_CEILING_S = 3600.0
"""Largest ``predict --max-seconds``: a file is decoded whole into memory and gets one
label (an hour took 2.0 GB with the shipped model: benchmarks/RESULTS.md, "One long file
through serkit predict"); ``timeline`` reads any length in blocks."""


def _format_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """``warnings.formatwarning`` for the command: the message only, never the source line."""
    return f"serkit: warning: {message}\n"


class _Formatter(logging.Formatter):
    """``serkit: <level>: <message>``; a logger outside serkit (Dask ...) is named after it."""

    def format(self, record: logging.LogRecord) -> str:
        name = record.name
        where = "" if name == "serkit" or name.startswith("serkit.") else f" ({name})"
        return f"serkit: {record.levelname.lower()}{where}: {record.getMessage()}"


@contextmanager
def user_messages(*, verbose: bool) -> Iterator[None]:
    """Within: warnings and log records print to stderr as one ``serkit: ...`` line each.

    Only the display changes: warning filters and anything recording warnings
    (``pytest.warns``, ``catch_warnings(record=True)``) work as before, and the
    display is restored on exit (``main`` is also called in-process). ``verbose``
    logs INFO records as well.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[_handler()])
    previous = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        yield
    finally:
        warnings.formatwarning = previous


def _handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    return handler


def command_list(parser_choices: Sequence[tuple[str, str]]) -> str:
    """What plain ``serkit`` prints: the usage, then each command with its one-line help."""
    width = max(len(name) for name, _ in parser_choices)
    lines = ["usage: serkit [-h] [--version] [-v] COMMAND ...", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in parser_choices]
    lines += ["", "Run 'serkit COMMAND --help' for a command's options."]
    return "\n".join(lines) + "\n"


def no_audio_found(inputs: Sequence[str | os.PathLike[str]], files_from: str | None) -> str:
    """The error when the given paths hold no audio file: which paths, and what is read."""
    named = [os.fspath(p) for p in inputs[:3]]
    where = ", ".join(named) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    if files_from is not None:
        where = f"{where} (from {files_from})" if where else f"the list {files_from}"
    extensions = ", ".join(f".{e}" for e in sorted(AUDIO_EXTENSIONS))
    return (
        f"no audio files found in {where or 'the given paths'}: folders are searched "
        f"recursively for {extensions} files (hidden files and folders are skipped)"
    )


def long_recording_hint(path: str, max_seconds: float) -> str | None:
    """What to do about a file longer than ``predict``'s limit, or ``None`` if it is not one.

    Read from the file's header (nothing is decoded), so it says so only when the
    file is longer than ``max_seconds``.
    """
    from . import audio
    from ._errors import AudioError

    try:
        duration = audio.info(path).duration
    except (AudioError, OSError):
        return None
    if duration <= max_seconds:
        return None
    hint = f"; for long recordings use 'serkit timeline {path}' (emotion over time)"
    if duration <= PREDICT_CEILING_S:
        hint += f", or raise the limit with --max-seconds {int(duration) + 1}"
    return hint
