"""Reading the JSON manifest of a saved model folder, for every kind of bundle.

A manifest comes from a folder someone else may have written, so everything in it
is checked before it is used, and every failure is one :class:`BundleError`
naming the file and the problem (never a ``TypeError`` or ``RecursionError``):

* the read is capped (:data:`MAX_MANIFEST_BYTES`), and deep nesting is refused;
* ``format_version`` must be a positive integer, and each known key must have
  its type (:func:`check_bundle_manifest`);
* every file a manifest names is resolved by :func:`bundle_file`, which refuses
  absolute paths, ``..`` and symbolic links that leave the folder *before* any
  file is opened, so nothing outside is read and no message tells whether a
  file outside exists.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ._errors import BundleError

__all__ = [
    "MAX_MANIFEST_BYTES",
    "bundle_file",
    "check_bundle_manifest",
    "read_json_manifest",
]

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Largest manifest read, in bytes: real ones are a few kB."""

_MAX_DEPTH = 64
"""Deepest nesting of lists and objects accepted in a manifest."""


def _depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text (outside strings), without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _read_capped(path: Path, what: str, error: type[BundleError]) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise error(
            f"{path}: the {what} is larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MB; "
            "a real one is a few kB, refusing to read it"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: the {what} is not UTF-8 text ({exc.reason})") from exc


def read_json_manifest(
    path: Path,
    *,
    fmt: str,
    version: int,
    required: Iterable[str],
    what: str,
    error: type[BundleError] = BundleError,
) -> dict[str, Any]:
    """Read ``path`` and check its ``format``, ``format_version`` and required keys.

    Raises ``error`` (a :class:`BundleError`) naming the file and the problem: unreadable,
    too large, not JSON, nested too deeply, another format, a ``format_version`` that is
    not a positive integer or is newer than this serkit reads, or a missing key.
    """
    text = _read_capped(Path(path), what, error)
    if _depth(text) > _MAX_DEPTH:
        raise error(f"{path}: the {what} is nested more than {_MAX_DEPTH} levels deep")
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise error(f"{path}: the {what} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise error(f"{path}: not a serkit {what}")
    found = manifest.get("format_version", 1)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise error(f"{path}: format_version must be a positive integer; got {found!r}")
    if found > version:
        raise error(
            f"{path}: format {found} is newer than this serkit reads ({version}); upgrade serkit"
        )
    for key in required:
        if key not in manifest:
            raise error(f"{path}: the {what} lacks {key!r}")
    return manifest


def bundle_file(
    folder: str | os.PathLike, name: Any, *, error: type[BundleError] = BundleError
) -> Path:
    """The file ``name`` (from a manifest) inside ``folder``, refused if it could leave it.

    Checked before anything is opened: ``name`` must be a non-empty relative path
    without ``..``; then the real path (symbolic links followed) must stay inside the
    folder's real path. The messages never say whether a file outside exists.

    Raises
    ------
    BundleError
        ``name`` is not a string, is absolute, climbs out, or is a link out.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> bundle_file(d, "weights.skops").name
    'weights.skops'
    >>> bundle_file(d, "../outside.skops")
    Traceback (most recent call last):
    ...
    serkit._errors.BundleError: ...: file name '../outside.skops' leaves the bundle folder
    """
    root = Path(folder)
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        raise error(f"{root}: a file name in the manifest is not a usable name: {name!r}")
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if (
        posix.is_absolute()
        or windows.is_absolute()
        or windows.drive
        or ".." in posix.parts
        or ".." in windows.parts
    ):
        raise error(f"{root}: file name {name!r} leaves the bundle folder")
    real_root = os.path.realpath(root)
    real = os.path.realpath(root / name)
    if os.path.commonpath([real_root, real]) != real_root:
        raise error(f"{root}: file name {name!r} leaves the bundle folder (a symbolic link)")
    return root / name


def verified_bytes(
    folder: str | os.PathLike,
    entry: Mapping[str, Any],
    *,
    manifest: str = "model.json",
    what: str = "model weights",
    error: type[BundleError] = BundleError,
) -> bytes:
    """Read one file that a manifest names (``entry``: ``file`` and ``sha256``) and check its
    SHA-256, so nothing modified after saving is ever parsed."""
    path = bundle_file(folder, entry.get("file"), error=error)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc})") from exc
    if hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
        raise error(f"{path}: checksum does not match {manifest}; the bundle was modified")
    return blob


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expect(path: Path, where: str, value: Any, kinds: tuple[type, ...], text: str) -> None:
    if isinstance(value, bool) and bool not in kinds:
        raise BundleError(f"{path}: {where} must be {text}; got {_kind(value)}")
    if not isinstance(value, kinds):
        raise BundleError(f"{path}: {where} must be {text}; got {_kind(value)}")


def _weights_entry(folder: Path, path: Path, where: str, entry: Any, optional: bool) -> None:
    """Check one ``{"file", "sha256"}`` entry; its file must stay inside ``folder``."""
    if entry is None and optional:
        return
    _expect(path, where, entry, (dict,), "an object with 'file' and 'sha256'")
    _expect(path, f"{where}.sha256", entry.get("sha256"), (str,), "a string")
    bundle_file(folder, entry.get("file"))


def check_bundle_manifest(folder: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
    """Check the types of a model bundle's ``model.json`` and confine the files it names.

    Called before any weights file is opened, so a malformed or hostile manifest
    gives one :class:`BundleError` and reads nothing.

    Raises
    ------
    BundleError
        A key with the wrong type, or a file name that leaves ``folder``.
    """
    root = Path(folder)
    path = root / "model.json"
    classes = manifest.get("classes")
    _expect(path, "'classes'", classes, (list,), "a list of class names")
    if not classes or not all(isinstance(c, str | int) and not isinstance(c, bool)
                              for c in classes):  # fmt: skip
        raise BundleError(f"{path}: 'classes' must be a non-empty list of names")
    features = manifest.get("features")
    _expect(path, "'features'", features, (dict, list), "an object or a list of objects")
    if isinstance(features, list) and not all(isinstance(f, dict) for f in features):
        raise BundleError(f"{path}: 'features' must be an object or a list of objects")
    model: Any = manifest.get("model")
    _expect(path, "'model'", model, (dict,), "an object")
    _expect(path, "'model.name'", model.get("name"), (str,), "a string")
    if model.get("params") is not None:
        _expect(path, "'model.params'", model.get("params"), (dict,), "an object")
    if manifest.get("random_state") is not None:
        _expect(path, "'random_state'", manifest.get("random_state"), (int,), "an integer")
    for key in ("versions", "training", "metrics", "model_card"):
        if manifest.get(key) is not None:
            _expect(path, f"'{key}'", manifest[key], (dict,), "an object")
    if manifest.get("n_features") is not None:
        _expect(path, "'n_features'", manifest["n_features"], (int,), "an integer")
    if "sample_rate" in manifest:
        _expect(path, "'sample_rate'", manifest["sample_rate"], (int,), "an integer")
    if int(manifest.get("format_version", 1)) < 2:
        _expect(path, "'n_features'", manifest.get("n_features"), (int,), "an integer")
        _weights_entry(root, path, "'weights'", manifest.get("weights"), optional=False)
        _weights_entry(
            root, path, "'session_weights'", manifest.get("session_weights"), optional=True
        )
        return
    inputs: Any = manifest.get("inputs")
    _expect(path, "'inputs'", inputs, (dict,), "an object")
    for key, spec in inputs.items():
        _expect(path, f"'inputs.{key}'", spec, (dict,), "an object")
    members: Any = manifest.get("members")
    _expect(path, "'members'", members, (list,), "a list")
    if not members:
        raise BundleError(f"{path}: 'members' is empty")
    for i, member in enumerate(members):
        where = f"'members[{i}]'"
        _expect(path, where, member, (dict,), "an object")
        for key in ("name", "model", "input", "kind"):
            _expect(path, f"{where}.{key}", member.get(key), (str,), "a string")
        if member["input"] not in inputs:
            raise BundleError(f"{path}: {where} names input {member['input']!r}, not in 'inputs'")
        _weights_entry(root, path, f"{where}.weights", member.get("weights"), optional=False)
        _weights_entry(
            root, path, f"{where}.session_weights", member.get("session_weights"), optional=True
        )
