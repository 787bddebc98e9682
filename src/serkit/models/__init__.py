"""Classic models: a zoo of named scikit-learn pipelines, and per-speaker normalisation.

Models
------
``mlp``, ``svm``, ``rf``, ``dt``, ``knn``, ``logreg``, ``hgb``
    Each is ``Pipeline([("scaler", StandardScaler()), ("clf", classifier)])``,
    built fresh by :func:`make_model` and seeded with :data:`RANDOM_STATE`.
``cnn1d``, ``specnet`` (:data:`NEURAL_MODELS`, need torch: ``serkit[deep]``)
    ``TorchClassifier`` networks, built by :func:`make_model`. ``TorchClassifier`` and
    ``make_network`` are importable from here too, but load torch only when first used:
    ``import serkit.models`` never imports torch. Networks are saved by
    :func:`serkit.bundles.save_torch`.
``ProbabilityEnsemble``
    Averages the probabilities of members trained on the same clips.

Functions
---------
make_model
    Build a named model, with parameter overrides.
parse_params
    Turn ``NAME=VALUE`` strings from the command line into a parameter dict.
default_param_grid
    A small grid for hyper-parameter search on a named model.
plan_model, build_estimator
    Read a model name (``"ensemble:specnet+svm@compare"``) into its members, each with
    the feature set it reads, and build the unfitted estimator for them.
speaker_normalize
    Per-speaker normalisation: z-score features within each speaker (label-free), for a
    matrix or any model input.
"""

from typing import TYPE_CHECKING, Any

from ._plan import (
    DEFAULT_FEATURES,
    ENSEMBLE_PREFIX,
    Member,
    build_estimator,
    feature_key,
    plan_model,
)
from ._speaker_norm import speaker_normalize
from ._zoo import (
    CLASSIFIER_STEP,
    MODELS,
    NEURAL_MODELS,
    RANDOM_STATE,
    SCALER_STEP,
    default_param_grid,
    make_model,
    parse_params,
)

__all__ = [
    "CLASSIFIER_STEP",
    "DEFAULT_FEATURES",
    "ENSEMBLE_PREFIX",
    "MODELS",
    "NEURAL_MODELS",
    "RANDOM_STATE",
    "SCALER_STEP",
    "AugmentedTraining",
    "Member",
    "ProbabilityEnsemble",
    "average_probabilities",
    "build_estimator",
    "default_param_grid",
    "feature_key",
    "make_model",
    "parse_params",
    "plan_model",
    "speaker_normalize",
]

if TYPE_CHECKING:
    from ._augmented import AugmentedTraining
    from ._ensemble import ProbabilityEnsemble, average_probabilities

# names imported on first access, so that importing serkit.models (as loading a model to
# predict does) imports neither scikit-learn's estimator machinery nor torch
_LAZY = {
    "AugmentedTraining": "_augmented",
    "ProbabilityEnsemble": "_ensemble",
    "average_probabilities": "_ensemble",
    "TorchClassifier": "_torch",
    "make_network": "_torch",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
