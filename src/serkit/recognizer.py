"""EmotionRecognizer: a feature spec, a fitted model and its label set, saved as one safe bundle.

The recognizer is the unit of deployment. It fits on feature matrices (so it
plugs into scikit-learn tools), and predicts from audio files or signals by
extracting the same features it was trained on.

A saved bundle is a folder: ``model.json`` (readable manifest: classes,
feature spec, model name and parameters, training summary, metrics, library
versions, SHA-256 of the weights) and the weights. A classic model is one
``pipeline.skops`` (format 1); networks and ensembles (format 2) keep one entry
per member under ``members/``: skops files for classic members, safetensors +
JSON for networks. Loading never unpickles: skops rebuilds only the types on an
explicit allow list and refuses anything else, safetensors holds plain tensors,
and every file's SHA-256 is checked, so a tampered bundle cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from . import audio
from ._errors import BundleError, ParameterError, SerkitWarning
from ._inputs import n_rows, stack_rows, standardize_rows
from ._manifest import bundle_file, check_bundle_manifest, read_json_manifest
from ._threads import one_blas_thread
from ._version import __version__
from .features import extract_files, get_extractor
from .models import make_model, speaker_standardize
from .models._plan import Member, build_estimator, plan_model

__all__ = [
    "TRUSTED_TYPES",
    "BundleError",
    "EmotionRecognizer",
    "Prediction",
    "default_model_path",
    "describe_manifest",
    "library_versions",
    "read_manifest",
    "resolve_model_path",
]

BUNDLE_FORMAT = "serkit-bundle"
BUNDLE_VERSION = 2
"""Newest format written: 1 for a classic model (unchanged since 0.1), 2 for networks and
ensembles."""
WEIGHTS_FILE = "pipeline.skops"
SESSION_WEIGHTS_FILE = "session_pipeline.skops"
MANIFEST_FILE = "model.json"

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
)
"""Types beyond skops' own defaults that a serkit bundle may contain; nothing else loads."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved model depends on."""
    import sklearn

    versions = {"serkit": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    for name in ("librosa", "opensmile", "skops"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # not installed: nothing to record
            continue
    return versions


@dataclass
class Prediction:
    """The result for one input: the emotion, its confidence, all probabilities, or the error."""

    path: str
    """The file (or ``"<signal>"``)."""
    emotion: str | None = None
    """Most probable class; ``None`` when the input failed."""
    confidence: float | None = None
    """Its probability in [0, 1]."""
    probabilities: dict[str, float] = field(default_factory=dict)
    """Probability per class, in ``classes_`` order."""
    error: str | None = None
    """Why the input could not be used."""

    @property
    def runner_up(self) -> tuple[str, float] | None:
        """Second most probable class and its probability."""
        if len(self.probabilities) < 2:
            return None
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return ranked[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "path": self.path,
            "emotion": self.emotion,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


class EmotionRecognizer(ClassifierMixin, BaseEstimator):
    """Feature set(s) + named model, fitted on features and predicting from audio.

    Parameters
    ----------
    features : str, dict or None
        Feature set spec (see :func:`serkit.features.get_extractor`), e.g.
        ``"seed"`` or ``"stats"``; ``None`` gives each model its default (``stats``
        for classic models, ``seed`` for ``cnn1d``, ``logmel`` for ``specnet``).
    model : str
        A classic model from :data:`serkit.models.MODELS`, a network from
        :data:`serkit.models.NEURAL_MODELS` (needs ``serkit[deep]``), or an
        ensemble ``"ensemble:specnet+svm@compare"`` whose members may name their
        own feature set after ``@`` (see :func:`serkit.models.plan_model`).
    params : dict or None
        Overrides of the model's parameters; in an ensemble, prefixed with the
        member's name (``"svm__C"``).
    random_state : int
        Seed for the model.
    threads : int or None
        Torch threads for networks while fitting and predicting (not saved).
    verbose : bool
        Show each network's training progress (loss and validation UAR per epoch).

    Attributes
    ----------
    classes_ : np.ndarray of str
        Class labels, sorted; ``predict_proba`` columns follow this order.
    pipeline_ : estimator
        The fitted model: a scaler + classifier pipeline, a ``TorchClassifier`` or
        a ``ProbabilityEnsemble``.
    members_ : list of Member
        The model's members and the feature set each reads.
    input_specs_ : dict of str to dict
        Feature key -> spec of every feature set the model reads.
    feature_spec_ : dict or None
        The spec when the model reads one feature set, else ``None``.
    n_features_in_ : int
        Width of the feature matrix seen in ``fit`` (single vector input).
    metadata_ : dict
        Training summary and metrics stored with the bundle.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (20, 180)), rng.normal(2, 1, (20, 180))])
    >>> y = ["calm"] * 20 + ["angry"] * 20
    >>> rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    >>> [str(c) for c in rec.classes_], rec.predict_proba(X[:1]).shape
    (['angry', 'calm'], (1, 2))
    """

    def __init__(
        self,
        features: str | Mapping[str, Any] | None = None,
        model: str = "mlp",
        *,
        params: Mapping[str, Any] | None = None,
        random_state: int = 0,
        threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.features = features
        self.model = model
        self.params = params
        self.random_state = random_state
        self.threads = threads
        self.verbose = verbose

    # --------------------------------------------------------------- fitting
    def fit(
        self, X: Any, y: Sequence[str], *, groups: Sequence[str] | None = None
    ) -> EmotionRecognizer:
        """Fit on features and labels.

        ``X`` is a matrix [shape=(n_clips, n_features)] or, for ``specnet``, a list
        of frame arrays; a model reading several feature sets takes a mapping from
        feature key (see ``input_specs_``) to those.

        With ``groups`` (the speaker of each clip) networks draw their validation
        speakers from them, and a second, session-normalised model is fitted on
        features z-scored per speaker (:func:`serkit.models.speaker_standardize`);
        ``predict_proba(X, sessions=...)`` then uses it for clips known to share a
        speaker. In an ensemble only the classic members are refitted for it; a
        model made of networks alone has no session part.
        """
        members = plan_model(self.model, self.features)
        self.members_ = members
        self.input_specs_ = {m.key: m.features for m in members}
        self.feature_spec_ = members[0].features if len(self.input_specs_) == 1 else None
        data = self._model_input(X)
        labels = np.asarray(y).astype(str)
        estimator = build_estimator(
            members,
            self.params,
            random_state=self.random_state,
            execution={"threads": self.threads, "verbose": self.verbose},
        )
        takes_groups = any(m.neural for m in members)
        if groups is not None and takes_groups:
            estimator.fit(data, labels, groups=np.asarray(groups).astype(str))
        else:
            estimator.fit(data, labels)
        self.pipeline_ = estimator
        self.session_pipeline_ = None
        self._session_source = None
        if groups is not None and any(not m.neural for m in members):
            self.session_pipeline_ = self._fit_session(data, labels, np.asarray(groups).astype(str))
        self.classes_ = np.asarray(estimator.classes_)
        self.n_features_in_ = int(np.shape(data)[1]) if isinstance(data, np.ndarray) else None
        self.metadata_: dict[str, Any] = getattr(self, "metadata_", {})
        return self

    def _fit_session(self, data: Any, labels: np.ndarray, groups: np.ndarray) -> Any:
        """The session-normalised model: classic members refitted on per-speaker
        z-scores; networks are shared with the global model."""
        if len(self.members_) == 1:
            session = make_model(self.model, params=self.params, random_state=self.random_state)
            return session.fit(speaker_standardize(data, groups), labels)
        from sklearn.base import clone

        fitted = dict(self.pipeline_.members_)
        standardized = standardize_rows(data, groups)
        session_members = []
        for member in self.members_:
            if member.neural:
                session_members.append((member.name, fitted[member.name]))
            else:
                model = clone(fitted[member.name])
                session_members.append((member.name, model.fit(standardized[member.key], labels)))
        return _assembled(self.pipeline_, session_members, self._session_inputs())

    def _session_inputs(self) -> dict[str, str]:
        """Keys the session ensemble reads: z-scored copies for classic members."""
        return {m.name: m.key if m.neural else f"{m.key}#session" for m in self.members_}

    def _model_input(self, X: Any) -> Any:
        """``X`` as the fitted model reads it: one input, or a mapping for an ensemble."""
        keys = list(self.input_specs_)
        if isinstance(X, Mapping):
            missing = [k for k in keys if k not in X]
            if missing:
                raise ParameterError(
                    f"X lacks the feature set(s) {', '.join(missing)}; "
                    f"this model reads {', '.join(keys)}"
                )
            data = {k: _as_input(X[k]) for k in keys}
        elif len(keys) == 1:
            data = {keys[0]: _as_input(X)}
        else:
            raise ParameterError(
                f"this model reads several feature sets ({', '.join(keys)}); "
                "give X as a mapping from each to its features"
            )
        n_rows(data)  # raises when the inputs disagree on the number of clips
        return data[keys[0]] if len(self.members_) == 1 else data

    @property
    def supports_sessions(self) -> bool:
        """True when a session-normalised model was fitted (``fit(..., groups=...)``)."""
        return (
            getattr(self, "session_pipeline_", None) is not None
            or getattr(self, "_session_source", None) is not None
        )

    def _session_model(self) -> Any:
        """The session-normalised pipeline, rebuilt from the bundle on first use."""
        if getattr(self, "session_pipeline_", None) is None and getattr(
            self, "_session_source", None
        ):
            folder, entry = self._session_source
            self.session_pipeline_ = _load_weights(folder, entry)
        return self.session_pipeline_

    def predict_proba(self, X: Any, *, sessions: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities [shape=(n, n_classes)], columns in ``classes_`` order.

        Parameters
        ----------
        X : np.ndarray, list of np.ndarray, or mapping
            Features as in :meth:`fit`.
        sessions : sequence of str or None
            Session (speaker, call) of each row. Given, each session's rows are
            z-scored together and the session-normalised model predicts; a session
            needs several clips for useful statistics (a warning below 5).

        Raises
        ------
        ParameterError
            ``sessions`` given but the model has no session-normalised part, or of
            the wrong length; ``X`` lacks a feature set the model reads.
        """
        check_is_fitted(self, "pipeline_")
        data = self._model_input(X)
        if sessions is None:
            return self.pipeline_.predict_proba(data)
        if not self.supports_sessions:
            raise ParameterError(
                "this model has no session-normalised part; train a classic model or an "
                "ensemble with a classic member, with speaker groups (serkit train does), "
                "to use session normalisation"
            )
        groups = np.asarray(sessions).astype(str)
        count = n_rows(data)
        if groups.shape[0] != count:
            raise ParameterError(f"sessions has {groups.shape[0]} entries for {count} feature rows")
        names, counts = np.unique(groups, return_counts=True)
        small = [f"{n} ({c})" for n, c in zip(names, counts, strict=True) if c < 5]
        if small:
            warnings.warn(
                "session normalisation with fewer than 5 clips per session is unreliable: "
                + ", ".join(small[:10]),
                SerkitWarning,
                stacklevel=2,
            )
        if len(self.members_) == 1:
            return self._session_model().predict_proba(speaker_standardize(data, groups))
        session_data = dict(data)
        for member in self.members_:
            if not member.neural:
                session_data[f"{member.key}#session"] = speaker_standardize(
                    data[member.key], groups
                )
        return self._session_model().predict_proba(session_data)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # --------------------------------------------------------------- audio in
    def _to_predictions(self, names: Sequence[str], proba: np.ndarray) -> list[Prediction]:
        out = []
        for name, row in zip(names, proba, strict=True):
            best = int(np.argmax(row))
            out.append(
                Prediction(
                    path=name,
                    emotion=str(self.classes_[best]),
                    confidence=float(row[best]),
                    probabilities={
                        str(c): float(p) for c, p in zip(self.classes_, row, strict=True)
                    },
                )
            )
        return out

    def features_of(self, signal: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        """Every feature set the model reads, for one checked signal: key -> vector or frames.

        One BLAS thread, as in batch extraction, so a file gives the same numbers
        through every prediction path. Join several with :func:`serkit._inputs.stack_rows`
        for :meth:`predict_proba`.
        """
        check_is_fitted(self, "pipeline_")
        with one_blas_thread():
            return {
                key: np.asarray(get_extractor(spec).extract(signal, rate), np.float32)
                for key, spec in self.input_specs_.items()
            }

    def predict_signal(self, y: np.ndarray, sr: int, *, name: str = "<signal>") -> Prediction:
        """Predict one in-memory signal (any rate, mono or channels-first).

        Raises
        ------
        AudioError
            If the signal cannot be used (silent, too short ...).
        """
        check_is_fitted(self, "pipeline_")
        signal, rate = audio.prepare_signal(y, sr, source=name)
        row = self.features_of(signal, rate)
        return self._to_predictions([name], self.predict_proba(stack_rows([row])))[0]

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Predict one audio file; raises :class:`AudioError` if it cannot be used."""
        check_is_fitted(self, "pipeline_")
        signal, rate = audio.load(path)
        row = self.features_of(signal, rate)
        return self._to_predictions([os.fspath(path)], self.predict_proba(stack_rows([row])))[0]

    def predict_files(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        sessions: Sequence[str] | None = None,
        jobs: int | None = 1,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = False,
    ) -> list[Prediction]:
        """Predict many files; a file that fails gets a Prediction with ``error`` set.

        Results come back in input order, one per path; none is lost. With
        ``sessions`` (one label per path) the files of each session are
        normalised together (see :meth:`predict_proba`).
        """
        check_is_fitted(self, "pipeline_")
        path_list = [Path(p) for p in paths]
        if sessions is not None and len(sessions) != len(path_list):
            raise ParameterError(f"sessions has {len(sessions)} entries for {len(path_list)} files")
        errors: dict[int, str] = {}
        extracted = {}
        for key, spec in self.input_specs_.items():
            result = extract_files(
                path_list, spec, jobs=jobs, cache_dir=cache_dir, progress=progress
            )
            for index, message in result.errors.items():
                errors.setdefault(index, message)
            extracted[key] = result.values
        out: list[Prediction] = [
            Prediction(path=str(p), error=errors.get(i)) for i, p in enumerate(path_list)
        ]
        ok = [i for i in range(len(path_list)) if i not in errors]
        if ok:
            X = {key: stack_rows([values[i] for i in ok]) for key, values in extracted.items()}
            groups = None if sessions is None else [str(sessions[i]) for i in ok]
            proba = self.predict_proba(X, sessions=groups)
            names = [str(path_list[i]) for i in ok]
            for index, pred in zip(ok, self._to_predictions(names, proba), strict=True):
                out[index] = pred
        return out

    # -------------------------------------------------------------- bundles
    @property
    def _classic(self) -> bool:
        """One classic model: saved in the original single-file format."""
        return len(self.members_) == 1 and not self.members_[0].neural

    def save(self, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the bundle folder (``model.json`` + weights); returns its path."""
        check_is_fitted(self, "pipeline_")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {**getattr(self, "metadata_", {}), **(metadata or {})}
        common = {
            "format": BUNDLE_FORMAT,
            "classes": [str(c) for c in self.classes_],
            "sample_rate": audio.SAMPLE_RATE,
            "model": {
                "name": self.model,
                "params": dict(self.params or {}),
                "random_state": self.random_state,
            },
        }
        if self._classic:
            sio = _skops()
            weights = _stable_zip(sio.dumps(_for_inference(self.pipeline_)))
            (folder / WEIGHTS_FILE).write_bytes(weights)
            session_entry = None
            if self.supports_sessions:
                session_entry = _write_skops(folder, SESSION_WEIGHTS_FILE, self._session_model())
            manifest = {
                "format": BUNDLE_FORMAT,
                "format_version": 1,
                "classes": common["classes"],
                "features": self.feature_spec_,
                "n_features": int(self.n_features_in_),
                "sample_rate": audio.SAMPLE_RATE,
                "model": common["model"],
                "weights": {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(weights).hexdigest()},
                "session_weights": session_entry,
                "versions": library_versions(),
                **meta,
            }
        else:
            manifest = {
                **common,
                "format_version": 2,
                "features": self.feature_spec_ or list(self.input_specs_.values()),
                "inputs": self.input_specs_,
                "members": self._save_members(folder),
                "versions": {**library_versions(), **_torch_version(self.members_)},
                **meta,
            }
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return folder

    def _save_members(self, folder: Path) -> list[dict[str, Any]]:
        """One entry per member: a network folder or skops files under ``members/``."""
        models = (
            dict(self.pipeline_.members_)
            if len(self.members_) > 1
            else {self.members_[0].name: self.pipeline_}
        )
        sessions = {}
        if self.supports_sessions and len(self.members_) > 1:
            sessions = dict(self._session_model().members_)
        entries = []
        for member in self.members_:
            stem = f"members/{_safe_name(member.name)}"
            entry: dict[str, Any] = {
                "name": member.name,
                "model": member.model,
                "input": member.key,
            }
            if member.neural:
                from .models import save_torch

                save_torch(models[member.name], folder / stem)
                manifest_file = f"{stem}/network.json"
                entry["kind"] = "network"
                entry["weights"] = {
                    "file": manifest_file,
                    "sha256": hashlib.sha256((folder / manifest_file).read_bytes()).hexdigest(),
                }
                entry["session_weights"] = None
            else:
                (folder / "members").mkdir(exist_ok=True)
                entry["kind"] = "skops"
                entry["weights"] = _write_skops(folder, f"{stem}.skops", models[member.name])
                entry["session_weights"] = (
                    _write_skops(folder, f"{stem}.session.skops", sessions[member.name])
                    if member.name in sessions
                    else None
                )
            entries.append(entry)
        return entries

    @classmethod
    def load(cls, path: str | os.PathLike) -> EmotionRecognizer:
        """Load a bundle folder, refusing tampered weights and untrusted types.

        Raises
        ------
        BundleError
            Missing files, malformed manifest, checksum mismatch, or types not on
            the allow list (nothing from the file is executed).
        """

        folder = Path(path)
        manifest = read_manifest(folder)
        _warn_on_version_change(folder, manifest.get("versions", {}))
        model = manifest["model"]
        rec = cls(
            features=manifest["features"] if isinstance(manifest["features"], dict) else None,
            model=model["name"],
            params=model.get("params") or None,
            random_state=model.get("random_state", 0),
        )
        rec.session_pipeline_ = None
        rec._session_source = None
        if int(manifest.get("format_version", 1)) < 2:
            pipeline = _load_weights(folder, manifest["weights"])
            session = manifest.get("session_weights")
            if session:
                _verified_bytes(folder, session)  # checked now, rebuilt on first use
            rec.pipeline_ = pipeline
            rec._session_source = (folder, session) if session else None
            rec.feature_spec_ = manifest["features"]
            rec.members_ = [Member(model["name"], model["name"], manifest["features"])]
            rec.input_specs_ = {rec.members_[0].key: manifest["features"]}
            rec.n_features_in_ = int(manifest["n_features"])
        else:
            rec._load_members(folder, manifest)
        rec.classes_ = np.asarray(manifest["classes"])
        if list(map(str, rec.pipeline_.classes_)) != manifest["classes"]:
            raise BundleError(f"{folder}: classes in model.json do not match the weights")
        known = {"format", "format_version", "classes", "features", "n_features", "sample_rate",
                 "model", "weights", "session_weights", "versions", "inputs",
                 "members"}  # fmt: skip
        rec.metadata_ = {k: v for k, v in manifest.items() if k not in known}
        return rec

    def _load_members(self, folder: Path, manifest: Mapping[str, Any]) -> None:
        """Rebuild a format-2 bundle: every member checked against model.json first."""
        inputs = manifest.get("inputs")
        entries = manifest.get("members")
        if not isinstance(inputs, dict) or not isinstance(entries, list) or not entries:
            raise BundleError(f"{folder / MANIFEST_FILE}: 'inputs' or 'members' is malformed")
        members, fitted, sessions = [], [], []
        for entry in entries:
            try:
                name, model_name, key, kind = (
                    str(entry["name"]), str(entry["model"]), str(entry["input"]), entry["kind"]
                )  # fmt: skip
                spec = inputs[key]
            except (KeyError, TypeError) as exc:
                raise BundleError(f"{folder / MANIFEST_FILE}: a member entry is malformed") from exc
            members.append(Member(name, model_name, spec))
            if kind == "network":
                from .models import load_torch

                weights = entry["weights"]
                _verified_bytes(folder, weights)
                fitted.append((name, load_torch((folder / weights["file"]).parent)))
                sessions.append((name, fitted[-1][1]))
            elif kind == "skops":
                fitted.append((name, _load_weights(folder, entry["weights"])))
                if entry.get("session_weights"):
                    sessions.append((name, _load_weights(folder, entry["session_weights"])))
            else:
                raise BundleError(f"{folder / MANIFEST_FILE}: unknown member kind {kind!r}")
        self.members_ = members
        self.input_specs_ = {m.key: m.features for m in members}
        self.feature_spec_ = members[0].features if len(self.input_specs_) == 1 else None
        self.n_features_in_ = None
        if len(members) == 1:
            self.pipeline_ = fitted[0][1]
            return
        from .models import ProbabilityEnsemble

        template = ProbabilityEnsemble(fitted, inputs={m.name: m.key for m in members})
        self.pipeline_ = _assembled(template, fitted, {m.name: m.key for m in members})
        if any(not m.neural for m in members) and len(sessions) == len(members):
            self.session_pipeline_ = _assembled(template, sessions, self._session_inputs())


def _as_input(X: Any) -> Any:
    """Vectors as a float64 matrix; frame sequences as a list of float32 arrays."""
    if isinstance(X, list | tuple):
        return [np.asarray(x, dtype=np.float32) for x in X]
    return np.asarray(X, dtype=np.float64)


def _assembled(template: Any, members: list[tuple[str, Any]], inputs: Mapping[str, str]) -> Any:
    """A fitted ProbabilityEnsemble made of already-fitted members (no refit)."""
    from .models import ProbabilityEnsemble

    ensemble = ProbabilityEnsemble(
        list(template.members), inputs=dict(inputs), weights=template.weights
    )
    ensemble.members_ = list(members)
    ensemble.classes_ = np.asarray(members[0][1].classes_)
    return ensemble


def _safe_name(name: str) -> str:
    """A member name as a file name (``svm@compare`` -> ``svm-compare``)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "member"


def _write_skops(folder: Path, file: str, estimator: Any) -> dict[str, str]:
    """Write one reproducible skops file; returns its manifest entry."""
    weights = _stable_zip(_skops().dumps(_for_inference(estimator)))
    (folder / file).write_bytes(weights)
    return {"file": file, "sha256": hashlib.sha256(weights).hexdigest()}


def _torch_version(members: Sequence[Member]) -> dict[str, str]:
    if not any(m.neural for m in members):
        return {}
    import torch

    return {"torch": torch.__version__.split("+")[0]}


def default_model_path() -> Path:
    """Folder of the model that ships inside the package (``serkit info default``).

    Raises
    ------
    BundleError
        If this installation has no default model.
    """
    from importlib.resources import files

    folder = Path(str(files("serkit").joinpath("models", "default")))
    if not (folder / MANIFEST_FILE).is_file():
        raise BundleError(
            f"{folder}: this serkit installation ships no default model; "
            "pass a model folder written by 'serkit train'"
        )
    return folder


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """``None`` or ``"default"`` -> the packaged default model; otherwise the folder given."""
    if model is None or str(model) == "default":
        return default_model_path()
    return Path(model)


def _skops() -> Any:
    """Import ``skops.io`` without letting it import torch.

    skops lists scikit-learn's estimators by walking every sklearn module, and the
    walk imports ``sklearn.externals.array_api_compat.torch``, which imports torch
    wherever it is installed (about 230 MB and seconds). A placeholder for that one
    module stands in during the import; no serkit bundle holds torch objects.
    """
    import sys
    import types

    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    name = "sklearn.externals.array_api_compat.torch"
    placeholder = types.ModuleType(name)
    added = name not in sys.modules
    if added:
        sys.modules[name] = placeholder
    try:
        import skops.io
    finally:
        if added and sys.modules.get(name) is placeholder:
            del sys.modules[name]
    return skops.io


def _for_inference(pipeline: Any) -> Any:
    """A copy without training-only state (the MLP's optimizer moments: 2/3 of its size)."""
    import copy

    slim = copy.deepcopy(pipeline)
    for step in getattr(slim, "named_steps", {}).values():
        if getattr(step, "_optimizer", None) is not None:
            step._optimizer = None
    return slim


def _stable_zip(data: bytes) -> bytes:
    """Make a skops file reproducible: the same model gives the same bytes in any process.

    skops names arrays and memo entries after ``id()`` of the objects and stamps
    zip entries with the current time; both are replaced by sequence numbers and
    a fixed date, consistently in ``schema.json`` and the member names.
    """
    import io
    import re
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    schema = src.read("schema.json").decode()
    numbers: dict[str, str] = {}
    for match in re.finditer(r'"__id__": (\d+)|"(\d+)\.npy"', schema):
        number = match.group(1) or match.group(2)
        numbers.setdefault(number, str(len(numbers) + 1))

    def renumber(match: re.Match) -> str:
        if match.group(1):
            return f'"__id__": {numbers[match.group(1)]}'
        return f'"{numbers[match.group(2)]}.npy"'

    members = {"schema.json": re.sub(r'"__id__": (\d+)|"(\d+)\.npy"', renumber, schema).encode()}
    for info in src.infolist():
        if info.filename == "schema.json":
            continue
        stem, dot, ext = info.filename.partition(".")
        name = f"{numbers.get(stem, stem)}{dot}{ext}"
        members[name] = src.read(info.filename)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(members):
            fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, members[name])
    return out.getvalue()


def _verified_bytes(folder: Path, entry: Mapping[str, Any]) -> bytes:
    """Read one weights file named in the manifest and check its SHA-256."""
    weights_path = bundle_file(folder, entry.get("file"))
    try:
        weights = weights_path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{weights_path}: cannot read the model weights ({exc})") from exc
    if hashlib.sha256(weights).hexdigest() != entry.get("sha256"):
        raise BundleError(
            f"{weights_path}: checksum does not match model.json; the bundle was modified"
        )
    return weights


def _load_weights(folder: Path, entry: Mapping[str, Any]) -> Any:
    """Rebuild one skops file named in the manifest, after checksum and type checks."""
    sio = _skops()

    weights_path = bundle_file(folder, entry.get("file"))
    weights = _verified_bytes(folder, entry)
    try:
        untrusted = set(sio.get_untrusted_types(data=weights))
    except Exception as exc:
        raise BundleError(f"{weights_path}: not a valid skops file ({exc})") from exc
    unexpected = sorted(untrusted - set(TRUSTED_TYPES))
    if unexpected:
        raise BundleError(
            f"{weights_path}: refusing to load types that are not on serkit's allow list: "
            + ", ".join(unexpected)
        )
    try:
        return sio.loads(weights, trusted=sorted(untrusted))
    except Exception as exc:
        raise BundleError(f"{weights_path}: cannot rebuild the model ({exc})") from exc


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check a bundle's ``model.json`` without loading the weights."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a model folder (it does not exist or is a file)")
    manifest = read_json_manifest(
        folder / MANIFEST_FILE,
        fmt=BUNDLE_FORMAT,
        version=BUNDLE_VERSION,
        required=("classes", "features", "model"),
        what="model manifest",
    )
    more = ("weights", "n_features") if int(manifest.get("format_version", 1)) < 2 else (
        "inputs", "members")  # fmt: skip
    for key in more:
        if key not in manifest:
            raise BundleError(f"{folder / MANIFEST_FILE}: the model manifest lacks {key!r}")
    check_bundle_manifest(folder, manifest)  # types, and files confined to the folder
    return manifest


def describe_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a manifest that every kind of bundle has, in one shape.

    Returns ``feature_sets`` (list of specs), ``n_features`` (width of a single
    vector input, else ``None``), ``members`` (name, model and input of each),
    ``weights_sha256`` (the weights' SHA-256; for several files, the SHA-256 of
    their checksums joined) and ``sessions`` (whether ``--session-norm`` works).
    """
    if int(manifest.get("format_version", 1)) < 2:
        spec = manifest["features"]
        return {
            "feature_sets": [spec],
            "n_features": int(manifest["n_features"]),
            "members": [
                {
                    "name": manifest["model"]["name"],
                    "model": manifest["model"]["name"],
                    "input": spec.get("name"),
                }
            ],
            "weights_sha256": str(manifest["weights"].get("sha256", "")),
            "sessions": bool(manifest.get("session_weights")),
        }
    members = list(manifest["members"])
    digests = "".join(
        str(m["weights"].get("sha256", "")) + str((m.get("session_weights") or {}).get("sha256"))
        for m in members
    )
    return {
        "feature_sets": list(manifest["inputs"].values()),
        "n_features": None,
        "members": [{k: m.get(k) for k in ("name", "model", "input")} for m in members],
        "weights_sha256": hashlib.sha256(digests.encode()).hexdigest(),
        "sessions": any(m.get("session_weights") for m in members),
    }


def _warn_on_version_change(folder: Path, saved: Mapping[str, str]) -> None:
    current = library_versions()
    changed = [
        f"{name} {saved[name]} -> {current[name]}"
        for name in ("serkit", "scikit-learn", "numpy", "librosa", "opensmile")
        if name in saved and name in current and saved[name] != current[name]
    ]
    if changed:
        warnings.warn(
            f"{folder}: saved with other library versions ({', '.join(changed)}); "
            "predictions may differ slightly",
            SerkitWarning,
            stacklevel=3,
        )
