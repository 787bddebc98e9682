"""ONNX export of saved serkit models, for ONNX Runtime and edge deployment.

Two kinds of model folder are understood:

- a classic bundle (``model.json`` + ``pipeline.skops`` from ``serkit train``):
  its scikit-learn ``Pipeline`` (``StandardScaler`` + classifier) is converted
  with skl2onnx. Input ``features`` [shape=(batch, n_features), float32];
  outputs ``label`` [shape=(batch,)] and ``probabilities``
  [shape=(batch, n_classes)] (no ZipMap, so both are plain tensors).
- a torch network folder (``network.json`` + ``network.safetensors`` from
  :func:`serkit.models._torch.save_torch`): the network plus a softmax is traced
  with ``torch.onnx.export``. Input ``features`` [shape=(batch, n_features)] for
  ``cnn1d`` or [shape=(batch, n_frames, n_mels)] for ``specnet`` (batch and
  frames dynamic); output ``probabilities``.

Either way the probability columns follow the model's ``classes_`` (sorted), and
the ONNX file carries a ``serkit`` metadata entry (JSON) with the classes, the
feature spec where known, the input layout and the serkit version, so a runtime
needs nothing else to name its outputs. Feature extraction is not part of the
graph: compute the same features (``serkit.features``) before calling it.

skl2onnx, onnx and onnxruntime (and torch for networks) are imported only when
a function here runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ParameterError, SerkitError, SerkitWarning
from ._version import __version__

__all__ = ["ExportError", "export_onnx", "onnx_metadata", "run_onnx"]

METADATA_KEY = "serkit"
"""Key of the JSON metadata entry in every exported ONNX file."""

_TORCH_MANIFEST = "network.json"
_CLASSIC_MANIFEST = "model.json"


class ExportError(SerkitError, ValueError):
    """A model cannot be converted to ONNX (unsupported estimator, missing converter)."""


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs {module!r}, which is not installed; "
            f"install it with: pip install 'serkit[{extra}]'"
        ) from exc


def _add_metadata(model: Any, info: dict[str, Any]) -> None:
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps({**info, "serkit_version": __version__}, sort_keys=True)


def sklearn_to_onnx(
    pipeline: Any, n_features: int, *, classes: Sequence[str], extra: dict | None = None
) -> Any:
    """Convert a fitted scikit-learn classifier or pipeline to an ONNX model.

    Parameters
    ----------
    pipeline : estimator
        Fitted, with ``predict_proba`` (a zoo pipeline, or a bare classifier).
    n_features : int > 0
        Width of the input vector.
    classes : sequence of str
        Class names, in probability column order.
    extra : dict, optional
        More entries for the ``serkit`` metadata (e.g. the feature spec).

    Returns
    -------
    onnx.ModelProto
        Input ``features`` (float32); outputs ``label`` and ``probabilities``.

    Raises
    ------
    ExportError
        skl2onnx has no converter for the estimator or fails on it (the message
        names the estimator).
    """
    skl2onnx = _require("skl2onnx", "onnx")
    import warnings

    from skl2onnx.common.data_types import FloatTensorType

    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    try:
        with warnings.catch_warnings():
            # skl2onnx reads SVC attributes that scikit-learn 1.9 marks deprecated
            warnings.simplefilter("ignore", FutureWarning)
            model = skl2onnx.convert_sklearn(
                pipeline,
                name="serkit",
                initial_types=[("features", FloatTensorType([None, int(n_features)]))],
                options={id(final): {"zipmap": False}},
                final_types=None,
            )
    except Exception as exc:  # skl2onnx raises many types; name the estimator in one error
        raise ExportError(
            f"skl2onnx cannot convert {type(final).__name__}: {type(exc).__name__}: "
            f"{str(exc)[:300]}"
        ) from exc
    info = {
        "classes": [str(c) for c in classes],
        "input": {"name": "features", "kind": "vector", "n_features": int(n_features)},
        "outputs": ["label", "probabilities"],
        **(extra or {}),
    }
    _add_metadata(model, info)
    return model


def torch_to_onnx(classifier: Any, *, extra: dict | None = None, opset: int = 17) -> bytes:
    """Trace a fitted ``TorchClassifier``'s network (plus softmax) into ONNX bytes.

    Parameters
    ----------
    classifier : serkit.models._torch.TorchClassifier
        Fitted (or loaded with :func:`serkit.models._torch.load_torch`).
    extra : dict, optional
        More entries for the ``serkit`` metadata.
    opset : int, default=17
        ONNX opset.

    Returns
    -------
    bytes
        A serialised ONNX model: input ``features``, output ``probabilities``.

    Notes
    -----
    Uses the TorchScript-based exporter (``dynamo=False``): it needs only torch and
    onnx and takes under a second; torch 2.13 marks it deprecated, so a later
    torch may need ``dynamo=True`` (and onnxscript) here.
    """
    import io
    import warnings

    torch = _require("torch", "deep")
    _require("onnx", "onnx")
    from .models._torch import get_recipe

    recipe = get_recipe(classifier.module)

    class _Probabilities(torch.nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return torch.softmax(self.net(x), dim=1)

    if getattr(classifier.config_, "inference", "full") != "full":
        warnings.warn(
            "the ONNX graph reads whole clips; this network averages crops at inference "
            f"(inference={classifier.config_.inference!r}), so ONNX probabilities will differ "
            "slightly from the native ones",
            SerkitWarning,
            stacklevel=2,
        )
    wrapper = _Probabilities(classifier.module_).eval()
    example = recipe.example_input(int(classifier.n_features_in_))
    sequence = recipe.input_kind == "sequence"
    axes = {0: "batch", 1: "frames"} if sequence else {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,
            dynamo=False,
            input_names=["features"],
            output_names=["probabilities"],
            dynamic_axes={"features": axes, "probabilities": {0: "batch"}},
            opset_version=opset,
        )
    import onnx

    model = onnx.load_from_string(buffer.getvalue())
    shape = (
        {
            "kind": "sequence",
            "n_mels": int(classifier.n_features_in_),
            "min_frames": 8,
            # preprocessing outside the graph (run_onnx applies it): see _trim_frames
            "trim_db": getattr(classifier.config_, "trim_db", None),
            "trim_margin": 5,
        }
        if sequence
        else {"kind": "vector", "n_features": int(classifier.n_features_in_)}
    )
    info = {
        "classes": [str(c) for c in classifier.classes_],
        "input": {"name": "features", **shape},
        "outputs": ["probabilities"],
        "network": classifier.module,
        **(extra or {}),
    }
    _add_metadata(model, info)
    return model.SerializeToString()


def export_onnx(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a saved model folder as one ONNX file.

    Parameters
    ----------
    model_dir : str or path
        A folder written by ``serkit train`` / ``EmotionRecognizer.save``
        (classic pipeline) or by :func:`serkit.models._torch.save_torch` (a
        ``network.json`` inside it makes it a torch model).
    out : str or path
        ONNX file to write (its folder is created).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    BundleError
        The folder is not a readable serkit model (from the loaders).
    ExportError
        The model has no ONNX converter (e.g. ``hgb`` with skl2onnx 1.20 and
        scikit-learn 1.9), or skl2onnx / torch / onnx is missing.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from serkit.recognizer import EmotionRecognizer
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 180)), np.repeat(["angry", "calm"], 20)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = EmotionRecognizer("seed", "logreg").fit(X, y).save(tmp + "/m")
    ...     path = export_onnx(tmp + "/m", tmp + "/m.onnx")
    ...     proba = run_onnx(path, X[:2])
    >>> proba.shape
    (2, 2)
    """
    folder = Path(model_dir)
    target = Path(out)
    if not folder.is_dir():
        raise ParameterError(f"{folder}: not a model folder (it does not exist or is a file)")
    extra: dict[str, Any] = {}
    if (folder / _CLASSIC_MANIFEST).is_file():
        from .recognizer import read_manifest

        manifest = read_manifest(folder)
        extra = {"features": manifest.get("features"), "sample_rate": manifest.get("sample_rate")}
    if (folder / _TORCH_MANIFEST).is_file():
        from .models._torch import load_torch

        data = torch_to_onnx(load_torch(folder), extra=extra)
    else:
        from .recognizer import EmotionRecognizer

        rec = EmotionRecognizer.load(folder)
        data = sklearn_to_onnx(
            rec.pipeline_, rec.n_features_in_, classes=rec.classes_, extra=extra
        ).SerializeToString()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _trim_frames(frames: np.ndarray, *, top_db: float, margin: int) -> np.ndarray:
    """Drop leading/trailing frames more than ``top_db`` below the loudest one.

    The same rule as :func:`serkit.models._specnet.trim_silence` (a test checks
    they agree), repeated here because that module imports torch and an ONNX
    runtime must not need it.
    """
    level = frames.max(axis=1)
    loud = np.flatnonzero(level >= level.max() - top_db)
    start = max(int(loud[0]) - margin, 0)
    stop = min(int(loud[-1]) + 1 + margin, len(frames))
    if stop - start < 8:
        start = max(min(start, len(frames) - 8), 0)
        stop = min(start + 8, len(frames))
    return frames[start:stop]


def onnx_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``serkit`` metadata of an exported ONNX file (classes, input layout, ...).

    Raises
    ------
    ExportError
        The file has no serkit metadata.
    """
    onnx = _require("onnx", "onnx")
    model = onnx.load(os.fspath(path), load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise ExportError(f"{path}: no serkit metadata; was it written by serkit export?")


def run_onnx(path: str | os.PathLike, X: Any) -> np.ndarray:
    """Class probabilities from an exported model with ONNX Runtime.

    Parameters
    ----------
    path : str or path
        A file written by :func:`export_onnx`.
    X : np.ndarray [shape=(n, n_features)] or sequence of np.ndarray [shape=(n_frames, n_mels)]
        Feature vectors, or log-mel frames per clip (sequence models run clip by
        clip, after the silence trimming their metadata names).

    Returns
    -------
    np.ndarray [shape=(n, n_classes), dtype=float64]
        Columns in the order of the metadata's ``classes``.
    """
    ort = _require("onnxruntime", "onnx")
    layout = onnx_metadata(path).get("input", {})
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    proba_name = "probabilities" if "probabilities" in outputs else outputs[-1]
    rank = len(session.get_inputs()[0].shape)
    if rank == 3:
        top_db, margin = layout.get("trim_db"), int(layout.get("trim_margin", 5))
        rows = []
        for clip in X:
            frames = np.asarray(clip, np.float32)
            if top_db is not None:
                frames = _trim_frames(frames, top_db=float(top_db), margin=margin)
            rows.append(session.run([proba_name], {"features": frames[None]})[0][0])
        return np.asarray(rows, dtype=np.float64)
    data = np.asarray(X, dtype=np.float32)
    return np.asarray(session.run([proba_name], {"features": data})[0], dtype=np.float64)
