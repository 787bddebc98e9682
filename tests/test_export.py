"""Tests for serkit.export: ONNX files whose probabilities match the native models."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from serkit import ParameterError
from serkit.recognizer import EmotionRecognizer

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from serkit.export import ExportError, export_onnx, onnx_metadata, run_onnx

LABELS = np.array(["sad", "neutral", "angry", "calm"])
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """160 seed-like vectors (180 values on very different scales), 4 classes."""
    rng = np.random.default_rng(0)
    yi = np.tile(np.arange(4), 40)
    centres = rng.normal(0, 1.5, (4, 180))
    scales = np.geomspace(0.01, 100, 180)
    X = (centres[yi] + rng.normal(0, 1, (160, 180))) * scales
    return X, LABELS[yi]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, data) -> dict[str, object]:
    X, y = data
    root = tmp_path_factory.mktemp("bundles")
    out = {}
    for name in ("mlp", "svm", "logreg", "rf", "knn", "hgb"):
        # one OpenMP thread: HistGradientBoosting crawls on a busy small machine otherwise
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", message="Got `batch_size`")
            rec = EmotionRecognizer("seed", name).fit(X, y)
        out[name] = (rec, rec.save(root / name))
    return out


@pytest.mark.parametrize("name", ["mlp", "svm", "logreg", "rf", "knn"])
def test_classic_bundles_match_onnx_runtime(tmp_path, data, bundles, name):
    X, _ = data
    rec, folder = bundles[name]
    path = export_onnx(folder, tmp_path / f"{name}.onnx")
    proba = run_onnx(path, X)
    native = rec.predict_proba(X)
    np.testing.assert_allclose(proba, native, atol=TOLERANCE, rtol=0)
    meta = onnx_metadata(path)
    assert meta["classes"] == rec.classes_.tolist() == ["angry", "calm", "neutral", "sad"]
    assert meta["input"] == {"name": "features", "kind": "vector", "n_features": 180}
    assert meta["features"]["name"] == "seed"


def test_onnx_labels_output_agrees(tmp_path, data, bundles):
    import onnxruntime as ort

    X, _ = data
    rec, folder = bundles["svm"]
    path = export_onnx(folder, tmp_path / "svm.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    labels = session.run(["label"], {"features": X.astype(np.float32)})[0]
    assert np.array_equal(labels, rec.predict(X))


def test_unconvertible_model_gives_a_clear_error(tmp_path, bundles):
    # skl2onnx 1.20 cannot convert HistGradientBoosting from scikit-learn 1.9; if a later
    # skl2onnx can, the export must then be right
    rec, folder = bundles["hgb"]
    try:
        path = export_onnx(folder, tmp_path / "hgb.onnx")
    except ExportError as exc:
        assert "HistGradientBoostingClassifier" in str(exc)
    else:
        X = np.random.default_rng(1).normal(size=(5, 180))
        np.testing.assert_allclose(run_onnx(path, X), rec.predict_proba(X), atol=TOLERANCE)


def test_missing_folder(tmp_path):
    with pytest.raises(ParameterError, match="not a model folder"):
        export_onnx(tmp_path / "nothing", tmp_path / "x.onnx")


# ----------------------------------------------------------------------------- torch


@pytest.fixture
def torch_one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_cnn1d_matches_onnx_runtime(tmp_path, data, torch_one_thread):
    from serkit.models._torch import TorchClassifier, save_torch

    X, y = data
    groups = np.repeat([f"s{i}" for i in range(8)], 20)
    clf = TorchClassifier("cnn1d", module_params={"channels": 16}, max_epochs=3, lr=1e-3)
    clf.fit(X, y, groups=groups)
    save_torch(clf, tmp_path / "cnn1d")
    path = export_onnx(tmp_path / "cnn1d", tmp_path / "cnn1d.onnx")
    np.testing.assert_allclose(run_onnx(path, X), clf.predict_proba(X), atol=TOLERANCE, rtol=0)
    meta = onnx_metadata(path)
    assert meta["network"] == "cnn1d" and meta["classes"] == clf.classes_.tolist()


def test_specnet_matches_onnx_runtime_at_any_length(tmp_path, torch_one_thread):
    from serkit.models._torch import TorchClassifier, save_torch

    rng = np.random.default_rng(0)
    clips = []
    for _ in range(24):
        clip = rng.normal(-40, 5, (int(rng.integers(30, 120)), 64)).astype(np.float32)
        clip[:10] = -100.0  # leading digital silence: trimmed before the network
        clips.append(clip)
    y = np.tile(["angry", "calm", "sad"], 8)
    groups = np.repeat(["a", "b", "c", "d"], 6)
    params = {"channels": 4, "embedding": 16, "crop_frames": 32}
    clf = TorchClassifier("specnet", module_params=params, max_epochs=2, batch_size=8)
    clf.fit(clips, y, groups=groups)
    save_torch(clf, tmp_path / "spec")
    path = export_onnx(tmp_path / "spec", tmp_path / "spec.onnx")
    np.testing.assert_allclose(
        run_onnx(path, clips), clf.predict_proba(clips), atol=TOLERANCE, rtol=0
    )
    assert onnx_metadata(path)["input"]["kind"] == "sequence"


def test_onnx_side_trimming_mirrors_the_network_recipe():
    pytest.importorskip("torch")
    from serkit.export import _trim_frames
    from serkit.models._specnet import trim_silence

    rng = np.random.default_rng(3)
    for _ in range(50):
        frames = rng.normal(-60, 20, (int(rng.integers(8, 300)), 16))
        frames[: int(rng.integers(0, 5))] = -100.0
        top_db = float(rng.uniform(10, 60))
        np.testing.assert_array_equal(
            _trim_frames(frames, top_db=top_db, margin=5), trim_silence(frames, top_db=top_db)
        )


def test_cli_export_of_the_shipped_model_matches_native(tmp_path, capsys):
    """`serkit export default --onnx F` writes a model whose probabilities match the bundle's."""
    pytest.importorskip("onnxruntime")
    import json

    from serkit.cli import main
    from serkit.features import extract_files
    from serkit.recognizer import EmotionRecognizer, default_model_path

    out = tmp_path / "default.onnx"
    assert main(["export", "default", "--onnx", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == list(EmotionRecognizer.load(default_model_path()).classes_)
    from serkit.export import run_onnx

    rec = EmotionRecognizer.load(default_model_path())
    clips = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.flac"))[:4]
    X = extract_files(clips, rec.feature_spec_, jobs=1).matrix()
    np.testing.assert_allclose(run_onnx(out, X), rec.predict_proba(X), atol=1e-4)
