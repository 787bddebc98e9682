"""What every feature extractor is, the signal check they share, and how specs are written.

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
    "build_extractor",
    "check_signal",
    "parse_feature_spec",
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


def check_signal(y: np.ndarray, sr: int) -> np.ndarray:
    """Return ``y`` as a 1-D float32 array, or raise ParameterError naming what is wrong.

    Every extractor calls this first, so they all refuse the same inputs the same way.
    """
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer (Hz); got sr={sr!r}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"y must be a mono signal of shape (n,); got shape {y.shape}")
    if y.size == 0:
        raise ParameterError("y must hold at least one sample; got an empty array")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"y must be a float signal in [-1, 1]; got dtype {y.dtype}")
    return np.ascontiguousarray(y, dtype=np.float32)


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


def build_extractor(cls: type, name: str, params: Mapping[str, Any]) -> Any:
    """An instance of extractor class ``cls`` from spec settings (strings from the CLI allowed).

    Raises
    ------
    ParameterError
        A setting ``cls`` does not have, or a value it refuses; the message lists its settings.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in params.items():
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
    """The JSON-ready identity of an extractor: ``{"name": ..., "params": {...}}``.

    A field marked ``metadata={"spec": "omit_default"}`` is left out while it holds its
    default, so a setting added later does not change the identity (cache keys, saved
    models) of what was computed before it existed.
    """
    params = {
        f.name: (list(v) if isinstance(v := getattr(extractor, f.name), tuple) else v)
        for f in dataclasses.fields(extractor)
        if not (
            f.metadata.get("spec") == "omit_default" and getattr(extractor, f.name) == f.default
        )
    }
    return {"name": extractor.name, "params": params}


def spec_key(
    extractor: Any, *, sr: int, version: str, transform: Mapping[str, Any] | None = None
) -> str:
    """A short stable hash of an extractor's spec, the sample rate, a version string and
    the spec of a transform applied to the audio first (e.g. an augmentation chain)."""
    payload: dict[str, Any] = {"spec": spec_of(extractor), "sr": sr, "version": version}
    if transform is not None:
        payload["transform"] = dict(transform)
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
