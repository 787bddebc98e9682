"""Predict every audio file in files and folders: the light path behind ``serkit predict``.

Kept apart from :mod:`serkit.workflows` so that predicting imports neither pandas
nor the evaluation code, which matters for a command that runs once per call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .files import iter_audio_files, session_key
from .recognizer import EmotionRecognizer
from .results import Prediction

__all__ = ["collect_audio_files", "predict_paths", "speaker_labels"]


def collect_audio_files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, audio extensions only) into a sorted file list.

    The same listing as ``--dask`` jobs (:func:`serkit.files.iter_audio_files`):
    hidden files and folders skipped, links to folders followed. A path given
    explicitly is kept whatever its extension, so that a bad file gets a clear
    error row instead of vanishing.
    """
    return [Path(p) for p in iter_audio_files(inputs, absolute=False)]


def speaker_labels(paths: Sequence[Path], group_by: str | None) -> list[str]:
    """Speaker (or call) of each file for per-speaker normalisation: all one, or a regex group.

    ``group_by`` is searched in each file's path; its first group (or the group
    named ``session``) is the speaker (:func:`serkit.files.session_key`). A path it
    does not match is an error.
    """
    if group_by is None:
        return ["all"] * len(paths)
    key = session_key(group_by)
    return [key(path) for path in paths]


def predict_paths(
    recognizer: EmotionRecognizer,
    inputs: Iterable[str | os.PathLike],
    *,
    speaker_norm: bool = False,
    group_by: str | None = None,
    jobs: int | None = 1,
    progress: bool = False,
    max_duration: float | None = 600.0,
) -> list[Prediction]:
    """Predict every audio file in the given files and folders; failures become error rows.

    ``speaker_norm`` normalises the features of all files together (one speaker
    or call), or per session found by the ``group_by`` regex. A file longer than
    ``max_duration`` seconds is an error row (each file is decoded whole; long
    recordings belong to :func:`serkit.timeline.predict_timeline`).
    """
    files = collect_audio_files(inputs)
    speakers = speaker_labels(files, group_by) if speaker_norm else None
    return recognizer.predict_files(
        files, speakers=speakers, jobs=jobs, progress=progress, max_duration=max_duration
    )
