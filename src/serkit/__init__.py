"""serkit: speech emotion recognition you can trust on voices it has never heard.

Importing serkit is cheap and has no side effects: heavy libraries (scikit-learn,
librosa, opensmile, torch, fastapi, matplotlib) load only inside the functions that
need them, and predicting with the shipped model needs none of them.
``serkit.EmotionRecognizer`` and ``serkit.load`` are imported on first use.

>>> import serkit
>>> rec = serkit.load()  # the shipped default model  # doctest: +SKIP
>>> rec.predict_file("clip.wav").emotion  # doctest: +SKIP

Module map (which room does what)
---------------------------------
``audio``, ``vad``, ``files``
    Decode, check, resample and stream audio; find speech; list the audio files of folders.
``features``
    Extractors (the table in ``features._table``), the feature cache, batch extraction,
    and ``extract_row``: the one path from a signal to a model's feature row.
``models``
    The classic model zoo, networks (torch, lazy), ensembles, per-speaker normalisation,
    model-name plans (``plan_model``).
``recognizer``
    ``EmotionRecognizer``: features + model, a scikit-learn classifier that predicts from audio.
``results``
    ``EmotionScores`` and ``Prediction``: what every prediction path returns.
``bundles``
    Saving and loading models (one format; skops allow list, safetensors, checksums) and the
    default-model lookup.
``batch``, ``timeline``, ``listen``
    Prediction front ends: many files, one long recording, live input.
``corpora``, ``datasets``, ``augment``, ``evaluation``, ``workflows``, ``reports``, ``plots``
    Corpora, speaker-independent evaluation, training recipes and their reports.
``export``, ``service``, ``cli``, ``distributed``
    ONNX export, the HTTP service, the ``serkit`` command, scale-out on Dask.
``_errors``, ``_inputs``, ``_manifest``, ``_threads``
    The bottom layer: errors, model-input containers, JSON manifests, thread limits.
``_estimator``, ``_optional``, ``_special``, ``_iir``
    The estimator contract without importing scikit-learn; optional dependencies and the
    extra that installs each; ``expit`` and the VAD's band-pass filter in numpy.
"""

from __future__ import annotations

import os
from typing import Any

from ._errors import (
    AudioDecodeError,
    AudioEmptyError,
    AudioError,
    AudioNonFiniteError,
    AudioSilentError,
    AudioTooLongError,
    AudioTooShortError,
    BundleError,
    CorpusError,
    DownloadError,
    ExportError,
    MicrophoneError,
    ParameterError,
    SerkitError,
    SerkitWarning,
    TorchBundleError,
)
from ._version import __version__

__all__ = [
    "AudioDecodeError",
    "AudioEmptyError",
    "AudioError",
    "AudioNonFiniteError",
    "AudioSilentError",
    "AudioTooLongError",
    "AudioTooShortError",
    "BundleError",
    "CorpusError",
    "DownloadError",
    "EmotionRecognizer",
    "ExportError",
    "MicrophoneError",
    "ParameterError",
    "SerkitError",
    "SerkitWarning",
    "TorchBundleError",
    "__version__",
    "load",
]


def load(path: str | os.PathLike | None = None) -> Any:
    """Load a saved model folder as an ``EmotionRecognizer``; ``None`` or ``"default"``
    loads the model shipped with serkit.

    Raises
    ------
    BundleError
        The folder is not a readable, untampered serkit model.
    """
    from .bundles import resolve_model_path
    from .recognizer import EmotionRecognizer

    return EmotionRecognizer.load(resolve_model_path(path))


def __getattr__(name: str) -> Any:
    if name == "EmotionRecognizer":
        from .recognizer import EmotionRecognizer

        return EmotionRecognizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
