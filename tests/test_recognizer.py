"""EmotionRecognizer: fitting, prediction from audio, safe bundles."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from conftest import voice_like
from serkit import AudioError, BundleError, ParameterError, SerkitWarning
from serkit.bundles import read_manifest
from serkit.features import extract_files
from serkit.recognizer import EmotionRecognizer

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def example_features():
    paths = sorted(EXAMPLES.glob("*.flac"))
    result = extract_files(paths, "seed", jobs=1)
    labels = [
        {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
         "06": "fearful", "07": "disgust", "08": "surprised"}[p.name.split("-")[2]]
        for p in paths
    ]  # fmt: skip
    return paths, result.matrix(), np.array(labels)


@pytest.fixture(scope="module")
def fitted(example_features):
    _, X, y = example_features
    return EmotionRecognizer("seed", "logreg").fit(X, y)


def test_fit_predict_proba_follow_classes(fitted, example_features):
    _, X, y = example_features
    proba = fitted.predict_proba(X)
    assert list(fitted.classes_) == sorted(set(y))
    assert proba.shape == (len(y), 8)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-9)
    assert (fitted.predict(X) == fitted.classes_[proba.argmax(axis=1)]).all()


def test_not_fitted():
    with pytest.raises(NotFittedError):
        EmotionRecognizer().predict_proba(np.zeros((1, 180)))


def test_bundle_round_trip_is_identical(fitted, example_features, tmp_path):
    paths, X, _ = example_features
    folder = fitted.save(tmp_path / "model", metadata={"training": {"n_clips": 16}})
    manifest = read_manifest(folder)
    assert manifest["classes"] == list(fitted.classes_)
    assert manifest["features"]["name"] == "seed" and manifest["training"]["n_clips"] == 16
    assert "scikit-learn" in manifest["versions"]
    loaded = EmotionRecognizer.load(folder)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.metadata_["training"] == {"n_clips": 16}
    a = fitted.predict_file(paths[0])
    b = loaded.predict_file(paths[0])
    assert a == b and a.emotion in fitted.classes_ and 0 < a.confidence <= 1
    # the batch path (worker-style extraction) gives the very same numbers
    assert loaded.predict_files([paths[0]])[0] == a


@pytest.mark.parametrize("model", ["mlp", "svm", "rf", "dt", "knn", "hgb"])
def test_every_zoo_model_saves_and_loads(model, example_features, tmp_path):
    _, X, y = example_features
    rec = EmotionRecognizer("seed", model, params={"max_iter": 50} if model == "mlp" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: convergence warnings are expected
        rec.fit(np.vstack([X, X + 0.01, X - 0.01]), np.concatenate([y, y, y]))
    loaded = EmotionRecognizer.load(rec.save(tmp_path / model))
    np.testing.assert_allclose(loaded.predict_proba(X), rec.predict_proba(X))


class _Boom:
    """An object whose unpickling would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


WEIGHTS = "members/logreg.json"
"""Where a saved logreg bundle keeps its weights (a linear member: JSON + safetensors)."""

SKOPS_WEIGHTS = "members/knn.skops"
"""Where a saved knn bundle keeps its weights (a skops member)."""


@pytest.fixture(scope="module")
def fitted_skops(example_features):
    """A model that is stored as skops (not a linear one)."""
    _, X, y = example_features
    return EmotionRecognizer("seed", "knn", params={"n_neighbors": 1}).fit(X, y)


def test_malicious_pickle_is_refused_and_runs_nothing(fitted_skops, tmp_path):
    folder = fitted_skops.save(tmp_path / "model")
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Boom(marker))
    (folder / SKOPS_WEIGHTS).write_bytes(payload)
    manifest = json.loads((folder / "model.json").read_text())
    import hashlib

    # even with the checksum forged to match, the pickle is not loaded
    manifest["members"][0]["weights"]["sha256"] = hashlib.sha256(payload).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a valid skops file"):
        EmotionRecognizer.load(folder)
    assert not marker.exists()


def test_untrusted_type_in_skops_is_refused(fitted_skops, tmp_path):
    import hashlib
    import os

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    folder = fitted_skops.save(tmp_path / "model")
    evil = make_pipeline(FunctionTransformer(os.system))
    data = sio.dumps(evil)
    (folder / SKOPS_WEIGHTS).write_bytes(data)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["members"][0]["weights"]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"allow list.*system"):
        EmotionRecognizer.load(folder)


@pytest.mark.parametrize("weights", [WEIGHTS, "members/logreg.safetensors"])
def test_modified_weights_fail_the_checksum(fitted, tmp_path, weights):
    folder = fitted.save(tmp_path / "model")
    data = bytearray((folder / weights).read_bytes())
    data[-10] ^= 0xFF
    (folder / weights).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)


def test_modified_skops_weights_fail_the_checksum(fitted_skops, tmp_path):
    folder = fitted_skops.save(tmp_path / "model")
    data = bytearray((folder / SKOPS_WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (folder / SKOPS_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)


def test_broken_bundles_have_clear_errors(tmp_path):
    with pytest.raises(BundleError, match="not a model folder"):
        EmotionRecognizer.load(tmp_path / "missing")
    (tmp_path / "m").mkdir()
    with pytest.raises(BundleError, match="cannot read the model manifest"):
        EmotionRecognizer.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        EmotionRecognizer.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text('{"format": "other"}')
    with pytest.raises(BundleError, match="not a serkit model manifest"):
        EmotionRecognizer.load(tmp_path / "m")


BAD = ["silence", "short", "nan", "empty", "text", "truncated_flac", "header_only"]


def test_predict_files_keeps_going(fitted, audio_files):
    names = ["voice", *BAD, "mp3", "tel8k", "stereo", "hi96k"]
    preds = fitted.predict_files([audio_files[n] for n in names])
    assert [p.path for p in preds] == [str(audio_files[n]) for n in names]
    for name, pred in zip(names, preds, strict=True):
        if name in BAD:
            assert pred.emotion is None and str(audio_files[name]) in pred.error
        else:
            assert pred.error is None and pred.emotion in fitted.classes_
            assert abs(sum(pred.probabilities.values()) - 1) < 1e-6


@pytest.mark.parametrize("name", BAD)
def test_predict_file_raises_named_audio_errors(fitted, audio_files, name):
    with pytest.raises(AudioError) as info:
        fitted.predict_file(audio_files[name])
    assert str(audio_files[name]) in str(info.value)


def test_predict_signal_any_rate_and_channels(fitted):
    y = voice_like(dur=2.0, sr=44100)
    pred = fitted.predict_signal(np.stack([y, y]), 44100)
    assert pred.path == "<signal>" and pred.emotion in fitted.classes_
    assert pred.runner_up is not None and pred.runner_up[1] <= pred.confidence


def test_bundles_are_reproducible_byte_for_byte(example_features, tmp_path):
    """The same training gives the same files, in this process and in a fresh one."""
    import subprocess
    import sys

    _, X, y = example_features
    groups = np.arange(len(y)) % 2
    first = EmotionRecognizer("seed", "logreg").fit(X, y, groups=groups).save(tmp_path / "a")
    second = EmotionRecognizer("seed", "logreg").fit(X, y, groups=groups).save(tmp_path / "b")
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    code = (
        "import sys, numpy as np; from serkit.recognizer import EmotionRecognizer;"
        "d = sys.argv[1]; X = np.load(d + '/X.npy'); y = np.load(d + '/y.npy');"
        "EmotionRecognizer('seed', 'logreg').fit(X, y, groups=np.arange(len(y)) % 2)"
        ".save(d + '/c')"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    stems = ("members/logreg", "members/logreg.session")
    names = ["model.json"] + [f"{s}.{ext}" for s in stems for ext in ("json", "safetensors")]
    for name in names:
        data = (first / name).read_bytes()
        assert data == (second / name).read_bytes() == (tmp_path / "c" / name).read_bytes()


def test_session_normalised_prediction(example_features, tmp_path):
    _, X, y = example_features
    groups = np.array(["a", "b"] * (len(y) // 2))
    rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=groups)
    assert rec.supports_speaker_norm
    sessions = ["s1"] * 8 + ["s2"] * 8
    proba = rec.predict_proba(X, speakers=sessions)
    assert proba.shape == (16, 8) and not np.allclose(proba, rec.predict_proba(X))
    loaded = EmotionRecognizer.load(rec.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict_proba(X, speakers=sessions), proba)
    with pytest.warns(SerkitWarning, match="fewer than 5"):
        rec.predict_proba(X[:2], speakers=["x", "x"])
    with pytest.raises(ParameterError, match="entries"):
        rec.predict_proba(X, speakers=["x"])
    plain = EmotionRecognizer("seed", "logreg").fit(X, y)
    with pytest.raises(ParameterError, match="no speaker-normalised part"):
        plain.predict_proba(X, speakers=sessions)


def test_loading_a_bundle_does_not_import_torch(fitted_skops, tmp_path):
    """skops' estimator walk would import torch where installed (hundreds of MB)."""
    import subprocess
    import sys

    folder = fitted_skops.save(tmp_path / "model")
    code = (
        "import sys; from serkit.recognizer import EmotionRecognizer;"
        f"EmotionRecognizer.load({str(folder)!r}); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_format_1_bundles_are_still_read(example_features, tmp_path):
    """serkit 0.1 wrote one classic model as ``pipeline.skops`` + ``model.json`` format 1."""
    from serkit.bundles import describe_manifest, write_skops

    _, X, y = example_features
    groups = np.arange(len(y)) % 2
    rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=groups)
    folder = tmp_path / "old"
    folder.mkdir()
    manifest = {
        "format": "serkit-bundle",
        "format_version": 1,
        "classes": [str(c) for c in rec.classes_],
        "features": rec.feature_spec_,
        "n_features": X.shape[1],
        "sample_rate": 16000,
        "model": {"name": "logreg", "params": {}, "random_state": 0},
        "weights": write_skops(folder, "pipeline.skops", rec.pipeline_),
        "session_weights": write_skops(folder, "session_pipeline.skops", rec._speaker_norm_model()),
        "training": {"n_clips": len(y)},
    }
    (folder / "model.json").write_text(json.dumps(manifest))
    old = EmotionRecognizer.load(folder)
    assert old.n_features_in_ == X.shape[1] and old.metadata_ == {"training": {"n_clips": 16}}
    sessions = ["s"] * len(y)
    np.testing.assert_array_equal(old.predict_proba(X), rec.predict_proba(X))
    np.testing.assert_array_equal(
        old.predict_proba(X, speakers=sessions), rec.predict_proba(X, speakers=sessions)
    )
    summary = describe_manifest(manifest)
    assert summary["speaker_norm"] and summary["weights_sha256"] == manifest["weights"]["sha256"]
    # saving it again writes the one current format (a logreg: a linear member, not skops)
    again = read_manifest(old.save(tmp_path / "new"))
    assert again["format_version"] == 2 and again["members"][0]["kind"] == "linear"
