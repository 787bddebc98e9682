"""Networks and ensembles under the recognizer, its bundles, evaluation, reports and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from serkit import BundleError, ParameterError  # noqa: E402
from serkit.bundles import describe_manifest  # noqa: E402
from serkit.cli import main  # noqa: E402
from serkit.evaluation import cross_validate, speaker_kfold  # noqa: E402
from serkit.models import (  # noqa: E402
    TorchClassifier,
    build_estimator,
    plan_model,
)
from serkit.recognizer import EmotionRecognizer  # noqa: E402
from serkit.workflows import evaluate_corpus  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY_CNN = {"cnn1d__max_epochs": 2, "cnn1d__channels": 8}


def synthetic(n_speakers: int = 6, per_class: int = 4, seed: int = 0):
    """Two classes, several speakers; 'seed'-like and 'stats'-like matrices that both separate."""
    rng = np.random.default_rng(seed)
    y, groups = [], []
    for s in range(n_speakers):
        for label in ("angry", "calm"):
            y += [label] * per_class
            groups += [f"spk{s}"] * per_class
    y, groups = np.array(y), np.array(groups)
    shift = (y == "angry")[:, None].astype(float)
    X = {
        "seed": rng.normal(size=(len(y), 24)) + 1.5 * shift,
        "stats": rng.normal(size=(len(y), 10)) + 1.0 * shift,
    }
    return X, y, groups


def test_cnn1d_member_params_reach_the_network():
    ensemble = build_estimator(
        plan_model("ensemble:cnn1d+logreg@stats"), TINY_CNN, execution={"threads": 1}
    )
    net = dict(ensemble.members)["cnn1d"]
    assert isinstance(net, TorchClassifier)
    assert net.max_epochs == 2 and net.threads == 1 and net.module_params == {"channels": 8}


def test_ensemble_recognizer_round_trip(tmp_path):
    X, y, groups = synthetic()
    rec = EmotionRecognizer(model="ensemble:cnn1d+logreg@stats", params=TINY_CNN, threads=1)
    rec.fit(X, y, groups=groups)
    assert list(rec.input_specs_) == ["seed", "stats"] and rec.feature_spec_ is None
    proba = rec.predict_proba(X)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1)
    # the average of the members' own probabilities
    members = dict(rec.pipeline_.members_)
    mean = (
        members["cnn1d"].predict_proba(X["seed"]) + members["logreg"].predict_proba(X["stats"])
    ) / 2
    np.testing.assert_allclose(proba, mean, atol=1e-12)

    sessions = rec.predict_proba(X, speakers=groups)
    assert rec.supports_speaker_norm and not np.allclose(sessions, proba)

    folder = rec.save(tmp_path / "ens")
    manifest = json.loads((folder / "model.json").read_text())
    assert manifest["format_version"] == 2
    assert [m["kind"] for m in manifest["members"]] == ["network", "linear"]
    assert manifest["members"][0]["session_weights"] is None  # networks are shared
    summary = describe_manifest(manifest)
    assert summary["speaker_norm"] and summary["n_features"] is None
    assert [s["name"] for s in summary["feature_sets"]] == ["seed", "stats"]

    again = EmotionRecognizer.load(folder)
    np.testing.assert_allclose(again.predict_proba(X), proba, atol=1e-6)
    np.testing.assert_allclose(again.predict_proba(X, speakers=groups), sessions, atol=1e-6)
    with pytest.raises(ParameterError, match="lacks the feature set"):
        again.predict_proba({"seed": X["seed"]})
    with pytest.raises(ParameterError, match="several feature sets"):
        again.predict_proba(X["seed"])


def test_network_alone_has_no_session_part(tmp_path):
    X, y, groups = synthetic()
    rec = EmotionRecognizer("seed", "cnn1d", params={"max_epochs": 2, "channels": 8})
    rec.fit(X["seed"], y, groups=groups)
    assert not rec.supports_speaker_norm
    assert set(rec.pipeline_.validation_groups_) <= set(groups)  # validation speakers exist
    with pytest.raises(ParameterError, match="no speaker-normalised part"):
        rec.predict_proba(X["seed"], speakers=groups)
    folder = rec.save(tmp_path / "net")
    again = EmotionRecognizer.load(folder)
    np.testing.assert_allclose(
        again.predict_proba(X["seed"]), rec.predict_proba(X["seed"]), atol=1e-6
    )


def test_tampered_network_members_are_refused(tmp_path):
    X, y, groups = synthetic()
    rec = EmotionRecognizer(model="ensemble:cnn1d+logreg@stats", params=TINY_CNN)
    folder = rec.fit(X, y, groups=groups).save(tmp_path / "ens")
    config = folder / "members" / "cnn1d" / "network.json"
    original = config.read_text()
    config.write_text(original.replace('"channels": 8', '"channels": 9'))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)
    config.write_text(original)
    weights = folder / "members" / "cnn1d" / "network.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 1
    weights.write_bytes(bytes(blob))
    with pytest.raises(BundleError, match="checksum"):
        EmotionRecognizer.load(folder)


def test_evaluation_gives_networks_training_speakers_only(monkeypatch):
    X, y, groups = synthetic(n_speakers=6)
    seen = []
    original = TorchClassifier.fit

    def spy(self, X_, y_, groups=None):
        seen.append(None if groups is None else set(groups))
        return original(self, X_, y_, groups=groups)

    monkeypatch.setattr(TorchClassifier, "fit", spy)
    splits = speaker_kfold(groups, n_splits=3)
    plan = plan_model("ensemble:cnn1d+logreg@stats")
    result = cross_validate(
        lambda: build_estimator(plan, TINY_CNN), X, y, splits=splits, groups=groups
    )
    assert len(seen) == 3
    for fold_groups, (train, test) in zip(seen, splits, strict=True):
        assert fold_groups == set(groups[train]) and not fold_groups & set(groups[test])
    assert all("cnn1d" in fold["history"] for fold in result.folds)
    assert result.proba.shape == (len(y), 2)


def test_fits_are_deterministic():
    X, y, groups = synthetic()
    probas = [
        EmotionRecognizer(model="ensemble:cnn1d+logreg@stats", params=TINY_CNN)
        .fit(X, y, groups=groups)
        .predict_proba(X)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(probas[0], probas[1])


def test_evaluate_networks_and_ensembles_with_report(subset, cache, tmp_path, capsys):
    report_dir = tmp_path / "report"
    code = main(
        [
            "evaluate", str(subset), "--models", "cnn1d,ensemble:cnn1d+logreg@stats",
            "--emotions", "angry,calm,sad", "--folds", "2", "--threads", "1",
            "--param", "cnn1d.max_epochs=2", "--param", "cnn1d.channels=8",
            "--param", "ensemble:cnn1d+logreg@stats.cnn1d__max_epochs=2",
            "--cache-dir", str(cache), "--report", str(report_dir), "--json", "-q",
        ]
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["n_clips"] == 4 * 8 + 4 * 16  # neutral has half the clips
    assert report["results"]["cnn1d"]["features"] == ["seed"]
    assert report["results"]["ensemble:cnn1d+logreg@stats"]["features"] == ["seed", "stats"]
    assert set(report["feature_sets"]) == {"seed", "stats"}
    for res in report["results"].values():
        assert all(len(next(iter(f["history"].values()))) == 2 for f in res["folds"])
    assert (report_dir / "training_cnn1d.png").stat().st_size > 5000
    assert (report_dir / "training_ensemble-cnn1d+logreg@stats.png").is_file()
    assert "training_cnn1d.png" in (report_dir / "report.md").read_text()


def test_augment_is_refused_for_networks(subset, cache):
    with pytest.raises(ParameterError, match="classic models only"):
        evaluate_corpus(
            subset, models=["cnn1d"], emotions=["angry", "calm"], augment=1, cache_dir=cache
        )


def test_train_predict_info_ensemble(subset, cache, tmp_path, capsys):
    model = tmp_path / "ens"
    code = main(
        [
            "train", str(subset), "--model", "ensemble:cnn1d+logreg@stats",
            "--param", "cnn1d__max_epochs=2", "--threads", "1",
            "--out", str(model), "--cache-dir", str(cache), "-q",
        ]
    )  # fmt: skip
    assert code == 0 and "240 clips of 4 speakers" in capsys.readouterr().out
    code = main(["info", str(model)])
    out = capsys.readouterr().out
    assert code == 0 and "cnn1d on seed, logreg on stats" in out and "spk-norm  yes" in out
    code = main(["predict", "--model", str(model), str(EXAMPLES), "--json", "-q"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 16
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-6 for r in rows)
    rec = EmotionRecognizer.load(model)
    one = rec.predict_file(EXAMPLES / "03-01-05-02-01-01-23.flac")
    assert one.probabilities == pytest.approx(rows[8]["probabilities"], abs=1e-6)


def test_ensemble_evaluation_equals_the_mean_of_its_members(subset, cache):
    """What benchmarks/accuracy.py --neural relies on: members are fitted per fold exactly as
    when evaluated alone (same clips, same seed), so the ensemble's probabilities are their mean."""
    models = ["cnn1d", "ensemble:cnn1d+logreg@stats"]
    params = {
        "cnn1d": {"max_epochs": 2, "channels": 8},
        "ensemble:cnn1d+logreg@stats": {"cnn1d__max_epochs": 2, "cnn1d__channels": 8},
    }
    options = {"emotions": ["angry", "calm"], "n_splits": 2, "cache_dir": cache}
    _, nets = evaluate_corpus(subset, models=models, params=params, threads=1, **options)
    _, classic = evaluate_corpus(subset, models=["logreg"], features="stats", **options)
    ensemble = nets["ensemble:cnn1d+logreg@stats"]
    np.testing.assert_array_equal(ensemble.indices, classic["logreg"].indices)
    mean = (nets["cnn1d"].proba + classic["logreg"].proba) / 2
    np.testing.assert_allclose(ensemble.proba, mean, atol=1e-12)


def test_service_serves_an_ensemble_bundle(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from serkit.features import extract_files
    from serkit.service.app import create_app

    paths = sorted(EXAMPLES.glob("*.flac"))
    X = {key: extract_files(paths, key, jobs=1).matrix() for key in ("seed", "stats")}
    y = ["high" if p.name.split("-")[2] in {"05", "06", "08"} else "low" for p in paths]
    groups = [p.stem[-2:] for p in paths]
    folder = tmp_path / "ens"
    EmotionRecognizer(model="ensemble:cnn1d+logreg@stats", params=TINY_CNN).fit(
        X, y, groups=groups
    ).save(folder)
    with TestClient(create_app(folder)) as client:
        info = client.get("/v1/models").json()
        assert [spec["name"] for spec in info["features"]] == ["seed", "stats"]
        assert info["n_features"] is None and info["speaker_norm"] is True
        assert info["id"].startswith("ensemble:cnn1d+logreg@stats-")
        body = paths[0].read_bytes()
        response = client.post("/v1/predict", files={"file": ("a.flac", body, "audio/flac")})
        assert response.status_code == 200, response.text
        expected = EmotionRecognizer.load(folder).predict_file(paths[0]).probabilities
        assert response.json()["probabilities"] == pytest.approx(expected, abs=1e-6)
