"""EmotionRecognizer: a feature spec, a fitted model and its label set.

The recognizer is the unit of deployment. It fits on feature matrices (so it
plugs into scikit-learn tools), and predicts from audio files or signals by
extracting the same features it was trained on. It is saved and loaded as a
bundle folder by :mod:`serkit.bundles`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import audio
from ._errors import ParameterError, SerkitWarning
from ._estimator import BaseEstimator, ClassifierMixin, check_is_fitted
from ._inputs import as_matrix, is_sparse, n_rows, stack_rows
from .bundles import read_bundle, speaker_norm_inputs, write_bundle
from .features import extract_files, extract_row, get_extractor
from .models import speaker_normalize
from .results import Prediction, to_predictions

# scikit-learn (training: serkit[train]) is imported in fit, never on the way to a prediction

__all__ = ["EmotionRecognizer", "Prediction"]


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
        speakers from them, and a second, speaker-normalised model is fitted on
        features z-scored per speaker (:func:`serkit.models.speaker_normalize`);
        ``predict_proba(X, speakers=...)`` then uses it for clips known to share a
        speaker. In an ensemble only the classic members are refitted for it; a
        model made of networks alone has no per-speaker part.
        """
        from ._optional import require

        require("sklearn", purpose="training a model")
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        from .models import build_estimator, plan_model

        members = plan_model(self.model, self.features)
        self.members_ = members
        self.input_specs_ = {m.key: m.features for m in members}
        self.feature_spec_ = members[0].features if len(self.input_specs_) == 1 else None
        data = self._model_input(X)
        labels = column_or_1d(y, warn=True)
        check_classification_targets(labels)
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
        self.speaker_norm_pipeline_: Any = None
        self._speaker_norm_source: Callable[[], Any] | None = None
        self.calibration_: dict[str, Any] | None = None
        if groups is not None and any(not m.neural for m in members):
            speakers = np.asarray(groups).astype(str)
            self.speaker_norm_pipeline_ = self._fit_speaker_norm(data, labels, speakers)
        self.classes_ = np.asarray(estimator.classes_)
        self.n_features_in_ = int(np.shape(data)[1]) if isinstance(data, np.ndarray) else None
        self.metadata_: dict[str, Any] = getattr(self, "metadata_", {})
        return self

    def _fit_speaker_norm(self, data: Any, labels: np.ndarray, groups: np.ndarray) -> Any:
        """The speaker-normalised model: classic members refitted on per-speaker
        z-scores; networks are shared with the global model."""
        from .models import ProbabilityEnsemble, make_model

        if len(self.members_) == 1:
            norm_model = make_model(self.model, params=self.params, random_state=self.random_state)
            return norm_model.fit(speaker_normalize(data, groups), labels)
        from sklearn.base import clone

        fitted = dict(self.pipeline_.members_)
        standardized = speaker_normalize(data, groups)
        norm_members = []
        for member in self.members_:
            if member.neural:
                norm_members.append((member.name, fitted[member.name]))
            else:
                model = clone(fitted[member.name])
                norm_members.append((member.name, model.fit(standardized[member.key], labels)))
        return ProbabilityEnsemble.from_fitted(
            norm_members, inputs=speaker_norm_inputs(self.members_), weights=self.pipeline_.weights
        )

    def _model_input(self, X: Any) -> Any:
        """``X`` as the fitted model reads it: one input, or a mapping for an ensemble."""
        keys = list(self.input_specs_)
        if is_sparse(X):  # some sparse containers look like mappings
            as_matrix(X)  # raises, naming sparse input
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
        expected = getattr(self, "n_features_in_", None)
        single = data[keys[0]]
        if expected is not None and isinstance(single, np.ndarray) and single.shape[1] != expected:
            raise ParameterError(
                f"X has {single.shape[1]} features, but EmotionRecognizer is expecting "
                f"{expected} features as input"
            )
        return single if len(self.members_) == 1 else data

    @property
    def supports_speaker_norm(self) -> bool:
        """True when a speaker-normalised model was fitted (``fit(..., groups=...)``)."""
        return (
            getattr(self, "speaker_norm_pipeline_", None) is not None
            or getattr(self, "_speaker_norm_source", None) is not None
        )

    def _speaker_norm_model(self) -> Any:
        """The speaker-normalised pipeline, rebuilt from the bundle on first use."""
        source = getattr(self, "_speaker_norm_source", None)
        if getattr(self, "speaker_norm_pipeline_", None) is None and source is not None:
            self.speaker_norm_pipeline_ = source()
        return self.speaker_norm_pipeline_

    def predict_proba(self, X: Any, *, speakers: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities [shape=(n, n_classes)], columns in ``classes_`` order.

        With a calibration (``calibration_``, fitted by :meth:`calibrate` and saved
        in the bundle), the probabilities are temperature-scaled
        (:func:`serkit.calibration.calibrate_proba`, the session model's own
        temperature for ``speakers``; the arg-max is kept), and, with a shift-aware
        part, flattened for clips unlike the training data (the arg-max over groups of
        classes is kept, calm and neutral being one group, so on such clips the top
        class may move from calm or neutral to another; see
        :func:`serkit.calibration.apply_shift_blend`). Without one they are the model's
        own. Parameters as :meth:`predict_uncalibrated`.
        """
        proba = self._model_proba(X, speakers=speakers)
        calibration = getattr(self, "calibration_", None)
        if calibration:
            from .calibration import calibrate_proba

            proba = calibrate_proba(proba, calibration, X, session=speakers is not None)
        return self._restricted(proba)

    def _restricted(self, proba: np.ndarray) -> np.ndarray:
        matrix = self.__dict__.get("_restriction")
        if matrix is None:
            return proba
        from .answers import restrict_proba

        return restrict_proba(proba, matrix)

    def restrict(self, emotions: Sequence[str] | None) -> EmotionRecognizer:
        """This recognizer answering over ``emotions`` only (``None``: unchanged).

        Every probability it returns is summed onto the set (a class merged into one of
        it, such as calm into neutral, adds to that one) and renormalised over it;
        ``classes_`` becomes ``emotions`` in the order given. A shallow copy: the fitted
        models are shared, the original is unchanged. See :mod:`serkit.answers`.

        Raises
        ------
        ParameterError
            An emotion the model cannot answer, or an empty or repeated list.
        """
        check_is_fitted(self, "pipeline_")
        if emotions is None:
            return self
        import copy

        from .answers import restriction_matrix

        base_classes = self.__dict__.get("_base_classes", self.classes_)
        matrix = restriction_matrix(base_classes, list(emotions))
        view = copy.copy(self)
        view.__dict__["_base_classes"] = base_classes
        view.__dict__["_restriction"] = matrix
        view.classes_ = np.asarray([str(e).strip() for e in emotions])
        return view

    @property
    def uncertain_below_(self) -> float | None:
        """Confidence under which an answer is marked uncertain (from the bundle's
        calibration; None for a model without one)."""
        calibration = getattr(self, "calibration_", None) or {}
        value = calibration.get("uncertain_below")
        return None if value is None else float(value)

    def calibrate(
        self,
        X: Any,
        y: Sequence[str],
        *,
        groups: Sequence[str],
        inner_splits: int = 3,
        shift: Mapping[str, float] | None = None,
    ) -> EmotionRecognizer:
        """Fit temperature scaling on out-of-fold, speaker-grouped predictions of the
        training data (:func:`serkit.calibration.fit_recognizer_calibration`; ``shift``
        adds the shift-aware blend, e.g. ``serkit.calibration.DEFAULT_SHIFT``); stored
        in ``calibration_`` and saved with the bundle. Call after :meth:`fit` with
        the same data."""
        check_is_fitted(self, "pipeline_")
        from .calibration import fit_recognizer_calibration

        self.calibration_ = fit_recognizer_calibration(
            self, X, y, groups=groups, inner_splits=inner_splits, shift=shift
        )
        return self

    def predict_uncalibrated(self, X: Any, *, speakers: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities [shape=(n, n_classes)] before any calibration (restricted
        to the label set of :meth:`restrict`, when one was chosen).

        Parameters
        ----------
        X : np.ndarray, list of np.ndarray, or mapping
            Features as in :meth:`fit`.
        speakers : sequence of str or None
            Speaker of each row (or call, session: any label shared by clips of one voice).
            Given, each speaker's rows are z-scored together and the speaker-normalised
            model predicts; a speaker needs several clips for useful statistics (a
            warning below 5).

        Raises
        ------
        ParameterError
            ``speakers`` given but the model has no speaker-normalised part, or of
            the wrong length; ``X`` lacks a feature set the model reads.
        """
        return self._restricted(self._model_proba(X, speakers=speakers))

    def _model_proba(self, X: Any, *, speakers: Sequence[str] | None = None) -> np.ndarray:
        """The fitted model's probabilities over its own classes."""
        check_is_fitted(self, "pipeline_")
        data = self._model_input(X)
        if speakers is None:
            return self.pipeline_.predict_proba(data)
        if not self.supports_speaker_norm:
            raise ParameterError(
                "this model has no speaker-normalised part; train a classic model or an "
                "ensemble with a classic member, with speaker groups (serkit train does), "
                "to use per-speaker normalisation"
            )
        groups = np.asarray(speakers).astype(str)
        count = n_rows(data)
        if groups.shape[0] != count:
            raise ParameterError(f"speakers has {groups.shape[0]} entries for {count} feature rows")
        names, counts = np.unique(groups, return_counts=True)
        small = [f"{n} ({c})" for n, c in zip(names, counts, strict=True) if c < 5]
        if small:
            warnings.warn(
                "per-speaker normalisation with fewer than 5 clips per speaker is unreliable: "
                + ", ".join(small[:10]),
                SerkitWarning,
                stacklevel=2,
            )
        if len(self.members_) == 1:
            return self._speaker_norm_model().predict_proba(speaker_normalize(data, groups))
        norm_data = dict(data)
        for member in self.members_:
            if not member.neural:
                norm_data[f"{member.key}#speaker_norm"] = speaker_normalize(
                    data[member.key], groups
                )
        return self._speaker_norm_model().predict_proba(norm_data)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per row, of the type the labels had in ``fit``."""
        proba = self.predict_proba(X)  # raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]

    # --------------------------------------------------------------- audio in
    def _extractors(self) -> dict[str, Any]:
        """Feature key -> extractor for every feature set the model reads (built once)."""
        cached = self.__dict__.get("_extractor_cache")
        if cached is None or cached[0] is not self.input_specs_:
            built = {key: get_extractor(spec) for key, spec in self.input_specs_.items()}
            cached = self.__dict__["_extractor_cache"] = (self.input_specs_, built)
        return cached[1]

    def feature_row(self, signal: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        """Every feature set the model reads, for one checked signal: key -> vector or frames.

        The one path from a signal to model input (:func:`serkit.features.extract_row`);
        files, signals, timeline windows and live input all come through here. Join
        several with :func:`serkit._inputs.stack_rows` for :meth:`predict_proba`.
        """
        check_is_fitted(self, "pipeline_")
        return extract_row(self._extractors(), signal, rate)

    def predict_row(self, row: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities [shape=(n_classes,)] of one :meth:`feature_row`."""
        return self.predict_proba(stack_rows([row]))[0]

    def predict_signal(self, y: np.ndarray, sr: int, *, name: str = "<signal>") -> Prediction:
        """Predict one in-memory signal (any rate, mono or channels-first).

        Raises
        ------
        AudioError
            If the signal cannot be used (silent, too short ...).
        """
        check_is_fitted(self, "pipeline_")
        signal, rate = audio.prepare_signal(y, sr, source=name)
        proba = self.predict_row(self.feature_row(signal, rate))
        return Prediction.from_probabilities(
            self.classes_, proba, path=name, uncertain_below=self.uncertain_below_
        )

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Predict one audio file; raises :class:`AudioError` if it cannot be used."""
        check_is_fitted(self, "pipeline_")
        signal, rate = audio.load(path)
        proba = self.predict_row(self.feature_row(signal, rate))
        return Prediction.from_probabilities(
            self.classes_, proba, path=os.fspath(path), uncertain_below=self.uncertain_below_
        )

    def predict_files(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        speakers: Sequence[str] | None = None,
        jobs: int | None = 1,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = False,
        max_duration: float | None = 600.0,
    ) -> list[Prediction]:
        """Predict many files; a file that fails gets a Prediction with ``error`` set.

        Results come back in input order, one per path; none is lost. With
        ``speakers`` (one label per path) the files of each speaker are
        normalised together (see :meth:`predict_proba`). A file longer than
        ``max_duration`` seconds (``None``: no limit) is refused from its header.
        """
        check_is_fitted(self, "pipeline_")
        path_list = [Path(p) for p in paths]
        if speakers is not None and len(speakers) != len(path_list):
            raise ParameterError(f"speakers has {len(speakers)} entries for {len(path_list)} files")
        errors: dict[int, str] = {}
        extracted = {}
        for key, spec in self.input_specs_.items():
            result = extract_files(
                path_list,
                spec,
                jobs=jobs,
                cache_dir=cache_dir,
                progress=progress,
                max_duration=max_duration,
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
            groups = None if speakers is None else [str(speakers[i]) for i in ok]
            proba = self.predict_proba(X, speakers=groups)
            names = [str(path_list[i]) for i in ok]
            predictions = to_predictions(
                self.classes_, proba, names, uncertain_below=self.uncertain_below_
            )
            for index, pred in zip(ok, predictions, strict=True):
                out[index] = pred
        return out

    # -------------------------------------------------------------- bundles
    def save(self, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the bundle folder (``model.json`` + weights, see :mod:`serkit.bundles`)."""
        check_is_fitted(self, "pipeline_")
        if self.__dict__.get("_restriction") is not None:
            raise ParameterError(
                "this recognizer is restricted to a label set (restrict()); save the original"
            )
        return write_bundle(self, path, metadata=metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> EmotionRecognizer:
        """Load a bundle folder, refusing tampered weights and untrusted types.

        Raises
        ------
        BundleError
            Missing files, malformed manifest, checksum mismatch, or types not on
            the allow list (nothing from the file is executed).
        """
        bundle = read_bundle(path)
        manifest, members = bundle.manifest, bundle.members
        model = manifest["model"]
        rec = cls(
            features=manifest["features"] if isinstance(manifest["features"], dict) else None,
            model=model["name"],
            params=model.get("params") or None,
            random_state=model.get("random_state", 0),
        )
        rec.members_ = members
        rec.input_specs_ = {m.key: m.features for m in members}
        rec.feature_spec_ = members[0].features if len(rec.input_specs_) == 1 else None
        rec.pipeline_ = bundle.pipeline
        rec.speaker_norm_pipeline_ = bundle.speaker_norm
        rec._speaker_norm_source = bundle.speaker_norm_loader
        rec.classes_ = bundle.classes
        rec.n_features_in_ = bundle.n_features
        rec.metadata_ = bundle.metadata
        rec.calibration_ = bundle.calibration
        return rec


def _as_input(X: Any) -> Any:
    """Vectors as a float64 matrix; frame sequences as a list of float32 arrays.

    A matrix is checked as scikit-learn checks one (2-D, real numbers, dense: sparse and
    complex input are refused with a clear error, :func:`serkit._inputs.as_matrix`); NaN
    is left to the model.
    """
    if isinstance(X, list | tuple):
        return [np.asarray(x, dtype=np.float32) for x in X]
    return as_matrix(X)
