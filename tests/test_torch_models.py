"""Tests for the torch networks (TorchClassifier, cnn1d, specnet), their bundles and ensembles."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.utils.estimator_checks import parametrize_with_checks

from serkit import ParameterError, SerkitWarning
from serkit.models import NEURAL_MODELS, make_model
from serkit.models._ensemble import ProbabilityEnsemble, average_probabilities

torch = pytest.importorskip("torch")

from serkit.bundles import NETWORK_FILE, load_torch, save_torch  # noqa: E402
from serkit.models._specnet import (  # noqa: E402
    SpecNet,
    SpecNetConfig,
    UtteranceNorm,
    mixup,
    random_crops,
    spec_augment,
)
from serkit.models._torch import TorchBundleError, TorchClassifier  # noqa: E402

LABELS = np.array(["sad", "neutral", "angry"])  # not sorted: catches column misalignment
TINY_CNN = {"channels": 8, "pool": 4}
TINY_SPEC = {"channels": 4, "embedding": 16, "crop_frames": 40, "time_mask_width": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vectors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """120 clips of 24 features, 3 separable classes, 6 speakers."""
    rng = np.random.default_rng(0)
    yi = np.tile(np.arange(3), 40)
    centres = rng.normal(0, 2, (3, 24))
    X = centres[yi] + rng.normal(0, 1, (120, 24)) + 5.0
    groups = np.repeat([f"s{i}" for i in range(6)], 20)
    return X, LABELS[yi], groups


@pytest.fixture(scope="module")
def sequences() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """72 clips of 50-90 frames x 32 bands; each class lights a different band region."""
    rng = np.random.default_rng(1)
    yi = np.tile(np.arange(3), 24)
    clips = []
    for k in yi:
        frames = rng.normal(-40, 3, (int(rng.integers(50, 91)), 32)).astype(np.float32)
        frames[:, 8 * k : 8 * k + 8] += 12
        clips.append(frames)
    groups = np.repeat([f"s{i}" for i in range(6)], 12)
    return clips, LABELS[yi], groups


def _cnn(**kw) -> TorchClassifier:
    params = {"module_params": TINY_CNN, "max_epochs": 8, "lr": 3e-3, "threads": 1, **kw}
    return TorchClassifier(params.pop("module", "cnn1d"), **params)


def _spec(**kw) -> TorchClassifier:
    params = {"module_params": TINY_SPEC, "max_epochs": 4, "batch_size": 16, "threads": 1, **kw}
    return TorchClassifier("specnet", **params)


# ----------------------------------------------------------------------------- imports


def test_importing_serkit_and_classic_models_does_not_import_torch():
    code = (
        "import sys, serkit, serkit.models, serkit.models._ensemble, serkit.export;"
        "from serkit.models import make_model; make_model('mlp'); make_model('svm');"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_model_builds_neural_models_with_mixed_parameters():
    assert NEURAL_MODELS == ("cnn1d", "specnet")
    import serkit.models

    assert serkit.models.TorchClassifier is TorchClassifier  # lazy attribute
    clf = make_model("cnn1d", params={"max_epochs": "3", "channels": 8}, random_state=5)
    assert isinstance(clf, TorchClassifier)
    assert (clf.module, clf.max_epochs, clf.random_state) == ("cnn1d", 3, 5)
    assert clf.module_params == {"channels": 8}
    with pytest.raises(ParameterError, match=r"unknown parameter 'bogus'.*valid names"):
        make_model("specnet", params={"bogus": 1})
    with pytest.raises(ParameterError, match="mixup"):
        make_model("specnet", params={"mixup": -1})


# ----------------------------------------------------------------------------- contract


@parametrize_with_checks(
    [
        TorchClassifier(
            "cnn1d",
            module_params={"channels": 4, "pool": 2},
            max_epochs=6,
            lr=3e-2,
            val_fraction=0.0,
            threads=1,
        )
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    # scikit-learn's whole API contract on a tiny network (vector input); the
    # sequence model (specnet) reads lists of arrays, which those checks do not cover
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SerkitWarning)
        check(estimator)


def test_cnn1d_fits_and_predicts_in_classes_order(vectors):
    X, y, groups = vectors
    clf = _cnn().fit(X, y, groups=groups)
    assert clf.classes_.tolist() == ["angry", "neutral", "sad"]
    assert clf.n_features_in_ == 24
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = clf.predict(X)
    assert np.array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert np.mean(pred == y) > 0.8  # separable blobs: columns must be named right
    assert 1 <= clf.best_epoch_ <= len(clf.history_) <= 8
    assert set(clf.history_[0]) == {"epoch", "train_loss", "val_loss", "val_uar", "lr", "seconds"}


def test_validation_speakers_come_from_training_groups_only(vectors):
    X, y, groups = vectors
    clf = _cnn(max_epochs=2).fit(X, y, groups=groups)
    held = clf.validation_groups_
    assert held and set(held) < set(groups)  # some, not all, speakers
    best = int(np.argmax([h["val_uar"] for h in clf.history_])) + 1
    assert clf.best_epoch_ == best


def test_without_groups_validation_is_stratified_with_a_warning(vectors):
    X, y, _ = vectors
    with pytest.warns(SerkitWarning, match="no speaker groups"):
        clf = _cnn(max_epochs=2).fit(X, y)
    assert clf.validation_groups_ is None


def test_val_fraction_zero_keeps_the_last_epoch(vectors):
    X, y, groups = vectors
    clf = _cnn(max_epochs=3, val_fraction=0.0).fit(X, y, groups=groups)
    assert clf.best_epoch_ == 3
    assert np.isnan(clf.history_[-1]["val_uar"])


def test_not_fitted_and_clone(vectors):
    X, _, _ = vectors
    clf = _cnn(patience=3, module_params={"depth": 3, "channels": 4})
    with pytest.raises(NotFittedError):
        clf.predict_proba(X)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert twin.module_params is not clf.module_params
    twin.set_params(max_epochs=1)
    assert clf.max_epochs == 8


def test_refits_are_identical_and_leave_global_rng_alone(vectors):
    X, y, groups = vectors
    state = torch.get_rng_state()
    a = _cnn(max_epochs=3).fit(X, y, groups=groups).predict_proba(X)
    assert torch.equal(state, torch.get_rng_state())
    b = _cnn(max_epochs=3).fit(X, y, groups=groups).predict_proba(X)
    c = _cnn(max_epochs=3, random_state=1).fit(X, y, groups=groups).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_epochs": 0}, "max_epochs"),
        ({"val_fraction": 0.95}, "val_fraction"),
        ({"class_weight": "auto"}, "class_weight"),
        ({"device": "tpu:0"}, "device"),
        ({"module": "resnet"}, "unknown network"),
        ({"module_params": {"depth": 1}}, "depth"),
        ({"module_params": {"nope": 1}}, "unknown module_params"),
    ],
)
def test_bad_settings_raise_in_fit(vectors, kwargs, match):
    X, y, groups = vectors
    clf = _cnn(**kwargs)  # the constructor only stores
    with pytest.raises(ParameterError, match=match):
        clf.fit(X, y, groups=groups)


def test_bad_inputs_raise(vectors):
    X, y, groups = vectors
    with pytest.raises(ValueError, match="2D array"):  # scikit-learn's own check
        _cnn().fit(X[:, 0], y, groups=groups)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _cnn().fit(X, y[:-1], groups=groups)
    with pytest.raises(ParameterError, match="at least 2 classes"):
        _cnn().fit(X, np.full(len(y), "sad"), groups=groups)
    clf = _cnn(max_epochs=1).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="expecting 24 features"):
        clf.predict_proba(X[:, :10])


# ----------------------------------------------------------------------------- specnet


def test_specnet_fits_variable_length_clips(sequences):
    clips, y, groups = sequences
    clf = _spec().fit(clips, y, groups=groups)
    assert clf.n_features_in_ == 32
    proba = clf.predict_proba(clips[:7])
    assert proba.shape == (7, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    # the same clips in another order give the same rows (equal-length batching is exact)
    order = np.arange(7)[::-1]
    np.testing.assert_allclose(
        clf.predict_proba([clips[i] for i in order]), proba[order], atol=1e-6
    )
    assert clf.predict_proba(clips[0][:8][None]).shape == (1, 3)  # 3-D array, 8 frames


def test_specnet_crop_inference_and_variants(sequences):
    clips, y, groups = sequences
    params = {**TINY_SPEC, "inference": "crops", "arch": "tdnn", "pooling": "stats"}
    clf = _spec(module_params=params, max_epochs=2).fit(clips, y, groups=groups)
    proba = clf.predict_proba([*clips[:5], clips[0][:20]])  # a clip shorter than a crop
    assert proba.shape == (6, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


def test_specnet_input_checks(sequences):
    clips, y, groups = sequences
    with pytest.raises(ParameterError, match="list of"):
        _spec().fit(np.zeros((72, 32)), y, groups=groups)
    with pytest.raises(ParameterError, match="clip 1"):
        _spec().fit([clips[0], clips[1][:4]], y[:2])
    with pytest.raises(ParameterError, match="different numbers of mel bands"):
        _spec().fit([clips[0], clips[1][:, :20]], y[:2])


def test_augmentation_helpers():
    rng = np.random.default_rng(0)
    clips = [np.ones((30, 16), np.float32), np.arange(5 * 16, dtype=np.float32).reshape(5, 16)]
    crops = random_crops(clips, 12, rng)
    assert crops.shape == (2, 12, 16) and crops.dtype == np.float32
    torch.manual_seed(0)
    z = torch.ones(4, 50, 16)
    masked = spec_augment(z, freq_masks=2, freq_width=4, time_masks=2, time_width=10)
    assert masked.shape == z.shape and 0 < masked.mean() < 1
    assert set(masked.unique().tolist()) <= {0.0, 1.0}
    target = torch.eye(4)
    zm, tm = mixup(z, target, 0.4)
    assert zm.shape == z.shape
    torch.testing.assert_close(tm.sum(dim=1), torch.ones(4))
    assert (tm.max(dim=1).values >= 0.5).all()
    x = torch.randn(2, 30, 16) * 5 + 3
    for mode in ("band", "mean", "global", "none"):
        assert UtteranceNorm(mode)(x).shape == x.shape
    torch.testing.assert_close(
        UtteranceNorm("band")(x).std(dim=1, unbiased=False), torch.ones(2, 16), atol=1e-3, rtol=0
    )


def test_specnet_accepts_any_length_at_eval():
    net = SpecNet(64, 8, SpecNetConfig(channels=4, embedding=16)).eval()
    with torch.inference_mode():
        for frames in (8, 101, 333):
            assert net(torch.randn(2, frames, 64)).shape == (2, 8)


# ----------------------------------------------------------------------------- bundles


def test_save_and_load_round_trip(tmp_path, vectors, sequences):
    X, y, groups = vectors
    clf = _cnn(max_epochs=2).fit(X, y, groups=groups)
    entry = save_torch(clf, tmp_path / "cnn")
    manifest = json.loads((tmp_path / "cnn" / "network.json").read_text())
    assert entry["sha256"] == manifest["weights"]["sha256"]
    assert "device" not in manifest["estimator"] and "threads" not in manifest["estimator"]
    again = load_torch(tmp_path / "cnn")
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.classes_.tolist() == clf.classes_.tolist()
    assert again.history_ == clf.history_

    clips, ys, gs = sequences
    spec = _spec(max_epochs=1).fit(clips, ys, groups=gs)
    save_torch(spec, tmp_path / "spec")
    np.testing.assert_allclose(
        load_torch(tmp_path / "spec").predict_proba(clips[:4]), spec.predict_proba(clips[:4])
    )


def test_saved_weights_are_plain_and_checked(tmp_path, vectors):
    X, y, groups = vectors
    save_torch(_cnn(max_epochs=1).fit(X, y, groups=groups), tmp_path)
    blob = (tmp_path / NETWORK_FILE).read_bytes()
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_len])  # safetensors: JSON header + raw tensors
    assert all(v["dtype"] in ("F32", "I64") for k, v in header.items() if k != "__metadata__")
    (tmp_path / NETWORK_FILE).write_bytes(blob[:-4] + b"\0\0\0\0")
    with pytest.raises(TorchBundleError, match="checksum"):
        load_torch(tmp_path)
    (tmp_path / "network.json").write_text("{not json")
    with pytest.raises(TorchBundleError, match="not valid JSON"):
        load_torch(tmp_path)
    with pytest.raises(TorchBundleError, match="cannot read"):
        load_torch(tmp_path / "missing")


def test_probability_ensemble_on_several_feature_sets(vectors, sequences):
    X, y, groups = vectors
    clips = sequences[0][:72]
    data = {"stats": X[:72], "logmel": clips}
    members = [
        ("logreg", LogisticRegression(max_iter=500)),
        ("nb", GaussianNB()),
        ("net", _spec(max_epochs=1)),
    ]
    ens = ProbabilityEnsemble(members, inputs={"logreg": "stats", "nb": "stats", "net": "logmel"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", SerkitWarning)  # groups must reach the network
        ens.fit(data, y[:72], groups=groups[:72])
    proba = ens.predict_proba(data)
    expected = np.mean(
        [
            m.predict_proba(data[k])
            for (_, m), k in zip(ens.members_, ["stats", "stats", "logmel"], strict=True)
        ],
        axis=0,
    )
    np.testing.assert_allclose(proba, expected)
    assert ens.classes_.tolist() == ["angry", "neutral", "sad"]
    assert members[0][1] is ens.members[0][1] and not hasattr(members[0][1], "coef_")
    params = ens.get_params()
    assert params["logreg__C"] == 1.0 and "net__max_epochs" in params
    assert clone(ens).set_params(logreg__C=3.0).get_params()["logreg__C"] == 3.0


def test_probability_ensemble_checks():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.repeat(["a", "b"], 10)
    with pytest.raises(ParameterError, match="non-empty"):
        ProbabilityEnsemble([]).fit(X, y)
    with pytest.raises(ParameterError, match="weights has 1"):
        ProbabilityEnsemble([("a", GaussianNB()), ("b", GaussianNB())], weights=[1]).fit(X, y)
    with pytest.raises(ParameterError, match="does not hold"):
        ProbabilityEnsemble([("a", GaussianNB())]).fit({"b": X}, y)
    ens = ProbabilityEnsemble([("a", GaussianNB()), ("b", LogisticRegression())], weights=[1, 0])
    np.testing.assert_allclose(ens.fit(X, y).predict_proba(X), ens.members_[0][1].predict_proba(X))
    with pytest.raises(NotFittedError):
        ProbabilityEnsemble([("a", GaussianNB())]).predict(X)
    with pytest.raises(ParameterError, match="shape"):
        average_probabilities([np.ones((2, 2)), np.ones((3, 2))])
