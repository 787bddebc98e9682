"""serkit: speech emotion recognition you can trust on voices it has never heard.

Importing serkit is cheap and has no side effects: heavy libraries (librosa,
opensmile, torch, fastapi, matplotlib) load only inside the functions that
need them.
"""

from __future__ import annotations

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
    ParameterError,
    SerkitError,
    SerkitWarning,
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
    "ParameterError",
    "SerkitError",
    "SerkitWarning",
    "__version__",
]
