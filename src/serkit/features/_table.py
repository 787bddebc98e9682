"""The table of feature sets: name -> extractor class, and building one from a spec.

The table is written out by hand, so which sets exist is read in one place and no
extractor module has to register itself on import. A new feature set adds one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import ParameterError
from ._base import FeatureExtractor, build_extractor, parse_feature_spec
from ._logmel import LogMelFeatures
from ._opensmile import CompareFeatures, EgemapsFeatures
from ._seed import SeedFeatures
from ._stats import StatsFeatures
from ._whisper import WhisperFeatures

__all__ = ["EXTRACTORS", "available_feature_sets", "get_extractor"]

EXTRACTORS: dict[str, type] = {
    "seed": SeedFeatures,
    "stats": StatsFeatures,
    "egemaps": EgemapsFeatures,
    "compare": CompareFeatures,
    "logmel": LogMelFeatures,
    "whisper": WhisperFeatures,
}
"""Feature set name -> extractor class (a frozen dataclass whose fields are its settings)."""


def available_feature_sets() -> list[str]:
    """Names accepted by :func:`get_extractor`, sorted."""
    return sorted(EXTRACTORS)


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
            import dataclasses

            return dataclasses.replace(spec, **params)  # type: ignore[type-var]
        return spec
    if isinstance(spec, str):
        name, spec_params = parse_feature_spec(spec)
    else:
        name, spec_params = str(spec.get("name")), dict(spec.get("params", {}))
    if name not in EXTRACTORS:
        raise ParameterError(
            f"unknown feature set {name!r}; choose one of {', '.join(available_feature_sets())}"
        )
    return build_extractor(EXTRACTORS[name], name, {**spec_params, **params})
