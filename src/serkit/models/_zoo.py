"""Named classic models: each one a fresh ``Pipeline(StandardScaler, classifier)``.

Each builder imports its own classifier, so that importing serkit (and loading a saved
model to predict) does not import every scikit-learn estimator module: about 0.2 s of a
cold ``serkit predict``.

Every model that takes a ``random_state`` is seeded (``RANDOM_STATE = 0`` unless the
caller asks otherwise), so the same data gives the same model on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ParameterError
from ._params import coerce_value, parse_params

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

__all__ = [
    "CLASSIFIER_STEP",
    "MODELS",
    "NEURAL_MODELS",
    "RANDOM_STATE",
    "SCALER_STEP",
    "default_param_grid",
    "make_model",
    "parse_params",
]

RANDOM_STATE: int = 0
"""Seed given to every model that takes a ``random_state``."""

SCALER_STEP: str = "scaler"
"""Name of the standardisation step in every pipeline."""

CLASSIFIER_STEP: str = "clf"
"""Name of the classifier step in every pipeline."""


def _mlp(random_state: int) -> BaseEstimator:
    from sklearn.neural_network import MLPClassifier

    # the seed's MLP, verbatim, plus a fixed seed
    return MLPClassifier(
        alpha=0.01,
        batch_size=256,
        epsilon=1e-08,
        hidden_layer_sizes=(300,),
        learning_rate="adaptive",
        max_iter=500,
        random_state=random_state,
    )


def _svm(random_state: int) -> BaseEstimator:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    # scikit-learn 1.9 deprecates SVC(probability=True) (removed in 1.11) in favour of
    # CalibratedClassifierCV(SVC(), ensemble=False): Platt scaling on 5 internal folds,
    # then one SVC refitted on all rows.  Its predict is the argmax of predict_proba,
    # so the label and the reported confidence always agree.
    svc = SVC(
        C=10.0,
        kernel="rbf",
        gamma="scale",
        class_weight="balanced",
        random_state=random_state,
    )
    return CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)


def _rf(random_state: int) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=300, class_weight="balanced", random_state=random_state
    )


def _dt(random_state: int) -> BaseEstimator:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(class_weight="balanced", random_state=random_state)


def _knn(random_state: int) -> BaseEstimator:
    from sklearn.neighbors import KNeighborsClassifier

    # kNN has no randomness; the argument keeps one signature for all builders
    return KNeighborsClassifier(n_neighbors=5)


def _logreg(random_state: int) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression

    # lbfgs fits one multinomial (softmax) model for more than two classes
    return LogisticRegression(
        C=1.0, solver="lbfgs", max_iter=5000, class_weight="balanced", random_state=random_state
    )


def _hgb(random_state: int) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(class_weight="balanced", random_state=random_state)


_BUILDERS: dict[str, Callable[[int], BaseEstimator]] = {
    "mlp": _mlp,
    "svm": _svm,
    "rf": _rf,
    "dt": _dt,
    "knn": _knn,
    "logreg": _logreg,
    "hgb": _hgb,
}

MODELS: tuple[str, ...] = tuple(_BUILDERS)
"""Names accepted by :func:`make_model`."""

# Where the classifier's own parameters live inside the pipeline.  ``svm`` wraps its SVC
# in a calibrator, so ``C`` means ``clf__estimator__C`` there.
_CORE_PREFIX: dict[str, str] = {name: f"{CLASSIFIER_STEP}__" for name in MODELS}
_CORE_PREFIX["svm"] = f"{CLASSIFIER_STEP}__estimator__"

_GRIDS: dict[str, dict[str, list[Any]]] = {
    "mlp": {"clf__alpha": [1e-3, 1e-2, 1e-1]},
    "svm": {"clf__estimator__C": [1.0, 10.0, 100.0], "clf__estimator__gamma": ["scale", 1e-3]},
    "rf": {"clf__max_features": ["sqrt", "log2", 0.1]},
    "dt": {"clf__max_depth": [None, 8, 16], "clf__min_samples_leaf": [1, 5]},
    "knn": {"clf__n_neighbors": [5, 11, 21], "clf__weights": ["uniform", "distance"]},
    "logreg": {"clf__C": [0.01, 0.1, 1.0, 10.0]},
    "hgb": {"clf__learning_rate": [0.05, 0.1], "clf__max_leaf_nodes": [15, 31]},
}


# ---- neural models (issue 4): a separate, lazy branch -------------------------------------
# Names served by serkit.models._torch.make_network.  Nothing here imports torch: the branch
# in make_model imports _torch only when one of these names is asked for.
NEURAL_MODELS: tuple[str, ...] = ("cnn1d", "specnet")
"""Neural model names accepted by :func:`make_model` (need the ``deep`` extra: torch)."""


def _make_neural(name: str, params: Mapping[str, Any] | None, random_state: int) -> BaseEstimator:
    from .._optional import require

    require("torch", purpose=f"the {name} network")
    from ._torch import make_network  # imports torch

    return make_network(name, params=params, random_state=random_state)


# ---------------------------------------------------------------------------------------------


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ParameterError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return name


def _resolve(name: str, pipe: Pipeline, params: Mapping[str, Any]) -> dict[str, Any]:
    """Map user parameter names onto full pipeline names (``C`` -> ``clf__C``)."""
    valid = pipe.get_params(deep=True)
    core = _CORE_PREFIX[name]
    resolved: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise ParameterError(f"parameter names must be non-empty strings, got {key!r}")
        candidates = [key] if "__" in key else []
        candidates += [core + key, f"{CLASSIFIER_STEP}__{key}"]
        target = next((c for c in candidates if c in valid and c not in pipe.named_steps), None)
        if target is None:
            own = sorted(
                k[len(core) :] for k in valid if k.startswith(core) and "__" not in k[len(core) :]
            )
            raise ParameterError(
                f"unknown parameter {key!r} for model {name!r}; valid names: {', '.join(own)} "
                f"(or any full pipeline name such as '{core}{own[0]}')"
            )
        if target in resolved:
            raise ParameterError(f"parameter {target!r} of model {name!r} is given more than once")
        resolved[target] = coerce_value(value) if isinstance(value, str) else value
    return resolved


def _validate_values(name: str, pipe: Pipeline) -> None:
    """Check parameter values now (sklearn would only check them in ``fit``)."""
    for est in [*pipe.named_steps.values(), *_inner_estimators(pipe)]:
        check = getattr(est, "_validate_params", None)
        if not callable(check):
            continue
        try:
            check()
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"model {name!r}: {exc}") from exc


def _inner_estimators(pipe: Pipeline) -> list[BaseEstimator]:
    from sklearn.base import BaseEstimator

    inner = getattr(pipe.named_steps[CLASSIFIER_STEP], "estimator", None)
    return [inner] if isinstance(inner, BaseEstimator) else []


def make_model(
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    random_state: int = RANDOM_STATE,
) -> Pipeline | BaseEstimator:
    """Build a new, unfitted model from the zoo.

    Every model is ``Pipeline([("scaler", StandardScaler()), ("clf", classifier)])``:

    ``mlp``
        The seed's ``MLPClassifier(alpha=0.01, batch_size=256, epsilon=1e-08,
        hidden_layer_sizes=(300,), learning_rate='adaptive', max_iter=500)``.
    ``svm``
        RBF ``SVC(C=10, gamma="scale", class_weight="balanced")`` inside
        ``CalibratedClassifierCV(method="sigmoid", cv=5, ensemble=False)`` for
        probabilities (the replacement scikit-learn 1.9 names for the deprecated
        ``SVC(probability=True)``).
    ``rf``
        ``RandomForestClassifier(n_estimators=300, class_weight="balanced")``.
    ``dt``
        ``DecisionTreeClassifier(class_weight="balanced")``.
    ``knn``
        ``KNeighborsClassifier(n_neighbors=5)``.
    ``logreg``
        Multinomial ``LogisticRegression(C=1, max_iter=5000, class_weight="balanced")``.
    ``hgb``
        ``HistGradientBoostingClassifier(class_weight="balanced")``.

    All of them have ``predict_proba`` with columns in the order of ``classes_``
    (sorted labels).

    The names in :data:`NEURAL_MODELS` (``cnn1d``, ``specnet``) return a
    :class:`serkit.models._torch.TorchClassifier` instead of a pipeline (it
    standardises its input itself); they import torch, and only they do.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`.
    params : mapping of str to object, optional
        Overrides. Plain names refer to the classifier (``{"C": 3}``); full pipeline
        names (``"clf__C"``, ``"scaler__with_mean"``) are accepted too. String values
        are read as Python literals where possible (``"3"`` -> ``3``), as
        :func:`parse_params` does.
    random_state : int, default=RANDOM_STATE
        Seed for the classifier, where it takes one.

    Returns
    -------
    model : sklearn.pipeline.Pipeline
        A fresh, unfitted pipeline (a new object on every call).

    Raises
    ------
    ParameterError
        Unknown model name (the message lists :data:`MODELS`), unknown parameter
        (the message lists the valid names), or a value the classifier rejects.

    Examples
    --------
    >>> model = make_model("svm", params={"C": 3, "gamma": 0.01})
    >>> model.get_params()["clf__estimator__C"]
    3
    >>> [step for step, _ in model.steps]
    ['scaler', 'clf']
    """
    if isinstance(name, str) and name in NEURAL_MODELS:
        if isinstance(random_state, bool) or not isinstance(random_state, int):
            raise ParameterError(f"random_state must be an int, got {random_state!r}")
        return _make_neural(name, params, random_state)
    name = _check_name(name)
    if isinstance(random_state, bool) or not isinstance(random_state, int):
        raise ParameterError(f"random_state must be an int, got {random_state!r}")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline(
        [(SCALER_STEP, StandardScaler()), (CLASSIFIER_STEP, _BUILDERS[name](random_state))]
    )
    if params:
        if not isinstance(params, Mapping):
            raise ParameterError(f"params must be a mapping of name to value, got {params!r}")
        pipe.set_params(**_resolve(name, pipe, params))
    _validate_values(name, pipe)
    return pipe


def default_param_grid(name: str) -> dict[str, list[Any]]:
    """A small hyper-parameter grid for ``GridSearchCV`` on :func:`make_model`'s pipeline.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`.

    Returns
    -------
    grid : dict of str to list
        Full pipeline parameter names (``"clf__C"``, ``"clf__estimator__C"`` for
        ``svm``) mapped to the values to try; a new dict on every call.

    Raises
    ------
    ParameterError
        Unknown model name.

    Examples
    --------
    >>> default_param_grid("logreg")
    {'clf__C': [0.01, 0.1, 1.0, 10.0]}
    """
    name = _check_name(name)
    return {key: list(values) for key, values in _GRIDS[name].items()}
