"""Linear bundle members (issue 11, cold start): a standardised logistic regression stored as
plain JSON + safetensors arrays, rebuilt into the same scikit-learn objects without skops."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from serkit import BundleError
from serkit.bundles import default_model_path, read_manifest, write_skops
from serkit.bundles._linear import linear_parts, load_linear, write_linear
from serkit.bundles._linear_head import as_sklearn
from serkit.features import extract_files
from serkit.recognizer import EmotionRecognizer

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess-speech-16k"


def _same_state(a: object, b: object) -> None:
    """Every attribute equal: same type, same values, same dtype and memory order."""
    left, right = vars(a), vars(b)
    assert left.keys() == right.keys()
    for key, value in left.items():
        other = right[key]
        assert type(value) is type(other), key
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype and np.array_equal(value, other), key
            if value.ndim > 1:  # a matrix's order changes BLAS's rounding (a vector's cannot;
                # scikit-learn 1.6 leaves intercept_ a strided view, read back contiguous)
                assert value.flags.f_contiguous == other.flags.f_contiguous, key
        elif key != "steps":
            assert value == other, key


def _same_pipeline(a: Pipeline, b: Pipeline) -> None:
    _same_state(a, b)
    assert [name for name, _ in a.steps] == [name for name, _ in b.steps]
    for (_, left), (_, right) in zip(a.steps, b.steps, strict=True):
        _same_state(left, right)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(k, 1.0, (12, 20)) for k in range(3)])
    y = np.repeat(np.array(["angry", "calm", "sad"], dtype=object), 12)
    groups = np.tile(["s1", "s2", "s3"], 12)
    return X, y, groups


def test_logreg_is_saved_as_a_linear_member(data, tmp_path):
    X, y, groups = data
    rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=groups)
    folder = rec.save(tmp_path / "m")
    member = read_manifest(folder)["members"][0]
    assert member["kind"] == "linear"
    assert member["weights"]["file"] == "members/logreg.json"
    assert member["session_weights"]["file"] == "members/logreg.session.json"
    files = sorted(p.name for p in (folder / "members").iterdir())
    assert files == [
        "logreg.json", "logreg.safetensors", "logreg.session.json", "logreg.session.safetensors"
    ]  # fmt: skip
    loaded = EmotionRecognizer.load(folder)
    _same_pipeline(as_sklearn(loaded.pipeline_), rec.pipeline_)
    _same_pipeline(as_sklearn(loaded._speaker_norm_model()), rec._speaker_norm_model())
    np.testing.assert_array_equal(loaded.predict_proba(X), rec.predict_proba(X))
    speakers = list(groups)
    np.testing.assert_array_equal(
        loaded.predict_proba(X, speakers=speakers), rec.predict_proba(X, speakers=speakers)
    )
    assert list(loaded.predict(X)) == list(rec.predict(X))


def test_integer_labels_and_two_classes_round_trip(data, tmp_path):
    X, _, _ = data
    y = np.repeat([3, 7], 18)
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    loaded = EmotionRecognizer.load(rec.save(tmp_path / "m"))
    _same_pipeline(as_sklearn(loaded.pipeline_), rec.pipeline_)
    assert loaded.predict(X).dtype == rec.predict(X).dtype
    np.testing.assert_array_equal(loaded.predict_proba(X), rec.predict_proba(X))


def test_an_ensemble_member_can_be_linear(data, tmp_path):
    X, y, groups = data
    rec = EmotionRecognizer(model="ensemble:logreg+knn").fit(X, y, groups=groups)
    folder = rec.save(tmp_path / "m")
    kinds = {m["name"]: m["kind"] for m in read_manifest(folder)["members"]}
    assert kinds == {"logreg": "linear", "knn": "skops"}
    loaded = EmotionRecognizer.load(folder)
    np.testing.assert_array_equal(loaded.predict_proba(X), rec.predict_proba(X))
    speakers = list(groups)
    np.testing.assert_array_equal(
        loaded.predict_proba(X, speakers=speakers), rec.predict_proba(X, speakers=speakers)
    )


def test_only_plain_linear_pipelines_qualify(data):
    X, y, _ = data

    class Custom(LogisticRegression):
        pass

    plain = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    assert linear_parts(plain) is not None
    assert linear_parts(plain.named_steps["clf"]) is None  # not a pipeline
    custom = Pipeline([("scaler", StandardScaler()), ("clf", Custom())]).fit(X, y)
    assert linear_parts(custom) is None  # a subclass could behave differently
    cached = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())], memory="x")
    assert linear_parts(cached.fit(X, y)) is None
    odd = Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    odd.named_steps["clf"].extra_ = object()
    assert linear_parts(odd) is None
    with pytest.raises(ValueError, match="cannot be stored as a linear member"):
        write_linear(Path("."), "x", odd)


def _forge(folder: Path, document: dict) -> None:
    """Rewrite the member's JSON and make model.json's checksum match it."""
    text = json.dumps(document)
    (folder / "members" / "logreg.json").write_text(text)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["members"][0]["weights"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["steps"][1].update(type="FunctionTransformer"), "not one a linear member"),
        (lambda d: d["steps"][1]["values"].update(__class__="x"), "attribute that is not allowed"),
        (lambda d: d["steps"][1]["arrays"].append("missing_"), "lacks an array"),
        (lambda d: d["arrays"].update(sha256="0" * 64), "checksum"),
        (lambda d: d["arrays"].update(file="../outside.safetensors"), "leaves the bundle"),
        (lambda d: d.update(steps=[]), "non-empty list"),
        (lambda d: d.update(format="serkit-other"), "not a serkit linear model"),
    ],
)
def test_a_forged_linear_member_is_refused(data, tmp_path, change, match):
    X, y, _ = data
    folder = EmotionRecognizer("seed", "logreg").fit(X, y).save(tmp_path / "m")
    document = json.loads((folder / "members" / "logreg.json").read_text())
    change(document)
    _forge(folder, document)
    with pytest.raises(BundleError, match=match):
        EmotionRecognizer.load(folder)


def test_a_broken_arrays_file_is_refused(data, tmp_path):
    X, y, _ = data
    folder = EmotionRecognizer("seed", "logreg").fit(X, y).save(tmp_path / "m")
    junk = b"not safetensors at all"
    (folder / "members" / "logreg.safetensors").write_bytes(junk)
    document = json.loads((folder / "members" / "logreg.json").read_text())
    document["arrays"]["sha256"] = hashlib.sha256(junk).hexdigest()
    _forge(folder, document)
    with pytest.raises(BundleError, match="not a valid safetensors file"):
        EmotionRecognizer.load(folder)


def test_predicting_with_the_default_model_imports_neither_skops_nor_torch():
    """skops' trusted-type table imports all of scikit-learn (and pytest): ~1 s of a cold
    start; the shipped model's linear head is read without it."""
    code = (
        "import sys; from serkit.cli import main;"
        f"rc = main(['predict', {str(sorted(EXAMPLES.glob('*.flac'))[0])!r}]);"
        "print(rc, 'skops.io' in sys.modules, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 False False"


def _skops_copy(folder: Path, out: Path) -> Path:
    """The bundle at ``folder`` with its linear members written as skops instead."""
    shutil.copytree(folder, out)
    manifest = json.loads((out / "model.json").read_text())
    for entry in manifest["members"]:
        for key in ("weights", "session_weights"):
            if entry.get(key):
                model = load_linear(out, entry[key]).to_sklearn()
                stem = entry[key]["file"].removesuffix(".json")
                entry[key] = write_skops(out, f"{stem}.skops", model)
        entry["kind"] = "skops"
    (out / "model.json").write_text(json.dumps(manifest))
    return out


def test_the_shipped_model_predicts_as_its_skops_form(tmp_path):
    """The storage is not the recipe: the shipped model stored as skops (as it was before)
    gives the very same probabilities, on the examples and a RAVDESS subset."""
    shipped = EmotionRecognizer.load(default_model_path())
    if read_manifest(default_model_path())["members"][0]["kind"] != "linear":
        pytest.skip("the shipped model is not a linear member")
    as_skops = EmotionRecognizer.load(_skops_copy(default_model_path(), tmp_path / "skops"))
    paths = sorted(EXAMPLES.glob("*.flac"))
    if RAVDESS.is_dir():
        paths += sorted(RAVDESS.glob("Actor_*/*.flac"))[::60]  # 24 clips, every actor
    X = extract_files(paths, shipped.feature_spec_, jobs=1).matrix()
    speakers = [f"group{i % 3}" for i in range(len(paths))]  # >= 5 clips per group
    for kwargs in ({}, {"speakers": speakers}):
        np.testing.assert_array_equal(
            shipped.predict_proba(X, **kwargs), as_skops.predict_proba(X, **kwargs)
        )
    _same_pipeline(as_sklearn(shipped.pipeline_), as_skops.pipeline_)
