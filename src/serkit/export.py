"""ONNX export of saved serkit models, for ONNX Runtime and edge deployment.

Two kinds of model folder are understood: a bundle (``model.json``, read by
:mod:`serkit.bundles` whatever its format version) and a bare network folder. A bundle is
loaded as an :class:`~serkit.recognizer.EmotionRecognizer` and converted by what it holds:

- one classic model (``serkit train`` with a zoo model): its scikit-learn ``Pipeline``
  (``StandardScaler`` + classifier) is converted with skl2onnx. Input ``features``
  [shape=(batch, n_features), float32]; outputs ``label`` [shape=(batch,)] and
  ``probabilities`` [shape=(batch, n_classes)] (no ZipMap, so both are plain tensors).
- one network (``serkit train --model cnn1d`` or ``specnet``), as a bare network folder
  below, its metadata naming the bundle's feature spec.
- an ensemble (``--model ensemble:cnn1d+logreg@stats``) becomes one graph:
  every member converted as above (skl2onnx for classic members, torch for
  networks), merged, and their probabilities averaged with the ensemble's
  weights (equal unless set) into one output ``probabilities``
  [shape=(batch, n_classes)]. There is one input per feature set, named after
  its feature key with every run of characters other than letters and digits
  turned into ``_`` (``seed``, ``stats``, ``logmel``, ``compare``; a key with
  parameters such as ``stats{"n_mfcc":13}`` gives ``stats_n_mfcc_13``).
  Members reading the same feature set share its input. The metadata's
  ``inputs`` lists them in graph order: ``name`` (the ONNX input), ``key``
  (the feature key, as in ``EmotionRecognizer.input_specs_``), ``features``
  (the spec) and the layout (``kind`` ``"vector"`` with ``n_features``, or
  ``"sequence"`` with ``n_mels``, ``min_frames``, ``trim_db`` and
  ``trim_margin``); ``members`` gives each member's name, model, input and
  weight.

A bare network folder (``network.json`` + ``network.safetensors`` from
:func:`serkit.bundles.save_torch`): the network plus a softmax is traced with
``torch.onnx.export``. Input ``features`` [shape=(batch, n_features)] for ``cnn1d`` or
[shape=(batch, n_frames, n_mels)] for ``specnet`` (batch and frames dynamic); output
``probabilities``.

Either way the probability columns follow the model's ``classes_`` (sorted), and
the ONNX file carries a ``serkit`` metadata entry (JSON) with the classes, the
feature spec where known, the input layout and the serkit version, so a runtime
needs nothing else to name its inputs and outputs. Feature extraction is not part
of the graph: compute the same features (``serkit.features``) before calling it.

Calibration: a bundle with temperature scaling (``calibration.json``, see
:mod:`serkit.calibration`) keeps it outside the graph: the graph's
``probabilities`` are the model's own, and the metadata's ``calibration`` holds
``temperature``. :func:`run_onnx` applies it, as serkit does natively
(``p = softmax(log(probabilities) / temperature)``, the log clipped at 1e-12), then,
when it has a ``shift`` part, the shift-aware blend towards ``shift["fallback"]``
(:func:`serkit.calibration.apply_shift_blend`; uniform when absent); another runtime
must do the same to get serkit's calibrated probabilities.

Sequence (log-mel) inputs are trimmed of leading and trailing silence before the
network, outside the graph (``trim_db`` / ``trim_margin`` in the layout;
:func:`run_onnx` does it), and one ONNX batch holds frames of one length, so
clips of different lengths (after trimming) run one per call; :func:`run_onnx`
does that too. Only the plain model is exported: a bundle's speaker-normalised
part (``--speaker-norm``) needs per-session statistics and stays in Python.

skl2onnx, onnx and onnxruntime (and torch for networks) are imported only when
a function here runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_write_bytes
from ._errors import ExportError, ParameterError, SerkitWarning
from ._version import __version__

__all__ = [
    "ExportError",
    "export_onnx",
    "input_names",
    "onnx_metadata",
    "recognizer_to_onnx",
    "run_onnx",
]

METADATA_KEY = "serkit"
"""Key of the JSON metadata entry in every exported ONNX file."""

ENSEMBLE_OPSET = 17
"""ONNX opset of merged ensemble graphs (torch's export opset; skl2onnx targets it too)."""

_TORCH_MANIFEST = "network.json"
_CLASSIC_MANIFEST = "model.json"
_PROBABILITIES = "probabilities"


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


@contextlib.contextmanager
def _boolean_lists_as_ints() -> Iterator[None]:
    """Let skl2onnx write integer attributes that scikit-learn now gives as booleans.

    scikit-learn 1.9 stores HistGradientBoosting's per-node missing-value flags as
    booleans; skl2onnx 1.20 passes them on to an ONNX ``ints`` attribute, which
    refuses booleans. Only while converting, such lists are written as 0/1.
    """
    from skl2onnx.common import _container

    original = _container.make_node

    def make_node(*args: Any, **attrs: Any) -> Any:
        for key, value in attrs.items():
            if isinstance(value, np.ndarray) and value.dtype == bool:
                attrs[key] = value.astype(np.int64)
            elif isinstance(value, list | tuple) and any(
                isinstance(v, bool | np.bool_) for v in value
            ):
                attrs[key] = [int(v) if isinstance(v, bool | np.bool_) else v for v in value]
        return original(*args, **attrs)

    _container.make_node = make_node
    try:
        yield
    finally:
        _container.make_node = original


def _sklearn_graph(
    pipeline: Any, n_features: int, *, input_name: str = "features", target_opset: int | None = None
) -> Any:
    """skl2onnx's model of a fitted classifier: one float input, ``label`` and ``probabilities``."""
    skl2onnx = _require("skl2onnx", "onnx")
    import warnings

    from skl2onnx.common.data_types import FloatTensorType

    from .bundles._linear_head import as_sklearn

    pipeline = as_sklearn(pipeline)  # a model read from a linear member: its sklearn objects
    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    try:
        with warnings.catch_warnings(), _boolean_lists_as_ints():
            # skl2onnx reads SVC attributes that scikit-learn 1.9 marks deprecated
            warnings.simplefilter("ignore", FutureWarning)
            return skl2onnx.convert_sklearn(
                pipeline,
                name="serkit",
                initial_types=[(input_name, FloatTensorType([None, int(n_features)]))],
                options={id(final): {"zipmap": False}},
                final_types=None,
                target_opset=target_opset,
            )
    except Exception as exc:  # skl2onnx raises many types; name the estimator in one error
        raise ExportError(
            f"skl2onnx cannot convert {type(final).__name__}: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}"
        ) from exc


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
    model = _sklearn_graph(pipeline, n_features)
    info = {
        "classes": [str(c) for c in classes],
        "input": {"name": "features", "kind": "vector", "n_features": int(n_features)},
        "outputs": ["label", "probabilities"],
        **(extra or {}),
    }
    _add_metadata(model, info)
    return model


def _torch_graph(
    classifier: Any, *, input_name: str = "features", opset: int = 17
) -> tuple[Any, dict[str, Any]]:
    """The traced network + softmax (input ``input_name``, output ``probabilities``) and
    its input layout (``kind`` and sizes, as in the metadata)."""
    import io
    import warnings

    torch = _require("torch", "deep")
    _require("onnx", "onnx")
    from .models._torch import get_recipe

    recipe = get_recipe(classifier.module)

    class _Probabilities(torch.nn.Module):  # type: ignore[name-defined]  # torch: a local
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
            stacklevel=3,
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
            input_names=[input_name],
            output_names=[_PROBABILITIES],
            dynamic_axes={input_name: axes, _PROBABILITIES: {0: "batch"}},
            opset_version=opset,
        )
    import onnx

    model = onnx.load_from_string(buffer.getvalue())
    layout = (
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
    return model, layout


def torch_to_onnx(classifier: Any, *, extra: dict | None = None, opset: int = 17) -> bytes:
    """Trace a fitted ``TorchClassifier``'s network (plus softmax) into ONNX bytes.

    Parameters
    ----------
    classifier : serkit.models._torch.TorchClassifier
        Fitted (or loaded with :func:`serkit.bundles.load_torch`).
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
    model, layout = _torch_graph(classifier, opset=opset)
    info = {
        "classes": [str(c) for c in classifier.classes_],
        "input": {"name": "features", **layout},
        "outputs": [_PROBABILITIES],
        "network": classifier.module,
        **(extra or {}),
    }
    _add_metadata(model, info)
    return model.SerializeToString()


# ----------------------------------------------------------------------------- ensembles


def input_names(keys: Sequence[str]) -> dict[str, str]:
    """ONNX input name of each feature key: runs of characters other than ASCII letters and
    digits become ``_`` (so no name holds ``__``); clashes get ``_2``, ``_3`` ...

    Examples
    --------
    >>> input_names(["seed", 'stats{"n_mfcc":13}', "logmel"])
    {'seed': 'seed', 'stats{"n_mfcc":13}': 'stats_n_mfcc_13', 'logmel': 'logmel'}
    """
    taken = {_PROBABILITIES, "label"}
    out: dict[str, str] = {}
    for key in keys:
        base = re.sub(r"[^A-Za-z0-9]+", "_", str(key)).strip("_") or "features"
        if base[0].isdigit():
            base = f"f_{base}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        out[key] = name
    return out


def _subgraphs(node: Any) -> list[Any]:
    graphs = []
    for attribute in node.attribute:
        if attribute.HasField("g"):
            graphs.append(attribute.g)
        graphs.extend(attribute.graphs)
    return graphs


def _all_nodes(graph: Any) -> list[Any]:
    """Nodes of a graph and of every subgraph (Scan, If, Loop bodies) inside it."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for sub in _subgraphs(node):
            nodes.extend(_all_nodes(sub))
    return nodes


def _reads(node: Any) -> set[str]:
    """Every value a node reads, its subgraphs' outer-scope references included (over-approx.)."""
    names = {n for n in node.input if n}
    for sub in _subgraphs(node):
        for inner in _all_nodes(sub):
            names.update(n for n in inner.input if n)
    return names


def _prune(graph: Any, outputs: Sequence[str]) -> None:
    """Keep only the nodes, initializers and value infos that ``outputs`` depend on."""
    needed = set(outputs)
    kept = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(_reads(node))
    kept.reverse()
    produced = {out for node in kept for out in node.output}
    initializers = [t for t in graph.initializer if t.name in needed]
    infos = [v for v in graph.value_info if v.name in produced]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.value_info[:]
    graph.value_info.extend(infos)


def _opsets(model: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        out[domain] = max(out.get(domain, 0), int(entry.version))
    return out


def _common_opsets(models: Sequence[tuple[str, Any]]) -> dict[str, int]:
    """One opset per domain for the merged graph, checking that no member's operators change
    meaning at it (skl2onnx declares the lowest opset its operators need, so a member may say
    16 where torch says 17 with the same operator definitions)."""
    import onnx

    target: dict[str, int] = {}
    for _, model in models:
        for domain, version in _opsets(model).items():
            target[domain] = max(target.get(domain, 0), version)
    for name, model in models:
        own = _opsets(model)
        for node in _all_nodes(model.graph):
            domain = "" if node.domain == "ai.onnx" else node.domain
            if domain not in ("", "ai.onnx.ml") or own.get(domain) == target[domain]:
                continue
            try:
                before = onnx.defs.get_schema(node.op_type, own[domain], domain).since_version
                after = onnx.defs.get_schema(node.op_type, target[domain], domain).since_version
            except Exception as exc:  # unknown operator or domain: cannot vouch for it
                raise ExportError(
                    f"cannot merge member {name!r} into one ONNX graph: operator "
                    f"{domain or 'ai.onnx'}.{node.op_type} not found in the opset schemas ({exc})"
                ) from exc
            if before != after:
                raise ExportError(
                    f"cannot merge member {name!r} into one ONNX graph: its operator "
                    f"{node.op_type} (opset {own[domain]}) changed by opset {target[domain]}, "
                    "which another member needs"
                )
    return target


def _merge_probabilities(
    members: Sequence[tuple[str, Any]],
    weights: Sequence[float],
    inputs: Sequence[Any],
    n_classes: int,
) -> Any:
    """One graph running every member on the shared inputs and averaging their
    ``probabilities`` with ``weights`` (summing to 1) into ``probabilities``."""
    onnx = _require("onnx", "onnx")
    from onnx import TensorProto, compose, helper, numpy_helper

    opsets = _common_opsets(members)
    nodes: list[Any] = []
    initializers: list[Any] = []
    sparse: list[Any] = []
    infos: list[Any] = []
    functions: dict[Any, Any] = {}
    terms = []
    for i, (name, model) in enumerate(members):
        prefix = f"m{i}__"  # no input name holds "__", so nothing clashes with them
        graph = compose.add_prefix_graph(model.graph, prefix, rename_inputs=False)
        proba = prefix + _PROBABILITIES
        if proba not in [o.name for o in graph.output]:
            raise ExportError(f"member {name!r}: its ONNX graph has no 'probabilities' output")
        _prune(graph, [proba])
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        sparse.extend(graph.sparse_initializer)
        infos.extend(graph.value_info)
        for function in model.functions:
            key = (function.domain, function.name)
            if key in functions and functions[key] != function:
                raise ExportError(
                    f"cannot merge member {name!r}: two members define the ONNX function "
                    f"{function.domain}.{function.name} differently"
                )
            functions[key] = function
        weight = f"ensemble__weight{i}"
        initializers.append(numpy_helper.from_array(np.array(weights[i], dtype=np.float32), weight))
        terms.append(f"ensemble__weighted{i}")
        nodes.append(helper.make_node("Mul", [proba, weight], [terms[-1]], name=terms[-1]))
    nodes.append(helper.make_node("Sum", terms, [_PROBABILITIES], name="ensemble__average"))
    output = helper.make_tensor_value_info(_PROBABILITIES, TensorProto.FLOAT, ["batch", n_classes])
    graph = helper.make_graph(
        nodes,
        "serkit_ensemble",
        list(inputs),
        [output],
        initializer=initializers,
        value_info=infos,
        sparse_initializer=sparse,
    )
    merged = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="serkit",
        producer_version=__version__,
        functions=list(functions.values()),
    )
    merged.ir_version = max(int(model.ir_version) for _, model in members)
    try:
        onnx.checker.check_model(merged)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the merged ensemble graph is not valid ONNX: {exc}") from exc
    return merged


def _input_info(name: str, layout: Mapping[str, Any]) -> Any:
    from onnx import TensorProto, helper

    shape: list[str | int]
    if layout["kind"] == "sequence":
        shape = ["batch", "frames", int(layout["n_mels"])]
    else:
        shape = ["batch", int(layout["n_features"])]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _member_graph(member: Any, estimator: Any, input_name: str) -> tuple[Any, dict[str, Any]]:
    """One ensemble member's ONNX model (input ``input_name``) and its input layout."""
    if member.neural:
        return _torch_graph(estimator, input_name=input_name, opset=ENSEMBLE_OPSET)
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise ExportError("unknown input width (no n_features_in_)")
    model = _sklearn_graph(
        estimator, int(n_features), input_name=input_name, target_opset=ENSEMBLE_OPSET
    )
    return model, {"kind": "vector", "n_features": int(n_features)}


def _member_kind(member: Any, estimator: Any) -> str:
    """The member kind a bundle stores this member as (``network``, ``linear`` or ``skops``)."""
    if member.neural:
        return "network"
    from .bundles._linear import linear_parts

    return "linear" if linear_parts(estimator) is not None else "skops"


def _ensemble_to_onnx(rec: Any, extra: Mapping[str, Any]) -> Any:
    ensemble = rec.pipeline_
    fitted = dict(ensemble.members_)
    classes = [str(c) for c in rec.classes_]
    names = input_names(list(rec.input_specs_))
    layouts: dict[str, dict[str, Any]] = {}
    graphs = []
    for member in rec.members_:
        estimator = fitted[member.name]
        if [str(c) for c in estimator.classes_] != classes:
            raise ExportError(f"member {member.name!r} has other classes than the ensemble")
        try:
            model, layout = _member_graph(member, estimator, names[member.key])
        except Exception as exc:  # name the member whatever the converter raised
            reason = str(exc) if isinstance(exc, ExportError) else f"{type(exc).__name__}: {exc}"
            raise ExportError(
                f"ensemble member {member.name!r} cannot be exported to ONNX: "
                + " ".join(reason.split())[:400]
            ) from exc
        if member.key in layouts and layouts[member.key] != layout:
            raise ExportError(
                f"members reading feature set {member.key!r} expect different inputs "
                f"({layouts[member.key]} and {layout}); they cannot share one ONNX input"
            )
        layouts[member.key] = layout
        graphs.append((member.name, model))
    raw = ensemble.weights
    weights = np.ones(len(graphs)) if raw is None else np.asarray(raw, dtype=np.float64)
    if weights.shape != (len(graphs),) or (weights < 0).any() or weights.sum() <= 0:
        raise ExportError(f"ensemble weights {raw!r} do not fit its {len(graphs)} members")
    weights = weights / weights.sum()
    order = [key for key in rec.input_specs_ if key in layouts]
    merged = _merge_probabilities(
        graphs,
        weights.tolist(),
        [_input_info(names[key], layouts[key]) for key in order],
        len(classes),
    )
    info = {
        "classes": classes,
        "inputs": [
            {"name": names[key], "key": key, "features": rec.input_specs_[key], **layouts[key]}
            for key in order
        ],
        "outputs": [_PROBABILITIES],
        "members": [
            {
                "name": member.name,
                "model": member.model,
                "kind": _member_kind(member, fitted[member.name]),
                "input": names[member.key],
                "weight": float(weight),
            }
            for member, weight in zip(rec.members_, weights, strict=True)
        ],
        **extra,
    }
    _add_metadata(merged, info)
    return merged


def recognizer_to_onnx(rec: Any, *, extra: Mapping[str, Any] | None = None) -> Any:
    """Convert a fitted or loaded ``EmotionRecognizer`` to an ONNX model.

    Parameters
    ----------
    rec : serkit.recognizer.EmotionRecognizer
        A classic model, one network, or an ensemble.
    extra : dict, optional
        More entries for the ``serkit`` metadata.

    Returns
    -------
    onnx.ModelProto
        As described in the module docstring: input ``features`` for one model, one
        input per feature set for an ensemble; output ``probabilities``.

    Raises
    ------
    ExportError
        A member has no converter, or the members' graphs cannot be merged.
    """
    onnx = _require("onnx", "onnx")
    members = list(rec.members_)
    from .audio import SAMPLE_RATE

    more = {"sample_rate": SAMPLE_RATE, **(extra or {})}
    more.update(_calibration_meta(rec))
    if len(members) > 1:
        return _ensemble_to_onnx(rec, {"model": str(rec.model), **more})
    spec = rec.input_specs_[members[0].key]
    more = {"features": spec, **more}
    if members[0].neural:
        return onnx.load_from_string(torch_to_onnx(rec.pipeline_, extra=more))
    n_features = rec.n_features_in_ or getattr(rec.pipeline_, "n_features_in_", None)
    if n_features is None:
        raise ExportError("the model does not record its input width (n_features_in_)")
    return sklearn_to_onnx(rec.pipeline_, int(n_features), classes=rec.classes_, extra=more)


def _calibration_meta(rec: Any) -> dict[str, Any]:
    """``{"calibration": {"method", "temperature"}}`` for a calibrated recognizer, else {}."""
    calibration = getattr(rec, "calibration_", None)
    if not calibration or calibration.get("temperature") is None:
        return {}
    out: dict[str, Any] = {
        "method": "temperature",
        "temperature": float(calibration["temperature"]),
    }
    if calibration.get("shift"):
        out["shift"] = calibration["shift"]
    return {"calibration": out}


def export_onnx(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a saved model folder as one ONNX file.

    Parameters
    ----------
    model_dir : str or path
        A folder written by ``serkit train`` / ``EmotionRecognizer.save`` (a
        classic pipeline, a network or an ensemble) or by
        :func:`serkit.bundles.save_torch` (a ``network.json`` inside it
        makes it a torch model).
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
        The model has no ONNX converter, an ensemble's members cannot be merged into one graph,
        or skl2onnx / torch / onnx is missing.

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
    if (folder / _CLASSIC_MANIFEST).is_file():
        from .recognizer import EmotionRecognizer

        data = recognizer_to_onnx(EmotionRecognizer.load(folder)).SerializeToString()
    else:
        from .bundles import load_torch

        data = torch_to_onnx(load_torch(folder), extra={})
    atomic_write_bytes(target, data)
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


def _layouts(meta: Mapping[str, Any], session: Any) -> list[dict[str, Any]]:
    """Every graph input's layout: from ``inputs`` (ensembles) or ``input`` (one model)."""
    graph_inputs = session.get_inputs()
    if meta.get("inputs"):
        layouts = [dict(entry) for entry in meta["inputs"]]
    else:
        layouts = [{**meta.get("input", {}), "name": graph_inputs[0].name}]
    ranks = {i.name: len(i.shape) for i in graph_inputs}
    for layout in layouts:
        layout.setdefault("kind", "sequence" if ranks.get(layout["name"]) == 3 else "vector")
    return layouts


def _feeds(X: Any, layouts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Input name -> data, from one input or a mapping keyed by input name or feature key."""
    if not isinstance(X, Mapping):
        if len(layouts) > 1:
            raise ParameterError(
                "this model reads several inputs ("
                + ", ".join(str(layout["name"]) for layout in layouts)
                + "); give X as a mapping from each input name (or feature key) to its data"
            )
        return {layouts[0]["name"]: X}
    feeds = {}
    for layout in layouts:
        name, key = layout["name"], layout.get("key")
        if name in X:
            feeds[name] = X[name]
        elif key is not None and key in X:
            feeds[name] = X[key]
        elif len(layouts) == 1 and len(X) == 1:
            feeds[name] = next(iter(X.values()))
        else:
            raise ParameterError(
                f"X lacks the input {name!r}"
                + (f" (feature set {key!r})" if key and key != name else "")
                + "; this model reads "
                + ", ".join(str(entry["name"]) for entry in layouts)
            )
    return feeds


def run_onnx(path: str | os.PathLike, X: Any) -> np.ndarray:
    """Class probabilities from an exported model with ONNX Runtime.

    Parameters
    ----------
    path : str or path
        A file written by :func:`export_onnx`.
    X : np.ndarray, sequence of np.ndarray, or mapping of str to either
        Feature vectors [shape=(n, n_features)], or log-mel frames per clip
        [shape=(n_frames, n_mels)] each (sequence inputs run clip by clip, after
        the silence trimming their metadata names, so clips may differ in
        length). A model with several inputs (an ensemble) takes a mapping from
        each input name, or feature key, to its data (as
        ``EmotionRecognizer.predict_proba`` does), all with the same clips.

    Returns
    -------
    np.ndarray [shape=(n, n_classes), dtype=float64]
        Columns in the order of the metadata's ``classes``; temperature-scaled when
        the metadata names a ``calibration`` (as ``EmotionRecognizer.predict_proba``).

    Raises
    ------
    ParameterError
        ``X`` lacks an input the model reads, or its inputs disagree on the
        number of clips.
    """
    ort = _require("onnxruntime", "onnx")
    meta = onnx_metadata(path)
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    proba_name = _PROBABILITIES if _PROBABILITIES in outputs else outputs[-1]
    layouts = _layouts(meta, session)
    feeds = _feeds(X, layouts)
    data: dict[str, Any] = {}
    for layout in layouts:
        name = layout["name"]
        if layout["kind"] == "sequence":
            top_db, margin = layout.get("trim_db"), int(layout.get("trim_margin", 5))
            clips = []
            for clip in feeds[name]:
                frames = np.asarray(clip, np.float32)
                if top_db is not None:
                    frames = _trim_frames(frames, top_db=float(top_db), margin=margin)
                clips.append(frames)
            data[name] = clips
        else:
            data[name] = np.asarray(feeds[name], dtype=np.float32)
    counts = {name: len(value) for name, value in data.items()}
    if len(set(counts.values())) > 1:
        raise ParameterError(f"the inputs hold different numbers of clips: {counts}")
    if all(layout["kind"] != "sequence" for layout in layouts):
        proba = np.asarray(session.run([proba_name], data)[0], dtype=np.float64)
        return _calibrated(proba, meta, data)
    rows = []
    n_clips = next(iter(counts.values()))
    if n_clips == 0:
        return np.zeros((0, len(meta.get("classes", []))))
    for i in range(n_clips):
        feed = {
            name: value[i][None] if isinstance(value, list) else value[i : i + 1]
            for name, value in data.items()
        }
        rows.append(session.run([proba_name], feed)[0][0])
    return _calibrated(np.asarray(rows, dtype=np.float64), meta, data)


def _calibrated(proba: np.ndarray, meta: Mapping[str, Any], data: Any = None) -> np.ndarray:
    """Apply the calibration named in the metadata (exported calibrated bundles): the
    temperature, and the shift-aware blend (from the inputs ``data``) when present."""
    calibration = meta.get("calibration")
    if not calibration:
        return proba
    from .calibration import calibrate_proba

    return calibrate_proba(proba, calibration, data)
