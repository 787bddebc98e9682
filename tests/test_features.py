"""Tests of the built-in feature extractors: seed, stats, egemaps, compare, logmel."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from importlib.metadata import version

import numpy as np
import pytest

from conftest import SR, tone, voice_like
from serkit import ParameterError
from serkit.audio import load, resample
from serkit.features import FeatureExtractor, available_feature_sets, get_extractor, spec_of
from serkit.features._logmel import LogMelFeatures
from serkit.features._opensmile import CompareFeatures, EgemapsFeatures
from serkit.features._seed import SEED_GROUPS, SeedFeatures, _median_rows
from serkit.features._stats import FUNCTIONALS, StatsFeatures

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

LIBROSA = tuple(int(part) for part in version("librosa").split(".")[:2])
OLD_YIN = "serkit's YIN follows librosa >= 0.11; librosa 0.10's yin gives other F0 values"
needs_librosa_011_yin = pytest.mark.skipif(LIBROSA < (0, 11), reason=OLD_YIN)
"""For tests that compare with ``librosa.yin``; serkit's features never call it."""

# compare is left out of the loops over every set: one clip in its own tests is enough
FAST_SPECS = ["seed", "seed:groups=mfcc+chroma+mel+contrast+tonnetz", "stats", "egemaps", "logmel"]


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return voice_like(dur=1.5, seed=1)


@pytest.fixture(scope="module")
def voice_8k_derived() -> np.ndarray:
    """Telephone-band audio: a voice made at 8 kHz, brought to 16 kHz as serkit.audio does."""
    return resample(voice_like(dur=1.5, sr=8000, f0=180.0, seed=2), 8000, SR)


def _noise(dur: float = 1.0, seed: int = 3) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(dur * SR))).astype(np.float32)


# --------------------------------------------------------------------------- registry and specs
def test_importing_features_loads_neither_librosa_nor_opensmile():
    code = (
        "import serkit.features, sys; print('librosa' in sys.modules, 'opensmile' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_all_sets_are_registered():
    assert {"seed", "stats", "egemaps", "compare", "logmel"} <= set(available_feature_sets())


@pytest.mark.parametrize(
    ("spec", "cls", "settings"),
    [
        ("seed:groups=mfcc+mel", SeedFeatures, {"groups": ("mfcc", "mel")}),
        ("seed:groups=tonnetz+mfcc", SeedFeatures, {"groups": ("mfcc", "tonnetz")}),
        ("stats:n_mfcc=13,pitch=false", StatsFeatures, {"n_mfcc": 13, "pitch": False}),
        ("stats:f0_min=75,deltas=no", StatsFeatures, {"f0_min": 75.0, "deltas": False}),
        (
            "stats:band_hz=300+3400,denoise=true,cmn=mean",
            StatsFeatures,
            {"band_hz": (300.0, 3400.0), "denoise": True, "cmn": "mean"},
        ),
        ("logmel:n_mels=40,fmax=7600", LogMelFeatures, {"n_mels": 40, "fmax": 7600.0}),
        ("egemaps", EgemapsFeatures, {}),
        ("compare", CompareFeatures, {}),
    ],
)
def test_spec_round_trip(spec, cls, settings):
    ext = get_extractor(spec)
    assert type(ext) is cls
    for key, value in settings.items():
        assert getattr(ext, key) == value
    spec_dict = spec_of(ext)
    assert spec_dict["name"] == cls.name
    again = get_extractor(spec_dict)
    assert again == ext
    assert hash(again) == hash(ext)
    assert isinstance(ext, FeatureExtractor)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ext.name_of_nothing = 1  # frozen: settings cannot change after construction


def test_seed_groups_are_stored_in_canonical_order_without_repeats():
    assert SeedFeatures(groups=("mel", "mfcc", "mel")).groups == ("mfcc", "mel")
    assert SeedFeatures(groups="chroma+mfcc").groups == ("mfcc", "chroma")
    assert SeedFeatures() == SeedFeatures(groups=("mel", "chroma", "mfcc"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("seed:groups=mfcc+pitch", "valid groups are mfcc, chroma, mel, contrast, tonnetz"),
        ("seed:groups=", "at least one"),
        ("stats:n_mfcc=26", "n_mfcc must lie in"),
        ("stats:f0_min=300,f0_max=200", "f0_min < f0_max"),
        ("stats:voicing_threshold=1.5", "voicing_threshold"),
        ("stats:colour=blue", "has no setting 'colour'"),
        ("stats:band_hz=3400+300", "band_hz must be () or (low, high)"),
        ("stats:band_hz=300", "band_hz must be () or (low, high)"),
        ("stats:band_hz=low+high", "band_hz must be empty or two frequencies"),
        ("stats:cmn=median", "cmn must be one of none, mean, meanvar"),
        ("logmel:n_mels=0", "n_mels must be >= 1"),
        ("logmel:win_dur=0.01,hop_dur=0.02", "hop_dur <= win_dur"),
        ("logmel:fmin=9000", "fmin < fmax"),
        ("egemaps:n_mels=3", "its settings are (none)"),
        ("mfcc", "unknown feature set 'mfcc'"),
    ],
)
def test_spec_validation_errors(spec, message):
    with pytest.raises(ParameterError) as info:
        get_extractor(spec)
    assert message in str(info.value)


def test_seed_groups_error_names_the_bad_group():
    with pytest.raises(ParameterError, match=r"'pitch'.*valid groups"):
        SeedFeatures(groups=("mfcc", "pitch"))
    with pytest.raises(ParameterError, match="at least one"):
        SeedFeatures(groups=())


# --------------------------------------------------------------------------- shapes and names
def test_seed_shapes_and_names(voice):
    ext = SeedFeatures()
    x = ext.extract(voice, SR)
    assert x.shape == (180,) and x.dtype == np.float32
    names = ext.feature_names()
    assert len(names) == 180 == ext.n_features
    assert names[:2] == ["mfcc_1", "mfcc_2"] and names[40] == "chroma_1" and names[-1] == "mel_128"
    full = SeedFeatures(groups=tuple(SEED_GROUPS))
    assert full.extract(voice, SR).shape == (193,)
    assert full.feature_names()[-7:] == ["contrast_7"] + [f"tonnetz_{i}" for i in range(1, 7)]
    assert SeedFeatures(groups=("tonnetz",)).extract(voice, SR).shape == (6,)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"pitch": False},
        {"deltas": False, "n_mfcc": 13, "n_mels": 20},
        {"band_hz": (300.0, 3400.0), "denoise": True, "cmn": "meanvar"},
    ],
)
def test_stats_names_match_vector(voice, settings):
    ext = StatsFeatures(**settings)
    x = ext.extract(voice, SR)
    names = ext.feature_names()
    assert x.shape == (len(names),) and x.dtype == np.float32
    assert len(set(names)) == len(names)
    assert np.all(np.isfinite(x))
    n_lld = ext.n_mfcc + ext.n_mels + 12 + (2 if ext.pitch else 0)
    n_globals = 2 + (9 if ext.pitch else 0)
    assert len(names) == n_lld * len(FUNCTIONALS) + (ext.n_mfcc if ext.deltas else 0) + n_globals
    assert "mfcc3_mean" in names and "rms_db_slope" in names
    assert ("f0_semitone_p90" in names) == ext.pitch
    assert ("mfcc3_delta_std" in names) == ext.deltas


def test_stats_default_size():
    assert StatsFeatures().n_features == 571


def test_logmel_shape_names_and_fixed_reference(voice):
    ext = LogMelFeatures()
    frames = ext.extract(voice, SR)
    assert frames.shape == (1 + len(voice) // 160, 64) and frames.dtype == np.float32
    assert ext.feature_names() == [f"logmel_{i}" for i in range(1, 65)]
    # the reference is fixed, not the clip's maximum: half the amplitude is 6 dB lower
    quieter = ext.extract(0.5 * voice, SR)
    loud = frames > -60
    np.testing.assert_allclose((frames - quieter)[loud], 20 * np.log10(2), atol=0.01)
    assert LogMelFeatures(n_mels=40).extract(voice, SR).shape[1] == 40


def test_egemaps_shape_and_names(voice):
    ext = EgemapsFeatures()
    x = ext.extract(voice, SR)
    names = ext.feature_names()
    assert x.shape == (88,) and len(names) == 88 and x.dtype == np.float32
    assert names[0] == "F0semitoneFrom27.5Hz_sma3nz_amean"
    assert np.all(np.isfinite(x))


def test_compare_shape_and_names():
    ext = CompareFeatures()
    x = ext.extract(voice_like(dur=1.5, seed=4), SR)
    names = ext.feature_names()
    assert x.shape == (6373,) and len(names) == 6373 and x.dtype == np.float32
    assert len(set(names)) == 6373
    assert np.all(np.isfinite(x))


def test_opensmile_full_scale_samples_do_not_wrap():
    # +1.0 times 32768 overflows int16 inside opensmile unless clipped first
    y = np.clip(4 * tone(150.0, dur=1.0), -1, 1)
    assert y.max() == 1.0
    x = EgemapsFeatures().extract(y, SR)
    ref = EgemapsFeatures().extract(np.clip(y, -1, 32767 / 32768), SR)
    np.testing.assert_array_equal(x, ref)


# --------------------------------------------------------------------------- robustness
@pytest.mark.parametrize("spec", FAST_SPECS)
def test_deterministic(spec, voice):
    ext = get_extractor(spec)
    np.testing.assert_array_equal(ext.extract(voice, SR), ext.extract(voice.copy(), SR))


@pytest.mark.parametrize("spec", FAST_SPECS)
@pytest.mark.parametrize("signal", ["voice", "voice_8k_derived", "noise", "tone"])
def test_finite_on_awkward_signals(spec, signal, voice, voice_8k_derived):
    y = {
        "voice": voice,
        "voice_8k_derived": voice_8k_derived,
        "noise": _noise(),
        "tone": tone(440.0, dur=0.5),
    }[signal]
    x = get_extractor(spec).extract(y, SR)
    assert x.dtype == np.float32
    assert np.all(np.isfinite(x)), f"{spec} gives NaN/inf on {signal}"


@pytest.mark.parametrize("spec", ["seed", "stats", "logmel", "egemaps"])
def test_native_8k_input(spec):
    y = voice_like(dur=1.0, sr=8000, f0=120.0, seed=5)
    x = get_extractor(spec).extract(y, 8000)
    assert np.all(np.isfinite(x))


def test_seed_contrast_needs_a_high_enough_rate():
    y = voice_like(dur=1.0, sr=8000)
    with pytest.raises(ParameterError, match="contrast group needs sr > 12800"):
        SeedFeatures(groups=("contrast",)).extract(y, 8000)


@pytest.mark.parametrize("spec", ["seed", "stats", "logmel", "egemaps"])
def test_bad_input_raises_parameter_error(spec):
    ext = get_extractor(spec)
    with pytest.raises(ParameterError, match="shape"):
        ext.extract(np.zeros((2, SR), dtype=np.float32), SR)
    with pytest.raises(ParameterError, match="sr must be a positive integer"):
        ext.extract(np.zeros(SR, dtype=np.float32), 0)


def test_stats_noise_has_no_voiced_frames_and_no_nan():
    ext = StatsFeatures()
    x = dict(zip(ext.feature_names(), ext.extract(_noise(2.0), SR), strict=True))
    assert not any(np.isnan(v) for v in x.values())
    assert x["voiced_ratio"] == 0.0
    pitch_values = [v for k, v in x.items() if k.startswith(("f0_", "hnr_db_", "voiced_seg"))]
    assert pitch_values and all(v == 0.0 for v in pitch_values)
    assert x["active_ratio"] > 0.9


def test_stats_rejects_non_finite_samples():
    y = tone(dur=0.5)
    y[100] = np.nan
    with pytest.raises(ParameterError, match="finite"):
        StatsFeatures().extract(y, SR)


def test_stats_digital_silence_is_finite():
    x = StatsFeatures().extract(np.zeros(SR, dtype=np.float32), SR)
    assert np.all(np.isfinite(x))


# --------------------------------------------------------------------------- stats channel options
def test_stats_channel_options_default_to_the_plain_set():
    plain = StatsFeatures()
    assert plain.band_hz == () and plain.denoise is False and plain.cmn == "none"
    assert StatsFeatures(band_hz=None) == plain
    assert StatsFeatures(band_hz=[300, 3400]).band_hz == (300.0, 3400.0)
    assert get_extractor(spec_of(StatsFeatures(band_hz=(300, 3400)))).band_hz == (300.0, 3400.0)


@pytest.mark.parametrize(
    "settings", [{"band_hz": (300.0, 3400.0)}, {"denoise": True}, {"cmn": "meanvar"}]
)
def test_stats_channel_options_on_silence_and_short_clips(settings):
    ext = StatsFeatures(**settings)
    for y in (np.zeros(SR, dtype=np.float32), tone(dur=0.05), _noise(0.5)):
        x = ext.extract(y, SR)
        assert x.shape == (ext.n_features,) and np.all(np.isfinite(x))


def test_stats_band_limit_ignores_energy_outside_the_band(voice):
    t = np.arange(len(voice)) / SR
    hum_and_hiss = 0.2 * np.sin(2 * np.pi * 100 * t) + 0.2 * np.sin(2 * np.pi * 6000 * t)
    louder = (voice + hum_and_hiss).astype(np.float32)
    banded = StatsFeatures(band_hz=(300.0, 3400.0))
    a, b = banded.extract(voice, SR), banded.extract(louder, SR)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
    # the full-band set sees the tones
    full = StatsFeatures()
    assert np.max(np.abs(full.extract(voice, SR) - full.extract(louder, SR))) > 1.0


def test_stats_band_limit_makes_telephone_speech_look_like_the_original(voice):
    from serkit.augment import Telephone

    phone = Telephone().apply(voice, SR, np.random.default_rng(0))
    names = StatsFeatures().feature_names()
    mfcc = [names.index(f"mfcc{i}_mean") for i in range(1, 21)]
    full, banded = StatsFeatures(), StatsFeatures(band_hz=(300.0, 3400.0))
    gap_full = np.abs(full.extract(voice, SR) - full.extract(phone, SR))[mfcc].mean()
    gap_banded = np.abs(banded.extract(voice, SR) - banded.extract(phone, SR))[mfcc].mean()
    assert gap_banded < 0.2 * gap_full


def test_stats_band_above_nyquist_is_clipped_or_refused(voice):
    assert np.all(np.isfinite(StatsFeatures(band_hz=(300.0, 20000.0)).extract(voice, SR)))
    with pytest.raises(ParameterError, match="above sr / 2"):
        StatsFeatures(band_hz=(9000.0, 12000.0)).extract(voice, SR)


def test_stats_cmn_gives_zero_mean_frames_per_utterance(voice):
    names = StatsFeatures().feature_names()
    index = {n: i for i, n in enumerate(names)}
    plain = StatsFeatures().extract(voice, SR)
    mean = StatsFeatures(cmn="mean").extract(voice, SR)
    meanvar = StatsFeatures(cmn="meanvar").extract(voice, SR)
    for lld in [f"mfcc{i}" for i in range(1, 21)] + [f"mel{i}" for i in range(1, 27)]:
        assert abs(mean[index[f"{lld}_mean"]]) < 1e-4
        assert abs(meanvar[index[f"{lld}_mean"]]) < 1e-4
        assert meanvar[index[f"{lld}_std"]] == pytest.approx(1.0, abs=1e-4)
        # centring shifts the percentiles by the mean and leaves the spread alone
        for func in ("p10", "p50", "p90"):
            assert mean[index[f"{lld}_{func}"]] == pytest.approx(
                plain[index[f"{lld}_{func}"]] - plain[index[f"{lld}_mean"]], abs=1e-3
            )
        assert mean[index[f"{lld}_std"]] == pytest.approx(plain[index[f"{lld}_std"]], rel=1e-4)
    # the other descriptors are untouched
    rest = [i for n, i in index.items() if not n.startswith(("mfcc", "mel"))]
    np.testing.assert_array_equal(mean[rest], plain[rest])


def test_stats_cmn_removes_a_fixed_channel_gain(voice):
    names = StatsFeatures().feature_names()
    mel = [i for i, n in enumerate(names) if n.startswith("mel")]
    quiet = (0.25 * voice).astype(np.float32)  # -12 dB on every band
    plain, centred = StatsFeatures(), StatsFeatures(cmn="mean")
    assert np.max(np.abs(plain.extract(voice, SR)[mel] - plain.extract(quiet, SR)[mel])) > 10
    np.testing.assert_allclose(
        centred.extract(voice, SR)[mel], centred.extract(quiet, SR)[mel], atol=1e-3
    )


def _voice_with_pauses() -> np.ndarray:
    pause = np.zeros(SR // 2, dtype=np.float32)
    return np.concatenate([pause, voice_like(dur=1.5, seed=1), pause])


def test_spectral_subtraction_passes_clean_speech_and_suppresses_steady_noise():
    from serkit.features._stats import _spectral_subtraction

    clean = _voice_with_pauses()
    np.testing.assert_allclose(_spectral_subtraction(clean, SR), clean, atol=1e-5)
    noise = (0.02 * np.random.default_rng(0).standard_normal(len(clean))).astype(np.float32)
    cleaned = _spectral_subtraction(clean + noise, SR)
    assert cleaned.shape == clean.shape and cleaned.dtype == np.float32

    def error_db(y: np.ndarray) -> float:
        return float(10 * np.log10(np.sum((y - clean) ** 2) / np.sum(clean**2)))

    assert error_db(cleaned) < error_db(clean + noise) - 5.0


def test_stats_denoise_brings_noisy_features_back_towards_clean():
    clean = _voice_with_pauses()
    noise = (0.02 * np.random.default_rng(0).standard_normal(len(clean))).astype(np.float32)
    names = StatsFeatures().feature_names()
    floor = names.index("rms_db_p10")
    mel = [names.index(f"mel{i}_p50") for i in range(1, 27)]
    gaps = {}
    for denoise in (False, True):
        ext = StatsFeatures(denoise=denoise)
        a, b = ext.extract(clean, SR), ext.extract(clean + noise, SR)
        gaps[denoise] = (abs(a[floor] - b[floor]), np.abs(a[mel] - b[mel]).mean())
    assert gaps[True][0] < 0.5 * gaps[False][0]  # the noise floor between words is gone
    assert gaps[True][1] < gaps[False][1]


def test_stats_pitch_and_voicing_of_a_voice():
    ext = StatsFeatures()
    y = voice_like(dur=2.0, f0=140.0, seed=6)
    x = dict(zip(ext.feature_names(), ext.extract(y, SR), strict=True))
    expected = 12 * np.log2(140.0 / 27.5)
    assert abs(x["f0_semitone_p50"] - expected) < 1.0
    # the glide is +-10 % (about +-1.7 semitones)
    assert 2.0 < x["f0_semitone_range_p10_p90"] < 4.5
    assert x["voiced_ratio"] > 0.8
    assert x["hnr_db_p50"] > 10


@needs_librosa_011_yin
def test_stats_pitch_frames_are_yins_frames(voice):
    import librosa

    ext = StatsFeatures()
    n_frames = 1 + len(voice) // 160
    wanted = np.zeros(n_frames, dtype=bool)
    wanted[[20, 90]] = True  # analyse frames 20..90 only
    f0, harmonicity = ext._pitch(voice, SR, 160, wanted)
    whole = librosa.yin(voice, fmin=60.0, fmax=600.0, sr=SR, frame_length=1024, hop_length=160)
    np.testing.assert_allclose(f0[20:91], whole[20:91], rtol=1e-5)
    assert np.all(f0[:20] == 60.0) and np.all(harmonicity[91:] == 0.0)
    # harmonicity is the normalised autocorrelation at yin's period
    frames = librosa.util.frame(np.pad(voice, 512), frame_length=1024, hop_length=160, axis=0)
    for t in (20, 55, 90):
        p = round(SR / f0[t])
        a, b = frames[t, : 1024 - p].astype(float), frames[t, p:].astype(float)
        assert harmonicity[t] == pytest.approx(a @ b / np.sqrt((a @ a) * (b @ b)), rel=1e-4)


@pytest.mark.parametrize("n", [2, 3, 8, 31, 40, 117])
def test_fast_median_equals_scipy(n):
    from scipy.ndimage import median_filter

    rng = np.random.default_rng(n)
    x = rng.random((50, n)).astype(np.float32)
    x[:, ::4] = 0.0  # ties
    expected = median_filter(x, size=(1, 31), mode="reflect")
    np.testing.assert_array_equal(_median_rows(x, 31), expected)


# --------------------------------------------------------------------------- the seed's numbers
def _relative_gap(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest ``|ours - ref| / max(|ref|, 1e-6 * max|ref|)`` over one group's values.

    Each value is compared with its own magnitude; values below a millionth of
    the group's largest (mel bands far above the speech band) are compared with
    that millionth instead, so float32 rounding of near-zero values cannot fail
    the test while every value that matters is held to the tolerance.
    """
    ref = np.asarray(ref, dtype=np.float64)
    floor = 1e-6 * np.max(np.abs(ref))
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), floor)))


def _assert_matches_seed(y: np.ndarray, sr: int) -> None:
    from seed_reference import extract_feature_signal

    for group in SEED_GROUPS:
        ours = SeedFeatures(groups=(group,)).extract(y, sr)
        ref = extract_feature_signal(y, sr, **{group: True})
        assert ours.shape == ref.shape
        assert _relative_gap(ours, ref) < 1e-4, group
    ours = SeedFeatures(groups=tuple(SEED_GROUPS)).extract(y, sr)
    ref = extract_feature_signal(y, sr, **dict.fromkeys(SEED_GROUPS, True))
    offset = 0
    for group, size in SEED_GROUPS.items():
        part = slice(offset, offset + size)
        assert _relative_gap(ours[part], ref[part]) < 1e-4, group
        offset += size
    assert offset == len(ref) == len(ours)


@pytest.mark.parametrize("signal", ["voice", "tone"])
def test_seed_matches_reference_on_generated_audio(signal, voice):
    y = voice if signal == "voice" else tone(220.0, dur=1.2)
    _assert_matches_seed(y, SR)


def test_seed_matches_reference_on_shared_clips(ravdess_root):
    clips = sorted(ravdess_root.glob("Actor_*/*.flac"))
    assert len(clips) >= 100
    for path in (clips[0], clips[len(clips) // 2], clips[-1]):
        y, sr = load(path)
        assert sr == SR
        _assert_matches_seed(y, sr)


# --------------------------------------------------------------------------- stats DSP vs librosa
# ``stats`` computes its STFT, mel filters, frames and YIN with serkit's own numpy code
# (serkit.features._dsp) so that librosa and numba stay out of a fresh process; these
# tests hold each kernel, and the whole vector, to what librosa gives.
RAVDESS_STATS_CLIPS = 30


def _dsp_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "voice": voice_like(dur=1.3, seed=8),
        "tone": tone(330.0, dur=0.7),
        "noise": (0.2 * rng.standard_normal(9001)).astype(np.float32),
        "quiet_noise": (1e-5 * rng.standard_normal(4000)).astype(np.float32),
        "silence": np.zeros(3000, dtype=np.float32),
        "voice_f64": voice_like(dur=0.6, seed=9).astype(np.float64),
    }


def _ravdess_clips(root, n: int = RAVDESS_STATS_CLIPS) -> list:
    clips = sorted(root.glob("Actor_*/*.flac"))
    assert len(clips) >= n
    return clips[:: len(clips) // n][:n]  # spread over actors and emotions


def _assert_stft_matches(y: np.ndarray, n_fft: int, hop: int, win: int) -> None:
    import librosa

    from serkit.features._dsp import stft

    ours = stft(y, n_fft=n_fft, hop_length=hop, win_length=win)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "n_fft=.* is too large", UserWarning)
        ref = librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, center=True)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    scale = max(float(np.abs(ref).max()), 1e-30)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale)


def _f0_mismatch(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Fraction of frames whose F0 differs (beyond 1e-6 relative), and the worst relative gap."""
    gap = np.abs(ours - ref) / ref
    return float(np.mean(gap > 1e-6)), float(gap.max())


@pytest.mark.parametrize(
    ("n_fft", "hop", "win"), [(512, 160, 400), (1024, 256, 1024), (256, 80, 201)]
)
@pytest.mark.parametrize("length", [1, 100, 255, 256, 257, 1000, 1601])
def test_dsp_stft_matches_librosa_at_every_length(n_fft, hop, win, length):
    y = voice_like(dur=0.2, seed=10)[:length]
    _assert_stft_matches(y, n_fft, hop, win)
    _assert_stft_matches(y.astype(np.float64), n_fft, hop, win)


@pytest.mark.parametrize("signal", sorted(_dsp_signals()))
def test_dsp_stft_matches_librosa(signal):
    _assert_stft_matches(_dsp_signals()[signal], 512, 160, 400)


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmin", "fmax"),
    [
        (16000, 512, 26, 20.0, 8000.0),  # what stats uses
        (16000, 512, 40, 20.0, 8000.0),
        (16000, 1024, 64, 0.0, 7600.0),
        (8000, 256, 20, 20.0, 4000.0),
        (22050, 2048, 128, 0.0, None),
        (16000, 512, 10, 500.0, 900.0),  # all below the 1 kHz knee of the Slaney scale
    ],
)
def test_dsp_mel_filters_match_librosa(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    from serkit.features._dsp import mel_filters

    ours = mel_filters(sr, n_fft, n_mels, fmin=fmin, fmax=fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * float(ref.max()))


def test_dsp_mel_scale_round_trips():
    from serkit.features._dsp import hz_to_mel, mel_to_hz

    hz = np.array([0.0, 20.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)
    assert float(hz_to_mel(1000.0)) == pytest.approx(15.0)


@pytest.mark.parametrize(("frame_length", "hop"), [(1024, 160), (5, 3), (7, 7), (10, 1)])
def test_dsp_frame_matches_librosa(frame_length, hop):
    import librosa

    from serkit.features._dsp import frame

    x = np.arange(1030, dtype=np.float32)
    ours = frame(x, frame_length, hop)
    np.testing.assert_array_equal(
        ours, librosa.util.frame(x, frame_length=frame_length, hop_length=hop, axis=0)
    )
    assert not ours.flags.writeable and np.shares_memory(ours, x)
    with pytest.raises(ValueError, match="shorter than frame_length"):
        frame(x[:4], 5, 1)


@needs_librosa_011_yin
@pytest.mark.parametrize("signal", sorted(_dsp_signals()))
@pytest.mark.parametrize(
    ("fmin", "fmax", "frame_length", "hop", "center"),
    [
        (60.0, 600.0, 1024, 160, False),  # what stats passes
        (60.0, 600.0, 1024, 160, True),
        (80.0, 400.0, 600, 100, True),  # frame length neither even-FFT-friendly nor a power of 2
        (150.0, 2000.0, 257, 64, False),
    ],
)
def test_dsp_yin_matches_librosa(signal, fmin, fmax, frame_length, hop, center):
    import librosa

    from serkit.features._dsp import yin

    y = _dsp_signals()[signal]
    args = dict(fmin=fmin, fmax=fmax, sr=SR, frame_length=frame_length, hop_length=hop)
    ours = yin(y, center=center, **args)
    ref = librosa.yin(y, center=center, **args)
    assert ours.shape == ref.shape
    differing, worst = _f0_mismatch(ours, ref)
    assert differing <= 0.01, f"{differing:.1%} of frames differ, worst by {worst:.2%}"


def test_dsp_yin_rejects_infeasible_settings():
    from serkit.features._dsp import yin

    y = tone(dur=0.2)
    with pytest.raises(ValueError, match="fmin < fmax"):
        yin(y, fmin=300, fmax=200, sr=SR, frame_length=1024, hop_length=160)
    with pytest.raises(ValueError, match="frame_length"):
        yin(y, fmin=30, fmax=600, sr=SR, frame_length=512, hop_length=160)


def test_stats_extraction_loads_neither_librosa_nor_numba():
    code = (
        "import sys, numpy as np, serkit.features as f\n"
        "t = np.arange(16000) / 16000\n"
        "y = (0.3 * np.sin(2 * np.pi * 150 * t)).astype('float32')\n"
        "f.get_extractor('stats').extract(y, 16000)\n"
        "print('librosa' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "settings", [{}, {"pitch": False}, {"n_mels": 40, "n_mfcc": 13, "f0_min": 75.0}]
)
@pytest.mark.parametrize("signal", ["voice", "tone", "noise"])
def test_stats_matches_librosa_reference_on_generated_audio(settings, signal):
    from stats_reference import extract_stats_reference

    if settings.get("pitch", True) and LIBROSA < (0, 11):
        pytest.skip(OLD_YIN)

    y = _dsp_signals()[signal]
    ours = StatsFeatures(**settings).extract(y, SR)
    ref = extract_stats_reference(y, SR, **settings)
    assert _relative_gap(ours, ref) < 1e-5


def test_stats_reference_really_uses_librosa():
    import stats_reference
    from serkit.features import _stats

    with stats_reference.librosa_kernels():
        assert _stats.yin is stats_reference.librosa_yin
    assert _stats.yin is not stats_reference.librosa_yin  # restored


@needs_librosa_011_yin
def test_dsp_kernels_match_librosa_on_shared_clips(ravdess_root):
    import librosa

    from serkit.features._dsp import mel_filters, yin

    ref_mel = librosa.filters.mel(sr=SR, n_fft=512, n_mels=26, fmin=20.0, fmax=SR / 2)
    np.testing.assert_allclose(mel_filters(SR, 512, 26, fmin=20.0, fmax=SR / 2), ref_mel, rtol=1e-5)
    n_frames = n_differing = 0
    for path in _ravdess_clips(ravdess_root):
        y, sr = load(path)
        _assert_stft_matches(y, 512, 160, 400)
        args = dict(fmin=60.0, fmax=600.0, sr=sr, frame_length=1024, hop_length=160)
        ours, ref = yin(y, **args), librosa.yin(y, **args)
        differing, worst = _f0_mismatch(ours, ref)
        n_frames += len(ref)
        n_differing += round(differing * len(ref))
        assert differing <= 0.01, f"{path.name}: {differing:.1%} of F0 frames differ ({worst:.2%})"
    assert n_differing <= 0.002 * n_frames


@needs_librosa_011_yin
def test_stats_matches_librosa_reference_on_shared_clips(ravdess_root):
    from stats_reference import extract_stats_reference

    ext = StatsFeatures()
    for path in _ravdess_clips(ravdess_root):
        y, sr = load(path)
        ours = ext.extract(y, sr)
        ref = extract_stats_reference(y, sr)
        assert _relative_gap(ours, ref) < 1e-5, path.name
