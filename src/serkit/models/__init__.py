"""Classic models: a zoo of named scikit-learn pipelines, and per-speaker normalisation.

Models
------
``mlp``, ``svm``, ``rf``, ``dt``, ``knn``, ``logreg``, ``hgb``
    Each is ``Pipeline([("scaler", StandardScaler()), ("clf", classifier)])``,
    built fresh by :func:`make_model` and seeded with :data:`RANDOM_STATE`.

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
from ._speaker_norm import speaker_standardize
from ._zoo import (
    CLASSIFIER_STEP,
    MODELS,
    RANDOM_STATE,
    SCALER_STEP,
    default_param_grid,
    make_model,
    parse_params,
)

__all__ = [
    "CLASSIFIER_STEP",
    "MODELS",
    "RANDOM_STATE",
    "SCALER_STEP",
    "AugmentedTraining",
    "default_param_grid",
    "make_model",
    "parse_params",
    "speaker_standardize",
]
