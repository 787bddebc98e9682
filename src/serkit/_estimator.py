"""scikit-learn's estimator contract, without importing scikit-learn.

serkit's estimators that a prediction touches (:class:`serkit.EmotionRecognizer`, the
calibration fitters) are built on these classes so that loading a model and predicting
never imports scikit-learn (about a second of every cold start, and a dependency the
shipped model does not need). They keep the contract scikit-learn's tools rely on --
``get_params`` / ``set_params`` from the constructor's signature, ``__sklearn_tags__``,
``score``, cloning -- and import scikit-learn only inside the methods that only
scikit-learn's own tools call (tags, ``score``, :func:`clone`).

:class:`NotFittedError` is scikit-learn's own ``NotFittedError`` whenever scikit-learn
is installed (the type callers catch today), else a serkit error with the same built-in
bases (``ValueError`` and ``AttributeError``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ._errors import SerkitError

__all__ = ["BaseEstimator", "ClassifierMixin", "NotFittedError", "check_is_fitted", "clone"]


class NotFittedError(SerkitError, ValueError, AttributeError):
    """An estimator was used before ``fit``.

    Creating one gives scikit-learn's ``sklearn.exceptions.NotFittedError`` when
    scikit-learn is installed, so ``except NotFittedError`` with scikit-learn's class
    keeps working; without scikit-learn it is this class.
    """

    def __new__(cls, *args: Any) -> Any:
        try:
            from sklearn.exceptions import NotFittedError as SklearnNotFitted
        except ImportError:
            return super().__new__(cls, *args)
        return SklearnNotFitted(*args)


def check_is_fitted(estimator: Any, attributes: str | tuple[str, ...]) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has every one of ``attributes``
    (the message is scikit-learn's); ``TypeError`` when it is not an estimator at all."""
    if isinstance(estimator, type) or not hasattr(estimator, "fit"):
        raise TypeError(f"{estimator!r} is not an estimator instance.")
    names = (attributes,) if isinstance(attributes, str) else attributes
    if not all(hasattr(estimator, name) for name in names):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def clone(estimator: Any, *, safe: bool = True) -> Any:
    """:func:`sklearn.base.clone` (imports scikit-learn: training only)."""
    from sklearn.base import clone as sklearn_clone

    return sklearn_clone(estimator, safe=safe)


class BaseEstimator:
    """Parameters read from ``__init__``'s signature, as scikit-learn's ``BaseEstimator``.

    Subclasses follow the contract: ``__init__`` stores each keyword argument under its
    own name and does nothing else.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Constructor arguments, sorted (no ``*args``: the contract forbids them)."""
        if cls.__init__ is object.__init__:
            return []
        names = []
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or parameter.kind == parameter.VAR_KEYWORD:
                continue
            if parameter.kind == parameter.VAR_POSITIONAL:
                raise RuntimeError(
                    f"{cls.__name__}.__init__ takes *{name}; an estimator must name every "
                    "parameter in its signature"
                )
            names.append(name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters and their values; with ``deep``, also those of any
        estimator among them, as ``NAME__PARAM``."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Any:
        """Set parameters (``NAME__PARAM`` reaches into an estimator parameter); returns self.

        Raises
        ------
        ValueError
            A name that is not a parameter (the message lists the valid ones).
        """
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {self}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        """``Name(param=value, ...)`` with the parameters that differ from their defaults."""
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if p.default is not p.empty
        }
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = defaults.get(name, inspect.Parameter.empty)
            if default is not inspect.Parameter.empty and _same_value(value, default):
                continue
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )


def _same_value(value: Any, default: Any) -> bool:
    """Whether a parameter still has its default (NaN equals NaN; arrays by their repr)."""
    if value is default:
        return True
    if isinstance(value, float) and isinstance(default, float):
        return value == default or (np.isnan(value) and np.isnan(default))
    try:
        return bool(repr(value) == repr(default))
    except Exception:  # a value whose repr fails is shown
        return False


class ClassifierMixin:
    """A classifier's tags and ``score`` (accuracy), as scikit-learn's ``ClassifierMixin``.

    Put it before :class:`BaseEstimator` among the bases.
    """

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        return tags

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of ``self.predict(X)`` against ``y`` (imports scikit-learn)."""
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))  # type: ignore[attr-defined]
