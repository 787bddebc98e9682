"""CNN1D: the seed notebook's 1-D convolutional network over one feature vector.

The seed's ``Speech_Emotion_Recognition_using_CNN.ipynb`` treats the 180 values
(40 MFCC + 12 chroma + 128 mel means) as a 1-channel signal of length 180:
``Conv1D(128, 5) -> ReLU -> Dropout -> MaxPool(8) -> Conv1D(128, 5) -> ReLU ->
Dropout -> Flatten -> Dense(softmax)``, trained with RMSprop. This module keeps
that network (``depth=2``, the default) and adds deeper variants. The input is
standardised inside the network with the training rows' mean and scale, kept as
buffers, so a saved or exported network takes raw feature vectors.

The notebook's RMSprop learning rate (1e-5) needs hundreds of epochs; serkit
uses 3e-4 (Keras' other RMSprop defaults), chosen on the validation actors of
the first RAVDESS fold over 1e-4, with early stopping (at most 150 epochs,
patience 30), which stops after roughly 50-150 epochs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import ParameterError

__all__ = ["CNN1D", "CNN1DConfig"]


@dataclass(frozen=True)
class CNN1DConfig:
    """Settings of :class:`CNN1D` (``TorchClassifier(module_params=...)``).

    Parameters
    ----------
    depth : int >= 2, default=2
        Convolution layers. 2 is the seed's network; each further layer is
        preceded by a ``MaxPool1d(2)``.
    channels : int >= 1, default=128
        Filters per convolution (the seed's 128).
    kernel_size : int >= 1, default=5
        Convolution width (the seed's 5), "same" padding.
    pool : int >= 1, default=8
        Max-pooling size after the first convolution (the seed's 8).
    dropout : float in [0, 1), default=0.1
        Dropout after each convolution.
    batch_norm : bool, default=False
        Batch normalisation after each convolution (not in the seed).
    """

    depth: int = 2
    channels: int = 128
    kernel_size: int = 5
    pool: int = 8
    dropout: float = 0.1
    batch_norm: bool = False

    def __post_init__(self) -> None:
        for name, low in (("depth", 2), ("channels", 1), ("kernel_size", 1), ("pool", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {name}={value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got dropout={self.dropout!r}")
        if not isinstance(self.batch_norm, bool):
            raise ValueError(f"batch_norm must be True or False, got {self.batch_norm!r}")


class CNN1D(nn.Module):
    """The seed's CNN-1D over a feature vector, input standardisation included.

    Parameters
    ----------
    n_features : int > 0
        Length of the input vector (180 for the seed's features).
    n_classes : int >= 2
        Output classes.
    config : CNN1DConfig
        Architecture.

    Notes
    -----
    Pooling uses ``ceil_mode=True`` so that any input width works (the seed's
    Keras pooling floors: 22 steps after pooling 180 by 8, here 23).

    Examples
    --------
    >>> net = CNN1D(180, 8, CNN1DConfig())
    >>> net(torch.zeros(4, 180)).shape
    torch.Size([4, 8])
    """

    def __init__(self, n_features: int, n_classes: int, config: CNN1DConfig) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.scale: torch.Tensor
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        layers: list[nn.Module] = []
        length, channels_in = n_features, 1
        for i in range(config.depth):
            if i == 1:
                layers.append(nn.MaxPool1d(config.pool, ceil_mode=True))
                length = -(-length // config.pool)
            elif i > 1:
                layers.append(nn.MaxPool1d(2, ceil_mode=True))
                length = -(-length // 2)
            layers.append(
                nn.Conv1d(channels_in, config.channels, config.kernel_size, padding="same")
            )
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(config.channels))
            layers += [nn.ReLU(), nn.Dropout(config.dropout)]
            channels_in = config.channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(config.channels * length, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [shape=(batch, n_classes)] of raw feature vectors [shape=(batch, n_features)]."""
        z = ((x - self.mean) / self.scale).unsqueeze(1)
        return self.classifier(torch.flatten(self.features(z), 1))


class _CNN1DRecipe:
    """How :class:`~serkit.models._torch.TorchClassifier` trains a :class:`CNN1D`."""

    name = "cnn1d"
    input_kind = "vector"
    default_lr = 3e-4
    config_type = CNN1DConfig

    def check_input(self, X: Any, *, n_inputs: int | None = None) -> np.ndarray:
        try:
            data = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"cnn1d needs a 2-D array of numbers: {exc}") from exc
        if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
            raise ParameterError(
                f"cnn1d needs a non-empty 2-D array (n_clips, n_features), got shape {data.shape}"
            )
        if not np.isfinite(data).all():
            raise ParameterError("cnn1d input contains NaN or infinite values")
        if n_inputs is not None and data.shape[1] != n_inputs:
            raise ParameterError(
                f"X has {data.shape[1]} features, but the network was trained on {n_inputs}"
            )
        return data

    def prepare(self, data: np.ndarray, config: CNN1DConfig) -> np.ndarray:
        return data

    def n_inputs(self, data: np.ndarray) -> int:
        return int(data.shape[1])

    def build(
        self, config: CNN1DConfig, n_inputs: int, n_classes: int, data: np.ndarray | None
    ) -> CNN1D:
        net = CNN1D(n_inputs, n_classes, config)
        if data is not None:
            mean = data.astype(np.float64).mean(axis=0)
            scale = data.astype(np.float64).std(axis=0)
            scale[scale < 1e-8] = 1.0
            net.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            net.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
        return net

    def optimizer(self, params: Any, *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        # Keras' RMSprop defaults (rho 0.9, epsilon 1e-7), as in the seed notebook
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, weight_decay=weight_decay)

    def scheduler(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int):
        return None

    def train_batches(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        *,
        config: CNN1DConfig,
        batch_size: int,
        rng: np.random.Generator,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = rng.permutation(len(data))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            yield torch.from_numpy(data[rows]), torch.from_numpy(targets[rows])

    def forward_train(
        self, module: nn.Module, x: torch.Tensor, target: torch.Tensor, *, config: CNN1DConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return module(x), target

    def eval_batches(
        self, data: np.ndarray, *, config: CNN1DConfig, batch_size: int
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        for start in range(0, len(data), batch_size):
            rows = np.arange(start, min(start + batch_size, len(data)))
            yield rows, torch.from_numpy(data[rows])

    def example_input(self, n_inputs: int) -> torch.Tensor:
        return torch.zeros(2, n_inputs)


RECIPE = _CNN1DRecipe()
