"""The shift-aware blend's fallback: one share per group of classes other corpora merge.

Calm and neutral share one share, so every arg-max judged with calm counted as neutral
(and restricted to any classes) is kept; bundles without fallback weights keep the
uniform blend.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from serkit._errors import BundleError, ParameterError
from serkit.calibration import (
    apply_shift_blend,
    calibrate_proba,
    check_calibration,
    fallback_weights,
    fit_shift_blend,
    shift_blend_weight,
)
from serkit.corpora import EMOTIONS
from serkit.corpora._emotions import emotion_group
from serkit.recognizer import EmotionRecognizer

EIGHT = sorted(EMOTIONS)  # a RAVDESS model's classes, in classes_ order
SHIFT = {"blend": 0.7, "center": 1.0, "slope": 4.0}


def test_fallback_weights_by_hand():
    # 8 RAVDESS classes: 7 groups (calm + neutral one), calm and neutral half a share each
    w = fallback_weights(EIGHT)
    for c, v in zip(EIGHT, w, strict=True):
        assert v == pytest.approx(1 / 14 if c in ("calm", "neutral") else 1 / 7)
    assert sum(w) == pytest.approx(1.0)
    # no calm: neutral gets a full share (EmoDB's 7 classes: uniform)
    assert fallback_weights(["angry", "bored", "neutral"]) == pytest.approx([1 / 3] * 3)
    # calm without neutral is its own group; labels outside the vocabulary too
    assert fallback_weights(["calm", "sad"]) == [0.5, 0.5]
    assert fallback_weights([0, 1, 2, 3]) == [0.25] * 4
    assert emotion_group("calm") == "neutral" and emotion_group(3) == "3"
    with pytest.raises(ParameterError, match="at least one class"):
        fallback_weights([])


def _merged(p: np.ndarray, classes: list[str], keep: list[str]) -> np.ndarray:
    """Columns summed by group (calm into neutral), restricted to ``keep``, renormalised."""
    out = np.zeros((len(p), len(keep)))
    for j, c in enumerate(classes):
        if emotion_group(c) in keep:
            out[:, keep.index(emotion_group(c))] += p[:, j]
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-300)


def _probabilities(k: int):
    return st.lists(
        st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k).filter(lambda r: sum(r) > 1e-3),
        min_size=1,
        max_size=20,
    ).map(lambda rows: np.array(rows) / np.array(rows).sum(axis=1, keepdims=True))


GROUPS = sorted({emotion_group(c) for c in EIGHT})


@settings(max_examples=300, deadline=None)
@given(
    p=_probabilities(len(EIGHT)),
    scores=st.lists(st.floats(-5.0, 5.0), min_size=20, max_size=20),
    keep=st.sets(st.sampled_from(GROUPS), min_size=1),
)
def test_blend_keeps_every_merged_restricted_argmax(p, scores, keep):
    shift = {**SHIFT, "fallback": fallback_weights(EIGHT)}
    s = np.array(scores[: len(p)])
    q = apply_shift_blend(p, s, shift)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    keep = sorted(keep)
    # each kept group gains the same a / G: merged sums are (1 - a) * before + a / G
    a = shift_blend_weight(s, shift)[:, None]
    expected = (1 - a) * _unnormalised(p, keep) + a / len(GROUPS)
    np.testing.assert_allclose(_unnormalised(q, keep), expected, atol=1e-12)
    # so the arg-max over the kept groups (renormalised) is kept wherever it is not a tie
    # (in floating point: wherever the two largest merged probabilities differ by more than
    # rounding; a gap of 1e-30 vanishes once a / G is added)
    before, after = _merged(p, EIGHT, keep), _merged(q, EIGHT, keep)
    ordered = np.sort(_unnormalised(p, keep), axis=1)
    clear = (ordered[:, -1] - ordered[:, -2] > 1e-9) if len(keep) > 1 else np.ones(len(p), bool)
    np.testing.assert_array_equal(after.argmax(axis=1)[clear], before.argmax(axis=1)[clear])


def _unnormalised(p: np.ndarray, keep: list[str]) -> np.ndarray:
    out = np.zeros((len(p), len(keep)))
    for j, c in enumerate(EIGHT):
        if emotion_group(c) in keep:
            out[:, keep.index(emotion_group(c))] += p[:, j]
    return out


@settings(max_examples=200, deadline=None)
@given(
    p=_probabilities(6),
    scores=st.lists(st.floats(-5.0, 5.0), min_size=20, max_size=20),
    keep=st.sets(st.integers(0, 5), min_size=1),
)
def test_blend_keeps_restricted_argmax_without_merged_classes(p, scores, keep):
    classes = ["angry", "disgust", "fearful", "happy", "neutral", "sad"]
    shift = {**SHIFT, "fallback": fallback_weights(classes)}
    s = np.array(scores[: len(p)])
    q = apply_shift_blend(p, s, shift)
    cols = sorted(keep)
    a = shift_blend_weight(s, shift)[:, None]
    # every kept column moves by the same a / 6: differences scale by (1 - a) > 0
    np.testing.assert_allclose(q[:, cols], (1 - a) * p[:, cols] + a / 6, atol=1e-12)
    ranks_before = np.argsort(np.argsort(-p[:, cols], axis=1, kind="stable"), axis=1)
    differ = np.abs(p[:, cols][:, :, None] - p[:, cols][:, None, :]) > 1e-9
    ranks_after = np.argsort(np.argsort(-q[:, cols], axis=1, kind="stable"), axis=1)
    # where no two kept values tie, the whole order (so the arg-max) is the same
    untied = differ.sum(axis=(1, 2)) == len(cols) * (len(cols) - 1)
    np.testing.assert_array_equal(ranks_after[untied], ranks_before[untied])


def test_unmerged_argmax_moves_only_within_the_bound():
    # neutral 0.30 vs angry 0.28: a = 0.5 (score at the centre of blend 1.0 * sigmoid(0))
    # gives neutral 0.15 + 0.5/14, angry 0.14 + 0.5/7: angry now leads, as the bound
    # a / (2G (1 - a)) = 0.5 / 7 = 0.071 > 0.02 allows; merged with calm, neutral still leads
    p = np.zeros((1, 8))
    p[0, EIGHT.index("neutral")], p[0, EIGHT.index("calm")] = 0.30, 0.10
    p[0, EIGHT.index("angry")] = 0.28
    rest = [j for j, c in enumerate(EIGHT) if c not in ("neutral", "calm", "angry")]
    p[0, rest] = 0.32 / len(rest)
    shift = {"blend": 0.999, "center": 1.0, "slope": 1.0, "fallback": fallback_weights(EIGHT)}
    a = float(shift_blend_weight([1.0], shift)[0])
    q = apply_shift_blend(p, [1.0], shift)
    assert EIGHT[int(q.argmax())] == "angry" and EIGHT[int(p.argmax())] == "neutral"
    assert a / (2 * 7 * (1 - a)) > 0.02
    keep = ["angry", "happy", "neutral", "sad"]
    assert _merged(q, EIGHT, keep).argmax() == keep.index("neutral")
    # a gap larger than the bound never flips
    far = p.copy()
    far[0, EIGHT.index("angry")] = 0.30 - 1.01 * a / (2 * 7 * (1 - a))
    far[0, rest] += (p[0, EIGHT.index("angry")] - far[0, EIGHT.index("angry")]) / len(rest)
    assert EIGHT[int(apply_shift_blend(far, [1.0], shift).argmax())] == "neutral"


def test_without_fallback_the_blend_stays_uniform():
    # bundles written before the fallback: (1 - a) p + a / K, a = 0.7 * sigmoid(0) = 0.35
    p = np.array([[0.6, 0.3, 0.1]])
    old = apply_shift_blend(p, [1.0], SHIFT)
    np.testing.assert_allclose(old, 0.65 * p + 0.35 / 3)
    new = apply_shift_blend(p, [1.0], {**SHIFT, "fallback": [0.5, 0.25, 0.25]})
    np.testing.assert_allclose(new, 0.65 * p + 0.35 * np.array([0.5, 0.25, 0.25]))
    with pytest.raises(ParameterError, match="3 fallback weights for 2 classes"):
        apply_shift_blend([[0.5, 0.5]], [1.0], {**SHIFT, "fallback": [0.5, 0.25, 0.25]})


def test_temperature_one_without_shift_is_the_identity():
    p = np.random.default_rng(3).dirichlet(np.ones(8), 10)
    assert calibrate_proba(p, {"method": "temperature", "temperature": 1.0}) is not None
    np.testing.assert_array_equal(
        calibrate_proba(p, {"method": "temperature", "temperature": 1.0}), p
    )
    np.testing.assert_array_equal(calibrate_proba(p, None), p)


def test_check_calibration_fallback():
    base = {"method": "temperature", "temperature": 1.2}
    shift = {**SHIFT, "mean": [0.0], "scale": [1.0]}
    assert check_calibration({**base, "shift": shift})["shift"] == shift  # no fallback: fine
    good = {**shift, "fallback": [0.25, 0.25, 0.5]}
    assert check_calibration({**base, "shift": good})["shift"]["fallback"] == [0.25, 0.25, 0.5]
    for bad in ([0.5, 0.6], [1.5, -0.5], [], "uniform", [True, 0.0], [0.5, float("nan")]):
        with pytest.raises(ParameterError, match="fallback"):
            check_calibration({**base, "shift": {**shift, "fallback": bad}})


def test_fit_shift_blend_judged_with_merged_groups():
    # 3 classes [angry, calm, neutral]; the other corpus judges 2 groups (angry, neutral)
    # and the model is sure of angry on every clip, right on 1 clip in 2: the fitted blend
    # flattens the other corpus's clips and not the held-out speakers'
    rng = np.random.default_rng(0)
    classes = ["angry", "calm", "neutral"]
    p = np.tile([[0.9, 0.05, 0.05]], (200, 1))
    s_in, s_out = rng.normal(0, 0.2, 200), rng.normal(2, 0.2, 200)
    fallback = fallback_weights(classes)
    shift = fit_shift_blend(
        p, s_in, np.zeros(200, dtype=int), p, s_out, np.repeat([0, 1], 100),
        fallback=fallback, out_groups=[0, 1, 1],
    )  # fmt: skip
    full = {**shift, "fallback": fallback}
    out = _merged(apply_shift_blend(p, s_out, full), classes, ["angry", "neutral"])
    assert 0.45 < out[:, 0].mean() < 0.65  # right half the time: about 0.5
    assert apply_shift_blend(p, s_in, full)[:, 0].mean() > 0.85
    with pytest.raises(ParameterError, match="group index"):
        fit_shift_blend(p, s_in, np.zeros(200, dtype=int), p, s_out, np.full(200, 2),
                        fallback=fallback, out_groups=[0, 1, 1])  # fmt: skip


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    classes = ["angry", "calm", "neutral", "sad"]
    n = 160
    y = np.repeat(classes, n // 4)
    X = rng.normal(0, 1, (n, 12))
    X[:, :4] += np.repeat(np.eye(4), n // 4, axis=0) * 1.5
    speakers = np.tile([f"s{i}" for i in range(8)], n // 8)
    other = rng.normal(0, 1, (40, 12)) * 3 + 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rec = EmotionRecognizer("seed", "logreg").fit(X, y, groups=speakers)
        rec.calibrate(X, y, groups=speakers, shift=SHIFT)
    return rec, X, other


def test_recognizer_stores_the_group_fallback(fitted, tmp_path):
    rec, _, other = fitted
    shift = rec.calibration_["shift"]
    assert shift["fallback"] == pytest.approx([1 / 3, 1 / 6, 1 / 6, 1 / 3])
    p = rec.predict_proba(other)
    keep = ["angry", "neutral", "sad"]
    t_only = calibrate_proba(
        rec.predict_uncalibrated(other), {k: v for k, v in rec.calibration_.items() if k != "shift"}
    )
    np.testing.assert_array_equal(
        _merged(p, list(rec.classes_), keep).argmax(1),
        _merged(t_only, list(rec.classes_), keep).argmax(1),
    )
    folder = rec.save(tmp_path / "m")
    stored = json.loads((folder / "calibration.json").read_text())
    assert stored["shift"]["fallback"] == shift["fallback"]
    np.testing.assert_allclose(EmotionRecognizer.load(folder).predict_proba(other), p)
    # the weights are covered by the bundle's checksums
    stored["shift"]["fallback"] = [0.25, 0.25, 0.25, 0.25]
    (folder / "calibration.json").write_text(json.dumps(stored))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)


def test_bundle_without_fallback_keeps_the_uniform_blend(fitted, tmp_path):
    rec, _, other = fitted
    old = dict(rec.calibration_)
    old["shift"] = {k: v for k, v in old["shift"].items() if k != "fallback"}
    rec_old = EmotionRecognizer.load(rec.save(tmp_path / "new"))
    rec_old.calibration_ = old
    again = EmotionRecognizer.load(rec_old.save(tmp_path / "old"))
    assert (
        "fallback" not in json.loads((tmp_path / "old" / "calibration.json").read_text())["shift"]
    )
    t_only = calibrate_proba(
        rec.predict_uncalibrated(other), {k: v for k, v in old.items() if k != "shift"}
    )
    from serkit.calibration import shift_score

    a = shift_blend_weight(
        shift_score(other, old["shift"]["mean"], old["shift"]["scale"]), old["shift"]
    )
    np.testing.assert_allclose(
        again.predict_proba(other), (1 - a[:, None]) * t_only + a[:, None] / 4
    )


def test_calibrated_classifier_with_shift():
    from serkit.calibration import CalibratedClassifier, shift_score
    from serkit.models import make_model

    rng = np.random.default_rng(1)
    classes = ["angry", "calm", "neutral", "sad"]
    y = np.repeat(classes, 30)
    X = rng.normal(0, 1, (120, 6)) + np.repeat(np.eye(4, 6), 30, axis=0) * 2
    groups = np.tile([f"s{i}" for i in range(6)], 20)
    far = rng.normal(0, 1, (10, 6)) * 3 + 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = CalibratedClassifier(make_model("logreg")).fit(X, y, groups)
        shifted = CalibratedClassifier(make_model("logreg"), shift=SHIFT).fit(X, y, groups)
    assert plain.shift_ is None
    assert shifted.shift_["fallback"] == fallback_weights(classes)
    np.testing.assert_allclose(shifted.shift_["mean"], X.mean(axis=0))
    t = plain.predict_proba(far)
    a = shift_blend_weight(shift_score(far, X.mean(axis=0), X.std(axis=0)), SHIFT)[:, None]
    expected = (1 - a) * t + a * np.array(fallback_weights(classes))
    np.testing.assert_allclose(shifted.predict_proba(far), expected, atol=1e-12)
    assert a.min() > 0.5  # far from the training clips: mostly the fallback
    np.testing.assert_array_equal(shifted.predict(far), plain.predict(far))


def test_cross_validation_with_shift_calibration():
    from sklearn.model_selection import GroupKFold

    from serkit.calibration import CalibratedClassifier
    from serkit.evaluation import cross_validate
    from serkit.models import make_model
    from serkit.workflows import _calibration_report

    rng = np.random.default_rng(2)
    y = np.repeat(["angry", "neutral", "sad"], 40)
    X = rng.normal(0, 1, (120, 5)) + np.repeat(np.eye(3, 5), 40, axis=0) * 2
    groups = np.tile([f"s{i}" for i in range(6)], 20)
    splits = list(GroupKFold(3).split(X, y, groups))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(
            lambda: CalibratedClassifier(make_model("logreg"), shift=SHIFT),
            X, y, splits=splits, groups=groups,
        )  # fmt: skip
    # the blend cannot be undone from the calibrated probabilities: no "uncalibrated" part
    report = _calibration_report(result, True, True)
    assert "uncalibrated" not in report and len(report["temperatures"]) == 3
    assert 0 <= report["ece"] <= 1
    assert "uncalibrated" in _calibration_report(result, True)


def test_onnx_export_applies_the_group_fallback(fitted, tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")
    from serkit.export import export_onnx, onnx_metadata, run_onnx

    rec, X, other = fitted
    path = export_onnx(rec.save(tmp_path / "m"), tmp_path / "m.onnx")
    assert (
        onnx_metadata(path)["calibration"]["shift"]["fallback"]
        == rec.calibration_["shift"]["fallback"]
    )
    both = np.vstack([X[:10], other[:10]])
    np.testing.assert_allclose(run_onnx(path, both), rec.predict_proba(both), atol=1e-5)
