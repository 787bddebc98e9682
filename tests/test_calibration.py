"""Calibration metrics against hand-computed values, temperature scaling, the calibrated wrapper."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError

from serkit._errors import ParameterError
from serkit.calibration import (
    CalibratedClassifier,
    TemperatureScaling,
    apply_temperature,
    brier_score,
    calibration_scores,
    confident_error_share,
    expected_calibration_error,
    reliability_bins,
)
from serkit.models import make_model

# confidences 0.95, 0.62, 0.71, 0.83 fall in four different bins of 15 (14, 9, 10, 12)
PROBA = np.array([[0.95, 0.05], [0.62, 0.38], [0.29, 0.71], [0.83, 0.17]])
Y = np.array([0, 1, 1, 1])  # right, wrong, right, wrong


def test_ece_by_hand():
    # one clip per bin: ECE = mean |correct - confidence|
    expected = (0.05 + 0.62 + 0.29 + 0.83) / 4
    assert expected_calibration_error(PROBA, Y) == pytest.approx(expected)
    # two clips in one bin (0.95 and 0.94: bin 14), one right and one wrong:
    # |0.5 - 0.945| = 0.445
    assert expected_calibration_error([[0.95, 0.05], [0.94, 0.06]], [0, 1]) == pytest.approx(0.445)
    # perfectly calibrated: confidence 0.5 and half right
    assert expected_calibration_error([[0.5, 0.5], [0.5, 0.5]], [0, 1]) == pytest.approx(0.0)


def test_reliability_bins_by_hand():
    bins = reliability_bins(PROBA, Y)
    assert len(bins["count"]) == 15 and sum(bins["count"]) == 4
    assert [i for i, n in enumerate(bins["count"]) if n] == [9, 10, 12, 14]
    assert bins["accuracy"][14] == 1.0 and bins["accuracy"][9] == 0.0
    assert bins["confidence"][12] == pytest.approx(0.83)
    assert bins["lower"][0] == 0.0 and bins["upper"][-1] == pytest.approx(1.0)


def test_brier_by_hand():
    # rows: 2*0.05^2, 2*0.62^2, 2*0.29^2, 2*0.83^2
    expected = (0.005 + 0.7688 + 0.1682 + 1.3778) / 4
    assert brier_score(PROBA, Y) == pytest.approx(expected)
    assert brier_score([[1.0, 0.0, 0.0]], [0]) == 0.0
    assert brier_score([[0.0, 1.0, 0.0]], [0]) == pytest.approx(2.0)
    assert brier_score([[1 / 3] * 3], [2]) == pytest.approx(1 - 1 / 3)


def test_confident_errors_and_scores_by_label():
    assert confident_error_share(PROBA, Y) == 0.0  # the wrong ones say 0.62 and 0.83
    assert confident_error_share(PROBA, Y, threshold=0.8) == 0.5
    assert confident_error_share([[0.9, 0.1]], [0]) == 0.0  # nothing wrong
    scores = calibration_scores(PROBA, ["a", "b", "b", "b"], ["a", "b"])
    assert scores["ece"] == pytest.approx(expected_calibration_error(PROBA, Y))
    json.dumps(scores)  # plain data
    with pytest.raises(ParameterError, match="'c'"):
        calibration_scores(PROBA, ["a", "b", "c", "b"], ["a", "b"])


def test_bad_input_is_refused():
    with pytest.raises(ParameterError, match="one entry per row"):
        brier_score(PROBA, [0, 1])
    with pytest.raises(ParameterError, match="column indices"):
        expected_calibration_error(PROBA, [0, 1, 2, 0])
    with pytest.raises(ParameterError, match="n_bins"):
        reliability_bins(PROBA, Y, n_bins=0)
    with pytest.raises(ParameterError, match="temperature"):
        apply_temperature(PROBA, 0.0)


def test_temperature_one_leaves_probabilities_unchanged():
    ts = TemperatureScaling.from_dict({"method": "temperature", "temperature": 1.0})
    np.testing.assert_array_equal(ts.predict_proba(PROBA), PROBA)
    # any temperature keeps the arg-max and gives rows summing to 1
    out = apply_temperature(PROBA, 2.5)
    np.testing.assert_array_equal(out.argmax(axis=1), PROBA.argmax(axis=1))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(apply_temperature(out, 1 / 2.5), PROBA, atol=1e-12)


def test_temperature_scaling_softens_an_overconfident_model():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 3, n)
    right = rng.random(n) < 0.6  # right 60 % of the time, always 0.98 sure
    top = np.where(right, y, (y + 1) % 3)
    proba = np.full((n, 3), 0.01)
    proba[np.arange(n), top] = 0.98
    ts = TemperatureScaling().fit(proba, y)
    assert ts.temperature_ > 1.5
    assert ts.nll_after_ < ts.nll_before_
    calibrated = ts.predict_proba(proba)
    assert expected_calibration_error(calibrated, y) < 0.05 < expected_calibration_error(proba, y)
    data = ts.to_dict()
    assert json.loads(json.dumps(data)) == data
    again = TemperatureScaling.from_dict(data)
    np.testing.assert_allclose(again.predict_proba(proba), calibrated)
    with pytest.raises(ParameterError):
        TemperatureScaling.from_dict({"method": "temperature", "temperature": -1})
    with pytest.raises(ParameterError):
        TemperatureScaling.from_dict({"method": "vector"})
    with pytest.raises(NotFittedError):
        TemperatureScaling().predict_proba(proba)


def test_calibrated_classifier_keeps_predictions_and_fits_on_training_only():
    X, yi = make_blobs(120, n_features=4, centers=3, cluster_std=4.0, random_state=0)
    y = np.array(["angry", "calm", "sad"])[yi]
    groups = np.repeat([f"s{i}" for i in range(6)], 20)
    cal = CalibratedClassifier(make_model("logreg"), inner_splits=3)
    with pytest.raises(ParameterError, match="groups"):
        cal.fit(X, y)
    cal.fit(X, y, groups=groups)
    plain = make_model("logreg").fit(X, y)
    np.testing.assert_array_equal(cal.predict(X), plain.predict(X))
    proba = cal.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), plain.predict_proba(X).argmax(axis=1))
    np.testing.assert_allclose(
        proba, apply_temperature(plain.predict_proba(X), cal.temperature_), atol=1e-9
    )
    assert list(cal.classes_) == ["angry", "calm", "sad"]
    with pytest.raises(NotFittedError):
        CalibratedClassifier(make_model("logreg")).predict(X)
