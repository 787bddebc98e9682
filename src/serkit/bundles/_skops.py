"""skops files in a bundle: written reproducibly, read only after checksum and type checks.

Loading never unpickles: skops rebuilds only the types on :data:`TRUSTED_TYPES` (beyond its
own safe defaults) and refuses anything else, and every file's SHA-256 is checked first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import BundleError
from .._manifest import bundle_file, verified_bytes

__all__ = ["TRUSTED_TYPES", "load_skops", "verified_bytes", "write_skops"]

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
)
"""Types beyond skops' own defaults that a serkit bundle may contain; nothing else loads."""


def write_skops(folder: Path, file: str, estimator: Any) -> dict[str, str]:
    """Write one reproducible skops file; returns its manifest entry."""
    weights = _stable_zip(_skops().dumps(_for_inference(estimator)))
    (folder / file).write_bytes(weights)
    return {"file": file, "sha256": hashlib.sha256(weights).hexdigest()}


def _skops() -> Any:
    """Import ``skops.io`` without letting it import torch.

    skops lists scikit-learn's estimators by walking every sklearn module, and the
    walk imports ``sklearn.externals.array_api_compat.torch``, which imports torch
    wherever it is installed (about 230 MB and seconds). A placeholder for that one
    module stands in during the import; no serkit bundle holds torch objects.
    """
    import sys
    import types

    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    name = "sklearn.externals.array_api_compat.torch"
    placeholder = types.ModuleType(name)
    added = name not in sys.modules
    if added:
        sys.modules[name] = placeholder
    try:
        from .._optional import require

        require("skops.io", purpose="a model member stored with skops")
        import skops.io
    finally:
        if added and sys.modules.get(name) is placeholder:
            del sys.modules[name]
    return skops.io


def _for_inference(pipeline: Any) -> Any:
    """A copy without training-only state (the MLP's optimizer moments: 2/3 of its size)."""
    import copy

    slim = copy.deepcopy(pipeline)
    for step in getattr(slim, "named_steps", {}).values():
        if getattr(step, "_optimizer", None) is not None:
            step._optimizer = None
    return slim


def _stable_zip(data: bytes) -> bytes:
    """Make a skops file reproducible: the same model gives the same bytes in any process.

    skops names arrays and memo entries after ``id()`` of the objects and stamps
    zip entries with the current time; both are replaced by sequence numbers and
    a fixed date, consistently in ``schema.json`` and the member names.
    """
    import io
    import re
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    schema = src.read("schema.json").decode()
    numbers: dict[str, str] = {}
    for match in re.finditer(r'"__id__": (\d+)|"(\d+)\.npy"', schema):
        number = match.group(1) or match.group(2)
        numbers.setdefault(number, str(len(numbers) + 1))

    def renumber(match: re.Match) -> str:
        if match.group(1):
            return f'"__id__": {numbers[match.group(1)]}'
        return f'"{numbers[match.group(2)]}.npy"'

    members = {"schema.json": re.sub(r'"__id__": (\d+)|"(\d+)\.npy"', renumber, schema).encode()}
    for info in src.infolist():
        if info.filename == "schema.json":
            continue
        stem, dot, ext = info.filename.partition(".")
        name = f"{numbers.get(stem, stem)}{dot}{ext}"
        members[name] = src.read(info.filename)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(members):
            fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, members[name])
    return out.getvalue()


def load_skops(folder: Path, entry: Mapping[str, Any]) -> Any:
    """Rebuild one skops file named in the manifest, after checksum and type checks."""
    sio = _skops()

    weights_path = bundle_file(folder, entry.get("file"))
    weights = verified_bytes(folder, entry)
    try:
        untrusted = set(sio.get_untrusted_types(data=weights))
    except Exception as exc:
        raise BundleError(f"{weights_path}: not a valid skops file ({exc})") from exc
    unexpected = sorted(untrusted - set(TRUSTED_TYPES))
    if unexpected:
        raise BundleError(
            f"{weights_path}: refusing to load types that are not on serkit's allow list: "
            + ", ".join(unexpected)
        )
    try:
        return sio.loads(weights, trusted=sorted(untrusted))
    except Exception as exc:
        raise BundleError(f"{weights_path}: cannot rebuild the model ({exc})") from exc
