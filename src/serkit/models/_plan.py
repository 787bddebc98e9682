"""From a model name to the members that make it up, each with the feature set it reads.

A model name is one of :data:`~serkit.models.MODELS` (``mlp``, ``svm`` ...), one
of :data:`~serkit.models.NEURAL_MODELS` (``cnn1d``, ``specnet``), or an
ensemble ``ensemble:A+B[+C...]`` whose members may name their own feature set
with ``@``: ``ensemble:specnet+svm@compare`` averages a ``specnet`` on its
log-mel frames with an ``svm`` on openSMILE ComParE functionals. A plain model,
and a classic member without ``@``, reads the feature set given with the model;
otherwise each reads its default: ``stats`` for classic models, ``seed`` for
``cnn1d``, ``logmel`` for ``specnet`` (a network in an ensemble keeps its default
unless ``@`` says otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import ParameterError
from ._zoo import MODELS, NEURAL_MODELS, RANDOM_STATE, make_model

__all__ = [
    "DEFAULT_FEATURES",
    "ENSEMBLE_PREFIX",
    "Member",
    "build_estimator",
    "feature_key",
    "plan_model",
]

ENSEMBLE_PREFIX = "ensemble:"
DEFAULT_FEATURES: dict[str, str] = {"cnn1d": "seed", "specnet": "logmel"}
"""Feature set each network reads unless told otherwise; classic models default to ``stats``."""
_CLASSIC_DEFAULT = "stats"
_EXECUTION = ("threads", "verbose")


def feature_key(spec: Mapping[str, Any]) -> str:
    """Short readable key of a feature spec: its name, plus its settings when they differ
    from the extractor's defaults (``"logmel"``, ``"stats{...}"``)."""
    from ..features import get_extractor, spec_of

    defaults = spec_of(get_extractor(spec["name"]))["params"]
    changed = {k: v for k, v in spec.get("params", {}).items() if defaults.get(k) != v}
    if not changed:
        return str(spec["name"])
    return f"{spec['name']}{json.dumps(changed, sort_keys=True, separators=(',', ':'))}"


@dataclass(frozen=True)
class Member:
    """One model of a plan and the feature set it reads."""

    name: str
    """Unique within the plan: the model name, or ``model@features`` for a repeated model."""
    model: str
    """Zoo name (``svm``, ``specnet`` ...)."""
    features: dict[str, Any]
    """Full feature spec (``{"name": ..., "params": {...}}``)."""

    @property
    def key(self) -> str:
        """The input key this member reads (see :func:`feature_key`)."""
        return feature_key(self.features)

    @property
    def neural(self) -> bool:
        """Whether this member is a torch network."""
        return self.model in NEURAL_MODELS


def _spec_for(model: str, features: Any) -> dict[str, Any]:
    from ..features import get_extractor, spec_of

    chosen = features if features is not None else DEFAULT_FEATURES.get(model, _CLASSIC_DEFAULT)
    extractor = get_extractor(chosen)
    kind = getattr(extractor, "kind", "vector")
    wants = "sequence" if model == "specnet" else "vector"
    if kind != wants:
        reads = "log-mel frame sequences (logmel)" if wants == "sequence" else "feature vectors"
        raise ParameterError(
            f"model {model!r} reads {reads}, but feature set {extractor.name!r} gives {kind}s"
        )
    return spec_of(extractor)


def plan_model(model: str, features: Any = None) -> list[Member]:
    """The members of a model name, each with its feature spec.

    Parameters
    ----------
    model : str
        ``"mlp"``, ``"specnet"``, ``"ensemble:specnet+svm@compare"`` ...
    features : str, dict or None
        Feature set for members that do not name one; ``None`` gives each its default.

    Returns
    -------
    members : list of Member
        One for a plain model; two or more for an ensemble.

    Raises
    ------
    ParameterError
        Unknown model or feature set, a network given features it cannot read, or an
        ensemble with fewer than two members or a repeated member.

    Examples
    --------
    >>> [(m.name, m.key) for m in plan_model("ensemble:mlp+svm@compare")]
    [('mlp', 'stats'), ('svm', 'compare')]
    """
    if not isinstance(model, str) or not model.strip():
        raise ParameterError(f"model must be a non-empty name, got {model!r}")
    text = model.strip()
    known = ", ".join((*MODELS, *NEURAL_MODELS))
    if not text.startswith(ENSEMBLE_PREFIX):
        if "@" in text or "+" in text:
            raise ParameterError(
                f"{text!r}: '+' and '@' belong in an ensemble, e.g. 'ensemble:specnet+svm@compare'"
            )
        if text not in MODELS and text not in NEURAL_MODELS:
            raise ParameterError(f"unknown model {text!r}; choose from {known} or ensemble:A+B")
        return [Member(text, text, _spec_for(text, features))]
    parts = [p.strip() for p in text[len(ENSEMBLE_PREFIX) :].split("+")]
    if len(parts) < 2 or not all(parts):
        raise ParameterError(f"{text!r}: an ensemble needs two or more members, 'ensemble:A+B'")
    members: list[Member] = []
    for part in parts:
        name, _, own = part.partition("@")
        if name not in MODELS and name not in NEURAL_MODELS:
            raise ParameterError(f"{text!r}: unknown member {name!r}; choose from {known}")
        spec = _spec_for(name, own or (None if name in NEURAL_MODELS else features))
        members.append(Member(name, name, spec))
    counts: dict[str, int] = {}
    for m in members:
        counts[m.model] = counts.get(m.model, 0) + 1
    members = [
        Member(f"{m.model}@{m.key}", m.model, m.features) if counts[m.model] > 1 else m
        for m in members
    ]
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ParameterError(f"{text!r}: a member appears twice with the same features")
    return members


def _member_params(
    members: list[Member], params: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Split overrides per member: plain names for a single model, ``member__name`` in an
    ensemble (``threads`` and ``verbose`` reach every network)."""
    out: dict[str, dict[str, Any]] = {m.name: {} for m in members}
    if not params:
        return out
    if not isinstance(params, Mapping):
        raise ParameterError(f"params must be a mapping of name to value, got {params!r}")
    if len(members) == 1:
        out[members[0].name] = dict(params)
        return out
    for key, value in params.items():
        if key in _EXECUTION:
            for m in members:
                if m.neural:
                    out[m.name][key] = value
            continue
        owner, sep, rest = str(key).partition("__")
        if not sep or owner not in out:
            raise ParameterError(
                f"parameter {key!r}: in an ensemble, prefix it with the member it is for "
                f"({', '.join(out)}), e.g. '{members[0].name}__{key}'"
            )
        out[owner][rest] = value
    return out


def build_estimator(
    members: list[Member],
    params: Mapping[str, Any] | None = None,
    *,
    random_state: int = RANDOM_STATE,
    execution: Mapping[str, Any] | None = None,
) -> Any:
    """A fresh, unfitted estimator for a plan: the member's own model, or a
    :class:`~serkit.models.ProbabilityEnsemble` whose members read their feature keys.

    ``execution`` (``threads``, ``verbose``) is applied to every network and never
    to classic members.
    """
    from ._ensemble import ProbabilityEnsemble

    per_member = _member_params(members, params)
    built = []
    for m in members:
        own = dict(per_member[m.name])
        if m.neural:
            own.update({k: v for k, v in (execution or {}).items() if v is not None})
        built.append((m.name, make_model(m.model, params=own, random_state=random_state)))
    if len(built) == 1:
        return built[0][1]
    return ProbabilityEnsemble(built, inputs={m.name: m.key for m in members})
