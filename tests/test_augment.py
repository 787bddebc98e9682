"""Degradations: shapes, levels, determinism, and their use in extraction and training."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SR, voice_like
from serkit import ParameterError
from serkit.augment import (
    Chain,
    Equalizer,
    Gain,
    Mp3,
    Noise,
    Reverb,
    Telephone,
    sample_chain,
    signal_rng,
)
from serkit.features import extract_files

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

ALL = [Telephone(), Mp3(), Noise(), Reverb(), Gain(), Equalizer()]


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.name)
def test_each_degradation_keeps_length_and_range(step):
    y = voice_like(dur=2.0)
    out = step.apply(y, SR, np.random.default_rng(0))
    assert out.shape == y.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
    assert not np.allclose(out, y)


def _band_energy(y, lo, hi):
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    return spectrum[(freqs >= lo) & (freqs < hi)].sum()


def test_telephone_removes_the_high_band():
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    out = Telephone().apply(y, SR, rng)
    assert _band_energy(out, 4500, 8000) < 1e-3 * _band_energy(y, 4500, 8000)
    assert _band_energy(out, 500, 3000) > 0.3 * _band_energy(y, 500, 3000)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_noise_hits_the_requested_snr(snr):
    y = voice_like(dur=2.0)
    out = Noise(snr_db=snr, color="white").apply(y, SR, np.random.default_rng(0))
    noise = out - y
    from serkit.augment import _active_power

    measured = 10 * np.log10(_active_power(y, SR) / np.mean(noise.astype(np.float64) ** 2))
    assert measured == pytest.approx(snr, abs=0.5)


def test_gain_changes_level_by_db():
    y = voice_like() * 0.5
    out = Gain(db=-6.0).apply(y, SR, np.random.default_rng(0))
    assert np.max(np.abs(out)) / np.max(np.abs(y)) == pytest.approx(10 ** (-6 / 20), rel=1e-4)


def test_chain_is_deterministic_per_clip_and_round_trips():
    chain = sample_chain(np.random.default_rng(3), seed=9)
    y = voice_like(seed=1)
    np.testing.assert_array_equal(chain(y, SR), chain(y, SR))
    assert Chain.from_spec(chain.spec()) == chain
    other = voice_like(seed=2)
    # the random parts depend on the clip's content
    assert signal_rng(y, 9).random() != signal_rng(other, 9).random()
    with pytest.raises(ParameterError):
        Chain.from_spec({"steps": [{"name": "flanger"}]})
    with pytest.raises(ParameterError):
        Noise(color="purple").apply(y, SR, np.random.default_rng(0))


def test_sampled_chains_vary_and_are_reproducible():
    chains = [sample_chain(np.random.default_rng(i)) for i in range(30)]
    kinds = {s.name for c in chains for s in c.steps}
    assert {"telephone", "mp3", "noise", "reverb", "gain", "eq"} <= kinds
    assert sample_chain(np.random.default_rng(5)) == sample_chain(np.random.default_rng(5))


def test_sampled_chains_with_the_default_mix_are_the_ones_they_always_were():
    # the feature cache of augmented copies keys on these chains: the keyword
    # probabilities must not change a single draw of the default mix
    import hashlib
    import json

    specs = [sample_chain(np.random.default_rng(i), seed=i).spec() for i in range(40)]
    assert specs[1] == {
        "name": "chain",
        "seed": 1,
        "steps": [
            {"name": "noise", "snr_db": 9.354943560314563, "color": "brown"},
            {"name": "gain", "db": -2.107313621884929},
        ],
    }
    digest = hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()[:16]
    assert digest == "a729761022b37241"


def test_sample_chain_mix_keywords():
    def draw(**mix):
        return [sample_chain(np.random.default_rng(i), **mix) for i in range(40)]

    always = draw(p_telephone=1.0, p_noise=1.0, snr_db=(5.0, 15.0))
    assert all("telephone" in [s.name for s in c.steps] for c in always)
    snrs = [s.snr_db for c in always for s in c.steps if s.name == "noise"]
    assert len(snrs) == 40 and all(5.0 <= v <= 15.0 for v in snrs)
    never = draw(p_eq=0, p_reverb=0, p_noise=0, p_telephone=0, p_mp3=0, p_gain=0)
    assert all(c.steps == () for c in never)
    only_mp3 = draw(p_eq=0, p_reverb=0, p_noise=0, p_telephone=0, p_mp3=1, p_gain=0)
    assert all([s.name for s in c.steps] == ["mp3"] for c in only_mp3)
    phones = [s for c in draw(p_telephone=1.0, vary_telephone=True) for s in c.steps]
    phones = [s for s in phones if s.name == "telephone"]
    assert len({s.low_hz for s in phones}) == 40
    assert all(200 <= s.low_hz <= 400 and 3000 <= s.high_hz <= 3800 for s in phones)
    assert {s.mu_law for s in phones} == {True, False}
    with pytest.raises(ParameterError, match="p_noise must lie in"):
        sample_chain(np.random.default_rng(0), p_noise=1.5)
    with pytest.raises(ParameterError, match="snr_db"):
        sample_chain(np.random.default_rng(0), snr_db=(20.0, 10.0))


def test_transform_joins_the_cache_key(audio_files, tmp_path):
    paths = [audio_files["voice"]]
    clean = extract_files(paths, "seed", jobs=1, cache_dir=tmp_path)
    chain = Chain(steps=(Telephone(),), seed=1)
    degraded = extract_files(paths, "seed", jobs=1, cache_dir=tmp_path, transform=chain)
    assert degraded.n_cached == 0
    assert not np.allclose(clean.values[0], degraded.values[0])
    again = extract_files(paths, "seed", jobs=1, cache_dir=tmp_path, transform=chain)
    assert again.n_cached == 1
    np.testing.assert_array_equal(again.values[0], degraded.values[0])
