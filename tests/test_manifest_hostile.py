"""Malformed and hostile model.json files (issue 13, finding 6): one clear BundleError for
each, a capped read, and files confined to the bundle folder, checked before opening."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serkit import BundleError
from serkit._manifest import MAX_MANIFEST_BYTES, bundle_file
from serkit.bundles import default_model_path, read_manifest
from serkit.cli import main
from serkit.recognizer import EmotionRecognizer


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A copy of the shipped default model, inside tmp_path/outer/bundle."""
    folder = tmp_path / "outer" / "bundle"
    shutil.copytree(default_model_path(), folder)
    return folder


def _edit(folder: Path, **changes) -> None:
    """Set top-level keys; ``model__name`` sets a sub-key; ``weights`` / ``weights__file``
    reach the first member's weights entry (the shipped bundle is format 2)."""
    path = folder / "model.json"
    manifest = json.loads(path.read_text())
    for key, value in changes.items():
        target, _, sub = key.partition("__")
        holder = manifest["members"][0] if target == "weights" else manifest
        if sub:
            holder[target][sub] = value
        else:
            holder[target] = value
    path.write_text(json.dumps(manifest))


WEIGHTS = "members/logreg.json"  # the shipped bundle's weights file (a linear member)


def _refused(folder: Path, match: str) -> None:
    with pytest.raises(BundleError, match=match):
        read_manifest(folder)
    with pytest.raises(BundleError, match=match):
        EmotionRecognizer.load(folder)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format_version": "abc"}, "format_version must be a positive integer; got 'abc'"),
        ({"format_version": None}, "format_version must be a positive integer; got None"),
        ({"format_version": 1.5}, "format_version must be a positive integer"),
        ({"format_version": True}, "format_version must be a positive integer"),
        ({"model": "mlp"}, "'model' must be an object; got str"),
        ({"model__name": 3}, "'model.name' must be a string; got int"),
        ({"classes": "angry"}, "'classes' must be a list"),
        ({"classes": []}, "non-empty list"),
        ({"features": None}, "'features' must be an object or a list of objects; got null"),
        ({"features": [1]}, "'features' must be an object or a list of objects"),
        ({"weights": "members/logreg.skops"}, r"'members\[0\]'.weights must be an object"),
        ({"weights__file": 5}, "not a usable name"),
        ({"n_features": "384"}, "'n_features' must be an integer"),
        ({"versions": ["x"]}, "'versions' must be an object"),
    ],
)
def test_each_malformed_field_gives_one_bundle_error(bundle, changes, match):
    _edit(bundle, **changes)
    _refused(bundle, match)


@pytest.mark.parametrize("text", ["null", "[]", '"a string"', "{", "\xff\xfe"])
def test_a_manifest_that_is_not_an_object_is_refused(bundle, text):
    (bundle / "model.json").write_bytes(text.encode("latin-1"))
    _refused(bundle, "model.json")


def test_deep_nesting_is_refused_without_recursion_error(bundle):
    (bundle / "model.json").write_text("[" * 200_000)
    _refused(bundle, "nested more than")


def test_a_huge_manifest_is_not_read_whole(bundle):
    path = bundle / "model.json"
    with open(path, "wb") as handle:
        handle.write(b'{"format": "serkit-bundle", "x": "')
        handle.truncate(300 * 1024 * 1024)  # sparse: 300 MB on paper
    assert path.stat().st_size > MAX_MANIFEST_BYTES
    _refused(bundle, "larger than 4 MB")


def test_paths_outside_the_bundle_are_refused_before_opening(bundle):
    # a valid weights file outside, with the right checksum: it must still not load
    outside = bundle.parent / "outside.json"
    shutil.copy(bundle / WEIGHTS, outside)
    _edit(bundle, weights__file="../outside.json")
    _refused(bundle, "leaves the bundle folder")
    for name in ("/etc/passwd", "/etc/shadow", "/no/such/file", "C:\\\\x.skops"):
        _edit(bundle, weights__file=name)
        with pytest.raises(BundleError) as err:
            read_manifest(bundle)
        # the same words whether or not the outside file exists
        assert str(err.value) == f"{bundle}: file name {name!r} leaves the bundle folder"


def test_a_symlink_out_of_the_bundle_is_refused(bundle):
    outside = bundle.parent / "outside.json"
    shutil.copy(bundle / WEIGHTS, outside)
    (bundle / WEIGHTS).unlink()
    (bundle / WEIGHTS).symlink_to(outside)
    _refused(bundle, "symbolic link")


def test_bundle_file_accepts_subfolders(tmp_path):
    assert bundle_file(tmp_path, "members/a.skops") == tmp_path / "members" / "a.skops"


def test_cli_reports_one_line(bundle, capsys):
    _edit(bundle, format_version="abc")
    for argv in (["info", str(bundle)], ["predict", str(bundle), "--model", str(bundle)]):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert "format_version must be a positive integer" in err and "Traceback" not in err
