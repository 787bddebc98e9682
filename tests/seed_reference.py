"""The seed project's ``extract_feature``, transcribed for comparison (tests and benchmarks only).

This is the function from ``shared/seed/SEED.md`` line for line, with one change
that librosa >= 0.10 forces: ``melspectrogram`` gets ``y`` by keyword. Its
``kwargs.get`` switches and its silent float64 ``np.hstack`` are kept on purpose,
so that serkit's ``SeedFeatures`` is checked against what the seed really computes.
It is not part of serkit and must not be imported by ``src/``.
"""

from __future__ import annotations

import librosa
import numpy as np
import soundfile

__all__ = ["extract_feature", "extract_feature_signal"]


def extract_feature_signal(X, sample_rate, **kwargs):
    """The body of the seed's ``extract_feature``, on an already decoded signal."""
    mfcc = kwargs.get("mfcc")
    chroma = kwargs.get("chroma")
    mel = kwargs.get("mel")
    contrast = kwargs.get("contrast")
    tonnetz = kwargs.get("tonnetz")
    if chroma or contrast:
        stft = np.abs(librosa.stft(X))
    result = np.array([])
    if mfcc:
        mfccs = np.mean(librosa.feature.mfcc(y=X, sr=sample_rate, n_mfcc=40).T, axis=0)
        result = np.hstack((result, mfccs))
    if chroma:
        chroma = np.mean(librosa.feature.chroma_stft(S=stft, sr=sample_rate).T, axis=0)
        result = np.hstack((result, chroma))
    if mel:
        mel = np.mean(librosa.feature.melspectrogram(y=X, sr=sample_rate).T, axis=0)
        result = np.hstack((result, mel))
    if contrast:
        contrast = np.mean(librosa.feature.spectral_contrast(S=stft, sr=sample_rate).T, axis=0)
        result = np.hstack((result, contrast))
    if tonnetz:
        tonnetz = np.mean(
            librosa.feature.tonnetz(y=librosa.effects.harmonic(X), sr=sample_rate).T, axis=0
        )
        result = np.hstack((result, tonnetz))
    return result


def extract_feature(file_name, **kwargs):
    """The seed's ``extract_feature``: read ``file_name`` at its own rate, then the features."""
    with soundfile.SoundFile(file_name) as sound_file:
        X = sound_file.read(dtype="float32")
        sample_rate = sound_file.samplerate
    return extract_feature_signal(X, sample_rate, **kwargs)
