"""Tests for serkit.export: ONNX files whose probabilities match the native models."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from serkit import ParameterError
from serkit.bundles import read_manifest
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


def test_hist_gradient_boosting_exports(tmp_path, bundles):
    # skl2onnx 1.20 trips on scikit-learn 1.9's boolean missing-value flags; serkit writes them
    # as integers while converting
    rec, folder = bundles["hgb"]
    path = export_onnx(folder, tmp_path / "hgb.onnx")
    X = np.random.default_rng(1).normal(size=(5, 180))
    np.testing.assert_allclose(run_onnx(path, X), rec.predict_proba(X), atol=TOLERANCE)


def test_unconvertible_model_gives_a_clear_error(tmp_path, bundles, monkeypatch):
    import skl2onnx

    def refuse(*args, **kwargs):
        raise RuntimeError("Unable to find a shape calculator")

    monkeypatch.setattr(skl2onnx, "convert_sklearn", refuse)
    _, folder = bundles["rf"]
    with pytest.raises(ExportError, match=r"cannot convert RandomForestClassifier.*shape calc"):
        export_onnx(folder, tmp_path / "rf.onnx")


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
    from serkit.bundles import save_torch
    from serkit.models import TorchClassifier

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
    from serkit.bundles import save_torch
    from serkit.models import TorchClassifier

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

    from serkit.bundles import default_model_path
    from serkit.cli import main
    from serkit.features import extract_files
    from serkit.recognizer import EmotionRecognizer

    out = tmp_path / "default.onnx"
    assert main(["export", "default", "--onnx", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == list(EmotionRecognizer.load(default_model_path()).classes_)
    from serkit.export import run_onnx

    rec = EmotionRecognizer.load(default_model_path())
    clips = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.flac"))[:4]
    X = extract_files(clips, rec.feature_spec_, jobs=1).matrix()
    np.testing.assert_allclose(run_onnx(out, X), rec.predict_proba(X), atol=1e-4)


# ----------------------------------------------------------------------------- format-2 bundles

TINY = {
    "cnn1d": {"max_epochs": 2, "channels": 8, "pool": 4, "val_fraction": 0.0},
    "specnet": {
        "max_epochs": 2,
        "channels": 4,
        "embedding": 16,
        "crop_frames": 32,
        "batch_size": 8,
    },
}


def _tiny_params(model: str) -> dict[str, object]:
    """Small, fast settings for every network a model name holds (prefixed in ensembles)."""
    if not model.startswith("ensemble:"):
        return dict(TINY.get(model, {}))
    members = [part.partition("@")[0] for part in model[len("ensemble:") :].split("+")]
    return {f"{m}__{k}": v for m in members for k, v in TINY.get(m, {}).items()}


@pytest.fixture(scope="module")
def clips_data() -> tuple[dict[str, object], np.ndarray, np.ndarray]:
    """24 clips, 3 classes, 4 speakers: 'seed' and 'stats' vectors and 'logmel' frames.

    Frames come in two lengths (40 and 64) and half the clips open with digital silence,
    which the specnet recipe trims (so the ONNX side must trim it too).
    """
    rng = np.random.default_rng(0)
    y = np.tile(["angry", "calm", "sad"], 8)
    groups = np.repeat(["a", "b", "c", "d"], 6)
    shift = np.searchsorted(["angry", "calm", "sad"], y)[:, None].astype(float)
    clips = []
    for i in range(len(y)):
        clip = rng.normal(-40 + 3 * shift[i, 0], 5, (40 if i % 3 else 64, 64))
        if i % 2:
            clip[:10] = -100.0
        clips.append(clip.astype(np.float32))
    X = {
        "seed": (rng.normal(size=(len(y), 180)) + shift) * np.geomspace(0.1, 10, 180),
        "stats": rng.normal(size=(len(y), 30)) + shift,
        "logmel": clips,
    }
    return X, y, groups


@pytest.fixture(scope="module")
def format2_bundles(tmp_path_factory, clips_data) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("format2")
    X, y, groups = clips_data
    out = {}
    try:
        for model in (
            "cnn1d",
            "specnet",
            "ensemble:cnn1d+logreg@stats",
            "ensemble:specnet+logreg@stats",
            "ensemble:cnn1d+mlp@seed",
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.filterwarnings("ignore", message="Got `batch_size`")
                rec = EmotionRecognizer(model=model, params=_tiny_params(model), threads=1)
                data = X if "+" in model else X["logmel" if model == "specnet" else "seed"]
                rec.fit(data, y, groups=groups)
            out[model] = rec.save(root / model.replace(":", "-").replace("+", "-"))
    finally:
        torch.set_num_threads(threads)
    return out


def _export(folder: Path, out: Path, via: str, capsys) -> Path:
    if via == "api":
        return export_onnx(folder, out)
    import json

    from serkit.cli import main

    assert main(["export", str(folder), "--onnx", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["onnx"] == str(out)
    return out


@pytest.mark.parametrize("via", ["api", "cli"])
@pytest.mark.parametrize("model", ["cnn1d", "specnet"])
def test_single_network_bundle_matches_onnx_runtime(
    tmp_path, clips_data, format2_bundles, torch_one_thread, capsys, model, via
):
    X, _, _ = clips_data
    folder = format2_bundles[model]
    path = _export(folder, tmp_path / f"{model}.onnx", via, capsys)
    rec = EmotionRecognizer.load(folder)
    key = "logmel" if model == "specnet" else "seed"
    # clips of both lengths, half with leading silence: run_onnx trims and runs clip by clip
    proba = run_onnx(path, X[key])
    diff = np.abs(proba - rec.predict_proba(X[key])).max()
    assert diff <= TOLERANCE, diff
    meta = onnx_metadata(path)
    assert meta["network"] == model and meta["classes"] == ["angry", "calm", "sad"]
    assert meta["features"] == rec.feature_spec_ and meta["features"]["name"] == key
    assert meta["input"]["name"] == "features" and meta["sample_rate"] == 16000


ENSEMBLES = {
    # model: ONNX input names, in order
    "ensemble:cnn1d+logreg@stats": ["seed", "stats"],
    "ensemble:specnet+logreg@stats": ["logmel", "stats"],
    # both members read 'seed': one shared input; skl2onnx writes the MLP at opset 16
    "ensemble:cnn1d+mlp@seed": ["seed"],
}


@pytest.mark.parametrize("via", ["api", "cli"])
@pytest.mark.parametrize("model", list(ENSEMBLES))
def test_ensemble_bundle_matches_onnx_runtime(
    tmp_path, clips_data, format2_bundles, torch_one_thread, capsys, model, via
):
    import onnxruntime as ort

    X, _, _ = clips_data
    folder = format2_bundles[model]
    path = _export(folder, tmp_path / "ensemble.onnx", via, capsys)
    rec = EmotionRecognizer.load(folder)
    native = rec.predict_proba({k: X[k] for k in rec.input_specs_})
    diff = np.abs(run_onnx(path, X) - native).max()
    assert diff <= TOLERANCE, diff

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ENSEMBLES[model]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    meta = onnx_metadata(path)
    assert [entry["name"] for entry in meta["inputs"]] == ENSEMBLES[model]
    assert {entry["key"]: entry["features"] for entry in meta["inputs"]} == rec.input_specs_
    assert [m["name"] for m in meta["members"]] == [m.name for m in rec.members_]
    assert [m["weight"] for m in meta["members"]] == [0.5, 0.5]
    # each member's kind is the one its bundle stores it as
    stored = {m["name"]: m["kind"] for m in read_manifest(folder)["members"]}
    assert {m["name"]: m["kind"] for m in meta["members"]} == stored
    assert meta["classes"] == rec.classes_.tolist() and meta["model"] == model

    # a plain ONNX Runtime batch: sequence inputs need equal lengths and no silence to trim
    rows = [i for i in range(len(X["seed"])) if i % 3 and not i % 2]
    feed = {}
    for entry in meta["inputs"]:
        values = X[entry["key"]]
        feed[entry["name"]] = np.stack([np.asarray(values[i], np.float32) for i in rows])
    batch = session.run(["probabilities"], feed)[0]
    subset = {k: [X[k][i] for i in rows] if k == "logmel" else X[k][rows] for k in rec.input_specs_}
    np.testing.assert_allclose(batch, rec.predict_proba(subset), atol=TOLERANCE, rtol=0)


def test_classic_ensemble_exports_without_torch(tmp_path, clips_data):
    """Classic members only: no torch needed; knn's graph holds a Scan subgraph, svm's
    ai.onnx opset differs from knn's."""
    import subprocess
    import sys

    X, y, groups = clips_data
    inputs = {"seed": X["seed"], "stats": X["stats"]}
    rec = EmotionRecognizer(model="ensemble:knn@seed+svm").fit(inputs, y, groups=groups)
    folder = rec.save(tmp_path / "classic")
    code = (
        "import sys; from serkit.export import export_onnx;"
        f"export_onnx({str(folder)!r}, {str(tmp_path / 'c.onnx')!r});"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    proba = run_onnx(tmp_path / "c.onnx", inputs)
    np.testing.assert_allclose(proba, rec.predict_proba(inputs), atol=TOLERANCE, rtol=0)
    assert [e["name"] for e in onnx_metadata(tmp_path / "c.onnx")["inputs"]] == ["seed", "stats"]


def test_ensemble_weights_reach_the_graph(tmp_path, clips_data, format2_bundles, torch_one_thread):
    import onnx

    from serkit.export import recognizer_to_onnx

    X, _, _ = clips_data
    rec = EmotionRecognizer.load(format2_bundles["ensemble:cnn1d+logreg@stats"])
    rec.pipeline_.weights = [3, 1]
    path = tmp_path / "weighted.onnx"
    onnx.save(recognizer_to_onnx(rec), str(path))
    inputs = {"seed": X["seed"], "stats": X["stats"]}
    np.testing.assert_allclose(
        run_onnx(path, inputs), rec.predict_proba(inputs), atol=TOLERANCE, rtol=0
    )
    assert [m["weight"] for m in onnx_metadata(path)["members"]] == [0.75, 0.25]


def test_run_onnx_names_the_missing_input(tmp_path, clips_data, format2_bundles, torch_one_thread):
    X, _, _ = clips_data
    path = export_onnx(format2_bundles["ensemble:cnn1d+logreg@stats"], tmp_path / "e.onnx")
    with pytest.raises(ParameterError, match="lacks the input 'stats'"):
        run_onnx(path, {"seed": X["seed"]})
    with pytest.raises(ParameterError, match="several inputs"):
        run_onnx(path, X["seed"])
    with pytest.raises(ParameterError, match="different numbers of clips"):
        run_onnx(path, {"seed": X["seed"], "stats": X["stats"][:3]})


def test_unconvertible_ensemble_member_gives_a_clear_error(
    tmp_path, clips_data, torch_one_thread, monkeypatch
):
    import skl2onnx

    X, y, groups = clips_data
    model = "ensemble:cnn1d+hgb@stats"
    with threadpool_limits(limits=1):
        rec = EmotionRecognizer(model=model, params=_tiny_params(model), threads=1)
        rec.fit(X, y, groups=groups)
        folder = rec.save(tmp_path / "ens")
        path = export_onnx(folder, tmp_path / "ens.onnx")  # every member converts
        np.testing.assert_allclose(run_onnx(path, X), rec.predict_proba(X), atol=TOLERANCE, rtol=0)

        def refuse(*args, **kwargs):
            raise RuntimeError("no converter")

        monkeypatch.setattr(skl2onnx, "convert_sklearn", refuse)
        with pytest.raises(ExportError, match=r"member 'hgb'.*HistGradientBoostingClassifier"):
            export_onnx(folder, tmp_path / "ens2.onnx")


def test_members_whose_operators_changed_between_opsets_are_refused():
    from onnx import TensorProto, helper

    from serkit.export import _common_opsets

    def model(opset: int) -> object:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
        p = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 1])
        node = helper.make_node("ReduceSum", ["x"], ["probabilities"], keepdims=1)
        graph = helper.make_graph([node], "g", [x], [p])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    assert _common_opsets([("a", model(13)), ("b", model(17))]) == {"": 17}
    with pytest.raises(ExportError, match="ReduceSum"):
        _common_opsets([("a", model(11)), ("b", model(17))])


def test_input_names_are_sanitized_feature_keys():
    from serkit.export import input_names

    keys = ["seed", 'stats{"n_mfcc":13}', "logmel", "stats-n_mfcc-13", "probabilities", "1x"]
    assert list(input_names(keys).values()) == [
        "seed",
        "stats_n_mfcc_13",
        "logmel",
        "stats_n_mfcc_13_2",
        "probabilities_2",
        "f_1x",
    ]
