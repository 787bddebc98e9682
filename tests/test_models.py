"""Tests for serkit.models: the model zoo, parameter parsing and per-speaker standardisation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from serkit import ParameterError
from serkit.models import (
    MODELS,
    RANDOM_STATE,
    default_param_grid,
    make_model,
    parse_params,
    speaker_normalize,
)

LABELS = np.array(["angry", "happy", "neutral", "sad"])


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, yi = make_classification(
        n_samples=160,
        n_features=10,
        n_informative=6,
        n_classes=4,
        n_clusters_per_class=1,
        random_state=0,
    )
    # labels not in sorted order of first appearance, to catch column misalignment
    return X, LABELS[::-1][yi]


@pytest.fixture(autouse=True)
def _one_thread():
    # OpenMP (HistGradientBoosting fit and predict) crawls on a busy small machine otherwise
    with threadpool_limits(limits=1):
        yield


def _fit(model, X, y):
    with warnings.catch_warnings():
        # the seed's MLP (batch_size=256, max_iter=500) on 160 rows
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size`")
        return model.fit(X, y)


# ----------------------------------------------------------------------------- zoo


def test_models_tuple():
    assert MODELS == ("mlp", "svm", "rf", "dt", "knn", "logreg", "hgb")
    assert RANDOM_STATE == 0


@pytest.mark.parametrize("name", MODELS)
def test_every_model_fits_with_aligned_proba(name, data):
    X, y = data
    model = make_model(name)
    assert isinstance(model, Pipeline)
    assert [step for step, _ in model.steps] == ["scaler", "clf"]
    assert isinstance(model.named_steps["scaler"], StandardScaler)
    _fit(model, X, y)
    assert model.classes_.tolist() == sorted(LABELS.tolist())
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # columns follow classes_: the most probable column names the predicted label
    pred = model.predict(X)
    assert (model.classes_[proba.argmax(axis=1)] == pred).mean() >= 0.97
    assert (pred == y).mean() > 0.5


@pytest.mark.parametrize("name", MODELS)
def test_fresh_object_every_call(name):
    a, b = make_model(name), make_model(name)
    assert a is not b
    assert a.named_steps["clf"] is not b.named_steps["clf"]
    assert a.named_steps["scaler"] is not b.named_steps["scaler"]


@pytest.mark.parametrize("name", [m for m in MODELS if m != "knn"])
def test_seeded(name):
    params = make_model(name).get_params()
    seeds = [v for k, v in params.items() if k.endswith("random_state")]
    assert seeds and all(s == RANDOM_STATE for s in seeds)
    params = make_model(name, random_state=3).get_params()
    assert all(v == 3 for k, v in params.items() if k.endswith("random_state"))


def test_mlp_is_the_seeds():
    clf = make_model("mlp").named_steps["clf"]
    assert isinstance(clf, MLPClassifier)
    expected = {
        "alpha": 0.01,
        "batch_size": 256,
        "epsilon": 1e-08,
        "hidden_layer_sizes": (300,),
        "learning_rate": "adaptive",
        "max_iter": 500,
        "random_state": 0,
    }
    assert {k: clf.get_params()[k] for k in expected} == expected


@pytest.mark.parametrize("name", ["mlp", "rf", "svm"])
def test_deterministic(name, data):
    X, y = data
    p1 = _fit(make_model(name), X, y).predict_proba(X)
    p2 = _fit(make_model(name), X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)


# ----------------------------------------------------------------------------- params


def test_params_override_plain_and_full_names():
    svm = make_model("svm", params={"C": 3, "gamma": 0.01})
    assert svm.get_params()["clf__estimator__C"] == 3
    assert svm.get_params()["clf__estimator__gamma"] == 0.01
    svm = make_model("svm", params={"clf__estimator__kernel": "linear", "method": "isotonic"})
    assert svm.get_params()["clf__estimator__kernel"] == "linear"
    assert svm.get_params()["clf__method"] == "isotonic"
    lr = make_model("logreg", params={"clf__C": 0.5, "scaler__with_mean": False})
    assert lr.get_params()["clf__C"] == 0.5
    assert lr.get_params()["scaler__with_mean"] is False


def test_params_strings_from_cli_are_converted():
    mlp = make_model("mlp", params=parse_params(["hidden_layer_sizes=300,100", "alpha=1e-3"]))
    assert mlp.get_params()["clf__hidden_layer_sizes"] == (300, 100)
    assert mlp.get_params()["clf__alpha"] == 0.001
    rf = make_model("rf", params={"n_estimators": "50", "max_depth": "None"})
    assert rf.get_params()["clf__n_estimators"] == 50
    assert rf.get_params()["clf__max_depth"] is None


def test_parse_params():
    assert parse_params(["C=3", "hidden_layer_sizes=300,100", "kernel=linear"]) == {
        "C": 3,
        "hidden_layer_sizes": (300, 100),
        "kernel": "linear",
    }
    assert parse_params(["gamma=scale", "tol=1e-4", "x=true", "y=None", "z='q'"]) == {
        "gamma": "scale",
        "tol": 1e-4,
        "x": True,
        "y": None,
        "z": "q",
    }
    assert parse_params("C=2") == {"C": 2}
    assert parse_params([]) == {}


@pytest.mark.parametrize("bad", [["C"], ["=3"], ["C="], ["C=1", "C=2"]])
def test_parse_params_errors(bad):
    with pytest.raises(ParameterError):
        parse_params(bad)


def test_unknown_model_lists_models():
    with pytest.raises(ParameterError, match="mlp, svm, rf") as info:
        make_model("xgboost")
    assert isinstance(info.value, ValueError)
    with pytest.raises(ParameterError):
        default_param_grid("xgboost")


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ParameterError, match=r"unknown parameter .Cee.*gamma"):
        make_model("svm", params={"Cee": 1})
    with pytest.raises(ParameterError, match="n_estimators"):
        make_model("rf", params={"clf__nope": 1})


def test_bad_value_rejected_early():
    with pytest.raises(ParameterError, match="svm"):
        make_model("svm", params={"C": -1})
    with pytest.raises(ParameterError):
        make_model("logreg", params={"C": "abc"})
    with pytest.raises(ParameterError):
        make_model("svm", params={"C": 1, "clf__estimator__C": 2})
    with pytest.raises(ParameterError):
        make_model("svm", random_state="0")


@pytest.mark.parametrize("name", MODELS)
def test_default_param_grid_names_are_valid(name):
    grid = default_param_grid(name)
    assert grid and all(k.startswith("clf__") for k in grid)
    model = make_model(name)
    for key, values in grid.items():
        assert isinstance(values, list) and values
        for value in values:
            model.set_params(**{key: value})
    grid[next(iter(grid))].append("changed")
    assert default_param_grid(name) != grid  # a fresh dict each call


# ----------------------------------------------------------------------------- speaker norm


def test_speaker_standardize_per_group():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)) * [1, 2, 3, 4] + [10, -5, 0, 100]
    groups = np.array(["ann"] * 10 + ["bob"] * 12 + ["cy"] * 8)
    X0 = X.copy()
    Z = speaker_normalize(X, groups)
    np.testing.assert_array_equal(X, X0)  # input untouched
    assert Z.shape == X.shape and Z.dtype == np.float64
    for g in np.unique(groups):
        rows = Z[groups == g]
        np.testing.assert_allclose(rows.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(rows.std(axis=0), 1, atol=1e-12)


def test_speaker_standardize_edge_cases():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [7.0, 9.0], [np.nan, 2.0], [4.0, 6.0]])
    groups = [1, 1, 2, 3, 3]  # integer ids work too
    Z = speaker_normalize(X, groups)
    np.testing.assert_allclose(Z[:2, 0], [-1, 1])
    np.testing.assert_array_equal(Z[:2, 1], [0, 0])  # constant feature: centred only
    np.testing.assert_array_equal(Z[2], [0, 0])  # single clip: mean subtracted only
    assert np.isnan(Z[3, 0]) and Z[4, 0] == 0  # NaN ignored in the stats, kept
    np.testing.assert_allclose(Z[3:, 1], [-1, 1])
    assert np.isfinite(Z[[0, 1, 2, 4]]).all()


def test_speaker_standardize_errors():
    with pytest.raises(ParameterError, match="one entry per row"):
        speaker_normalize(np.zeros((4, 2)), ["a", "b"])
    with pytest.raises(ParameterError, match="2-D"):
        speaker_normalize(np.zeros(4), ["a"] * 4)
    with pytest.raises(ParameterError, match="infinite"):
        speaker_normalize(np.array([[np.inf], [0.0]]), ["a", "a"])
