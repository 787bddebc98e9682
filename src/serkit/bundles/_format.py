"""A recognizer on disk: ``model.json`` plus one weights entry per member, and back.

One format is written (``format_version`` 2): ``model.json`` lists the feature sets the model
reads (``inputs``) and its members, each with its weights under ``members/`` -- for classic
members (and their per-speaker twin) JSON + safetensors arrays when the model is a plain
standardised linear one (member kind ``linear``), else skops files (kind ``skops``); a
safetensors network folder for networks (kind ``network``) -- and the SHA-256 of every file.
Format 1 (one classic model as ``pipeline.skops`` beside ``model.json``, as serkit 0.1 wrote
it) is still read, and so are skops members of format 2 (every bundle written before the
``linear`` kind existed).

Nothing here imports the recognizer class: :func:`write_bundle` reads a fitted recognizer's
attributes and :func:`read_bundle` returns its parts, which
:meth:`serkit.recognizer.EmotionRecognizer.load` assembles.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import BundleError, SerkitWarning
from .._manifest import check_bundle_manifest, read_json_manifest
from .._version import __version__
from ._linear import linear_parts, load_linear, write_linear
from ._skops import load_skops, verified_bytes, write_skops

if TYPE_CHECKING:
    from ..models import Member

# serkit.models (and with it scikit-learn) is imported where a model is rebuilt, not here:
# a Dask client reads manifests without ever loading a model

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "MANIFEST_FILE",
    "LoadedBundle",
    "default_model_path",
    "describe_manifest",
    "library_versions",
    "read_bundle",
    "read_manifest",
    "resolve_model_path",
    "speaker_norm_inputs",
    "write_bundle",
]

BUNDLE_FORMAT = "serkit-bundle"
BUNDLE_VERSION = 2
"""The format written. Format 1 (a single classic model in ``pipeline.skops``) is still read."""
MANIFEST_FILE = "model.json"
CALIBRATION_FILE = "calibration.json"

_KNOWN_KEYS = frozenset(
    {"format", "format_version", "classes", "features", "n_features", "sample_rate", "model",
     "weights", "session_weights", "versions", "inputs", "members", "calibration"}
)  # fmt: skip
"""Manifest keys the format owns; every other key is metadata (training summary, metrics...)."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved model depends on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"serkit": __version__, "numpy": np.__version__}
    # read from the installed metadata: importing scikit-learn would cost a cold start a second
    for name in ("scikit-learn", "librosa", "opensmile", "skops"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # not installed: nothing to record
            continue
    return versions


def speaker_norm_inputs(members: Sequence[Member]) -> dict[str, str]:
    """Keys the per-speaker ensemble reads: z-scored copies (``KEY#speaker_norm``) for classic
    members, the plain input for networks (they normalise each clip themselves)."""
    return {m.name: m.key if m.neural else f"{m.key}#speaker_norm" for m in members}


# ------------------------------------------------------------------------------ writing
def _safe_name(name: str) -> str:
    """A member name as a file name (``svm@compare`` -> ``svm-compare``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "member"


def _torch_version(members: Sequence[Member]) -> dict[str, str]:
    if not any(m.neural for m in members):
        return {}
    import torch

    return {"torch": torch.__version__.split("+")[0]}


def _member_entries(
    folder: Path,
    members: Sequence[Member],
    models: Mapping[str, Any],
    norm_models: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Write every member's weights under ``members/``; one manifest entry each."""
    entries = []
    for member in members:
        stem = f"members/{_safe_name(member.name)}"
        entry: dict[str, Any] = {"name": member.name, "model": member.model, "input": member.key}
        if member.neural:
            from ._torch import NETWORK_MANIFEST, save_torch

            save_torch(models[member.name], folder / stem)
            manifest_file = f"{stem}/{NETWORK_MANIFEST}"
            entry["kind"] = "network"
            entry["weights"] = {
                "file": manifest_file,
                "sha256": hashlib.sha256((folder / manifest_file).read_bytes()).hexdigest(),
            }
            entry["session_weights"] = None
        else:
            (folder / "members").mkdir(exist_ok=True)
            pair = [models[member.name], norm_models.get(member.name)]
            write: Callable[[Path, str, Any], dict[str, str]]
            if all(m is None or linear_parts(m) is not None for m in pair):
                entry["kind"], write, ext = "linear", write_linear, ""
            else:
                entry["kind"], write, ext = "skops", write_skops, ".skops"
            entry["weights"] = write(folder, f"{stem}{ext}", pair[0])
            entry["session_weights"] = (
                None if pair[1] is None else write(folder, f"{stem}.session{ext}", pair[1])
            )
        entries.append(entry)
    return entries


def write_bundle(
    recognizer: Any, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write a fitted recognizer as a bundle folder (``model.json`` + weights); returns it.

    ``recognizer`` is a fitted :class:`serkit.recognizer.EmotionRecognizer`; ``metadata``
    (training summary, metrics, model card) is stored in ``model.json`` beside the format's
    own keys, after the recognizer's ``metadata_``.

    The bundle is written into a hidden folder beside ``path`` and moved into place only when
    complete, so an interrupted save (an error, ``kill -9``, a full disk) leaves the previous
    bundle as it was. A folder that holds a bundle, or nothing, is replaced whole; a folder
    with other files in it is written into in place, leaving those files alone.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise BundleError(f"{folder}: exists and is not a folder; cannot save a model there")
    target = Path(os.path.abspath(folder))
    replace_whole = target != Path.cwd() and (
        not target.exists() or (target / MANIFEST_FILE).is_file() or not any(target.iterdir())
    )
    if not replace_whole:
        target.mkdir(parents=True, exist_ok=True)
        _write_bundle_files(recognizer, target, metadata)
        return folder
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".tmp-{target.name}-"))
    except OSError as exc:  # name the folder asked for, not the hidden staging folder
        raise BundleError(f"{folder}: cannot save a model there ({exc.strerror or exc})") from exc
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary folder
        _write_bundle_files(recognizer, staging, metadata)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the complete ``staging`` folder to ``target``, replacing an older bundle there."""
    if not target.exists():
        os.rename(staging, target)
        return
    retired = staging.with_name(staging.name.replace(".tmp-", ".old-", 1))
    os.rename(target, retired)
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _write_bundle_files(recognizer: Any, folder: Path, metadata: Mapping[str, Any] | None) -> None:
    """Write ``model.json``, the members' weights and the calibration into ``folder``."""
    from .. import audio

    members: list[Member] = list(recognizer.members_)
    single = len(members) == 1
    models = (
        {members[0].name: recognizer.pipeline_} if single else dict(recognizer.pipeline_.members_)
    )
    norm_models: dict[str, Any] = {}
    if recognizer.supports_speaker_norm:
        norm = recognizer._speaker_norm_model()
        norm_models = {members[0].name: norm} if single else dict(norm.members_)
        norm_models = {m.name: norm_models[m.name] for m in members if not m.neural}
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "classes": [str(c) for c in recognizer.classes_],
        "features": recognizer.feature_spec_ or list(recognizer.input_specs_.values()),
    }
    if getattr(recognizer, "n_features_in_", None) is not None:
        manifest["n_features"] = int(recognizer.n_features_in_)
    manifest |= {
        "sample_rate": audio.SAMPLE_RATE,
        "model": {
            "name": recognizer.model,
            "params": dict(recognizer.params or {}),
            "random_state": recognizer.random_state,
        },
        "inputs": dict(recognizer.input_specs_),
        "members": _member_entries(folder, members, models, norm_models),
        "versions": {**library_versions(), **_torch_version(members)},
        **getattr(recognizer, "metadata_", {}),
        **(metadata or {}),
    }
    calibration = getattr(recognizer, "calibration_", None)
    if calibration:
        text = json.dumps(calibration, indent=2, sort_keys=True) + "\n"
        (folder / CALIBRATION_FILE).write_text(text)
        manifest["calibration"] = {
            "file": CALIBRATION_FILE,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")


# ------------------------------------------------------------------------------ reading
@dataclass
class LoadedBundle:
    """The parts of a saved recognizer, checked and rebuilt (see :func:`read_bundle`)."""

    manifest: dict[str, Any]
    """``model.json`` as read."""
    members: list[Member]
    """The model's members and the feature set each reads."""
    pipeline: Any
    """The fitted model: one estimator, or a :class:`ProbabilityEnsemble`."""
    classes: np.ndarray
    """Class labels as the weights hold them, in ``predict_proba`` column order."""
    n_features: int | None
    """Width of a single vector input, else ``None``."""
    speaker_norm: Any = None
    """The speaker-normalised model when it was rebuilt at once (ensembles)."""
    speaker_norm_loader: Callable[[], Any] | None = None
    """Rebuilds the per-speaker model on first use (single classic models; already verified)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Manifest entries beyond the format's own (training summary, metrics, model card)."""
    calibration: dict[str, Any] | None = None
    """Temperature scaling (``calibration.json``, checksum checked), or None (older bundles)."""


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a bundle's ``model.json`` without loading the weights.

    Raises
    ------
    BundleError
        Not a folder, no or malformed ``model.json``, another format or a newer version.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a model folder (it does not exist or is a file)")
    manifest = read_json_manifest(
        folder / MANIFEST_FILE,
        fmt=BUNDLE_FORMAT,
        version=BUNDLE_VERSION,
        required=("classes", "features", "model"),
        what="model manifest",
    )
    more = ("inputs", "members") if _version(manifest) >= 2 else ("weights", "n_features")
    for key in more:
        if key not in manifest:
            raise BundleError(f"{folder / MANIFEST_FILE}: the model manifest lacks {key!r}")
    check_bundle_manifest(folder, manifest)  # types, and files confined to the folder
    return manifest


def _version(manifest: Mapping[str, Any]) -> int:
    return int(manifest.get("format_version", 1))


def _as_format2(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A format-1 manifest (one classic model) in format 2's shape: one skops member."""
    from ..models import Member

    spec = manifest["features"]
    name = manifest["model"]["name"]
    key = Member(name, name, spec).key
    member = {
        "name": name,
        "model": name,
        "input": key,
        "kind": "skops",
        "weights": manifest["weights"],
        "session_weights": manifest.get("session_weights"),
    }
    return {**manifest, "inputs": {key: spec}, "members": [member]}


_CLASSIC_LOADERS: dict[str, Callable[[Path, Mapping[str, Any]], Any]] = {
    "linear": load_linear,
    "skops": load_skops,
}
"""Member kinds rebuilt from files without torch: plain linear arrays, or skops."""


def read_bundle(path: str | os.PathLike) -> LoadedBundle:
    """Check and rebuild a bundle folder; nothing from it is executed.

    Raises
    ------
    BundleError
        Missing files, malformed manifest, checksum mismatch, or types not on the allow list.
    """
    from ..models import Member

    folder = Path(path)
    manifest = read_manifest(folder)
    _warn_on_version_change(folder, manifest.get("versions", {}))
    layout = _as_format2(manifest) if _version(manifest) < 2 else manifest
    where = folder / MANIFEST_FILE
    inputs, entries = layout.get("inputs"), layout.get("members")
    if not isinstance(inputs, dict) or not isinstance(entries, list) or not entries:
        raise BundleError(f"{where}: 'inputs' or 'members' is malformed")
    members, fitted, norm_models = [], [], []
    speaker_norm_loader = None
    for entry in entries:
        try:
            name, model_name, key, kind = (
                str(entry["name"]), str(entry["model"]), str(entry["input"]), entry["kind"]
            )  # fmt: skip
            spec = inputs[key]
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{where}: a member entry is malformed") from exc
        members.append(Member(name, model_name, spec))
        if kind == "network":
            from .._optional import require

            require("torch", purpose=f"{where}: the network member {name!r}")
            from ._torch import load_torch

            weights = entry["weights"]
            verified_bytes(folder, weights)
            network = load_torch((folder / str(weights["file"])).parent)
            fitted.append((name, network))
            norm_models.append((name, network))  # networks serve both models
        elif kind in _CLASSIC_LOADERS:
            load = _CLASSIC_LOADERS[kind]
            fitted.append((name, load(folder, entry["weights"])))
            norm_entry = entry.get("session_weights")
            if norm_entry and len(entries) == 1:
                verified_bytes(folder, norm_entry)  # checked now, rebuilt on first use
                speaker_norm_loader = partial(load, folder, norm_entry)
            elif norm_entry:
                norm_models.append((name, load(folder, norm_entry)))
        else:
            raise BundleError(f"{where}: unknown member kind {kind!r}")
    norm_model = None
    if len(members) == 1:
        pipeline = fitted[0][1]
    else:
        from ..models import ProbabilityEnsemble

        pipeline = ProbabilityEnsemble.from_fitted(fitted, inputs={m.name: m.key for m in members})
        if any(not m.neural for m in members) and len(norm_models) == len(members):
            norm_model = ProbabilityEnsemble.from_fitted(
                norm_models, inputs=speaker_norm_inputs(members)
            )
    classes = np.asarray(pipeline.classes_)  # the labels' own type (str, int ...)
    if list(map(str, classes)) != list(map(str, manifest["classes"])):
        raise BundleError(f"{folder}: classes in model.json do not match the weights")
    n_features = manifest.get("n_features")
    return LoadedBundle(
        manifest=manifest,
        members=members,
        pipeline=pipeline,
        classes=classes,
        n_features=None if n_features is None else int(n_features),
        speaker_norm=norm_model,
        speaker_norm_loader=speaker_norm_loader,
        metadata={k: v for k, v in manifest.items() if k not in _KNOWN_KEYS},
        calibration=_read_calibration(folder, manifest.get("calibration")),
    )


def _read_calibration(folder: Path, entry: Any) -> dict[str, Any] | None:
    """The bundle's calibration, its SHA-256 checked against model.json; None without one
    (every bundle written before calibration existed: probabilities as the model gives them)."""
    if not entry:
        return None
    from ..calibration import check_calibration

    if not isinstance(entry, Mapping):
        raise BundleError(f"{folder / MANIFEST_FILE}: 'calibration' is malformed")
    data = verified_bytes(folder, entry)
    try:
        return check_calibration(json.loads(data))
    except (ValueError, AttributeError) as exc:
        raise BundleError(f"{folder / CALIBRATION_FILE}: not a valid calibration: {exc}") from exc


def describe_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a manifest that every kind of bundle has, in one shape.

    Returns ``feature_sets`` (list of specs), ``n_features`` (width of a single
    vector input, else ``None``), ``members`` (name, model and input of each),
    ``weights_sha256`` (the weights' SHA-256 for a one-model bundle; for several
    members, the SHA-256 of their checksums joined) and ``speaker_norm`` (whether per-speaker
    normalisation works).
    """
    layout = _as_format2(manifest) if _version(manifest) < 2 else dict(manifest)
    if len(layout["members"]) == 1:
        digest = str(layout["members"][0]["weights"].get("sha256", ""))
    else:
        digests = "".join(
            str(m["weights"].get("sha256", ""))
            + str((m.get("session_weights") or {}).get("sha256"))
            for m in layout["members"]
        )
        digest = hashlib.sha256(digests.encode()).hexdigest()
    members = list(layout["members"])
    n_features = manifest.get("n_features")
    return {
        "feature_sets": list(layout["inputs"].values()),
        "n_features": None if n_features is None else int(n_features),
        "members": [{k: m.get(k) for k in ("name", "model", "input")} for m in members],
        "weights_sha256": digest,
        "speaker_norm": any(m.get("session_weights") for m in members),
    }


def _warn_on_version_change(folder: Path, saved: Mapping[str, str]) -> None:
    current = library_versions()
    changed = [
        f"{name} {saved[name]} -> {current[name]}"
        for name in ("serkit", "scikit-learn", "numpy", "librosa", "opensmile")
        if name in saved and name in current and saved[name] != current[name]
    ]
    if changed:
        warnings.warn(
            f"{folder}: saved with other library versions ({', '.join(changed)}); "
            "predictions may differ slightly",
            SerkitWarning,
            stacklevel=4,
        )


# ------------------------------------------------------------------------ default model
def default_model_path() -> Path:
    """Folder of the model that ships inside the package (``serkit info default``).

    Raises
    ------
    BundleError
        If this installation has no default model.
    """
    from importlib.resources import files

    folder = Path(str(files("serkit").joinpath("models", "default")))
    if not (folder / MANIFEST_FILE).is_file():
        raise BundleError(
            f"{folder}: this serkit installation ships no default model; "
            "pass a model folder written by 'serkit train'"
        )
    return folder


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """``None`` or ``"default"`` -> the packaged default model; otherwise the folder given."""
    if model is None or str(model) == "default":
        return default_model_path()
    return Path(model)
