"""Saved models: one bundle format, read and written in one place.

A bundle is a folder: ``model.json`` (a readable manifest: classes, feature specs, model
name and parameters, training summary, metrics, library versions, the SHA-256 of every
weights file) and the weights, one entry per member under ``members/``: a JSON document +
safetensors arrays for standardised linear models (``logreg``, read without skops: fast to
load), skops files for other classic members, ``network.safetensors`` + ``network.json`` for
networks. Loading never unpickles: linear members rebuild fixed scikit-learn types from plain
values, skops rebuilds only the types on :data:`TRUSTED_TYPES`, safetensors holds plain
tensors, and every file's checksum is checked first, so a tampered bundle cannot run code.

Modules
-------
``_format``
    ``model.json``: writing (format 2), reading (formats 1 and 2), describing; the
    default-model lookup.
``_linear``
    Standardised linear models as plain JSON + safetensors arrays (no skops import).
``_skops``
    Reproducible skops files and the allow list.
``_torch``
    Networks as safetensors (imports torch; loaded on first use, so ``import
    serkit.bundles`` never imports torch).
"""

from __future__ import annotations

from typing import Any

from ._format import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MANIFEST_FILE,
    LoadedBundle,
    default_model_path,
    describe_manifest,
    library_versions,
    read_bundle,
    read_manifest,
    resolve_model_path,
    speaker_norm_inputs,
    write_bundle,
)
from ._skops import TRUSTED_TYPES, load_skops, verified_bytes, write_skops

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "MANIFEST_FILE",
    "NETWORK_FILE",
    "NETWORK_MANIFEST",
    "TRUSTED_TYPES",
    "LoadedBundle",
    "default_model_path",
    "describe_manifest",
    "library_versions",
    "load_skops",
    "load_torch",
    "read_bundle",
    "read_manifest",
    "read_network_manifest",
    "resolve_model_path",
    "save_torch",
    "speaker_norm_inputs",
    "verified_bytes",
    "write_bundle",
    "write_skops",
]

_LAZY_TORCH = (
    "NETWORK_FILE",
    "NETWORK_MANIFEST",
    "load_torch",
    "read_network_manifest",
    "save_torch",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_TORCH:
        from . import _torch

        return getattr(_torch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
