"""Model names -> members and feature sets (no torch needed), and the row helpers."""

from __future__ import annotations

import numpy as np
import pytest

from serkit import ParameterError
from serkit._inputs import n_rows, stack_rows, take_rows
from serkit.models import build_estimator, feature_key, plan_model, speaker_normalize


def test_plain_models_get_their_default_features():
    assert [(m.name, m.key) for m in plan_model("mlp")] == [("mlp", "stats")]
    assert [(m.name, m.key, m.neural) for m in plan_model("cnn1d")] == [("cnn1d", "seed", True)]
    assert [m.key for m in plan_model("specnet")] == ["logmel"]
    assert [m.key for m in plan_model("svm", "compare")] == ["compare"]


def test_ensemble_members_name_their_features():
    plan = plan_model("ensemble:specnet+svm@compare+mlp", "egemaps")
    assert [(m.name, m.model, m.key) for m in plan] == [
        ("specnet", "specnet", "logmel"),  # a network keeps its own input
        ("svm", "svm", "compare"),
        ("mlp", "mlp", "egemaps"),
    ]
    repeated = plan_model("ensemble:svm@stats+svm@compare")
    assert [m.name for m in repeated] == ["svm@stats", "svm@compare"]


def test_feature_key_shows_only_changed_settings():
    assert feature_key({"name": "stats", "params": {}}) == "stats"
    assert feature_key({"name": "stats", "params": {"n_mfcc": 13}}) == 'stats{"n_mfcc":13}'


@pytest.mark.parametrize(
    ("name", "features", "message"),
    [
        ("nope", None, "unknown model 'nope'"),
        ("ensemble:mlp", None, "two or more members"),
        ("ensemble:mlp+", None, "two or more members"),
        ("ensemble:mlp+nope", None, "unknown member 'nope'"),
        ("mlp+svm", None, "belong in an ensemble"),
        ("specnet", "stats", "reads log-mel frame sequences"),
        ("mlp", "logmel", "reads feature vectors"),
        ("ensemble:svm+svm", None, "appears twice"),
        ("mlp", "nosuchset", "unknown feature set"),
    ],
)
def test_bad_model_names_are_explained(name, features, message):
    with pytest.raises(ParameterError, match=message):
        plan_model(name, features)


def test_ensemble_params_must_name_their_member():
    plan = plan_model("ensemble:logreg+knn")
    ensemble = build_estimator(plan, {"logreg__C": 0.5, "knn__n_neighbors": 3})
    members = dict(ensemble.members)
    assert members["logreg"].get_params()["clf__C"] == 0.5
    assert members["knn"].get_params()["clf__n_neighbors"] == 3
    with pytest.raises(ParameterError, match="prefix it with the member"):
        build_estimator(plan, {"C": 0.5})


def test_ensemble_of_classic_models_fits_on_a_mapping():
    rng = np.random.default_rng(0)
    y = np.repeat(["calm", "angry"], 20)
    X = {
        "stats": rng.normal(size=(40, 6)) + (y == "angry")[:, None],
        "seed": rng.normal(size=(40, 4)),
    }
    ensemble = build_estimator(plan_model("ensemble:logreg+knn@seed"))
    proba = ensemble.fit(X, y).predict_proba(take_rows(X, [0, 39]))
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1)


def test_row_helpers_treat_all_containers_alike():
    matrix = np.arange(12.0).reshape(4, 3)
    frames = [np.full((n + 2, 5), n, np.float32) for n in range(4)]
    both = {"a": matrix, "b": frames}
    assert n_rows(matrix) == n_rows(frames) == n_rows(both) == 4
    picked = take_rows(both, [3, 1])
    np.testing.assert_array_equal(picked["a"], matrix[[3, 1]])
    assert [f.shape[0] for f in picked["b"]] == [5, 3]
    stacked = stack_rows([{"a": matrix[0], "b": frames[0]}, {"a": matrix[1], "b": frames[1]}])
    assert stacked["a"].shape == (2, 3) and len(stacked["b"]) == 2
    z = speaker_normalize(both, ["s", "s", "t", "t"])
    np.testing.assert_allclose(z["a"][:2].mean(axis=0), 0)
    assert z["b"] is frames  # frame sequences are normalised inside the networks
    with pytest.raises(ParameterError, match="different numbers of clips"):
        n_rows({"a": matrix, "b": frames[:2]})
