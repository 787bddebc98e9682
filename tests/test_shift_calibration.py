"""Calibration that allows for corpus shift: uniform blend, shift-aware blend, vector scaling."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from serkit._errors import BundleError, ParameterError
from serkit.calibration import (
    DEFAULT_SHIFT,
    VectorScaling,
    apply_calibration,
    apply_shift_blend,
    apply_temperature,
    apply_uniform_blend,
    calibrate_proba,
    check_calibration,
    fit_shift_blend,
    fit_uniform_blend,
    shift_reference,
    shift_score,
)
from serkit.recognizer import EmotionRecognizer


def test_uniform_blend_by_hand():
    # 0.8 * [0.9, 0.1] + 0.2 / 2 = [0.82, 0.18]
    np.testing.assert_allclose(apply_uniform_blend([[0.9, 0.1]], 0.2), [[0.82, 0.18]])
    p = np.array([[0.7, 0.2, 0.1]])
    np.testing.assert_array_equal(apply_uniform_blend(p, 0.0), p)
    with pytest.raises(ParameterError, match="blend"):
        apply_uniform_blend(p, 1.0)


def test_fit_uniform_blend_finds_the_share_of_guessing():
    # sure (0.99) on every clip, right on 2 of 4: likelihood of (1-a)*p + a/2 is best
    # where (1-a)*0.99 + a/2 = 0.5 on average over right and wrong -> a close to 1
    p = np.array([[0.99, 0.01]] * 4)
    a = fit_uniform_blend(p, [0, 0, 1, 1])
    assert 0.9 < a < 1.0
    # a calibrated model needs no blend
    assert fit_uniform_blend([[0.99, 0.01], [0.01, 0.99]], [0, 1]) == 0.0


def test_shift_score_by_hand():
    # z = [2, 0] -> mean z^2 = 2 -> log 2; z = [1, 1] -> log 1 = 0
    mean, scale = [1.0, 5.0], [0.5, 2.0]
    s = shift_score([[2.0, 5.0], [1.5, 7.0]], mean, scale)
    np.testing.assert_allclose(s, [math.log(2.0), 0.0])
    with pytest.raises(ParameterError, match="features"):
        shift_score([[1.0, 2.0, 3.0]], mean, scale)


def test_shift_blend_by_hand():
    shift = {"blend": 0.6, "center": 1.0, "slope": 2.0}
    # at the centre the weight is blend / 2 = 0.3: 0.7 * 0.9 + 0.3 / 2 = 0.78
    np.testing.assert_allclose(apply_shift_blend([[0.9, 0.1]], [1.0], shift), [[0.78, 0.22]])
    # far below the centre nothing changes; far above, the full blend
    far = apply_shift_blend([[0.9, 0.1], [0.9, 0.1]], [-50.0, 50.0], shift)
    np.testing.assert_allclose(far, [[0.9, 0.1], [0.4 * 0.9 + 0.3, 0.4 * 0.1 + 0.3]])


def test_calibrate_proba_temperature_then_shift():
    p = np.array([[0.8, 0.2], [0.6, 0.4]])
    cal = {"method": "temperature", "temperature": 2.0}
    np.testing.assert_allclose(calibrate_proba(p, cal), apply_temperature(p, 2.0))
    ref = {"mean": [0.0, 0.0], "scale": [1.0, 1.0]}
    shifted = {**cal, "shift": {"blend": 0.5, "center": 0.0, "slope": 100.0, **ref}}
    X = np.array([[0.01, 0.01], [3.0, 3.0]])  # score log(1e-4) (no shift), log 9 (shift)
    out = calibrate_proba(p, shifted, X)
    t = apply_temperature(p, 2.0)
    np.testing.assert_allclose(out[0], t[0], atol=1e-12)
    np.testing.assert_allclose(out[1], 0.5 * t[1] + 0.25, atol=1e-12)
    # a mapping of inputs: the entry with the stored width is read
    np.testing.assert_allclose(calibrate_proba(p, shifted, {"frames": [1], "v": X}), out)
    with pytest.raises(ParameterError, match="features"):
        calibrate_proba(p, shifted)
    # the session temperature for session predictions
    both = {**cal, "session_temperature": 0.5}
    np.testing.assert_allclose(calibrate_proba(p, both, session=True), apply_temperature(p, 0.5))


def test_check_calibration_shift():
    base = {"method": "temperature", "temperature": 1.5}
    good = {**base, "shift": {**DEFAULT_SHIFT, "mean": [0.0, 1.0], "scale": [1.0, 2.0]}}
    assert check_calibration(good) == good
    assert check_calibration(base) == base  # older calibration.json: unchanged
    for bad in (
        {**good["shift"], "blend": 1.0},
        {**good["shift"], "slope": "steep"},
        {**good["shift"], "scale": [1.0]},
        {**good["shift"], "mean": [0.0, float("nan")]},
    ):
        with pytest.raises(ParameterError, match="shift"):
            check_calibration({**base, "shift": bad})


def test_fit_shift_blend_separates_shifted_clips():
    rng = np.random.default_rng(0)
    # held-out speakers: sure and right; other corpus: sure and right 1 time in 4
    p_in = np.tile([[0.9, 0.05, 0.03, 0.02]], (200, 1))
    y_in = np.zeros(200, dtype=int)
    p_out = np.tile([[0.9, 0.05, 0.03, 0.02]], (200, 1))
    y_out = np.repeat([0, 1, 2, 3], 50)
    s_in, s_out = rng.normal(0, 0.2, 200), rng.normal(2, 0.2, 200)
    shift = fit_shift_blend(p_in, s_in, y_in, p_out, s_out, y_out)
    assert 0.3 < shift["center"] < 1.7
    assert shift["blend"] > 0.8
    after_in = apply_shift_blend(p_in, s_in, shift)
    after_out = apply_shift_blend(p_out, s_out, shift)
    assert after_in[:, 0].mean() > 0.85  # no shift: almost unchanged
    assert after_out[:, 0].mean() < 0.45  # shift: close to the 25 % it gets right


def test_vector_scaling_round_trip_and_identity():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    ident = VectorScaling.from_dict(
        {"method": "vector", "weight": [1.0, 1.0, 1.0], "bias": [0.0, 0.0, 0.0]}
    )
    np.testing.assert_allclose(ident.predict_proba(p), p, atol=1e-12)
    rng = np.random.default_rng(1)
    q = rng.dirichlet([1, 1, 1], 300)
    y = rng.integers(0, 3, 300)
    fitted = VectorScaling().fit(q, y)
    again = apply_calibration(q, fitted.to_dict())
    np.testing.assert_allclose(again, fitted.predict_proba(q))
    assert json.loads(json.dumps(fitted.to_dict()))["method"] == "vector"


@pytest.fixture(scope="module")
def data():
    """Two corpora in feature space: training clips near 0, 'other corpus' clips far off."""
    rng = np.random.default_rng(0)
    n = 120
    y = np.repeat(["angry", "calm", "sad"], n // 3)
    X = rng.normal(0, 1, (n, 20))
    X[:, :3] += np.repeat(np.eye(3), n // 3, axis=0) * 1.5
    speakers = np.tile([f"s{i}" for i in range(6)], n // 6)
    other = rng.normal(0, 1, (30, 20)) * 4 + 6
    return X, y, speakers, other


def test_shift_aware_bundle_saved_and_reloaded(tmp_path, data):
    X, y, speakers, other = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=speakers)
        rec.calibrate(X, y, groups=speakers, shift=DEFAULT_SHIFT)
    cal = rec.calibration_
    assert cal["shift"]["blend"] == DEFAULT_SHIFT["blend"]
    np.testing.assert_allclose(cal["shift"]["mean"], X.mean(axis=0))
    np.testing.assert_allclose(cal["shift"]["scale"], X.std(axis=0))
    t_only = apply_temperature(rec.predict_uncalibrated(other), cal["temperature"])
    flat = rec.predict_proba(other)
    np.testing.assert_array_equal(flat.argmax(axis=1), t_only.argmax(axis=1))
    assert flat.max(axis=1).max() < 1 - DEFAULT_SHIFT["blend"] * (1 - 1 / 3) + 1e-6
    # training-like clips keep their temperature-scaled probabilities
    inside = apply_temperature(rec.predict_uncalibrated(X), cal["temperature"])
    assert np.abs(rec.predict_proba(X) - inside).max() < 0.01
    folder = rec.save(tmp_path / "m")
    again = EmotionRecognizer.load(folder)
    np.testing.assert_allclose(again.predict_proba(other), flat, atol=1e-12)
    stored = json.loads((folder / "calibration.json").read_text())
    stored["shift"]["blend"] = 0.0
    (folder / "calibration.json").write_text(json.dumps(stored))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)


def test_shift_reference_needs_vectors():
    with pytest.raises(ParameterError, match="vector feature set"):
        shift_reference({"logmel": [np.zeros((5, 3))]})
    ref = shift_reference({"logmel": [np.zeros((5, 3))], "stats": np.array([[0.0], [2.0]])})
    assert ref == {"mean": [1.0], "scale": [1.0], "features": "stats"}
    # the named set is read first, whatever else has the same width
    cal = {"method": "temperature", "temperature": 1.0}
    cal["shift"] = {"blend": 0.5, "center": 0.0, "slope": 100.0, **ref}
    p = np.array([[0.9, 0.1]])
    near = calibrate_proba(p, cal, {"other": np.array([[50.0]]), "stats": np.array([[1.0]])})
    np.testing.assert_allclose(near, p)


def test_onnx_export_applies_the_shift_aware_calibration(tmp_path, data):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")
    from serkit.export import export_onnx, onnx_metadata, run_onnx

    X, y, speakers, other = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=speakers)
        rec.calibrate(X, y, groups=speakers, shift=DEFAULT_SHIFT)
    path = export_onnx(rec.save(tmp_path / "m"), tmp_path / "m.onnx")
    assert onnx_metadata(path)["calibration"]["shift"]["blend"] == DEFAULT_SHIFT["blend"]
    both = np.vstack([X[:10], other[:10]])
    np.testing.assert_allclose(run_onnx(path, both), rec.predict_proba(both), atol=1e-5)


def test_cli_train_shift_calibration_predicts(capsys, subset, cache, tmp_path):
    from serkit.cli import main

    examples = Path(__file__).resolve().parents[1] / "examples"
    model = tmp_path / "model"
    code = main(
        ["train", str(subset), "--model", "logreg", "--shift-calibration", "--out", str(model),
         "--cache-dir", str(cache), "-q"]
    )  # fmt: skip
    assert code == 0
    shift = json.loads((model / "calibration.json").read_text())["shift"]
    assert shift["blend"] == DEFAULT_SHIFT["blend"] and len(shift["mean"]) == len(shift["scale"])
    capsys.readouterr()
    code = main(["predict", "--model", str(model), str(examples), "--json", "-q"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 16
    for row in rows:
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-6
    # --no-calibration drops the whole calibration, shift included
    code = main(
        ["predict", "--model", str(model), str(examples), "--json", "-q", "--no-calibration"]
    )
    raw = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["emotion"] for r in raw] == [r["emotion"] for r in rows]
