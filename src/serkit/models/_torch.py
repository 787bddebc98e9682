"""TorchClassifier: serkit's torch networks behind the scikit-learn estimator contract.

The estimator is thin. What a network needs (its input checks, its layers, its
batches, its augmentation and its optimiser) lives in a *recipe* next to the
``nn.Module`` (:mod:`._cnn1d`, :mod:`._specnet`). The training loop is split into
small hooks in the manner of SpeechBrain's ``Brain``: :meth:`TorchClassifier._compute_forward`,
:meth:`TorchClassifier._compute_objectives`, :meth:`TorchClassifier._fit_batch`,
:meth:`TorchClassifier._on_stage_start` and :meth:`TorchClassifier._on_stage_end`; the last
one keeps the best epoch's weights by validation UAR and decides early stopping.

Validation speakers are carved from the training data only: a ``GroupShuffleSplit``
over ``groups`` (the speakers), so the epoch is chosen on voices the network did
not train on and never on a test fold.

This module imports torch; :mod:`serkit.models` imports it only when a neural
model is asked for (:func:`serkit.models.make_model` with a name in
:data:`serkit.models.NEURAL_MODELS`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from torch import nn
from torch.nn import functional as F

from .._errors import ParameterError, SerkitWarning, TorchBundleError
from ._params import coerce_value

__all__ = [
    "NETWORK_DEFAULTS",
    "TorchBundleError",
    "TorchClassifier",
    "make_network",
]

logger = logging.getLogger(__name__)

# module name -> "submodule:RECIPE"; imported on first use
_RECIPES: dict[str, str] = {"cnn1d": "._cnn1d:RECIPE", "specnet": "._specnet:RECIPE"}

# execution knobs: not part of a model's identity, so not saved (STYLE rule 5)
_EXECUTION_PARAMS = ("device", "threads", "verbose")


class Recipe(Protocol):
    """What :class:`TorchClassifier` needs from a network family (see :mod:`._cnn1d`)."""

    name: str
    input_kind: str  # "vector" or "sequence"
    default_lr: float
    config_type: type

    def check_input(self, X: Any, *, n_inputs: int | None = None) -> Any: ...
    def prepare(self, data: Any, config: Any) -> Any: ...
    def n_inputs(self, data: Any) -> int: ...
    def build(self, config: Any, n_inputs: int, n_classes: int, data: Any) -> nn.Module: ...
    def optimizer(
        self, params: Any, *, lr: float, weight_decay: float
    ) -> torch.optim.Optimizer: ...
    def scheduler(
        self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int
    ) -> Any: ...
    def train_batches(
        self, data: Any, targets: np.ndarray, *, config: Any, batch_size: int, rng: Any
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...
    def forward_train(
        self, module: nn.Module, x: torch.Tensor, target: torch.Tensor, *, config: Any
    ) -> tuple[torch.Tensor, torch.Tensor]: ...
    def eval_batches(
        self, data: Any, *, config: Any, batch_size: int
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]: ...
    def example_input(self, n_inputs: int) -> torch.Tensor: ...


def get_recipe(name: Any) -> Recipe:
    """The recipe of a network family by name (``"cnn1d"`` or ``"specnet"``).

    Raises
    ------
    ParameterError
        Unknown name (the message lists the known ones).
    """
    if not isinstance(name, str) or name not in _RECIPES:
        raise ParameterError(f"unknown network {name!r}; choose one of: {', '.join(_RECIPES)}")
    module_name, _, attr = _RECIPES[name].partition(":")
    return getattr(importlib.import_module(module_name, __package__), attr)


def resolve_config(recipe: Recipe, params: Mapping[str, Any] | None) -> Any:
    """Build the recipe's frozen config from ``module_params``, refusing unknown names."""
    params = dict(params or {})
    valid = [f.name for f in fields(recipe.config_type)]
    unknown = sorted(k for k in params if k not in valid)
    if unknown:
        raise ParameterError(
            f"unknown module_params for {recipe.name!r}: {', '.join(map(str, unknown))}; "
            f"valid names: {', '.join(valid)}"
        )
    try:
        return recipe.config_type(**params)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"module_params for {recipe.name!r}: {exc}") from exc


def _check_int(name: str, value: Any, low: int, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ParameterError(f"{name} must be an int >= {low}, got {name}={value!r}")


def _check_float(name: str, value: Any, low: float, high: float, *, closed: bool = True) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    ok = ok and (low <= value <= high if closed else low <= value < high)
    if not ok:
        bracket = "]" if closed else ")"
        raise ParameterError(f"{name} must be a number in [{low}, {high}{bracket}, got {value!r}")


def _uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true``."""
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A serkit torch network trained and used like any scikit-learn classifier.

    Parameters
    ----------
    module : {"cnn1d", "specnet"}, default="cnn1d"
        Network family. ``"cnn1d"`` reads feature vectors (the seed's 180 values);
        ``"specnet"`` reads log-mel frame sequences.
    module_params : dict, optional
        Settings of the network family's config (architecture, crops,
        augmentation): see :class:`serkit.models._cnn1d.CNN1DConfig` and
        :class:`serkit.models._specnet.SpecNetConfig`. Unknown names raise.
    max_epochs : int >= 1, default=60
        Most passes over the training data.
    batch_size : int >= 1, default=32
        Clips per optimisation step.
    lr : float > 0 or None, default=None
        Peak learning rate; ``None`` takes the family's default.
    weight_decay : float >= 0, default=0.0
        L2 penalty (decoupled for AdamW families).
    patience : int >= 1 or None, default=15
        Stop after this many epochs without a better validation UAR; ``None``
        trains all ``max_epochs``.
    val_fraction : float in [0, 1), default=0.2
        Share of the training *speakers* held out for early stopping and for
        choosing the kept epoch. 0 disables validation (the last epoch is kept).
    class_weight : "balanced", dict or None, default="balanced"
        ``"balanced"`` weights each class's loss by ``n / (n_classes * count)`` on
        the training part; a dict maps class labels to weights (others get 1).
    device : str, default="cpu"
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); an execution knob.
    threads : int >= 1 or None, default=None
        Torch CPU threads during ``fit`` and ``predict_proba`` (restored afterwards);
        ``None`` leaves torch's setting. Results are identical across runs for the
        same thread count.
    random_state : int, default=0
        Seed for weights, batches, crops, dropout and augmentation.
    verbose : bool, default=False
        Show a tqdm bar over epochs with train loss and validation UAR.

    Attributes
    ----------
    classes_ : np.ndarray [shape=(n_classes,)]
        Sorted class labels; ``predict_proba`` columns follow this order.
    n_features_in_ : int
        Width of a feature vector (``cnn1d``) or of one frame (``specnet``: mel bands).
    module_ : torch.nn.Module
        The trained network in eval mode, holding the kept epoch's weights. Its
        ``forward`` maps inputs to logits; its input normalisation is inside it.
    config_ : dataclass
        The resolved network config (``module_params`` plus defaults).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_uar``
        (NaN without validation), ``lr`` and ``seconds``.
    best_epoch_ : int
        The epoch (1-based) whose weights were kept.
    validation_groups_ : list of str or None
        Speakers held out for validation (None for a non-speaker split).

    Notes
    -----
    ``fit`` seeds torch inside ``torch.random.fork_rng``, so the caller's global
    random state is left as it was, and turns on deterministic algorithms for the
    duration of the fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (30, 20)), rng.normal(1, 1, (30, 20))])
    >>> y = np.repeat(["calm", "angry"], 30)
    >>> groups = np.tile(["s1", "s2", "s3", "s4", "s5", "s6"], 10)
    >>> clf = TorchClassifier("cnn1d", module_params={"channels": 8}, max_epochs=3, lr=1e-3)
    >>> clf = clf.fit(X, y, groups=groups)
    >>> [str(c) for c in clf.classes_], clf.predict_proba(X[:2]).shape
    (['angry', 'calm'], (2, 2))
    """

    def __init__(
        self,
        module: str = "cnn1d",
        *,
        module_params: Mapping[str, Any] | None = None,
        max_epochs: int = 60,
        batch_size: int = 32,
        lr: float | None = None,
        weight_decay: float = 0.0,
        patience: int | None = 15,
        val_fraction: float = 0.2,
        class_weight: str | Mapping[Any, float] | None = "balanced",
        device: str = "cpu",
        threads: int | None = None,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.module = module
        self.module_params = module_params
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.device = device
        self.threads = threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        _check_int("max_epochs", self.max_epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("patience", self.patience, 1, allow_none=True)
        _check_int("threads", self.threads, 1, allow_none=True)
        if self.lr is not None:
            _check_float("lr", self.lr, 1e-12, 10.0)
        _check_float("weight_decay", self.weight_decay, 0.0, 10.0)
        _check_float("val_fraction", self.val_fraction, 0.0, 0.9)
        if self.class_weight not in ("balanced", None) and not isinstance(
            self.class_weight, Mapping
        ):
            raise ParameterError(
                "class_weight must be 'balanced', a dict of class to weight, or None; "
                f"got class_weight={self.class_weight!r}"
            )
        if isinstance(self.random_state, bool) or not isinstance(
            self.random_state, int | np.integer
        ):
            raise ParameterError(f"random_state must be an int, got {self.random_state!r}")
        if not isinstance(self.device, str):
            raise ParameterError(f"device must be a string such as 'cpu', got {self.device!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, ValueError) as exc:
            raise ParameterError(f"device {self.device!r} is not a torch device: {exc}") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ParameterError(f"device={self.device!r} asked for, but CUDA is not available")

    @contextlib.contextmanager
    def _runtime(self, *, deterministic: bool = False) -> Iterator[None]:
        """Threads (and determinism) for the duration of a call, restored afterwards."""
        threads = torch.get_num_threads()
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        try:
            if self.threads is not None:
                torch.set_num_threads(int(self.threads))
            if deterministic:
                torch.use_deterministic_algorithms(True, warn_only=True)
            yield
        finally:
            if self.threads is not None:
                torch.set_num_threads(threads)
            if deterministic:
                torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Sequence[Any], groups: Sequence[Any] | None = None) -> TorchClassifier:
        """Train the network, keeping the epoch with the best validation UAR.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)] or sequence of np.ndarray [shape=(n_frames, n_mels)]
            Feature vectors (``cnn1d``) or one log-mel array per clip (``specnet``;
            a list or object array, lengths may differ).
        y : array-like [shape=(n,)]
            Class label of each clip (at least two classes).
        groups : array-like [shape=(n,)], optional
            Speaker of each clip. Validation speakers are drawn from these; without
            them the validation clips are a stratified random share and a
            :class:`~serkit.SerkitWarning` says that the kept epoch was chosen on
            voices also seen in training.

        Returns
        -------
        self : TorchClassifier

        Raises
        ------
        ParameterError
            Invalid settings or inputs (the message names the value received).
        """
        self._check_params()
        recipe = get_recipe(self.module)
        config = resolve_config(recipe, self.module_params)
        if y is None:
            raise ParameterError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        if recipe.input_kind == "vector":
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=True)
        else:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        data = recipe.prepare(recipe.check_input(X), config)
        labels = np.asarray(y)
        n = len(data)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ParameterError(f"y must have one label per clip: got {labels.shape}, X has {n}")
        classes, targets = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ParameterError(
                f"need at least 2 classes to train, got 1 class: {classes.tolist()!r}"
            )
        group_arr = None
        if groups is not None:
            group_arr = np.asarray(groups).astype(str)
            if group_arr.ndim != 1 or group_arr.shape[0] != n:
                raise ParameterError(
                    f"groups must have one speaker per clip: got {group_arr.shape}, X has {n}"
                )
        self.classes_ = classes
        self.n_features_in_ = recipe.n_inputs(data)
        self.config_ = config
        self._recipe = recipe
        self._device = torch.device(self.device)
        train_idx, val_idx = self._split_validation(targets, group_arr)
        with self._runtime(deterministic=True), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            rng = np.random.default_rng(int(self.random_state))
            self._train(data, targets, train_idx, val_idx, rng)
        return self

    def _split_validation(
        self, targets: np.ndarray, groups: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Hook: carve validation clips from the training data (speaker-disjoint when possible)."""
        n = len(targets)
        all_rows = np.arange(n)
        self.validation_groups_: list[str] | None = None
        if self.val_fraction == 0:
            return all_rows, None
        seed = int(self.random_state)
        if groups is not None and len(np.unique(groups)) >= 2:
            splitter = GroupShuffleSplit(n_splits=1, test_size=self.val_fraction, random_state=seed)
            train, val = next(splitter.split(all_rows, targets, groups))
            self.validation_groups_ = sorted(np.unique(groups[val]).tolist())
            return train, val
        reason = "no speaker groups were given" if groups is None else "there is only one speaker"
        warnings.warn(
            f"{reason}: validation clips are a stratified random share of the training data, "
            "so the kept epoch is chosen on voices also seen in training; pass groups=speakers",
            SerkitWarning,
            stacklevel=3,
        )
        try:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=self.val_fraction, random_state=seed
            )
            train, val = next(splitter.split(all_rows, targets))
        except ValueError:
            try:
                splitter = ShuffleSplit(n_splits=1, test_size=self.val_fraction, random_state=seed)
                train, val = next(splitter.split(all_rows))
            except ValueError:
                return all_rows, None
        return train, val

    def _class_weights(self, targets: np.ndarray) -> torch.Tensor | None:
        """Loss weight per class: ``"balanced"`` on the training part, or the given dict."""
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, Mapping):
            weights = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
        else:
            counts = np.bincount(targets, minlength=len(self.classes_)).astype(np.float64)
            weights = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0)
        return torch.as_tensor(weights, dtype=torch.float32, device=self._device)

    def _init_module(self, data: Any) -> nn.Module:
        """Hook: build the network (its input statistics come from the training rows)."""
        module = self._recipe.build(self.config_, self.n_features_in_, len(self.classes_), data)
        return module.to(self._device)

    def _init_optimizers(self, steps_per_epoch: int) -> None:
        """Hook: the recipe's optimiser and learning-rate schedule."""
        lr = float(self.lr) if self.lr is not None else self._recipe.default_lr
        self._optimizer = self._recipe.optimizer(
            self.module_.parameters(), lr=lr, weight_decay=float(self.weight_decay)
        )
        self._scheduler = self._recipe.scheduler(
            self._optimizer, epochs=int(self.max_epochs), steps_per_epoch=steps_per_epoch
        )

    def _train(
        self,
        data: Any,
        targets: np.ndarray,
        train_idx: np.ndarray,
        val_idx: np.ndarray | None,
        rng: np.random.Generator,
    ) -> None:
        from tqdm.auto import tqdm

        recipe = self._recipe
        train_data = _take(data, train_idx)
        train_targets = targets[train_idx]
        self.module_ = self._init_module(train_data)
        self._loss_weight = self._class_weights(train_targets)
        n_classes = len(self.classes_)
        onehot = np.eye(n_classes, dtype=np.float32)[train_targets]
        steps = -(-len(train_idx) // int(self.batch_size))
        self._init_optimizers(steps)
        self.history_: list[dict[str, float]] = []
        self._best: dict[str, Any] = {"uar": -np.inf, "loss": np.inf, "epoch": 0, "state": None}
        self._stale = 0
        bar = tqdm(
            range(1, int(self.max_epochs) + 1),
            desc=f"{self.module} training",
            unit="epoch",
            disable=not self.verbose,
            leave=False,
        )
        for epoch in bar:
            self._on_stage_start("train", epoch)
            started = time.perf_counter()
            total, count = 0.0, 0
            batches = recipe.train_batches(
                train_data, onehot, config=self.config_, batch_size=int(self.batch_size), rng=rng
            )
            for x, target in batches:
                loss = self._fit_batch(x, target)
                total += loss * len(x)
                count += len(x)
            train_loss = total / max(count, 1)
            val_loss, val_uar = np.nan, np.nan
            if val_idx is not None and len(val_idx):
                self._on_stage_start("valid", epoch)
                val_loss, val_uar = self._validate(_take(data, val_idx), targets[val_idx])
            record = {
                "epoch": epoch,
                "train_loss": float(train_loss),
                "val_loss": float(val_loss),
                "val_uar": float(val_uar),
                "lr": float(self._optimizer.param_groups[0]["lr"]),
                "seconds": time.perf_counter() - started,
            }
            stop = self._on_stage_end(record)
            bar.set_postfix(loss=f"{train_loss:.3f}", val_uar=f"{val_uar:.3f}")
            if stop:
                break
        bar.close()
        if self._best["state"] is not None:
            self.module_.load_state_dict(self._best["state"])
        self.best_epoch_ = int(self._best["epoch"])
        self.module_.eval()
        del self._best, self._stale, self._scheduler, self._optimizer

    def _on_stage_start(self, stage: str, epoch: int) -> None:
        """Hook: put the network in train or eval mode for a stage."""
        self.module_.train(stage == "train")

    def _compute_forward(
        self, x: torch.Tensor, target: torch.Tensor, stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hook: logits for a batch; in training the recipe's augmentation applies."""
        x = x.to(self._device)
        target = target.to(self._device)
        if stage == "train":
            return self._recipe.forward_train(self.module_, x, target, config=self.config_)
        return self.module_(x), target

    def _compute_objectives(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Hook: class-weighted cross-entropy against (possibly mixed) soft targets."""
        return F.cross_entropy(logits, target, weight=self._loss_weight)

    def _fit_batch(self, x: torch.Tensor, target: torch.Tensor) -> float:
        """Hook: one optimisation step; returns the batch loss."""
        logits, target = self._compute_forward(x, target, "train")
        loss = self._compute_objectives(logits, target)
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        if self._scheduler is not None:
            self._scheduler.step()
        return float(loss.detach())

    def _validate(self, data: Any, targets: np.ndarray) -> tuple[float, float]:
        """Hook: validation loss and UAR on held-out speakers, without augmentation."""
        logits = self._logits(data)
        onehot = torch.as_tensor(np.eye(len(self.classes_), dtype=np.float32)[targets])
        loss = float(self._compute_objectives(logits.to(self._device), onehot.to(self._device)))
        pred = logits.argmax(dim=1).cpu().numpy()
        return loss, _uar(targets, pred)

    def _on_stage_end(self, record: dict[str, float]) -> bool:
        """Hook: log the epoch, keep the best weights, and say whether to stop."""
        self.history_.append(record)
        logger.info(
            "%s epoch %d: train loss %.4f, val loss %.4f, val UAR %.4f",
            self.module,
            record["epoch"],
            record["train_loss"],
            record["val_loss"],
            record["val_uar"],
        )
        uar, loss = record["val_uar"], record["val_loss"]
        if np.isnan(uar):  # no validation: keep the last epoch
            self._best.update(epoch=record["epoch"], state=None)
            return False
        better = uar > self._best["uar"] + 1e-12 or (
            abs(uar - self._best["uar"]) <= 1e-12 and loss < self._best["loss"]
        )
        if better:
            state = {k: v.detach().clone() for k, v in self.module_.state_dict().items()}
            self._best.update(uar=uar, loss=loss, epoch=record["epoch"], state=state)
            self._stale = 0
            return False
        self._stale += 1
        return self.patience is not None and self._stale >= int(self.patience)

    # ------------------------------------------------------------------ predict
    def _logits(self, data: Any) -> torch.Tensor:
        """Logits [shape=(n, n_classes)] of checked inputs, in input order, on the CPU."""
        self.module_.eval()
        sums = torch.zeros((len(data), len(self.classes_)), dtype=torch.float64)
        counts = torch.zeros(len(data), dtype=torch.float64)
        batches = self._recipe.eval_batches(
            data, config=self.config_, batch_size=max(int(self.batch_size), 64)
        )
        with torch.inference_mode():
            for index, x in batches:
                rows = torch.as_tensor(index, dtype=torch.long)
                logits = self.module_(x.to(self._device)).double().cpu()
                sums.index_add_(0, rows, logits)  # a clip cut into crops gets their mean
                counts.index_add_(0, rows, torch.ones(len(rows), dtype=torch.float64))
        return (sums / counts.unsqueeze(1)).float()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_features)] or sequence of np.ndarray [shape=(n_frames, n_mels)]
            As in :meth:`fit`.

        Returns
        -------
        proba : np.ndarray [shape=(n, n_classes), dtype=float64]
            Rows sum to 1; columns in ``classes_`` order.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        ParameterError
            Inputs of the wrong shape or width.
        """
        check_is_fitted(self, "module_")
        if self._recipe.input_kind == "vector":
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        data = self._recipe.prepare(
            self._recipe.check_input(X, n_inputs=self.n_features_in_), self.config_
        )
        if not hasattr(self, "_device"):
            self._device = torch.device(self.device)
        with self._runtime():
            logits = self._logits(data)
        proba = torch.softmax(logits.double(), dim=1).numpy()
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each clip [shape=(n,)]."""
        proba = self.predict_proba(X)  # raises NotFittedError first
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        if self.module == "specnet":
            tags.input_tags.two_d_array = False
        return tags


def _take(data: Any, index: np.ndarray) -> Any:
    """Rows of an array, or items of a list of sequences."""
    if isinstance(data, np.ndarray):
        return data[index]
    return [data[int(i)] for i in index]


# ---------------------------------------------------------------------------- factory

NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn1d": {"max_epochs": 150, "batch_size": 32, "lr": 3e-4, "patience": 30},
    "specnet": {"max_epochs": 30, "batch_size": 32, "lr": 2e-3, "patience": None},
}
"""Estimator settings :func:`make_network` starts from, per network family."""


def make_network(
    name: str, *, params: Mapping[str, Any] | None = None, random_state: int = 0
) -> TorchClassifier:
    """A new, unfitted :class:`TorchClassifier` for a named network, with overrides.

    Parameters
    ----------
    name : {"cnn1d", "specnet"}
        Network family.
    params : mapping of str to object, optional
        Estimator settings (``max_epochs``, ``lr``, ...) or fields of the family's
        config (``channels``, ``mixup``, ...; gathered into ``module_params``).
        String values are read as Python literals where possible.
    random_state : int, default=0
        Seed.

    Returns
    -------
    TorchClassifier
        Starting from :data:`NETWORK_DEFAULTS`.

    Raises
    ------
    ParameterError
        Unknown network or parameter name (the message lists the valid ones), or a
        value out of range.

    Examples
    --------
    >>> clf = make_network("specnet", params={"max_epochs": "5", "mixup": 0})
    >>> clf.max_epochs, clf.module_params
    (5, {'mixup': 0})
    """
    recipe = get_recipe(name)
    estimator_names = set(TorchClassifier().get_params()) - {"module", "module_params"}
    config_names = [f.name for f in fields(recipe.config_type)]
    settings: dict[str, Any] = dict(NETWORK_DEFAULTS[name])
    module_params: dict[str, Any] = {}
    for key, value in (params or {}).items():
        value = coerce_value(value) if isinstance(value, str) else value
        key = key.removeprefix("clf__") if isinstance(key, str) else key
        if key in estimator_names:
            settings[key] = value
        elif key in config_names:
            module_params[key] = value
        elif key == "module_params" and isinstance(value, Mapping):
            module_params.update(value)
        else:
            raise ParameterError(
                f"unknown parameter {key!r} for model {name!r}; valid names: "
                f"{', '.join(sorted(estimator_names) + config_names)}"
            )
    settings.setdefault("random_state", random_state)  # a random_state override wins
    clf = TorchClassifier(name, module_params=module_params or None, **settings)
    clf._check_params()
    resolve_config(recipe, clf.module_params)
    return clf


# ---------------------------------------------------------------------------- bundles


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
