"""SpecNet: a compact CNN over log-mel frames, with attentive statistics pooling.

The network reads a clip's log-mel frames [shape=(n_frames, n_mels)] of any
length. It normalises them per utterance, runs a small 2-D CNN over
frequency x time, folds the frequency axis into channels, projects each time
step to an embedding, and pools over time with attentive statistics (an
attention-weighted mean and standard deviation) before a linear classifier.

Training-only steps live here too and are applied by the recipe, never by the
network's ``forward`` (so evaluation and ONNX export see the plain network):

- :func:`random_crops`: fixed-length random crops of each clip (short clips are
  tiled);
- :func:`spec_augment`: frequency and time masks on the normalised frames;
- :func:`mixup`: convex mixes of pairs of clips and of their targets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import ParameterError

__all__ = [
    "SpecNet",
    "SpecNetConfig",
    "UtteranceNorm",
    "mixup",
    "random_crops",
    "spec_augment",
    "trim_silence",
]

_ARCHS = ("cnn2d", "tdnn")
_NORMS = ("band", "mean", "global", "none")
_POOLINGS = ("attention", "stats", "mean")
_INFERENCE = ("full", "crops")


@dataclass(frozen=True)
class SpecNetConfig:
    """Settings of :class:`SpecNet` and of its training recipe.

    Parameters
    ----------
    arch : {"cnn2d", "tdnn"}, default="cnn2d"
        Front end: a 2-D CNN over frequency x time, or a 1-D time-delay network
        (mel bands as channels, dilated residual convolutions).
    channels : int >= 1, default=16
        ``cnn2d``: filters of the first stage (the next use 2x, 4x, 4x).
        ``tdnn``: 8x this many channels in every layer.
    embedding : int >= 1, default=128
        Width of the per-frame embedding that is pooled.
    pooling : {"attention", "stats", "mean"}, default="attention"
        Attentive statistics, plain mean+std, or mean over time.
    dropout : float in [0, 1), default=0.3
        Dropout before the classifier.
    norm : {"band", "mean", "global", "none"}, default="mean"
        Per-utterance normalisation: per band z-score over time (``"band"``),
        per band mean removal (``"mean"``), one mean and standard deviation over
        the whole clip (``"global"``), or none.
    floor_db : float > 0 or None, default=80.0
        Inside the network, before normalisation: raise every value to at least
        the clip's maximum minus ``floor_db`` dB, so digital silence (-100 dB)
        does not dominate the statistics. ``None`` keeps values as they are.
    trim_db : float > 0 or None, default=50.0
        Before the network (training and inference, see :func:`trim_silence`):
        drop leading and trailing frames more than ``trim_db`` dB below the
        clip's loudest frame. ``None`` keeps whole clips.
    crop_frames : int >= 8, default=250
        Length of the random training crops (100 frames per second).
    freq_masks, time_masks : int >= 0, default=2
        SpecAugment masks per training crop.
    freq_mask_width, time_mask_width : int >= 1, default=8, 30
        Largest mask, in bands and frames.
    mixup : float >= 0, default=0.2
        ``alpha`` of the Beta(alpha, alpha) mixing weight; 0 turns mixup off.
    inference : {"full", "crops"}, default="full"
        Whole clips at inference, or the mean of the logits of ``crop_frames``
        crops overlapping by half.
    """

    arch: str = "cnn2d"
    channels: int = 16
    embedding: int = 128
    pooling: str = "attention"
    dropout: float = 0.3
    norm: str = "mean"
    floor_db: float | None = 80.0
    trim_db: float | None = 50.0
    crop_frames: int = 250
    freq_masks: int = 2
    freq_mask_width: int = 8
    time_masks: int = 2
    time_mask_width: int = 30
    mixup: float = 0.2
    inference: str = "full"

    def __post_init__(self) -> None:
        for name, low in (
            ("channels", 1),
            ("embedding", 1),
            ("crop_frames", 8),
            ("freq_masks", 0),
            ("time_masks", 0),
            ("freq_mask_width", 1),
            ("time_mask_width", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {name}={value!r}")
        for name, allowed in (
            ("arch", _ARCHS),
            ("pooling", _POOLINGS),
            ("norm", _NORMS),
            ("inference", _INFERENCE),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got dropout={self.dropout!r}")
        for name in ("floor_db", "trim_db"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if not self.mixup >= 0:
            raise ValueError(f"mixup must be >= 0, got mixup={self.mixup!r}")


class UtteranceNorm(nn.Module):
    """Per-utterance normalisation of log-mel frames [shape=(batch, n_frames, n_mels)].

    Parameters
    ----------
    mode : {"band", "mean", "global", "none"}
        See :class:`SpecNetConfig`.
    floor_db : float > 0 or None
        First raise values to at least the clip's maximum minus ``floor_db``.

    Examples
    --------
    >>> x = torch.arange(12.0).reshape(1, 4, 3)
    >>> UtteranceNorm("mean")(x)[0, :, 0]
    tensor([-4.5000, -1.5000,  1.5000,  4.5000])
    """

    def __init__(self, mode: str = "mean", floor_db: float | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.floor_db = floor_db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames, same shape as ``x``."""
        if self.floor_db is not None:
            peak = x.amax(dim=(1, 2), keepdim=True)
            x = torch.maximum(x, peak - self.floor_db)
        if self.mode == "band":
            mean = x.mean(dim=1, keepdim=True)
            std = x.std(dim=1, keepdim=True, unbiased=False)
            return (x - mean) / (std + 1e-5)
        if self.mode == "mean":
            return x - x.mean(dim=1, keepdim=True)
        if self.mode == "global":
            mean = x.mean(dim=(1, 2), keepdim=True)
            std = x.std(dim=(1, 2), keepdim=True, unbiased=False)
            return (x - mean) / (std + 1e-5)
        return x


def _conv_block(c_in: int, c_out: int, pool: tuple[int, int] | None, stride: int = 1):
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]
    if pool is not None:
        layers.append(nn.MaxPool2d(pool))
    return nn.Sequential(*layers)


class _CNN2D(nn.Module):
    """(batch, t, n_mels) -> (batch, 4c * (n_mels // 16), t // 8): four 3x3 conv stages."""

    def __init__(self, n_mels: int, c: int) -> None:
        super().__init__()
        self.stages = nn.Sequential(
            _conv_block(1, c, None, stride=2),
            _conv_block(c, 2 * c, (2, 2)),
            _conv_block(2 * c, 4 * c, (2, 2)),
            _conv_block(4 * c, 4 * c, (2, 1)),
        )
        self.out_channels = 4 * c * (n_mels // 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stages(z.transpose(1, 2).unsqueeze(1))  # (batch, 4c, n_mels / 16, t / 8)
        return torch.flatten(h, 1, 2)


def _tdnn_layer(c_in: int, c_out: int, kernel: int, dilation: int = 1, stride: int = 1):
    return nn.Sequential(
        nn.Conv1d(
            c_in,
            c_out,
            kernel,
            stride=stride,
            dilation=dilation,
            padding=dilation * (kernel // 2),
            bias=False,
        ),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    )


class _Residual(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.block(h)


class _TDNN(nn.Module):
    """(batch, t, n_mels) -> (batch, 8c, t // 4): dilated residual 1-D convolutions."""

    def __init__(self, n_mels: int, c: int) -> None:
        super().__init__()
        width = 8 * c
        self.layers = nn.Sequential(
            _tdnn_layer(n_mels, width, 5, stride=2),
            _Residual(_tdnn_layer(width, width, 3, 1)),
            _Residual(_tdnn_layer(width, width, 3, 2)),
            _tdnn_layer(width, width, 3, stride=2),
            _Residual(_tdnn_layer(width, width, 3, 2)),
            _Residual(_tdnn_layer(width, width, 3, 4)),
        )
        self.out_channels = width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z.transpose(1, 2))


class _Pooling(nn.Module):
    """Pool [shape=(batch, channels, time)] over time: attentive stats, stats or mean."""

    def __init__(self, channels: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode == "attention":
            self.attention = nn.Sequential(
                nn.Conv1d(channels, channels // 2, 1), nn.Tanh(), nn.Conv1d(channels // 2, 1, 1)
            )

    @property
    def out_features(self) -> int:
        return 1 if self.mode == "mean" else 2

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.mode == "mean":
            return h.mean(dim=2)
        if self.mode == "attention":
            weights = torch.softmax(self.attention(h), dim=2)
        else:
            weights = torch.full_like(h[:, :1], 1.0 / h.shape[2])
        mean = (h * weights).sum(dim=2)
        var = ((h - mean.unsqueeze(2)) ** 2 * weights).sum(dim=2)
        return torch.cat([mean, torch.sqrt(var.clamp_min(1e-6))], dim=1)


class SpecNet(nn.Module):
    """Compact CNN over log-mel frames with attentive statistics pooling.

    ``arch="cnn2d"`` (default): a strided 3x3 stem and three 3x3 conv stages
    (batch norm, ReLU, max-pool) with ``c, 2c, 4c, 4c`` filters shrink frequency
    by 16 and time by 8; the remaining frequency bins fold into channels.
    ``arch="tdnn"``: 1-D dilated residual convolutions with the mel bands as
    channels, time shrunk by 4. Either way a 1x1 convolution makes an
    ``embedding``-wide vector per time step, pooling over time gives one vector
    per clip, and a linear layer gives the logits. Per-utterance normalisation
    (:class:`UtteranceNorm`) is the first layer, so the network takes raw
    log-mel dB values.

    Parameters
    ----------
    n_mels : int >= 16
        Mel bands per frame.
    n_classes : int >= 2
        Output classes.
    config : SpecNetConfig
        Architecture (the recipe's fields are ignored here).

    Examples
    --------
    >>> net = SpecNet(64, 8, SpecNetConfig(channels=4, embedding=16)).eval()
    >>> net(torch.zeros(2, 300, 64)).shape
    torch.Size([2, 8])
    """

    def __init__(self, n_mels: int, n_classes: int, config: SpecNetConfig) -> None:
        super().__init__()
        self.norm = UtteranceNorm(config.norm, config.floor_db)
        if config.arch == "cnn2d":
            self.encoder: nn.Module = _CNN2D(n_mels, config.channels)
        else:
            self.encoder = _TDNN(n_mels, config.channels)
        self.project = nn.Sequential(
            nn.Conv1d(self.encoder.out_channels, config.embedding, 1, bias=False),
            nn.BatchNorm1d(config.embedding),
            nn.ReLU(),
        )
        self.pool = _Pooling(config.embedding, config.pooling)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(config.embedding * self.pool.out_features, n_classes),
        )

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Logits [shape=(batch, n_classes)] of *normalised* frames [shape=(batch, t, n_mels)]."""
        return self.head(self.pool(self.project(self.encoder(z))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [shape=(batch, n_classes)] of raw log-mel frames [shape=(batch, t, n_mels)].

        ``t`` must be at least 8.
        """
        return self.classify(self.norm(x))


# ---------------------------------------------------------------------------- preparation


def trim_silence(frames: np.ndarray, *, top_db: float = 50.0, margin: int = 5) -> np.ndarray:
    """Drop leading and trailing frames far below the clip's loudest frame.

    A frame's level is its loudest band (dB). Frames from the first to the last
    one within ``top_db`` of the clip's loudest level are kept, plus ``margin``
    frames each side; at least 8 frames are always kept.

    Parameters
    ----------
    frames : np.ndarray [shape=(n_frames, n_mels)]
        Log-mel frames in dB.
    top_db : float > 0, default=50.0
        Threshold below the clip's peak.
    margin : int >= 0, default=5
        Extra frames kept on each side.

    Returns
    -------
    np.ndarray [shape=(n_kept, n_mels)]
        A view of ``frames``.

    Examples
    --------
    >>> x = np.full((100, 16), -100.0)
    >>> x[40:60] = -20.0
    >>> trim_silence(x, top_db=50).shape
    (30, 16)
    """
    level = frames.max(axis=1)
    loud = np.flatnonzero(level >= level.max() - top_db)
    start = max(int(loud[0]) - margin, 0)
    stop = min(int(loud[-1]) + 1 + margin, len(frames))
    if stop - start < 8:
        start = max(min(start, len(frames) - 8), 0)
        stop = min(start + 8, len(frames))
    return frames[start:stop]


# ---------------------------------------------------------------------------- augmentation


def random_crops(clips: Sequence[np.ndarray], length: int, rng: np.random.Generator) -> np.ndarray:
    """One random crop of ``length`` frames from each clip; shorter clips are tiled first.

    Parameters
    ----------
    clips : sequence of np.ndarray [shape=(n_frames, n_mels)]
        Log-mel frames of each clip.
    length : int > 0
        Crop length in frames.
    rng : np.random.Generator
        Source of the crop offsets.

    Returns
    -------
    np.ndarray [shape=(len(clips), length, n_mels), dtype=float32]

    Examples
    --------
    >>> clips = [np.arange(10.0)[:, None], np.arange(3.0)[:, None]]
    >>> random_crops(clips, 4, np.random.default_rng(0))[:, :, 0]
    array([[5., 6., 7., 8.],
           [1., 2., 0., 1.]], dtype=float32)
    """
    out = np.empty((len(clips), length, clips[0].shape[1]), dtype=np.float32)
    for i, clip in enumerate(clips):
        if len(clip) < length:
            clip = np.tile(clip, (-(-length // len(clip)), 1))
        start = int(rng.integers(0, len(clip) - length + 1))
        out[i] = clip[start : start + length]
    return out


def spec_augment(
    z: torch.Tensor,
    *,
    freq_masks: int = 2,
    freq_width: int = 8,
    time_masks: int = 2,
    time_width: int = 30,
) -> torch.Tensor:
    """SpecAugment masks (set to 0, the mean after normalisation), drawn per clip.

    Parameters
    ----------
    z : torch.Tensor [shape=(batch, n_frames, n_mels)]
        Normalised frames.
    freq_masks, time_masks : int >= 0
        Masks per clip.
    freq_width, time_width : int >= 1
        Largest mask width (bands, frames); each width is uniform in ``[0, width]``.

    Returns
    -------
    torch.Tensor [shape=(batch, n_frames, n_mels)]
        A masked copy; draws use torch's global generator.
    """
    batch, n_frames, n_mels = z.shape
    keep = torch.ones_like(z)
    for n_masks, width, axis, size in (
        (freq_masks, freq_width, 2, n_mels),
        (time_masks, time_width, 1, n_frames),
    ):
        if n_masks == 0:
            continue
        positions = torch.arange(size).view(1, 1, size)
        w = torch.randint(0, min(width, size) + 1, (batch, n_masks, 1))
        start = (torch.rand(batch, n_masks, 1) * (size - w + 1)).floor()
        masked = ((positions >= start) & (positions < start + w)).any(dim=1)  # (batch, size)
        shape = (batch, 1, size) if axis == 2 else (batch, size, 1)
        keep = keep * (~masked).view(shape).to(z.dtype)
    return z * keep


def mixup(z: torch.Tensor, target: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each clip with a random partner: ``lam * a + (1 - lam) * b`` for inputs and targets.

    Parameters
    ----------
    z : torch.Tensor [shape=(batch, ...)]
        Inputs.
    target : torch.Tensor [shape=(batch, n_classes)]
        Soft (one-hot) targets.
    alpha : float > 0
        Beta(alpha, alpha) parameter; one weight per clip, folded to ``lam >= 0.5``
        so each mix keeps its own clip dominant.

    Returns
    -------
    z_mixed, target_mixed : torch.Tensor
        Same shapes as the inputs.
    """
    batch = z.shape[0]
    lam = torch.distributions.Beta(alpha, alpha).sample((batch,))
    lam = torch.maximum(lam, 1 - lam)
    partner = torch.randperm(batch)
    shape = (batch,) + (1,) * (z.dim() - 1)
    z_mixed = lam.view(shape) * z + (1 - lam.view(shape)) * z[partner]
    t_mixed = lam.view(batch, 1) * target + (1 - lam.view(batch, 1)) * target[partner]
    return z_mixed, t_mixed


# ---------------------------------------------------------------------------- recipe


class _SpecNetRecipe:
    """How :class:`~serkit.models._torch.TorchClassifier` trains a :class:`SpecNet`."""

    name = "specnet"
    input_kind = "sequence"
    default_lr = 2e-3
    config_type = SpecNetConfig

    def check_input(self, X: Any, *, n_inputs: int | None = None) -> list[np.ndarray]:
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 3:
            items: Sequence[Any] = list(X)
        elif isinstance(X, np.ndarray) and X.dtype != object:
            raise ParameterError(
                "specnet needs a list of (n_frames, n_mels) log-mel arrays (or a 3-D array), "
                f"got an array of shape {X.shape}"
            )
        else:
            try:
                items = list(X)
            except TypeError as exc:
                raise ParameterError(
                    f"specnet needs a list of (n_frames, n_mels) arrays, got {type(X).__name__}"
                ) from exc
        if not items:
            raise ParameterError("specnet needs at least one clip, got none")
        data = []
        for i, item in enumerate(items):
            try:
                arr = np.ascontiguousarray(item, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"clip {i}: not an array of numbers ({exc})") from exc
            if arr.ndim != 2 or arr.shape[0] < 8 or arr.shape[1] < 16:
                raise ParameterError(
                    f"clip {i}: need (n_frames >= 8, n_mels >= 16) log-mel frames, "
                    f"got shape {arr.shape}"
                )
            if not np.isfinite(arr).all():
                raise ParameterError(f"clip {i}: contains NaN or infinite values")
            data.append(arr)
        widths = {a.shape[1] for a in data}
        if len(widths) > 1:
            raise ParameterError(f"clips have different numbers of mel bands: {sorted(widths)}")
        width = widths.pop()
        if n_inputs is not None and width != n_inputs:
            raise ParameterError(
                f"clips have {width} mel bands, but the network was trained on {n_inputs}"
            )
        return data

    def prepare(self, data: list[np.ndarray], config: SpecNetConfig) -> list[np.ndarray]:
        if config.trim_db is None:
            return data
        return [trim_silence(clip, top_db=config.trim_db) for clip in data]

    def n_inputs(self, data: list[np.ndarray]) -> int:
        return int(data[0].shape[1])

    def build(self, config: SpecNetConfig, n_inputs: int, n_classes: int, data: Any) -> SpecNet:
        return SpecNet(n_inputs, n_classes, config)

    def optimizer(self, params: Any, *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def scheduler(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int):
        # one cycle over the planned epochs: warm-up then cosine decay
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=max(epochs * steps_per_epoch, 2),
            pct_start=0.15,
        )

    def train_batches(
        self,
        data: list[np.ndarray],
        targets: np.ndarray,
        *,
        config: SpecNetConfig,
        batch_size: int,
        rng: np.random.Generator,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = rng.permutation(len(data))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            crops = random_crops([data[i] for i in rows], config.crop_frames, rng)
            yield torch.from_numpy(crops), torch.from_numpy(targets[rows])

    def forward_train(
        self, module: SpecNet, x: torch.Tensor, target: torch.Tensor, *, config: SpecNetConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = module.norm(x)
        z = spec_augment(
            z,
            freq_masks=config.freq_masks,
            freq_width=config.freq_mask_width,
            time_masks=config.time_masks,
            time_width=config.time_mask_width,
        )
        if config.mixup > 0 and len(z) > 1:
            z, target = mixup(z, target, config.mixup)
        return module.classify(z), target

    def eval_batches(
        self, data: list[np.ndarray], *, config: SpecNetConfig, batch_size: int
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        if config.inference == "crops":
            yield from self._crop_batches(data, config, batch_size)
            return
        # whole clips; clips of equal length share a batch (no padding, exact results)
        lengths = np.array([len(a) for a in data])
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            for start in range(0, len(rows), batch_size):
                part = rows[start : start + batch_size]
                yield part, torch.from_numpy(np.stack([data[i] for i in part]))

    def _crop_batches(
        self, data: list[np.ndarray], config: SpecNetConfig, batch_size: int
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        # crops of crop_frames overlapping by half; a clip's index repeats once per crop
        # and the caller averages the logits of repeated indices
        length, hop = config.crop_frames, max(config.crop_frames // 2, 1)
        rows: list[int] = []
        crops: list[np.ndarray] = []
        for i, clip in enumerate(data):
            if len(clip) < length:
                clip = np.tile(clip, (-(-length // len(clip)), 1))
            starts = list(range(0, len(clip) - length + 1, hop))
            if starts[-1] != len(clip) - length:
                starts.append(len(clip) - length)
            for start in starts:
                rows.append(i)
                crops.append(clip[start : start + length])
                if len(rows) == batch_size:
                    yield np.array(rows), torch.from_numpy(np.stack(crops))
                    rows, crops = [], []
        if rows:
            yield np.array(rows), torch.from_numpy(np.stack(crops))

    def example_input(self, n_inputs: int) -> torch.Tensor:
        return torch.zeros(1, 300, n_inputs)


RECIPE = _SpecNetRecipe()
