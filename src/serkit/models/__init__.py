"""Classic models: a zoo of named scikit-learn pipelines, and per-speaker normalisation.

Models
------
``mlp``, ``svm``, ``rf``, ``dt``, ``knn``, ``logreg``, ``hgb``
    Each is ``Pipeline([("scaler", StandardScaler()), ("clf", classifier)])``,
    built fresh by :func:`make_model` and seeded with :data:`RANDOM_STATE`.
``cnn1d``, ``specnet`` (:data:`NEURAL_MODELS`, need torch: ``serkit[deep]``)
    ``TorchClassifier`` networks, built by :func:`make_model`. ``TorchClassifier``,
    ``make_network``, ``save_torch``, ``load_torch`` and ``plot_training_curve`` are
    importable from here too, but load torch only when first used:
    ``import serkit.models`` never imports torch.
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
speaker_standardize
    Z-score features within each speaker (label-free).
"""

from ._augmented import AugmentedTraining
from ._ensemble import ProbabilityEnsemble, average_probabilities
from ._speaker_norm import speaker_standardize
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
    "MODELS",
    "NEURAL_MODELS",
    "RANDOM_STATE",
    "SCALER_STEP",
    "AugmentedTraining",
    "ProbabilityEnsemble",
    "average_probabilities",
    "default_param_grid",
    "make_model",
    "parse_params",
    "speaker_standardize",
]

# torch-backed names, imported on first access so that importing serkit.models stays light
_LAZY_TORCH = ("TorchClassifier", "load_torch", "make_network", "plot_training_curve", "save_torch")


def __getattr__(name: str):
    if name in _LAZY_TORCH:
        from . import _torch

        return getattr(_torch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
