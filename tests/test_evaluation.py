"""Tests for serkit.evaluation: protocol splits, metrics and speaker-grouped cross-validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, train_test_split

from serkit import ParameterError
from serkit.evaluation import (
    PROTOCOLS,
    EvaluationResult,
    compute_metrics,
    cross_validate,
    holdout,
    loso,
    make_splits,
    random_split,
    speaker_kfold,
)
from serkit.models import default_param_grid, make_model

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

EMOTIONS = np.array(["angry", "happy", "neutral", "sad"])


def speaker_data(
    n_speakers: int = 10, per_class: int = 6, d: int = 6, offset: float = 4.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class blobs seen through a per-speaker offset and gain, as voices and microphones do."""
    rng = np.random.default_rng(seed)
    means = 1.5 * rng.normal(size=(len(EMOTIONS), d))
    X, y, groups = [], [], []
    for s in range(n_speakers):
        shift = offset * rng.normal(size=d)
        gain = rng.uniform(0.5, 2.0, size=d)
        for c, emotion in enumerate(EMOTIONS):
            X.append((means[c] + rng.normal(size=(per_class, d))) * gain + shift)
            y += [emotion] * per_class
            groups += [f"spk{s:02d}"] * per_class
    return np.vstack(X), np.array(y), np.array(groups)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return speaker_data()


def logreg() -> LogisticRegression:
    return make_model("logreg")


# ----------------------------------------------------------------------------- splits


@pytest.mark.parametrize("n", [10, 37, 1440])
def test_random_split_is_the_seeds(n):
    [(train, test)] = random_split(n)
    ref_train, ref_test = train_test_split(np.arange(n), test_size=0.25, random_state=7)
    np.testing.assert_array_equal(train, ref_train)  # same indices, same order
    np.testing.assert_array_equal(test, ref_test)
    assert make_splits("random", groups=np.zeros(n))[0][1].tolist() == ref_test.tolist()


def test_random_split_stratify_and_errors():
    y = np.array(["a"] * 30 + ["b"] * 10)
    [(_, test)] = random_split(40, stratify=y)
    assert (y[test] == "b").sum() == 2 or (y[test] == "b").sum() == 3
    with pytest.raises(ParameterError):
        random_split(1)
    with pytest.raises(ParameterError):
        random_split(10, test_size=1.5)


def _assert_no_leak(splits, groups):
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
        assert not set(train.tolist()) & set(test.tolist())


def test_speaker_kfold_string_ids(data):
    _, _, groups = data
    splits = speaker_kfold(groups, n_splits=5)
    assert len(splits) == 5
    _assert_no_leak(splits, groups)
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(len(groups)))  # every clip exactly once
    ref = GroupKFold(5).split(np.zeros(len(groups)), groups=groups)
    for (train, test), (rtrain, rtest) in zip(splits, ref, strict=True):
        np.testing.assert_array_equal(train, rtrain)
        np.testing.assert_array_equal(test, rtest)
    assert make_splits("speaker-kfold", groups=groups, n_splits=5)[2][1].tolist() == (
        splits[2][1].tolist()
    )


def test_speaker_kfold_bad_n_splits():
    with pytest.raises(ParameterError, match="n_splits=4"):
        speaker_kfold(["a", "b", "c"], n_splits=4)
    with pytest.raises(ParameterError):
        speaker_kfold(["a", "b", "c"], n_splits=1)


def test_loso(data):
    _, _, groups = data
    splits = loso(groups)
    assert len(splits) == len(set(groups))
    _assert_no_leak(splits, groups)
    assert [len(set(groups[test])) for _, test in splits] == [1] * len(splits)
    assert len(make_splits("loso", groups=groups)) == len(splits)
    with pytest.raises(ParameterError):
        loso(["a", "a"])


def test_holdout(data):
    _, _, groups = data
    [(train, test)] = holdout(groups, ["spk03", "spk07"])
    assert set(groups[test]) == {"spk03", "spk07"}
    assert "spk03" not in set(groups[train]) and len(train) + len(test) == len(groups)
    [(_, test1)] = make_splits("holdout", groups=groups, test_speakers="spk03")
    assert set(groups[test1]) == {"spk03"}
    with pytest.raises(ParameterError, match="spk99"):
        holdout(groups, ["spk03", "spk99"])
    with pytest.raises(ParameterError, match="no training speaker"):
        holdout(groups, sorted(set(groups)))
    with pytest.raises(ParameterError):
        holdout(groups, [])
    with pytest.raises(ParameterError, match="test_speakers"):
        make_splits("holdout", groups=groups)


def test_unknown_protocol():
    with pytest.raises(ParameterError, match="speaker-kfold"):
        make_splits("kfold", groups=["a", "b"])
    assert PROTOCOLS == (
        "speaker-kfold",
        "loso",
        "holdout",
        "random",
        "cross-corpus",
        "leave-one-corpus-out",
    )


# ----------------------------------------------------------------------------- metrics


def test_metrics_hand_computed():
    y_true = ["a"] * 6 + ["b"] * 2
    y_pred = ["a"] * 7 + ["b"]
    m = compute_metrics(y_true, y_pred, labels=["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(7 / 8)
    assert m["uar"] == pytest.approx((1.0 + 0.5) / 2)  # "c" absent from y_true: not averaged
    assert m["uar"] != m["accuracy"]
    f1_a, f1_b = 12 / 13, 2 / 3
    assert m["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)
    assert m["per_class"]["a"] == pytest.approx(
        {"precision": 6 / 7, "recall": 1.0, "f1": f1_a, "support": 6}
    )
    assert m["per_class"]["b"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": f1_b, "support": 2}
    )
    assert m["per_class"]["c"]["support"] == 0
    assert m["confusion"] == [[6, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert m["labels"] == ["a", "b", "c"] and m["n"] == 8
    json.dumps(m, allow_nan=False)
    for key in ("accuracy", "uar", "macro_f1"):
        assert type(m[key]) is float and 0 <= m[key] <= 1
    assert all(type(v) is int for row in m["confusion"] for v in row)


def test_metrics_errors():
    with pytest.raises(ParameterError, match="x"):
        compute_metrics(["a", "b"], ["a", "x"], labels=["a", "b"])
    with pytest.raises(ParameterError, match=r"\(2,\).*\(3,\)"):
        compute_metrics(["a", "b"], ["a", "b", "a"], labels=["a", "b"])
    with pytest.raises(ParameterError):
        compute_metrics([], [], labels=["a"])


# ----------------------------------------------------------------------------- cross-validation


def test_kfold_predicts_every_clip_once(data):
    X, y, groups = data
    splits = speaker_kfold(groups, n_splits=5)
    res = cross_validate(logreg, X, y, splits=splits, groups=groups)
    assert isinstance(res, EvaluationResult)
    n = len(y)
    np.testing.assert_array_equal(res.indices, np.arange(n))
    np.testing.assert_array_equal(res.y_true, y)
    np.testing.assert_array_equal(res.groups, groups)
    for k, (_, test) in enumerate(splits):
        assert (res.fold_of[test] == k).all()
        assert res.folds[k]["test_speakers"] == sorted(set(groups[test]))
        assert res.folds[k]["n_test"] == len(test) and res.folds[k]["best_params"] is None
    assert res.labels == sorted(EMOTIONS.tolist())
    assert res.proba.shape == (n, 4)
    np.testing.assert_allclose(res.proba.sum(axis=1), 1.0)
    assert (np.array(res.labels)[res.proba.argmax(axis=1)] == res.y_pred).all()
    assert res.overall == compute_metrics(res.y_true, res.y_pred, labels=res.labels)

    s = res.summary()
    uars = [f["uar"] for f in res.folds]
    assert s["uar"] == res.overall["uar"]
    assert s["uar_mean"] == pytest.approx(np.mean(uars))
    assert s["uar_std"] == pytest.approx(np.std(uars, ddof=0))
    assert s["n_folds"] == 5 and s["n_clips"] == n
    assert {"accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"} <= set(s)


def test_random_and_holdout_predict_only_the_test_part(data):
    X, y, groups = data
    splits = make_splits("random", groups=groups)
    res = cross_validate(logreg, X, y, splits=splits)
    np.testing.assert_array_equal(res.indices, np.sort(splits[0][1]))
    assert res.groups is None and res.folds[0]["test_speakers"] is None
    splits = holdout(groups, ["spk01", "spk02"])
    res = cross_validate(logreg, X, y, splits=splits, groups=groups)
    assert set(res.groups) == {"spk01", "spk02"} and res.summary()["n_clips"] == 48
    assert res.summary()["uar_std"] == 0.0


def test_speaker_norm_helps_with_speaker_offsets(data):
    X, y, groups = data
    splits = speaker_kfold(groups, n_splits=5)
    plain = cross_validate(logreg, X, y, splits=splits, groups=groups)
    normed = cross_validate(logreg, X, y, splits=splits, groups=groups, speaker_norm=True)
    assert normed.overall["uar"] > plain.overall["uar"] + 0.15
    assert normed.overall["uar"] > 0.8
    with pytest.raises(ParameterError, match="groups"):
        cross_validate(logreg, X, y, splits=splits, speaker_norm=True)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; remembers which rows (ids in column 0) it was fitted on."""

    fitted_on: list[set[int]] = []  # noqa: RUF012 - shared on purpose, survives clone()

    def __init__(self, level: int = 0):
        self.level = level

    def fit(self, X, y):
        type(self).fitted_on.append(set(X[:, 0].astype(int).tolist()))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[counts.argmax()]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_nested_search_sees_only_training_rows(data, monkeypatch):
    _, y, groups = data
    X = np.column_stack([np.arange(len(y)), np.zeros(len(y))])  # column 0 = row id
    seen: list[tuple[set[int], np.ndarray]] = []
    original_fit = GridSearchCV.fit

    def spy(self, X, y=None, **kwargs):
        seen.append((set(X[:, 0].astype(int).tolist()), np.asarray(kwargs["groups"])))
        return original_fit(self, X, y, **kwargs)

    monkeypatch.setattr(GridSearchCV, "fit", spy)
    _Recorder.fitted_on = []
    splits = speaker_kfold(groups, n_splits=5)
    res = cross_validate(
        _Recorder, X, y, splits=splits, groups=groups, search={"level": [0, 1]}, inner_splits=3
    )
    assert len(seen) == 5
    for (train, _test), (rows, inner_groups) in zip(splits, seen, strict=True):
        assert rows == set(train.tolist())
        np.testing.assert_array_equal(inner_groups, groups[train])
    # 5 folds x (2 candidates x 3 inner folds + 1 refit), each on one fold's training rows
    assert len(_Recorder.fitted_on) == 5 * (2 * 3 + 1)
    per_fold = np.array_split(np.array(_Recorder.fitted_on, dtype=object), 5)
    for (train, test), fits in zip(splits, per_fold, strict=True):
        for rows in fits:
            assert rows <= set(train.tolist()) and not rows & set(test.tolist())
    assert all(f["best_params"] in ({"level": 0}, {"level": 1}) for f in res.folds)


def test_search_with_zoo_model_records_best_params(data):
    X, y, groups = data
    splits = speaker_kfold(groups, n_splits=3)
    res = cross_validate(
        lambda: make_model("logreg"),
        X,
        y,
        splits=splits,
        groups=groups,
        search=default_param_grid("logreg"),
        speaker_norm=True,
    )
    for fold in res.folds:
        assert set(fold["best_params"]) == {"clf__C"}
        assert fold["best_params"]["clf__C"] in default_param_grid("logreg")["clf__C"]
    with pytest.raises(ParameterError, match="inner_splits"):
        cross_validate(
            logreg, X, y, splits=splits, groups=groups, search={"clf__C": [1]}, inner_splits=9
        )
    with pytest.raises(ParameterError, match="groups"):
        cross_validate(logreg, X, y, splits=splits, search={"clf__C": [1]})
    with pytest.raises(ParameterError, match="clf__Cee"):
        cross_validate(logreg, X, y, splits=splits, groups=groups, search={"clf__Cee": [1]})


def test_deterministic_and_json_ready(data):
    X, y, groups = data
    splits = speaker_kfold(groups, n_splits=3)
    a = cross_validate(
        lambda: make_model("rf", params={"n_estimators": 20}), X, y, splits=splits, groups=groups
    )
    # an estimator instance is cloned per fold
    b = cross_validate(
        make_model("rf", params={"n_estimators": 20}),
        X,
        y,
        splits=splits,
        groups=groups,
        progress=True,
    )
    text = json.dumps(a.to_dict(), allow_nan=False)
    assert text == json.dumps(b.to_dict(), allow_nan=False)
    # and in another process, with another hash seed: nothing depends on this process
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from test_evaluation import speaker_data;"
        "from serkit.evaluation import cross_validate, speaker_kfold;"
        "from serkit.models import make_model;"
        "X, y, g = speaker_data();"
        "r = cross_validate(lambda: make_model('rf', params={'n_estimators': 20}), X, y,"
        " splits=speaker_kfold(g, n_splits=3), groups=g);"
        "print(json.dumps(r.to_dict(), allow_nan=False))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    tests = str(Path(__file__).resolve().parent)
    other = subprocess.run(
        [sys.executable, "-c", code, tests], capture_output=True, text=True, check=True, env=env
    )
    assert other.stdout.strip() == text
    d = json.loads(text)
    assert set(d) == {"labels", "summary", "overall", "folds", "predictions"}
    assert len(d["predictions"]["proba"]) == len(y)
    frame = a.to_frame()
    assert list(frame.columns[:5]) == ["index", "fold", "speaker", "y_true", "y_pred"]
    assert len(frame) == len(y) and "proba_sad" in frame.columns


def test_proba_columns_cover_classes_missing_from_a_fold():
    X, y, groups = speaker_data(n_speakers=4, per_class=3)
    keep = ~((groups == "spk00") & (y == "sad")) & ~((groups != "spk00") & (y == "angry"))
    X, y, groups = X[keep], y[keep], groups[keep]  # only spk00 has "angry"
    res = cross_validate(logreg, X, y, splits=loso(groups), groups=groups)
    assert res.proba.shape == (len(y), 4)
    fold0 = res.fold_of == 0  # spk00 held out: its model never saw "angry"
    assert (res.proba[fold0, res.labels.index("angry")] == 0).all()
    np.testing.assert_allclose(res.proba.sum(axis=1), 1.0)


def test_input_validation(data):
    X, y, groups = data
    splits = speaker_kfold(groups, n_splits=3)
    with pytest.raises(ParameterError, match="240 rows"):
        cross_validate(logreg, X, y[:-1], splits=splits)
    with pytest.raises(ParameterError, match=r"239 entries.*240"):
        cross_validate(logreg, X, y, splits=splits, groups=groups[:-1])
    with pytest.raises(ParameterError, match="2-D"):
        cross_validate(logreg, X[:, 0], y, splits=splits)
    overlapping = [(np.arange(100, 240), np.arange(0, 100)), (np.arange(50, 240), np.arange(50))]
    with pytest.raises(ParameterError, match="more than one test set"):
        cross_validate(logreg, X, y, splits=overlapping)
    with pytest.raises(ParameterError, match=r"\[0, 240\)"):
        cross_validate(logreg, X, y, splits=[(np.arange(10), np.array([240]))])
    with pytest.raises(ParameterError, match="both train and test"):
        cross_validate(logreg, X, y, splits=[(np.arange(10), np.arange(5, 20))])
