"""What every feature extractor is, the registry of them, and how specs are written.

An extractor is a frozen (hashable) dataclass whose fields are its settings.
It turns one mono signal into either a vector (``kind == "vector"``) or a
frame sequence (``kind == "sequence"``, shape ``(n_frames, n_features)``).
Its :func:`spec` (name + settings) identifies what it computes; the cache and
saved models key on that, never on how it ran.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from .._errors import ParameterError

__all__ = [
    "FeatureExtractor",
    "available_feature_sets",
    "get_extractor",
    "parse_feature_spec",
    "register",
    "spec_key",
    "spec_of",
]


@runtime_checkable
class FeatureExtractor(Protocol):
    """The interface shared by all extractors.

    Attributes
    ----------
    name : str
        Registry name (``"seed"``, ``"stats"`` ...).
    kind : str
        ``"vector"`` (one row per clip) or ``"sequence"`` (frames x features).
    """

    name: ClassVar[str]
    kind: ClassVar[str]

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Features of one mono float32 signal (vector, or frames x features)."""
        ...

    def feature_names(self) -> list[str]:
        """Column names, one per feature value (per frame column for sequences)."""
        ...


_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator adding an extractor class to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_feature_sets() -> list[str]:
    """Names accepted by :func:`get_extractor`, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # the built-in extractors register themselves on import
    from . import _logmel, _opensmile, _seed, _stats, _whisper  # noqa: F401


def _coerce(field: dataclasses.Field, value: Any) -> Any:
    """Turn a spec string value (from the CLI) into the field's type."""
    if not isinstance(value, str):
        if isinstance(value, list):
            return tuple(value)
        return value
    default = field.default
    if isinstance(default, bool):
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        raise ParameterError(f"{field.name} must be true or false; got {value!r}")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, tuple):
        return tuple(v for v in value.replace(",", "+").split("+") if v)
    return value


def get_extractor(spec: str | Mapping[str, Any] | FeatureExtractor, **params: Any) -> Any:
    """Build an extractor from a name, a spec string, a spec dict, or pass one through.

    Parameters
    ----------
    spec : str, dict or extractor
        ``"seed"``, ``"seed:groups=mfcc+chroma+mel"``, ``{"name": "stats",
        "params": {...}}``, or an extractor instance (returned unchanged).
    **params
        Settings that override those in ``spec``.

    Returns
    -------
    extractor

    Raises
    ------
    ParameterError
        Unknown feature set or setting; the message lists the valid ones.

    Examples
    --------
    >>> get_extractor("seed:groups=mfcc").groups
    ('mfcc',)
    """
    if not isinstance(spec, (str, Mapping)):
        if params:
            return dataclasses.replace(spec, **params)
        return spec
    name, spec_params = (
        parse_feature_spec(spec)
        if isinstance(spec, str)
        else (
            spec.get("name"),
            dict(spec.get("params", {})),
        )
    )
    _load_builtin()
    if name not in _REGISTRY:
        raise ParameterError(
            f"unknown feature set {name!r}; choose one of {', '.join(sorted(_REGISTRY))}"
        )
    cls = _REGISTRY[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged = {**spec_params, **params}
    kwargs = {}
    for key, value in merged.items():
        if key not in fields:
            raise ParameterError(
                f"feature set {name!r} has no setting {key!r}; "
                f"its settings are {', '.join(sorted(fields)) or '(none)'}"
            )
        kwargs[key] = _coerce(fields[key], value)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"feature set {name!r}: {exc}") from exc


def parse_feature_spec(text: str) -> tuple[str, dict[str, str]]:
    """Split ``"name:key=value,key=value"`` into the name and a dict of strings.

    Examples
    --------
    >>> parse_feature_spec("stats:n_mfcc=20,pitch=false")
    ('stats', {'n_mfcc': '20', 'pitch': 'false'})
    """
    name, _, rest = text.strip().partition(":")
    params: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ParameterError(
                f"feature setting {item!r} in {text!r} is not of the form key=value"
            )
        params[key.strip()] = value.strip()
    return name.strip(), params


def spec_of(extractor: Any) -> dict[str, Any]:
    """The JSON-ready identity of an extractor: ``{"name": ..., "params": {...}}``."""
    params = {
        f.name: (list(v) if isinstance(v := getattr(extractor, f.name), tuple) else v)
        for f in dataclasses.fields(extractor)
    }
    return {"name": extractor.name, "params": params}


def spec_key(
    extractor: Any, *, sr: int, version: str, transform: Mapping[str, Any] | None = None
) -> str:
    """A short stable hash of an extractor's spec, the sample rate, a version string and
    the spec of a transform applied to the audio first (e.g. an augmentation chain)."""
    payload = {"spec": spec_of(extractor), "sr": sr, "version": version}
    if transform is not None:
        payload["transform"] = dict(transform)
    payload = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
