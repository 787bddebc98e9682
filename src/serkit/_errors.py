"""serkit's exceptions and warnings, in one place.

Every error subclasses a built-in exception as well, so callers can catch
``ValueError`` or ``OSError`` without knowing serkit's names.
"""

from __future__ import annotations

from pathlib import Path

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
    "ExportError",
    "MicrophoneError",
    "ParameterError",
    "SerkitError",
    "SerkitWarning",
    "TorchBundleError",
]


class SerkitError(Exception):
    """Root of every error serkit raises on purpose."""


class ParameterError(SerkitError, ValueError):
    """A parameter has a value outside what it accepts."""


class CorpusError(SerkitError, ValueError):
    """A corpus folder or table cannot be read as asked."""


class BundleError(SerkitError, ValueError):
    """A saved model folder is missing, malformed, tampered with, or holds untrusted types."""


class TorchBundleError(BundleError):
    """A saved network folder is missing, malformed, tampered with, or does not fit its config."""


class DownloadError(SerkitError, OSError):
    """Fetching or verifying a downloaded archive failed."""


class ExportError(SerkitError, ValueError):
    """A model cannot be converted to ONNX (unsupported estimator, missing converter)."""


class MicrophoneError(SerkitError, OSError):
    """No microphone can be opened: PortAudio or sounddevice missing, or no input device."""


class AudioError(SerkitError, ValueError):
    """An audio input cannot be used; the message names the input and the cause.

    Parameters
    ----------
    source : str
        What was being read: a file path, or a description such as ``"<bytes>"``.
    reason : str
        Why it cannot be used, in words a user can act on.
    """

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")

    def __reduce__(self):  # keep the two-argument form picklable across processes
        return (type(self), (self.source, self.reason))


class AudioDecodeError(AudioError):
    """The input is not audio, or is corrupt/truncated so it cannot be decoded."""


class AudioEmptyError(AudioError):
    """The input decodes to zero samples."""


class AudioTooShortError(AudioError):
    """The input holds less signal than the minimum duration."""


class AudioSilentError(AudioError):
    """The input holds no signal above the silence threshold."""


class AudioNonFiniteError(AudioError):
    """The input contains NaN or infinite samples."""


class AudioTooLongError(AudioError):
    """The input is longer than the configured maximum duration."""


class SerkitWarning(UserWarning):
    """Conditions worth telling the user about that do not stop the work."""
