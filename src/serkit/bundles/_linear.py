"""Standardised linear models on disk as plain arrays + plain JSON, read without skops.

``logreg`` (``Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())])``)
is the shipped model's head. Stored as skops, loading it imports ``skops.io``, whose table
of trusted types walks every scikit-learn module (and pytest): about a second of every
cold ``serkit predict``. Here it is two files instead:

``members/NAME.json`` (format ``serkit-linear``)
    The steps in order, each with its type (from :data:`STEP_TYPES`, a fixed list), its
    parameters and small fitted values as JSON, the names of its fitted arrays, and the
    SHA-256 of the arrays file. The bundle's ``model.json`` holds this file's SHA-256.
``members/NAME.safetensors``
    Every numeric fitted value (scaler mean and scale, coefficients, intercepts ...) as
    plain little-endian arrays.

:func:`load_linear` reads both into a :class:`~serkit.bundles._linear_head.LinearPipeline`:
the same attribute values in the same memory order (lbfgs leaves ``coef_``
Fortran-ordered, and the order changes BLAS's rounding), predicting with scikit-learn's
own arithmetic in numpy, so predictions are identical to the bit without importing
scikit-learn; its ``to_sklearn()`` gives the scikit-learn objects. Nothing in either file
is executed. :func:`linear_parts` says whether a model can be stored this way (exact
types, plain values); anything else stays a skops member.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import BundleError
from .._manifest import bundle_file, read_json_manifest, verified_bytes
from ._linear_head import STEP_TYPES, LinearPipeline, _class_of

__all__ = ["LINEAR_FORMAT", "STEP_TYPES", "linear_parts", "load_linear", "write_linear"]

LINEAR_FORMAT = "serkit-linear"
_FORMAT_VERSION = 1

_PIPELINE_DEFAULTS = {"memory": None, "verbose": False, "transform_input": None}
"""Pipeline settings a linear member must have (the zoo's): anything else stays skops."""

_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _plain(value: Any) -> bool:
    """True when ``value`` survives a JSON round trip unchanged, type included."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return bool(np.isfinite(value))
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def _step_parts(
    step_name: str, estimator: Any
) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """One step as (JSON entry, arrays), or None when a value has no plain form."""
    type_name = type(estimator).__name__
    if type_name not in STEP_TYPES or type(estimator) is not _class_of(type_name):
        return None
    values: dict[str, Any] = {}
    strings: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    scalars: list[str] = []
    fortran: list[str] = []
    for key, value in vars(estimator).items():
        if not _ATTRIBUTE.match(key):
            return None  # private state: not something a linear member knows how to keep
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            arrays[f"{step_name}.{key}"] = np.asarray(value)
            scalars.append(key)
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[f"{step_name}.{key}"] = np.ascontiguousarray(value)
            if value.ndim > 1 and value.flags.f_contiguous and not value.flags.c_contiguous:
                fortran.append(key)  # the memory order changes BLAS's rounding: keep it
        elif (
            isinstance(value, np.ndarray)
            and value.ndim == 1
            and value.dtype.kind in "OU"
            and all(isinstance(v, str) for v in value.tolist())
        ):
            strings[key] = {"dtype": value.dtype.str, "values": value.tolist()}
        elif _plain(value):
            values[key] = value
        else:
            return None
    entry = {
        "name": step_name,
        "type": type_name,
        "values": values,
        "strings": strings,
        "arrays": sorted(k.split(".", 1)[1] for k in arrays),
        "scalars": sorted(scalars),
        "fortran_order": sorted(fortran),
    }
    return entry, arrays


def linear_parts(model: Any) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]] | None:
    """``model`` as (step entries, arrays) when it is a plain standardised linear pipeline.

    Only a :class:`sklearn.pipeline.Pipeline` with the zoo's settings whose steps are all of
    :data:`STEP_TYPES` (exact types) and whose attributes are numbers, strings, plain
    containers or numeric/string arrays qualifies; for anything else it returns ``None``
    (and the member is written as skops). A :class:`LinearPipeline` read from a linear
    member gives back what it was read from.
    """
    if isinstance(model, LinearPipeline):
        return model.document_
    from sklearn.pipeline import Pipeline

    if type(model) is not Pipeline:
        return None
    settings = {k: v for k, v in vars(model).items() if k != "steps"}
    if any(k not in _PIPELINE_DEFAULTS or v != _PIPELINE_DEFAULTS[k] for k, v in settings.items()):
        return None
    steps: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for name, estimator in model.steps:
        if not isinstance(name, str) or "." in name:
            return None
        parts = _step_parts(name, estimator)
        if parts is None:
            return None
        steps.append(parts[0])
        arrays |= parts[1]
    return steps, arrays


def write_linear(folder: Path, stem: str, model: Any) -> dict[str, str]:
    """Write ``{stem}.json`` + ``{stem}.safetensors`` under ``folder``; returns the manifest
    entry of the JSON file (``{"file", "sha256"}``).

    Raises
    ------
    ValueError
        ``model`` is not a plain standardised linear pipeline (see :func:`linear_parts`).
    """
    from safetensors.numpy import save

    parts = linear_parts(model)
    if parts is None:
        raise ValueError(f"{type(model).__name__} cannot be stored as a linear member")
    steps, arrays = parts
    blob = save(arrays)
    arrays_file = f"{stem}.safetensors"
    (folder / arrays_file).write_bytes(blob)
    document = {
        "format": LINEAR_FORMAT,
        "format_version": _FORMAT_VERSION,
        "steps": steps,
        "arrays": {"file": arrays_file, "sha256": hashlib.sha256(blob).hexdigest()},
    }
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    json_file = f"{stem}.json"
    (folder / json_file).write_text(text)
    return {"file": json_file, "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _read_arrays(folder: Path, entry: Any, where: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    if not isinstance(entry, Mapping):
        raise BundleError(f"{where}: 'arrays' must be an object with 'file' and 'sha256'")
    blob = verified_bytes(folder, entry, manifest=where.name, what="model's arrays")
    try:
        return load(blob)
    except (SafetensorError, ValueError) as exc:
        path = bundle_file(folder, entry.get("file"))
        raise BundleError(f"{path}: not a valid safetensors file ({exc})") from exc


def _rebuild_step(
    step: Any, arrays: Mapping[str, np.ndarray], where: Path
) -> tuple[str, str, dict[str, Any]]:
    """One step's (name, type name, fitted state) from its JSON entry and the arrays file."""
    if not isinstance(step, Mapping) or not isinstance(step.get("name"), str):
        raise BundleError(f"{where}: a step entry is malformed")
    name, type_name = step["name"], step.get("type")
    if type_name not in STEP_TYPES:
        raise BundleError(
            f"{where}: step {name!r} has type {type_name!r}, not one a linear member may hold "
            f"({', '.join(STEP_TYPES)})"
        )
    state: dict[str, Any] = {}
    try:
        state.update(step["values"])
        for key, text in step["strings"].items():
            state[key] = np.array(text["values"], dtype=np.dtype(text["dtype"]))
        scalars, fortran = set(step["scalars"]), set(step.get("fortran_order", ()))
        for key in step["arrays"]:
            # a writable copy, in the memory order the fitted model had
            value = np.array(arrays[f"{name}.{key}"], order="F" if key in fortran else "C")
            state[key] = value[()] if key in scalars else value
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise BundleError(f"{where}: step {name!r} is malformed or lacks an array ({exc})") from exc
    if not all(isinstance(k, str) and _ATTRIBUTE.match(k) for k in state):
        raise BundleError(f"{where}: step {name!r} names an attribute that is not allowed")
    return name, type_name, state


def load_linear(folder: Path, entry: Mapping[str, Any]) -> LinearPipeline:
    """Read a linear member named in the manifest (``entry``: ``{"file", "sha256"}`` of
    its JSON), after both files' checksums are checked; no scikit-learn import.

    Raises
    ------
    BundleError
        Missing or modified files, a malformed document, or a step type not on
        :data:`STEP_TYPES`.
    """
    verified_bytes(folder, entry)
    where = bundle_file(folder, entry.get("file"))
    document = read_json_manifest(
        where, fmt=LINEAR_FORMAT, version=_FORMAT_VERSION, required=("steps", "arrays"),
        what="linear model",
    )  # fmt: skip
    steps = document["steps"]
    if not isinstance(steps, list) or not steps:
        raise BundleError(f"{where}: 'steps' must be a non-empty list")
    arrays = _read_arrays(folder, document["arrays"], where)
    rebuilt = [_rebuild_step(step, arrays, where) for step in steps]
    if not isinstance(rebuilt[-1][2].get("classes_"), np.ndarray):
        raise BundleError(f"{where}: the last step has no class labels ('classes_')")
    return LinearPipeline(rebuilt, (steps, dict(arrays)))
