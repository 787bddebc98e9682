"""Speaker-independent evaluation: protocol splits, cross-validation, UAR and friends.

Protocols
---------
``speaker-kfold``
    ``GroupKFold(n_splits)`` over speakers: every clip is predicted once, by a model
    that never heard its speaker. serkit's default.
``loso``
    Leave one speaker out.
``holdout``
    Named test speakers against everyone else.
``cross-corpus``
    Train on every corpus but one named test corpus, test on that corpus.
``leave-one-corpus-out``
    One fold per corpus: test on it, train on all the others.
``random``
    The seed's shuffled 75/25 split, with no speaker grouping. It puts the same
    voices on both sides and so measures memory of voices; it exists only to
    reproduce the seed's figure.

Scores are UAR (unweighted average recall, the primary figure), WA (accuracy),
macro F1, per-class precision/recall/F1 and the confusion matrix, over all clips
pooled and per fold. Everything comes back as plain data; nothing here prints,
plots or writes files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    LeaveOneGroupOut,
    train_test_split,
)

from ._errors import ParameterError
from ._inputs import n_rows, take_rows
from ._protocols import PROTOCOLS
from .models import speaker_normalize

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PROTOCOLS",
    "EvaluationResult",
    "Split",
    "compute_metrics",
    "cross_corpus",
    "cross_validate",
    "holdout",
    "leave_one_corpus_out",
    "loso",
    "make_splits",
    "random_split",
    "speaker_kfold",
]

logger = logging.getLogger(__name__)

Split = tuple[np.ndarray, np.ndarray]
"""One ``(train_idx, test_idx)`` pair of integer index arrays."""


_FOLD_METRICS = ("accuracy", "uar", "macro_f1")


# ----------------------------------------------------------------------------- helpers


def _groups_array(groups: ArrayLike, n: int | None = None) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ParameterError(f"groups must be 1-D (one speaker id per clip), got shape {g.shape}")
    if n is not None and g.shape[0] != n:
        raise ParameterError(f"groups has {g.shape[0]} entries but there are {n} clips")
    return g


def _py(value: Any) -> Any:
    """Plain Python (JSON-ready) version of a numpy scalar, array or container."""
    if isinstance(value, np.ndarray):
        return [_py(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(_py(k)): _py(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_py(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


# ----------------------------------------------------------------------------- splits


def random_split(
    n: int,
    *,
    test_size: float = 0.25,
    random_state: int = 7,
    stratify: ArrayLike | None = None,
) -> list[Split]:
    """The seed's split: one shuffled train/test split with no speaker grouping.

    With the defaults this is exactly the seed's
    ``train_test_split(X, y, test_size=0.25, random_state=7)``: the indices equal
    ``train_test_split(np.arange(n), test_size=0.25, random_state=7)``, in the same
    shuffled order (the training order matters to order-sensitive learners such as
    the MLP). It lets the same speakers into training and test, so its scores
    overstate how a model does on a new voice.

    Parameters
    ----------
    n : int >= 2
        Number of clips.
    test_size : float in (0, 1) or int, default=0.25
        Fraction (or number) of clips held out.
    random_state : int, default=7
        Shuffling seed (the seed project's value).
    stratify : array-like [shape=(n,)], optional
        Class labels to stratify on; the seed does not stratify.

    Returns
    -------
    splits : list of one (train_idx, test_idx)
        Integer index arrays into the ``n`` clips.

    Raises
    ------
    ParameterError
        ``n`` is not an int >= 2, or ``test_size`` / ``stratify`` is unusable.

    Examples
    --------
    >>> [(train, test)] = random_split(8)
    >>> len(train), len(test)
    (6, 2)
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ParameterError(f"n must be an int >= 2, got n={n!r}")
    try:
        train, test = train_test_split(
            np.arange(int(n)), test_size=test_size, random_state=random_state, stratify=stratify
        )
    except ValueError as exc:
        raise ParameterError(f"random split of {n} clips failed: {exc}") from exc
    return [(np.asarray(train), np.asarray(test))]


def speaker_kfold(groups: ArrayLike, *, n_splits: int = 5) -> list[Split]:
    """K folds grouped by speaker: ``sklearn.model_selection.GroupKFold(n_splits)``.

    Every clip is in exactly one test fold, and no speaker is in training and test
    of the same fold. Which speakers share a fold depends on the speakers' clip
    counts and on the order of the rows, so callers should sort clips by path first
    (as ``serkit.corpora`` does) to get the same folds as ANCHORS.md.

    Parameters
    ----------
    groups : array-like [shape=(n_clips,)]
        Speaker id of each clip (str or int), in the order of the feature rows.
    n_splits : int, default=5
        Number of folds, between 2 and the number of speakers.

    Returns
    -------
    splits : list of n_splits (train_idx, test_idx)
        Integer index arrays.

    Raises
    ------
    ParameterError
        ``groups`` is not 1-D, or ``n_splits`` is out of range.

    Examples
    --------
    >>> splits = speaker_kfold(["a", "a", "b", "b", "c", "c"], n_splits=3)
    >>> sorted(int(i) for _, test in splits for i in test)
    [0, 1, 2, 3, 4, 5]
    """
    g = _groups_array(groups)
    n_groups = len(np.unique(g))
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer):
        raise ParameterError(f"n_splits must be an int, got n_splits={n_splits!r}")
    if not 2 <= n_splits <= n_groups:
        raise ParameterError(
            f"n_splits must be between 2 and the number of speakers ({n_groups}), "
            f"got n_splits={n_splits}"
        )
    cv = GroupKFold(n_splits=int(n_splits))
    return [(train, test) for train, test in cv.split(np.zeros((len(g), 1)), groups=g)]


def loso(groups: ArrayLike) -> list[Split]:
    """Leave one speaker out: one fold per speaker (``LeaveOneGroupOut``).

    Parameters
    ----------
    groups : array-like [shape=(n_clips,)]
        Speaker id of each clip.

    Returns
    -------
    splits : list of (train_idx, test_idx)
        One per speaker, in sorted speaker order.

    Raises
    ------
    ParameterError
        Fewer than two speakers.

    Examples
    --------
    >>> [test.tolist() for _, test in loso(["b", "a", "b"])]
    [[1], [0, 2]]
    """
    g = _groups_array(groups)
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise ParameterError(f"leave-one-speaker-out needs at least 2 speakers, got {n_groups}")
    return list(LeaveOneGroupOut().split(np.zeros((len(g), 1)), groups=g))


def holdout(groups: ArrayLike, test_speakers: Sequence[str]) -> list[Split]:
    """One split: the named speakers are the test set, all others train.

    Speaker ids are compared as strings, so ``"3"`` matches the integer ``3``
    (but not ``"03"``).

    Parameters
    ----------
    groups : array-like [shape=(n_clips,)]
        Speaker id of each clip.
    test_speakers : sequence of str
        Speakers to hold out; a single string is one speaker.

    Returns
    -------
    splits : list of one (train_idx, test_idx)
        Integer index arrays, each in increasing order.

    Raises
    ------
    ParameterError
        No speaker named, a named speaker does not occur in ``groups``, or no
        training speaker would be left.

    Examples
    --------
    >>> [(train, test)] = holdout(["a", "b", "a", "c"], ["a"])
    >>> train.tolist(), test.tolist()
    ([1, 3], [0, 2])
    """
    g = _groups_array(groups).astype(str)
    wanted = [test_speakers] if isinstance(test_speakers, str) else list(test_speakers)
    wanted = [str(s) for s in wanted]
    if not wanted:
        raise ParameterError("holdout needs at least one test speaker, got none")
    present = set(g.tolist())
    missing = [s for s in wanted if s not in present]
    if missing:
        available = sorted(present)
        shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "")
        raise ParameterError(
            f"test speakers not found: {', '.join(missing)}; speakers present: {shown}"
        )
    is_test = np.isin(g, wanted)
    if is_test.all():
        raise ParameterError("holdout leaves no training speaker: every speaker is a test speaker")
    return [(np.flatnonzero(~is_test), np.flatnonzero(is_test))]


def cross_corpus(corpora: ArrayLike, test_corpus: str) -> list[Split]:
    """One split: the clips of ``test_corpus`` are the test set, every other clip trains.

    Parameters
    ----------
    corpora : array-like of str [shape=(n_clips,)]
        Corpus name of each clip.
    test_corpus : str
        The corpus to test on.

    Returns
    -------
    splits : list of one (train_idx, test_idx)

    Raises
    ------
    ParameterError
        The test corpus does not occur, or no other corpus is left to train on.

    Examples
    --------
    >>> [(train, test)] = cross_corpus(["a", "b", "a"], "b")
    >>> train.tolist(), test.tolist()
    ([0, 2], [1])
    """
    c = _groups_array(corpora).astype(str)
    present = sorted(set(c.tolist()))
    if str(test_corpus) not in present:
        raise ParameterError(
            f"test corpus {test_corpus!r} not found; corpora present: {', '.join(present)}"
        )
    is_test = c == str(test_corpus)
    if is_test.all():
        raise ParameterError(f"cross-corpus needs a training corpus besides {test_corpus!r}")
    return [(np.flatnonzero(~is_test), np.flatnonzero(is_test))]


def leave_one_corpus_out(corpora: ArrayLike) -> list[Split]:
    """One fold per corpus (sorted by name): test on it, train on all the others.

    Raises
    ------
    ParameterError
        Fewer than two corpora.

    Examples
    --------
    >>> [test.tolist() for _, test in leave_one_corpus_out(["b", "a", "b"])]
    [[1], [0, 2]]
    """
    c = _groups_array(corpora).astype(str)
    names = sorted(set(c.tolist()))
    if len(names) < 2:
        raise ParameterError(f"leave-one-corpus-out needs at least 2 corpora, got {names}")
    return [cross_corpus(c, name)[0] for name in names]


def make_splits(
    protocol: str,
    *,
    groups: ArrayLike,
    n_splits: int = 5,
    test_speakers: Sequence[str] | None = None,
    random_state: int = 7,
    corpora: ArrayLike | None = None,
    test_corpus: str | None = None,
) -> list[Split]:
    """Splits for a named protocol.

    Parameters
    ----------
    protocol : {"speaker-kfold", "loso", "holdout", "random", "cross-corpus", \
"leave-one-corpus-out"}
        See the module docstring; ``"random"`` ignores the speakers.
    groups : array-like [shape=(n_clips,)]
        Speaker id of each clip, in the order of the feature rows (sorted by path).
    n_splits : int, default=5
        Folds for ``"speaker-kfold"``.
    test_speakers : sequence of str, optional
        Required for ``"holdout"``.
    random_state : int, default=7
        Seed for ``"random"``.
    corpora : array-like of str [shape=(n_clips,)], optional
        Corpus of each clip; required for the two corpus protocols.
    test_corpus : str, optional
        Required for ``"cross-corpus"``.

    Returns
    -------
    splits : list of (train_idx, test_idx)
        Integer index arrays.

    Raises
    ------
    ParameterError
        Unknown protocol, ``"holdout"`` without ``test_speakers``, or any error of
        the protocol's own function.

    Examples
    --------
    >>> len(make_splits("loso", groups=["a", "b", "c", "a"]))
    3
    """
    if protocol == "speaker-kfold":
        return speaker_kfold(groups, n_splits=n_splits)
    if protocol == "loso":
        return loso(groups)
    if protocol == "holdout":
        if test_speakers is None:
            raise ParameterError("protocol 'holdout' needs test_speakers")
        return holdout(groups, test_speakers)
    if protocol == "random":
        return random_split(len(_groups_array(groups)), random_state=random_state)
    if protocol in ("cross-corpus", "leave-one-corpus-out"):
        if corpora is None:
            raise ParameterError(f"protocol {protocol!r} needs the corpus of each clip")
        if protocol == "leave-one-corpus-out":
            return leave_one_corpus_out(corpora)
        if test_corpus is None:
            raise ParameterError("protocol 'cross-corpus' needs test_corpus")
        return cross_corpus(corpora, test_corpus)
    raise ParameterError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")


# ----------------------------------------------------------------------------- metrics


def compute_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, *, labels: Sequence[Any]
) -> dict[str, Any]:
    """Accuracy, UAR, macro F1, per-class scores and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like [shape=(n,)]
        True and predicted labels, ``n >= 1``.
    labels : sequence
        Every class, in the order used for ``per_class`` and the confusion matrix.

    Returns
    -------
    metrics : dict
        Plain Python values (JSON-ready); every score is a fraction in [0, 1].

        - ``accuracy``: share of clips predicted right (WA).
        - ``uar``: unweighted average recall (balanced accuracy), the mean recall
          over the classes present in ``y_true``.
        - ``macro_f1``: mean F1 over the classes present in ``y_true`` or ``y_pred``.
        - ``per_class``: ``{label: {"precision", "recall", "f1", "support"}}`` for
          every label; a score with nothing to divide by is 0.0 (``support`` shows it).
        - ``confusion``: list of lists, rows = true class, columns = predicted
          class, both in ``labels`` order.
        - ``labels``: the labels, as a list; ``n``: number of clips.

    Raises
    ------
    ParameterError
        Lengths differ, no clips, duplicate labels, or a label outside ``labels``.

    Examples
    --------
    >>> m = compute_metrics(["a", "a", "a", "b"], ["a", "a", "a", "a"], labels=["a", "b"])
    >>> m["accuracy"], m["uar"], m["confusion"]
    (0.75, 0.5, [[3, 0], [1, 0]])
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1 or t.shape != p.shape:
        raise ParameterError(
            f"y_true and y_pred must be 1-D of equal length, got shapes {t.shape} and {p.shape}"
        )
    if t.shape[0] == 0:
        raise ParameterError("cannot score zero clips")
    lab = list(labels)
    if len(set(lab)) != len(lab):
        raise ParameterError(f"labels must be distinct, got {lab!r}")
    known = set(lab)
    unknown = sorted({str(v) for v in np.concatenate([t, p]).tolist() if v not in known})
    if unknown:
        raise ParameterError(f"labels not in {lab!r}: {', '.join(unknown)}")

    cm = confusion_matrix(t, p, labels=lab)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision, recall, f1, _ = precision_recall_fscore_support(t, p, labels=lab, zero_division=0)
    present_true = support > 0
    present_any = present_true | (predicted > 0)
    return {
        "accuracy": float(np.trace(cm) / cm.sum()),
        "uar": float(np.mean(recall[present_true])),
        "macro_f1": float(np.mean(f1[present_any])),
        "per_class": {
            _py(label): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(lab)
        },
        "confusion": cm.astype(int).tolist(),
        "labels": [_py(label) for label in lab],
        "n": int(t.shape[0]),
    }


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Predictions and scores of one cross-validation run.

    Attributes
    ----------
    labels : list of str
        Every class in ``y``, sorted; the column order of ``proba`` and of the
        confusion matrices.
    y_true, y_pred : np.ndarray [shape=(n_pred,)]
        True and predicted label of each predicted clip, ordered by ``indices``.
    proba : np.ndarray [shape=(n_pred, n_classes)] or None
        Class probabilities in ``labels`` order (0 for a class the fold's model never
        saw); None when the model has no ``predict_proba``.
    indices : np.ndarray [shape=(n_pred,)]
        Row of each predicted clip in ``X``, increasing.
    fold_of : np.ndarray [shape=(n_pred,)]
        Fold number (0-based) that predicted each clip.
    folds : list of dict
        Per fold: ``fold``, ``accuracy``, ``uar``, ``macro_f1``, ``n_train``,
        ``n_test``, ``test_speakers`` (sorted, or None without groups) and
        ``best_params`` (the inner search's choice, or None without search).
    overall : dict
        :func:`compute_metrics` over all predicted clips pooled; ``overall["uar"]``
        is the headline "UAR over all clips".
    groups : np.ndarray [shape=(n_pred,)] or None
        Speaker of each predicted clip, when groups were given.
    """

    labels: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    indices: np.ndarray
    fold_of: np.ndarray
    folds: list[dict[str, Any]]
    overall: dict[str, Any]
    groups: np.ndarray | None = field(default=None)

    def summary(self) -> dict[str, Any]:
        """Headline numbers: pooled scores plus the spread across folds.

        Returns
        -------
        summary : dict
            ``accuracy``, ``uar``, ``macro_f1`` over all predicted clips pooled;
            ``<metric>_mean`` and ``<metric>_std`` across folds for the same three
            (population standard deviation, ``ddof=0``; 0.0 for a single fold);
            ``n_folds`` and ``n_clips`` (clips predicted).
        """
        out: dict[str, Any] = {m: self.overall[m] for m in _FOLD_METRICS}
        for m in _FOLD_METRICS:
            values = np.array([fold[m] for fold in self.folds], dtype=float)
            out[f"{m}_mean"] = float(values.mean())
            out[f"{m}_std"] = float(values.std(ddof=0))
        out["n_folds"] = len(self.folds)
        out["n_clips"] = int(self.indices.shape[0])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain Python data, ready for ``json.dumps``.

        Returns
        -------
        data : dict
            ``labels``, ``summary``, ``overall``, ``folds`` and ``predictions``
            (``index``, ``fold``, ``speaker`` or None, ``y_true``, ``y_pred``,
            ``proba`` as a list of rows or None).
        """
        return {
            "labels": _py(self.labels),
            "summary": self.summary(),
            "overall": _py(self.overall),
            "folds": _py(self.folds),
            "predictions": {
                "index": _py(self.indices),
                "fold": _py(self.fold_of),
                "speaker": None if self.groups is None else _py(self.groups),
                "y_true": _py(self.y_true),
                "y_pred": _py(self.y_pred),
                "proba": None if self.proba is None else _py(self.proba),
            },
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per predicted clip.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``index``, ``fold``, ``speaker`` (when known), ``y_true``,
            ``y_pred``, then ``proba_<label>`` per class when probabilities exist.
        """
        import pandas as pd

        data: dict[str, Any] = {"index": self.indices, "fold": self.fold_of}
        if self.groups is not None:
            data["speaker"] = self.groups
        data["y_true"] = self.y_true
        data["y_pred"] = self.y_pred
        if self.proba is not None:
            for j, label in enumerate(self.labels):
                data[f"proba_{label}"] = self.proba[:, j]
        return pd.DataFrame(data)


# ----------------------------------------------------------------------------- CV


def _check_splits(splits: Sequence[Split], n: int) -> list[Split]:
    checked: list[Split] = []
    seen = np.zeros(n, dtype=bool)
    try:
        pairs = list(splits)
    except TypeError as exc:
        raise ParameterError("splits must be a list of (train_idx, test_idx) pairs") from exc
    if not pairs:
        raise ParameterError("splits is empty")
    for k, pair in enumerate(pairs):
        try:
            train, test = (np.asarray(a) for a in pair)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"split {k} is not a (train_idx, test_idx) pair") from exc
        for name, idx in (("train", train), ("test", test)):
            if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
                raise ParameterError(
                    f"split {k}: {name} indices must be a non-empty 1-D integer array, "
                    f"got shape {idx.shape} and dtype {idx.dtype}"
                )
            if idx.min() < 0 or idx.max() >= n:
                raise ParameterError(
                    f"split {k}: {name} indices must lie in [0, {n}), "
                    f"got [{idx.min()}, {idx.max()}]"
                )
        if np.intersect1d(train, test).size:
            raise ParameterError(f"split {k}: a clip is in both train and test")
        if len(np.unique(test)) != len(test) or seen[test].any():
            raise ParameterError(
                f"split {k}: a clip is in more than one test set; each clip may be predicted once"
            )
        seen[test] = True
        checked.append((train, test))
    return checked


def _slice_fit_params(fit_params: Mapping[str, Any] | None, n: int, rows: np.ndarray) -> dict:
    """Per-clip fit parameters (arrays of length n) follow the training rows."""
    out: dict[str, Any] = {}
    for key, value in (fit_params or {}).items():
        if not isinstance(value, str) and hasattr(value, "__len__") and len(value) == n:
            out[key] = np.asarray(value)[rows]
        else:
            out[key] = value
    return out


def _fit_takes_groups(model: Any) -> bool:
    """Whether ``fit`` names a ``groups`` argument (networks, ensembles, the recognizer)."""
    import inspect

    try:
        return "groups" in inspect.signature(model.fit).parameters
    except (TypeError, ValueError):
        return False


def _training_histories(fitted: Any) -> dict[str, Any]:
    """Per-epoch records of the networks in a fitted model, for training curves."""
    found = {}
    if getattr(fitted, "history_", None):
        found[type(fitted).__name__] = fitted.history_
    for name, member in getattr(fitted, "members_", []) or []:
        if isinstance(name, str) and getattr(member, "history_", None):
            found[name] = member.history_
    if not found:
        return {}
    return {"history": _py(found)}


def _calibration_info(fitted: Any) -> dict[str, Any]:
    """The temperature a calibrated model fitted on its training fold, if any."""
    temperature = getattr(fitted, "temperature_", None)
    return {} if temperature is None else {"temperature": float(temperature)}


def cross_validate(
    model_factory: Callable[[], Any],
    X: ArrayLike,
    y: ArrayLike,
    *,
    splits: Sequence[Split],
    groups: ArrayLike | None = None,
    speaker_norm: bool = False,
    search: Mapping[str, Sequence[Any]] | None = None,
    inner_splits: int = 3,
    progress: bool = False,
    fit_params: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Fit a fresh model on each training part and predict its test part.

    Parameters
    ----------
    model_factory : callable returning an estimator, or an estimator
        Called once per fold for a new unfitted model (e.g.
        ``lambda: make_model("svm")``); an estimator is cloned instead.
    X : array-like [shape=(n_clips, n_features)]
        Feature vectors.
    y : array-like of str [shape=(n_clips,)]
        Emotion label of each clip.
    splits : list of (train_idx, test_idx)
        From :func:`make_splits`. Test sets must not overlap, so each clip is
        predicted at most once (every clip for ``speaker-kfold`` and ``loso``, the
        test part for ``random`` and ``holdout``).
    groups : array-like of str [shape=(n_clips,)], optional
        Speaker of each clip; required by ``speaker_norm`` and ``search``.
    speaker_norm : bool, default=False
        Z-score the features within each speaker (:func:`serkit.models.speaker_normalize`)
        before splitting. This is legitimate, not leakage: it reads no labels, and
        each speaker's statistics come from that speaker's own clips only, so with
        the speaker protocols (where a speaker never crosses folds) a test speaker is
        normalised with nothing but its own unlabelled audio, as a call or session
        provides at deployment time.
    search : dict of str to list, optional
        A parameter grid (e.g. :func:`serkit.models.default_param_grid`). In each
        fold, ``GridSearchCV(model, search, cv=GroupKFold(inner_splits),
        scoring="balanced_accuracy")`` is fitted on the training part only, with
        inner folds grouped by the training speakers; the test part never takes
        part in the choice. The choice is recorded per fold in ``best_params``.
    inner_splits : int, default=3
        Inner folds for ``search``; at most the number of training speakers.
    progress : bool, default=False
        Show a tqdm progress bar over folds (on stderr).
    fit_params : dict, optional
        Extra arguments to ``fit`` (e.g. ``{"clf__sample_weight": w}``); values
        with one entry per clip are cut to the training rows.

    Returns
    -------
    result : EvaluationResult
        Predictions of every test clip, per-fold and pooled scores.

    Raises
    ------
    ParameterError
        Shapes or lengths disagree (the message gives the sizes), splits are
        malformed or overlap, ``speaker_norm`` or ``search`` without ``groups``, or
        ``inner_splits`` out of range for a fold.

    Notes
    -----
    Deterministic for seeded models: splits, inner folds and the zoo's models
    involve no unseeded randomness.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from serkit.models import make_model
    >>> X, yi = make_blobs(60, n_features=4, centers=3, random_state=0)
    >>> y = np.array(["angry", "calm", "sad"])[yi]
    >>> groups = np.repeat(["s1", "s2", "s3", "s4", "s5", "s6"], 10)
    >>> res = cross_validate(lambda: make_model("logreg"), X, y,
    ...                      splits=speaker_kfold(groups, n_splits=3), groups=groups)
    >>> res.summary()["n_clips"], res.labels
    (60, ['angry', 'calm', 'sad'])
    """
    if isinstance(X, Mapping | list | tuple):
        X_arr: Any = X  # frame sequences, or one input per feature set (ensembles)
        n = n_rows(X)
    else:
        try:
            X_arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"X must be a 2-D array of numbers: {exc}") from exc
        if X_arr.ndim != 2:
            raise ParameterError(f"X must be 2-D (n_clips, n_features), got shape {X_arr.shape}")
        n = X_arr.shape[0]
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != n:
        raise ParameterError(
            f"y must have one label per row of X: got {y_arr.shape}, X has {n} rows"
        )
    g = None if groups is None else _groups_array(groups, n)
    if speaker_norm and g is None:
        raise ParameterError("speaker_norm=True needs groups (the speaker of each clip)")
    if search is not None and g is None:
        raise ParameterError("search needs groups: inner folds are grouped by speaker")
    if search is not None and (
        isinstance(inner_splits, bool) or not isinstance(inner_splits, int) or inner_splits < 2
    ):
        raise ParameterError(f"inner_splits must be an int >= 2, got inner_splits={inner_splits!r}")
    checked = _check_splits(splits, n)

    if search is not None and not isinstance(X_arr, np.ndarray):
        raise ParameterError("search needs a feature matrix; networks and ensembles tune inside")
    if speaker_norm and g is not None:  # g is set: checked above
        X_arr = speaker_normalize(X_arr, g)
    labels = np.unique(y_arr)
    label_pos = {label: j for j, label in enumerate(labels.tolist())}

    is_estimator = hasattr(model_factory, "fit") and not isinstance(model_factory, type)
    if not is_estimator and not callable(model_factory):
        raise ParameterError(
            f"model_factory must be a callable returning an estimator, got {model_factory!r}"
        )

    def new_model() -> Any:
        return clone(model_factory) if is_estimator else model_factory()

    if search is not None:
        valid = new_model().get_params(deep=True)
        unknown = [key for key in search if key not in valid]
        if unknown:
            raise ParameterError(
                f"search names parameters the model does not have: {', '.join(map(str, unknown))}; "
                f"valid names: {', '.join(sorted(valid))}"
            )

    from tqdm.auto import tqdm

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, int]] = []
    folds: list[dict[str, Any]] = []
    for k, (train, test) in enumerate(
        tqdm(checked, desc="folds", unit="fold", disable=not progress)
    ):
        model = new_model()
        params = _slice_fit_params(fit_params, n, train)
        best_params = None
        if search is not None and g is not None:  # g is set: checked above
            train_groups = g[train]
            n_train_groups = len(np.unique(train_groups))
            if inner_splits > n_train_groups:
                raise ParameterError(
                    f"fold {k}: inner_splits={inner_splits} exceeds the {n_train_groups} "
                    "training speakers"
                )
            gs = GridSearchCV(
                model,
                dict(search),
                cv=GroupKFold(n_splits=inner_splits),
                scoring="balanced_accuracy",
                refit=True,
                error_score="raise",
            )
            gs.fit(X_arr[train], y_arr[train], groups=train_groups, **params)
            fitted = gs.best_estimator_
            best_params = _py(gs.best_params_)
        else:
            if g is not None and _fit_takes_groups(model):
                params = {**params, "groups": g[train]}  # networks: validation speakers
            fitted = model.fit(take_rows(X_arr, train), y_arr[train], **params)

        X_test = take_rows(X_arr, test)
        pred = np.asarray(fitted.predict(X_test))
        proba = None
        if hasattr(fitted, "predict_proba"):
            raw = np.asarray(fitted.predict_proba(X_test), dtype=float)
            proba = np.zeros((len(test), len(labels)))
            cols = [label_pos[c] for c in np.asarray(fitted.classes_).tolist()]
            proba[:, cols] = raw
        parts.append((test, pred, proba, k))

        fold_metrics = compute_metrics(y_arr[test], pred, labels=labels.tolist())
        folds.append(
            {
                "fold": k,
                **{m: fold_metrics[m] for m in _FOLD_METRICS},
                "n_train": len(train),
                "n_test": len(test),
                "test_speakers": None if g is None else sorted(str(s) for s in np.unique(g[test])),
                "best_params": best_params,
                **_training_histories(fitted),
                **_calibration_info(fitted),
            }
        )
        logger.info(
            "fold %d/%d: %d train, %d test clips, UAR %.3f",
            k + 1,
            len(checked),
            len(train),
            len(test),
            fold_metrics["uar"],
        )

    indices = np.concatenate([p[0] for p in parts])
    order = np.argsort(indices, kind="stable")
    y_pred = np.concatenate([p[1] for p in parts])[order]
    fold_of = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])[order]
    proba_all = None
    if all(p[2] is not None for p in parts):
        proba_all = np.concatenate([p[2] for p in parts])[order]
    indices = indices[order]
    y_true = y_arr[indices]
    return EvaluationResult(
        labels=[_py(label) for label in labels.tolist()],
        y_true=y_true,
        y_pred=y_pred,
        proba=proba_all,
        indices=indices,
        fold_of=fold_of,
        folds=folds,
        overall=compute_metrics(y_true, y_pred, labels=labels.tolist()),
        groups=None if g is None else g[indices],
    )
