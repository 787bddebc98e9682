"""Networks on disk: ``network.safetensors`` (plain tensors) + ``network.json`` (settings).

Nothing is pickled. This module imports torch; :mod:`serkit.bundles` loads it only when a
network is saved or loaded, so reading a classic bundle never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._errors import ParameterError, TorchBundleError
from .._manifest import bundle_file, read_json_manifest, verified_bytes
from .._version import __version__
from ..models._torch import (
    _EXECUTION_PARAMS,
    TorchClassifier,
    _jsonable,
    get_recipe,
    resolve_config,
)

__all__ = ["NETWORK_FILE", "NETWORK_MANIFEST", "load_torch", "read_network_manifest", "save_torch"]

NETWORK_FILE = "network.safetensors"
"""Weights file written by :func:`save_torch`."""

NETWORK_MANIFEST = "network.json"
"""Configuration file written by :func:`save_torch`."""

_FORMAT = "serkit-torch"
_FORMAT_VERSION = 1


def _state_arrays(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_torch(classifier: TorchClassifier, folder: str | os.PathLike) -> dict[str, Any]:
    """Write a fitted :class:`TorchClassifier` as ``network.safetensors`` + ``network.json``.

    Nothing is pickled: the weights are a safetensors file of plain tensors, and
    the JSON holds the network family, its resolved config, the classes, the
    input width, the training settings (execution knobs such as ``device`` left
    out), the training history and the weights' SHA-256.

    Parameters
    ----------
    classifier : TorchClassifier
        A fitted classifier.
    folder : str or path
        Created if missing; existing network files are replaced.

    Returns
    -------
    entry : dict
        ``{"file": "network.json", "weights": "network.safetensors", "sha256": ...}``,
        for a recognizer's manifest.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the classifier is not fitted.
    """
    from safetensors.torch import save

    check_is_fitted(classifier, "module_")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    weights = save(_state_arrays(classifier.module_), metadata={"format": _FORMAT})
    (out / NETWORK_FILE).write_bytes(weights)
    digest = hashlib.sha256(weights).hexdigest()
    params = {
        k: _jsonable(v)
        for k, v in classifier.get_params(deep=False).items()
        if k not in _EXECUTION_PARAMS and k != "module_params"
    }
    manifest = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "module": classifier.module,
        "config": _jsonable(asdict(classifier.config_)),
        "classes": [_jsonable(c) for c in classifier.classes_.tolist()],
        "n_features_in": int(classifier.n_features_in_),
        "estimator": params,
        "best_epoch": int(classifier.best_epoch_),
        "validation_groups": classifier.validation_groups_,
        "history": classifier.history_,
        "weights": {"file": NETWORK_FILE, "sha256": digest},
        "versions": {"serkit": __version__, "torch": torch.__version__.split("+")[0]},
    }
    (out / NETWORK_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return {"file": NETWORK_MANIFEST, "weights": NETWORK_FILE, "sha256": digest}


def read_network_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``network.json`` without loading the weights.

    Raises
    ------
    TorchBundleError
        Missing or malformed file, or a newer format than this serkit reads.
    """
    return read_json_manifest(
        Path(folder) / NETWORK_MANIFEST,
        fmt=_FORMAT,
        version=_FORMAT_VERSION,
        required=("module", "config", "classes", "n_features_in", "weights"),
        what="network manifest",
        error=TorchBundleError,
    )


def load_torch(folder: str | os.PathLike, *, device: str = "cpu") -> TorchClassifier:
    """Rebuild a :class:`TorchClassifier` written by :func:`save_torch`.

    The weights are read with ``safetensors`` (plain tensors, no code), checked
    against the SHA-256 in ``network.json``, and loaded strictly into a network
    built from the saved config, so a missing or misshapen tensor is an error.

    Parameters
    ----------
    folder : str or path
        The folder holding ``network.json`` and ``network.safetensors``.
    device : str, default="cpu"
        Where the network runs.

    Returns
    -------
    classifier : TorchClassifier
        Fitted and in eval mode, ready for ``predict_proba``.

    Raises
    ------
    TorchBundleError
        Missing files, malformed manifest, checksum mismatch, or weights that do
        not fit the config.

    Examples
    --------
    >>> import tempfile
    >>> from serkit.models import TorchClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 12)), np.repeat(["a", "b"], 20)
    >>> clf = TorchClassifier(module_params={"channels": 4}, max_epochs=2, val_fraction=0)
    >>> clf = clf.fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = save_torch(clf, tmp)
    ...     again = load_torch(tmp)
    >>> bool(np.allclose(again.predict_proba(X), clf.predict_proba(X)))
    True
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    root = Path(folder)
    manifest = read_network_manifest(root)
    entry = manifest["weights"]
    if not isinstance(entry, dict):
        raise TorchBundleError(f"{root}: 'weights' in {NETWORK_MANIFEST} must be an object")
    path = bundle_file(root, entry.get("file", NETWORK_FILE), error=TorchBundleError)
    blob = verified_bytes(
        root,
        {**entry, "file": entry.get("file", NETWORK_FILE)},
        manifest=NETWORK_MANIFEST,
        what="network weights",
        error=TorchBundleError,
    )
    try:
        state = load(blob)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise TorchBundleError(f"{path}: not a valid safetensors file ({exc})") from exc
    estimator = dict(manifest.get("estimator", {}))
    estimator.pop("module", None)
    try:
        clf = TorchClassifier(
            manifest["module"], module_params=manifest["config"], device=device, **estimator
        )
        recipe = get_recipe(clf.module)
        config = resolve_config(recipe, manifest["config"])
    except (TypeError, ParameterError) as exc:
        raise TorchBundleError(
            f"{root}: the network manifest does not describe a model: {exc}"
        ) from exc
    classes = np.asarray(manifest["classes"])
    n_inputs = int(manifest["n_features_in"])
    module = recipe.build(config, n_inputs, len(classes), None)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TorchBundleError(f"{path}: the weights do not fit the saved config ({exc})") from exc
    clf._recipe = recipe
    clf._device = torch.device(device)
    clf.module_ = module.to(clf._device).eval()
    clf.config_ = config
    clf.classes_ = classes
    clf.n_features_in_ = n_inputs
    clf.history_ = list(manifest.get("history", []))
    clf.best_epoch_ = int(manifest.get("best_epoch", len(clf.history_)))
    clf.validation_groups_ = manifest.get("validation_groups")
    return clf
