"""Feature extraction: pure extractors, a content-keyed cache, parallel batch extraction.

Feature sets
------------
``seed``
    The seed project's time-averaged MFCC / chroma / mel / contrast / tonnetz.
``stats``
    Frame-level descriptors (MFCC and deltas, log-mel, spectral shape, pitch,
    energy, voicing) summarised by functionals.
``egemaps``, ``compare``
    openSMILE eGeMAPSv02 and ComParE_2016 functionals.
``logmel``
    Log-mel frame sequences for neural networks.
``whisper``
    Pooled states of a frozen Whisper encoder (CTranslate2; the ``whisper`` extra).

Importing this package loads neither librosa, opensmile nor ctranslate2; they load on first use.
"""

from ._base import FeatureExtractor, check_signal, parse_feature_spec, spec_key, spec_of
from ._cache import CacheStats, FeatureCache, file_digest
from ._extract import ExtractionResult, extract_files, extract_signal
from ._logmel import LogMelFeatures
from ._opensmile import CompareFeatures, EgemapsFeatures
from ._row import extract_row
from ._seed import SeedFeatures
from ._stats import StatsFeatures
from ._table import EXTRACTORS, available_feature_sets, get_extractor
from ._whisper import WhisperFeatures

__all__ = [
    "EXTRACTORS",
    "CacheStats",
    "CompareFeatures",
    "EgemapsFeatures",
    "ExtractionResult",
    "FeatureCache",
    "FeatureExtractor",
    "LogMelFeatures",
    "SeedFeatures",
    "StatsFeatures",
    "WhisperFeatures",
    "available_feature_sets",
    "check_signal",
    "extract_files",
    "extract_row",
    "extract_signal",
    "file_digest",
    "get_extractor",
    "parse_feature_spec",
    "spec_key",
    "spec_of",
]
