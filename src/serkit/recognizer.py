"""EmotionRecognizer: a feature spec, a fitted model and its label set, saved as one safe bundle.

The recognizer is the unit of deployment. It fits on feature matrices (so it
plugs into scikit-learn tools), and predicts from audio files or signals by
extracting the same features it was trained on.

A saved bundle is a folder: ``model.json`` (readable manifest: classes,
feature spec, model name and parameters, training summary, metrics, library
versions, SHA-256 of the weights) and ``pipeline.skops``. Loading never
unpickles: skops rebuilds only the types on an explicit allow list and refuses
anything else, so a tampered bundle cannot run code.
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
from ._manifest import read_json_manifest
from ._threads import one_blas_thread
from ._version import __version__
from .features import extract_files, get_extractor, spec_of
from .models import make_model, speaker_standardize

__all__ = [
    "TRUSTED_TYPES",
    "BundleError",
    "EmotionRecognizer",
    "Prediction",
    "default_model_path",
    "library_versions",
    "read_manifest",
    "resolve_model_path",
]

BUNDLE_FORMAT = "serkit-bundle"
BUNDLE_VERSION = 1
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
    """Feature set + named classic model, fitted on features and predicting from audio.

    Parameters
    ----------
    features : str or dict
        Feature set spec (see :func:`serkit.features.get_extractor`), e.g.
        ``"seed"`` or ``"stats"``.
    model : str
        Model name from :data:`serkit.models.MODELS`.
    params : dict or None
        Overrides of the model's parameters.
    random_state : int
        Seed for the model.

    Attributes
    ----------
    classes_ : np.ndarray of str
        Class labels, sorted; ``predict_proba`` columns follow this order.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted scaler + classifier.
    n_features_in_ : int
        Width of the feature matrix seen in ``fit``.
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
        features: str | Mapping[str, Any] = "seed",
        model: str = "mlp",
        *,
        params: Mapping[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.model = model
        self.params = params
        self.random_state = random_state

    # --------------------------------------------------------------- fitting
    def fit(
        self, X: np.ndarray, y: Sequence[str], *, groups: Sequence[str] | None = None
    ) -> EmotionRecognizer:
        """Fit on a feature matrix [shape=(n_clips, n_features)] and labels.

        With ``groups`` (the speaker of each clip) a second, session-normalised
        model is fitted too, on features z-scored per speaker
        (:func:`serkit.models.speaker_standardize`); ``predict_proba(X,
        sessions=...)`` then uses it for clips known to share a speaker.
        """
        extractor = get_extractor(self.features)
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y).astype(str)
        pipeline = make_model(self.model, params=self.params, random_state=self.random_state)
        pipeline.fit(X, labels)
        self.session_pipeline_ = None
        self._session_source = None
        if groups is not None:
            session = make_model(self.model, params=self.params, random_state=self.random_state)
            session.fit(speaker_standardize(X, np.asarray(groups).astype(str)), labels)
            self.session_pipeline_ = session
        self.feature_spec_ = spec_of(extractor)
        self.pipeline_ = pipeline
        self.classes_ = np.asarray(pipeline.classes_)
        self.n_features_in_ = X.shape[1]
        self.metadata_: dict[str, Any] = getattr(self, "metadata_", {})
        return self

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

    def predict_proba(self, X: np.ndarray, *, sessions: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities [shape=(n, n_classes)], columns in ``classes_`` order.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)]
            Feature vectors.
        sessions : sequence of str or None
            Session (speaker, call) of each row. Given, each session's rows are
            z-scored together and the session-normalised model predicts; a session
            needs several clips for useful statistics (a warning below 5).

        Raises
        ------
        ParameterError
            ``sessions`` given but the model has no session-normalised part, or of
            the wrong length.
        """
        check_is_fitted(self, "pipeline_")
        X = np.asarray(X, dtype=np.float64)
        if sessions is None:
            return self.pipeline_.predict_proba(X)
        if not self.supports_sessions:
            raise ParameterError(
                "this model has no session-normalised part; train it with speaker groups "
                "(serkit train does) to use session normalisation"
            )
        groups = np.asarray(sessions).astype(str)
        if groups.shape[0] != X.shape[0]:
            raise ParameterError(
                f"sessions has {groups.shape[0]} entries for {X.shape[0]} feature rows"
            )
        names, counts = np.unique(groups, return_counts=True)
        small = [f"{n} ({c})" for n, c in zip(names, counts, strict=True) if c < 5]
        if small:
            warnings.warn(
                "session normalisation with fewer than 5 clips per session is unreliable: "
                + ", ".join(small[:10]),
                SerkitWarning,
                stacklevel=2,
            )
        return self._session_model().predict_proba(speaker_standardize(X, groups))

    def predict(self, X: np.ndarray) -> np.ndarray:
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

    def _features_of(self, signal: np.ndarray, rate: int) -> np.ndarray:
        """Feature vector of a checked signal, with one BLAS thread as in batch extraction,
        so a file gives the same numbers through every prediction path."""
        with one_blas_thread():
            return np.asarray(get_extractor(self.feature_spec_).extract(signal, rate), np.float32)

    def predict_signal(self, y: np.ndarray, sr: int, *, name: str = "<signal>") -> Prediction:
        """Predict one in-memory signal (any rate, mono or channels-first).

        Raises
        ------
        AudioError
            If the signal cannot be used (silent, too short ...).
        """
        check_is_fitted(self, "pipeline_")
        signal, rate = audio.prepare_signal(y, sr, source=name)
        vector = self._features_of(signal, rate)
        return self._to_predictions([name], self.predict_proba(vector[None, :]))[0]

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Predict one audio file; raises :class:`AudioError` if it cannot be used."""
        check_is_fitted(self, "pipeline_")
        signal, rate = audio.load(path)
        vector = self._features_of(signal, rate)
        return self._to_predictions([os.fspath(path)], self.predict_proba(vector[None, :]))[0]

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
        result = extract_files(
            path_list, self.feature_spec_, jobs=jobs, cache_dir=cache_dir, progress=progress
        )
        out: list[Prediction] = [
            Prediction(path=str(p), error=result.errors.get(i)) for i, p in enumerate(path_list)
        ]
        ok = np.flatnonzero(result.ok)
        if len(ok):
            groups = None if sessions is None else [str(sessions[i]) for i in ok]
            proba = self.predict_proba(result.matrix(), sessions=groups)
            names = [str(path_list[i]) for i in ok]
            for index, pred in zip(ok, self._to_predictions(names, proba), strict=True):
                out[index] = pred
        return out

    # -------------------------------------------------------------- bundles
    def save(self, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the bundle folder (``model.json`` + ``pipeline.skops``); returns its path."""
        sio = _skops()

        check_is_fitted(self, "pipeline_")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        weights = _stable_zip(sio.dumps(_for_inference(self.pipeline_)))
        (folder / WEIGHTS_FILE).write_bytes(weights)
        session_entry = None
        if self.supports_sessions:
            session_weights = _stable_zip(sio.dumps(_for_inference(self._session_model())))
            (folder / SESSION_WEIGHTS_FILE).write_bytes(session_weights)
            session_entry = {
                "file": SESSION_WEIGHTS_FILE,
                "sha256": hashlib.sha256(session_weights).hexdigest(),
            }
        meta = {**getattr(self, "metadata_", {}), **(metadata or {})}
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "classes": [str(c) for c in self.classes_],
            "features": self.feature_spec_,
            "n_features": int(self.n_features_in_),
            "sample_rate": audio.SAMPLE_RATE,
            "model": {
                "name": self.model,
                "params": dict(self.params or {}),
                "random_state": self.random_state,
            },
            "weights": {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(weights).hexdigest()},
            "session_weights": session_entry,
            "versions": library_versions(),
            **meta,
        }
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return folder

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
        pipeline = _load_weights(folder, manifest["weights"])
        session = manifest.get("session_weights")
        if session:
            _verified_bytes(folder, session)  # checked now, rebuilt on first use
        _warn_on_version_change(folder, manifest.get("versions", {}))
        model = manifest["model"]
        rec = cls(
            features=manifest["features"],
            model=model["name"],
            params=model.get("params") or None,
            random_state=model.get("random_state", 0),
        )
        rec.pipeline_ = pipeline
        rec.session_pipeline_ = None
        rec._session_source = (folder, session) if session else None
        rec.feature_spec_ = manifest["features"]
        rec.classes_ = np.asarray(manifest["classes"])
        if list(map(str, pipeline.classes_)) != manifest["classes"]:
            raise BundleError(f"{folder}: classes in model.json do not match the weights")
        rec.n_features_in_ = int(manifest["n_features"])
        known = {"format", "format_version", "classes", "features", "n_features", "sample_rate",
                 "model", "weights", "session_weights", "versions"}  # fmt: skip
        rec.metadata_ = {k: v for k, v in manifest.items() if k not in known}
        return rec


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
    weights_path = folder / str(entry.get("file", ""))
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

    weights_path = folder / str(entry.get("file", ""))
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
    return read_json_manifest(
        folder / MANIFEST_FILE,
        fmt=BUNDLE_FORMAT,
        version=BUNDLE_VERSION,
        required=("classes", "features", "model", "weights", "n_features"),
        what="model manifest",
    )


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
