"""Calibrated bundles: fitted on out-of-fold training predictions, saved, checked, applied."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from serkit._errors import BundleError
from serkit.calibration import apply_temperature
from serkit.recognizer import EmotionRecognizer

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)


@pytest.fixture(scope="module")
def data():
    """180 seed-like features, 3 classes that overlap, 6 speakers with 2 augmented copies each."""
    rng = np.random.default_rng(0)
    n = 120
    y = np.repeat(["angry", "calm", "sad"], n // 3)
    X = rng.normal(0, 1, (n, 180)) + (np.arange(n) % 3 == 0)[:, None] * 0.0
    X[:, :5] += np.repeat(np.arange(3), n // 3)[:, None] * 0.6
    speakers = np.tile([f"s{i}" for i in range(6)], n // 6)
    copies = X[:24] + rng.normal(0, 0.3, (24, 180))
    X_all = np.vstack([X, copies])
    y_all = np.concatenate([y, y[:24]])
    groups = np.concatenate([speakers, [f"{s}#aug0" for s in speakers[:24]]])
    return X_all, y_all, groups


@pytest.fixture(scope="module")
def calibrated(data):
    X, y, groups = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=groups)
        rec.calibrate(X, y, groups=groups)
    return rec


def test_calibration_is_fitted_and_applied(data, calibrated):
    X, _, groups = data
    cal = calibrated.calibration_
    assert cal["method"] == "temperature" and cal["n_clips"] == 120  # originals only
    assert cal["temperature"] > 0 and cal["session_temperature"] > 0
    raw = calibrated.predict_uncalibrated(X)
    np.testing.assert_allclose(
        calibrated.predict_proba(X), apply_temperature(raw, cal["temperature"])
    )
    sessions = np.array([g.split("#")[0] for g in groups])
    np.testing.assert_allclose(
        calibrated.predict_proba(X, speakers=sessions),
        apply_temperature(
            calibrated.predict_uncalibrated(X, speakers=sessions), cal["session_temperature"]
        ),
    )
    np.testing.assert_array_equal(calibrated.predict(X), calibrated.classes_[raw.argmax(axis=1)])


def test_saved_tampered_and_reloaded(tmp_path, data, calibrated):
    X = data[0]
    folder = calibrated.save(tmp_path / "m")
    manifest = json.loads((folder / "model.json").read_text())
    assert manifest["calibration"]["file"] == "calibration.json"
    stored = json.loads((folder / "calibration.json").read_text())
    assert stored["temperature"] == calibrated.calibration_["temperature"]
    again = EmotionRecognizer.load(folder)
    assert "calibration" not in again.metadata_
    np.testing.assert_allclose(again.predict_proba(X), calibrated.predict_proba(X), atol=1e-12)
    # a changed temperature is refused: calibration.json is covered by its SHA-256
    stored["temperature"] = 0.01
    (folder / "calibration.json").write_text(json.dumps(stored))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)


def test_older_bundles_and_temperature_one_are_unchanged(tmp_path, data, calibrated):
    X = data[0]
    folder = calibrated.save(tmp_path / "old")
    manifest = json.loads((folder / "model.json").read_text())
    del manifest["calibration"]  # a bundle written before calibration existed
    (folder / "model.json").write_text(json.dumps(manifest))
    (folder / "calibration.json").unlink()
    old = EmotionRecognizer.load(folder)
    assert old.calibration_ is None
    np.testing.assert_array_equal(old.predict_proba(X), calibrated.predict_uncalibrated(X))
    old.calibration_ = {"method": "temperature", "temperature": 1.0, "session_temperature": 1.0}
    np.testing.assert_array_equal(old.predict_proba(X), calibrated.predict_uncalibrated(X))


def test_onnx_export_applies_the_temperature(tmp_path, data, calibrated):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from serkit.export import export_onnx, onnx_metadata, run_onnx

    X = data[0][:20]
    folder = calibrated.save(tmp_path / "m")
    path = export_onnx(folder, tmp_path / "m.onnx")
    meta = onnx_metadata(path)
    assert meta["calibration"]["temperature"] == calibrated.calibration_["temperature"]
    np.testing.assert_allclose(run_onnx(path, X), calibrated.predict_proba(X), atol=1e-4)
