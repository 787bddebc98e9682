"""scikit-learn's estimator contract (``check_estimator``) for serkit's three estimators.

Small models (logistic regression, a decision tree) keep the ~165 checks to seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from serkit.models import AugmentedTraining, ProbabilityEnsemble, make_model
from serkit.recognizer import EmotionRecognizer

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

ESTIMATORS = [
    EmotionRecognizer("seed", "logreg"),
    ProbabilityEnsemble([("a", make_model("logreg")), ("b", make_model("dt"))]),
    AugmentedTraining(make_model("logreg")),
]

# Deliberate deviations from the contract, by estimator and check: none today. One that
# check_estimator does not exercise: EmotionRecognizer reads a Python list as a list of
# frame sequences (one array per clip, for ``specnet``), not as the rows of a matrix.
DEVIATIONS: dict[str, dict[str, str]] = {}


def _expected_failures(estimator: object) -> dict[str, str]:
    return DEVIATIONS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on the checks' tiny data
        check(estimator)


def test_predict_before_fit_is_not_fitted():
    with pytest.raises(NotFittedError):
        EmotionRecognizer().predict(np.zeros((1, 180)))


def test_integer_labels_come_back_as_integers(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (20, 6)), rng.normal(3, 1, (20, 6))])
    y = np.repeat([3, 7], 20)
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    assert rec.classes_.tolist() == [3, 7] and rec.predict(X[:1]).dtype.kind == "i"
    assert set(rec.predict(X).tolist()) == {3, 7}
    loaded = EmotionRecognizer.load(rec.save(tmp_path / "m"))
    assert loaded.predict(X[:5]).tolist() == rec.predict(X[:5]).tolist()


@pytest.mark.parametrize("estimator", ESTIMATORS[1:], ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("fmt", ["dok", "csr"])
def test_sparse_rows_are_refused_as_sparse_not_read_as_feature_sets(estimator, fmt):
    """A DOK sparse matrix is a dict, so it looks like a mapping of feature sets; it is
    a matrix, and the error says sparse input is not supported."""
    from scipy import sparse

    rng = np.random.default_rng(0)
    X = sparse.csr_matrix(rng.uniform(size=(20, 3))).asformat(fmt)
    with pytest.raises((TypeError, ValueError), match=r"Sparse data was passed|Cannot center"):
        estimator.fit(X, np.repeat([0, 1], 10))
