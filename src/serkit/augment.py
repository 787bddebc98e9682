"""Degradations that real recordings bring: telephone band, codecs, noise, reverberation, gain, EQ.

Each degradation is a frozen dataclass (hashable, so it can key the feature
cache) with ``apply(y, sr, rng) -> y`` on mono float32 signals. They serve two
jobs: augmenting training data so models hold up on other recordings, and
degrading test clips in ``benchmarks/robustness.py`` to measure how much they do.

:func:`sample_chain` draws one random chain per *session* (a speaker's copy of
the training data), so every clip of that session shares one channel, as the
clips of one call or one microphone do; only noise samples differ per clip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import _ffmpeg
from ._errors import ParameterError
from .audio import resample

__all__ = [
    "Chain",
    "Equalizer",
    "Gain",
    "Mp3",
    "Noise",
    "Reverb",
    "Telephone",
    "sample_chain",
    "signal_rng",
]


def signal_rng(y: np.ndarray, seed: int) -> np.random.Generator:
    """A generator seeded by a signal's content and a seed: the same clip, the same draw."""
    digest = hashlib.sha256(np.ascontiguousarray(y, dtype=np.float32).tobytes()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _active_power(y: np.ndarray, sr: int) -> float:
    """Mean power of the loudest frames (within 30 dB of the peak): the speech level."""
    frame = max(1, int(0.025 * sr))
    n = len(y) // frame
    if n == 0:
        return float(np.mean(np.square(y, dtype=np.float64)) + 1e-12)
    power = np.mean(np.square(y[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    active = power[power >= power.max() * 1e-3]
    return float(active.mean() + 1e-12)


def _finish(y: np.ndarray) -> np.ndarray:
    """float32, and scaled down only if a degradation pushed it past full scale."""
    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    return y / peak * 0.99 if peak > 0.99 else y


@dataclass(frozen=True)
class Telephone:
    """Narrow-band telephone channel: 300-3400 Hz band, 8 kHz, G.711 mu-law companding.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).normal(0, 0.1, 16000).astype("float32")
    >>> Telephone().apply(y, 16000, np.random.default_rng(0)).shape
    (16000,)
    """

    name: ClassVar[str] = "telephone"
    low_hz: float = 300.0
    high_hz: float = 3400.0
    rate: int = 8000
    mu_law: bool = True

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        from scipy.signal import butter, sosfilt

        sos = butter(
            4, [self.low_hz, min(self.high_hz, 0.45 * sr)], btype="band", fs=sr, output="sos"
        )
        narrow = resample(sosfilt(sos, y).astype(np.float32), sr, self.rate)
        if self.mu_law:
            mu = 255.0
            x = np.clip(narrow, -1, 1)
            coded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
            coded = np.round(coded * 127) / 127  # 8-bit code words
            narrow = (np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu).astype(
                np.float32
            )
        out = resample(narrow, self.rate, sr)
        return _finish(out[: len(y)] if len(out) >= len(y) else np.pad(out, (0, len(y) - len(out))))


@dataclass(frozen=True)
class Mp3:
    """MP3 round trip: encoded by libsndfile (LAME), decoded by FFmpeg (as ``audio.load``).

    ``compression`` in [0, 0.95]: higher is smaller and worse (0.9 is about
    12 kbit/s at 16 kHz).
    """

    name: ClassVar[str] = "mp3"
    compression: float = 0.9

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        import soundfile as sf

        if not 0.0 <= self.compression <= 0.95:
            raise ParameterError(f"compression must be in [0, 0.95]; got {self.compression}")
        buf = io.BytesIO()
        sf.write(buf, np.clip(y, -1, 1), sr, format="MP3", compression_level=self.compression)
        buf.seek(0)
        # FFmpeg, not libsndfile's mpg123, which prints to the terminal on some 16 kHz MP3s
        with _ffmpeg.Reader(buf, "<mp3 round trip>", "mp3") as reader:
            out = np.concatenate([m for m, _ in reader.blocks(-1, max_channels=2)])
            rate = reader.sample_rate
        out = resample(out, rate, sr) if rate != sr else out
        return _finish(out[: len(y)] if len(out) >= len(y) else np.pad(out, (0, len(y) - len(out))))


@dataclass(frozen=True)
class Noise:
    """Additive noise at a signal-to-noise ratio measured on the speech frames.

    ``color``: ``white``, ``pink`` (1/f, like much room and fan noise) or
    ``brown`` (1/f^2, rumble).
    """

    name: ClassVar[str] = "noise"
    snr_db: float = 10.0
    color: str = "pink"

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(self.color)
        if exponent is None:
            raise ParameterError(f"color must be white, pink or brown; got {self.color!r}")
        white = rng.standard_normal(len(y))
        if exponent:
            spectrum = np.fft.rfft(white)
            freqs = np.fft.rfftfreq(len(y), 1 / sr)
            spectrum /= np.maximum(freqs, 20.0) ** (exponent / 2)
            white = np.fft.irfft(spectrum, n=len(y))
        noise = white / np.sqrt(np.mean(white**2) + 1e-20)
        scale = np.sqrt(_active_power(y, sr) / 10 ** (self.snr_db / 10))
        return _finish(y + scale * noise)


@dataclass(frozen=True)
class Reverb:
    """Room reverberation from a synthetic impulse response (exponentially decaying noise).

    ``rt60`` is the time in seconds for the tail to fall by 60 dB; ``wet`` the
    share of reverberant energy.
    """

    name: ClassVar[str] = "reverb"
    rt60: float = 0.5
    wet: float = 0.5

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        from scipy.signal import fftconvolve

        n = max(1, int(self.rt60 * sr))
        t = np.arange(n) / sr
        tail = rng.standard_normal(n) * np.exp(-6.91 * t / max(self.rt60, 1e-3))
        tail /= np.sqrt(np.sum(tail**2) + 1e-20)
        wet = fftconvolve(y, tail)[: len(y)]
        dry_power = np.mean(y.astype(np.float64) ** 2) + 1e-20
        wet *= np.sqrt(dry_power / (np.mean(wet**2) + 1e-20))
        out = np.sqrt(1 - self.wet) * y + np.sqrt(self.wet) * wet
        return _finish(out)


@dataclass(frozen=True)
class Gain:
    """Level change in dB (clipped at full scale, as a hot microphone input is)."""

    name: ClassVar[str] = "gain"
    db: float = -6.0

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        return np.clip(y * 10 ** (self.db / 20), -1, 1).astype(np.float32)


@dataclass(frozen=True)
class Equalizer:
    """A microphone's colour: high-pass at ``highpass_hz`` and a spectral tilt in dB/octave."""

    name: ClassVar[str] = "eq"
    highpass_hz: float = 100.0
    tilt_db_per_octave: float = -2.0

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        spectrum = np.fft.rfft(y.astype(np.float64))
        freqs = np.maximum(np.fft.rfftfreq(len(y), 1 / sr), 1.0)
        octaves = np.log2(freqs / 1000.0)
        gain_db = self.tilt_db_per_octave * octaves
        gain = 10 ** (gain_db / 20) / np.sqrt(1 + (self.highpass_hz / freqs) ** 4)
        out = np.fft.irfft(spectrum * gain, n=len(y))
        out *= np.sqrt(_active_power(y, sr) / _active_power(out, sr))
        return _finish(out)


_STEPS = {cls.name: cls for cls in (Telephone, Mp3, Noise, Reverb, Gain, Equalizer)}


@dataclass(frozen=True)
class Chain:
    """Degradations applied in order, with a seed for their random parts.

    The random draws for a clip come from :func:`signal_rng` (its content and
    ``seed``), so the same clip always gets the same noise.
    """

    name: ClassVar[str] = "chain"
    steps: tuple[Any, ...] = ()
    seed: int = 0

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = rng if rng is not None else signal_rng(y, self.seed)
        out = np.asarray(y, dtype=np.float32)
        for step in self.steps:
            out = step.apply(out, sr, rng)
        return out

    def __call__(self, y: np.ndarray, sr: int) -> np.ndarray:
        return self.apply(y, sr)

    def spec(self) -> dict[str, Any]:
        """JSON-ready identity (names and settings of the steps, and the seed)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "steps": [{"name": s.name, **dataclasses.asdict(s)} for s in self.steps],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Chain:
        """Rebuild a chain from :meth:`spec`."""
        steps = []
        for item in spec.get("steps", []):
            params = {k: v for k, v in item.items() if k != "name"}
            if item.get("name") not in _STEPS:
                raise ParameterError(f"unknown degradation {item.get('name')!r}")
            steps.append(_STEPS[item["name"]](**params))
        return cls(steps=tuple(steps), seed=int(spec.get("seed", 0)))


def sample_chain(
    rng: np.random.Generator,
    *,
    seed: int = 0,
    p_eq: float = 0.5,
    p_reverb: float = 0.3,
    p_noise: float = 0.6,
    snr_db: tuple[float, float] = (0.0, 30.0),
    p_telephone: float = 0.25,
    p_mp3: float = 0.33,
    p_gain: float = 0.5,
    vary_telephone: bool = False,
) -> Chain:
    """Draw the channel of one training session: which degradations, with which settings.

    With the defaults: microphone EQ 0.5, reverberation 0.3, noise 0.6 (SNR 0-30 dB,
    pink/white/brown), telephone band 0.25, MP3 0.25 (0.33 of the sessions without
    telephone band), gain 0.5 (-12..+6 dB). The defaults give the same chains, draw for
    draw, as they always have (the feature cache of augmented copies keys on them).

    Parameters
    ----------
    rng : np.random.Generator
        Source of every draw.
    seed : int
        Seed of the chain's own random parts (noise samples, impulse responses).
    p_eq, p_reverb, p_noise, p_telephone, p_gain : float in [0, 1]
        Probability of each degradation.
    snr_db : (float, float)
        Range of the noise SNR, drawn uniformly.
    p_mp3 : float in [0, 1]
        Probability of an MP3 round trip for a session *without* telephone band.
    vary_telephone : bool
        Draw the telephone band edges (low 200-400 Hz, high 3000-3800 Hz) and whether
        mu-law companding is applied (p = 0.7), instead of the fixed 300-3400 Hz G.711
        channel, so a model does not learn one exact telephone filter.

    Returns
    -------
    Chain

    Examples
    --------
    >>> chain = sample_chain(np.random.default_rng(0), p_telephone=1.0)
    >>> "telephone" in [step.name for step in chain.steps]
    True
    """
    for key, p in (
        ("p_eq", p_eq),
        ("p_reverb", p_reverb),
        ("p_noise", p_noise),
        ("p_telephone", p_telephone),
        ("p_mp3", p_mp3),
        ("p_gain", p_gain),
    ):
        if not 0.0 <= p <= 1.0:
            raise ParameterError(f"{key} must lie in [0, 1]; got {p}")
    lo_snr, hi_snr = (float(v) for v in snr_db)
    if not lo_snr <= hi_snr:
        raise ParameterError(f"snr_db must be (low, high) with low <= high; got {snr_db}")
    steps: list[Any] = []
    if rng.random() < p_eq:
        steps.append(
            Equalizer(
                highpass_hz=float(rng.uniform(50, 300)),
                tilt_db_per_octave=float(rng.uniform(-4, 3)),
            )
        )
    if rng.random() < p_reverb:
        steps.append(Reverb(rt60=float(rng.uniform(0.2, 0.9)), wet=float(rng.uniform(0.2, 0.6))))
    if rng.random() < p_noise:
        color = str(rng.choice(["pink", "white", "brown"]))
        steps.append(Noise(snr_db=float(rng.uniform(lo_snr, hi_snr)), color=color))
    if rng.random() < p_telephone:
        if vary_telephone:
            steps.append(
                Telephone(
                    low_hz=float(rng.uniform(200, 400)),
                    high_hz=float(rng.uniform(3000, 3800)),
                    mu_law=bool(rng.random() < 0.7),
                )
            )
        else:
            steps.append(Telephone())
    elif rng.random() < p_mp3:
        steps.append(Mp3(compression=float(rng.uniform(0.5, 0.95))))
    if rng.random() < p_gain:
        steps.append(Gain(db=float(rng.uniform(-12, 6))))
    return Chain(steps=tuple(steps), seed=seed)
