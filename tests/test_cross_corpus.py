"""The cross-corpus protocols on small subsets of both shared corpora, and their splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serkit._errors import ParameterError
from serkit.cli import main
from serkit.cross_corpus import evaluate_corpora, parse_source
from serkit.evaluation import cross_corpus, leave_one_corpus_out, make_splits

EMODB_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb-2s"


@pytest.fixture(scope="module")
def emodb_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speakers 03, 08 and 09 of the shared EmoDB copy, linked into a temp folder."""
    if not EMODB_ROOT.is_dir():
        pytest.skip(f"shared EmoDB copy not found at {EMODB_ROOT} (../shared is absent)")
    root = tmp_path_factory.mktemp("emodb3")
    for path in sorted(EMODB_ROOT.glob("*.flac")):
        if path.name[:2] in ("03", "08", "09"):
            (root / path.name).symlink_to(path)
    return root


def test_corpus_splits():
    corpora = np.array(["ravdess", "emodb", "ravdess", "tess"])
    [(train, test)] = cross_corpus(corpora, "emodb")
    assert train.tolist() == [0, 2, 3] and test.tolist() == [1]
    folds = leave_one_corpus_out(corpora)
    assert [t.tolist() for _, t in folds] == [[1], [0, 2], [3]]
    assert make_splits("cross-corpus", groups=corpora, corpora=corpora, test_corpus="tess")[0][
        1
    ].tolist() == [3]
    with pytest.raises(ParameterError, match="not found"):
        cross_corpus(corpora, "savee")
    with pytest.raises(ParameterError, match="at least 2"):
        leave_one_corpus_out(["a", "a"])
    with pytest.raises(ParameterError, match="test_corpus"):
        make_splits("cross-corpus", groups=corpora, corpora=corpora)
    assert parse_source("C:/data/emodb:emodb") == ("C:/data/emodb", "emodb")
    with pytest.raises(ParameterError, match="DIR:READER"):
        parse_source("data/emodb")


def test_cross_corpus_report(subset, emodb_subset, cache):
    report, results = evaluate_corpora(
        [(subset, "ravdess"), (emodb_subset, "emodb")],
        test_corpus="emodb",
        features="stats",
        models=["logreg"],
        cache_dir=cache,
        speaker_norm=True,
        calibrate=True,
    )
    assert report["protocol"] == "cross-corpus" and report["test_corpus"] == "emodb"
    shared = ["angry", "disgust", "fearful", "happy", "neutral", "sad"]
    assert report["shared_classes"] == shared == report["classes"]
    ravdess, emodb = report["corpora"]["ravdess"], report["corpora"]["emodb"]
    assert ravdess["dropped"] == {"calm": 32, "surprised": 32}  # 4 actors x 8 clips
    assert sum(ravdess["kept"].values()) == ravdess["n_clips"] == 240 - 64
    assert "bored" in emodb["dropped"] and emodb["n_speakers"] == 3
    res = report["results"]["logreg"]
    # every EmoDB clip is tested, once, by the model trained on RAVDESS only
    assert res["n_clips"] == emodb["n_clips"]
    assert res["folds"][0]["test_speakers"] == ["emodb:03", "emodb:08", "emodb:09"]
    assert res["folds"][0]["n_train"] == ravdess["n_clips"]
    for key in ("uar", "accuracy", "macro_f1", "ece", "brier", "confident_errors"):
        assert 0.0 <= res[key] <= 2.0
    assert res["temperatures"][0] > 0 and set(res["uncalibrated"]) == {
        "ece",
        "brier",
        "confident_errors",
    }
    assert results["logreg"].groups.tolist()[0].startswith("emodb:")
    json.dumps(report)


def test_cli_cross_corpus_and_leave_one_corpus_out(capsys, subset, emodb_subset, cache, tmp_path):
    out_dir = tmp_path / "report"
    code = main([
        "evaluate", str(subset), "--test-data", str(emodb_subset), "--test-corpus", "emodb",
        "--features", "stats", "--models", "logreg", "--emotions", "angry,happy,neutral,sad",
        "--cache-dir", str(cache), "--report", str(out_dir), "--json", "-q",
    ])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == ["angry", "happy", "neutral", "sad"]
    assert report["corpora"]["ravdess"]["dropped"] == {}  # --emotions dropped calm before
    res = report["results"]["logreg"]
    assert "ece" in res and "brier" in res and "uar" in res
    markdown = (out_dir / "report.md").read_text()
    assert "## Corpora" in markdown and "Test corpus: **emodb**" in markdown
    assert (out_dir / "reliability_logreg.png").read_bytes()[:4] == b"\x89PNG"

    code = main([
        "evaluate", str(subset), "--also", f"{emodb_subset}:emodb",
        "--protocol", "leave-one-corpus-out", "--features", "stats",
        "--models", "logreg,ensemble:logreg+dt", "--calibrate", "--cache-dir", str(cache),
        "--json", "-q",
    ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["protocol"] == "leave-one-corpus-out" and report["corpora"]["emodb"]["dropped"]
    for res in report["results"].values():  # one fold per corpus, each calibrated on its own
        assert [f["test_speakers"][0].split(":")[0] for f in res["folds"]] == ["emodb", "ravdess"]
        assert len(res["temperatures"]) == 2 and res["n_clips"] == sum(
            c["n_clips"] for c in report["corpora"].values()
        )

    code = main(["evaluate", str(subset), "--protocol", "cross-corpus", "-q"])
    assert code == 2
    assert "--test-data" in capsys.readouterr().err


def test_cross_corpus_network(subset, emodb_subset, cache):
    """A network (cnn1d) trained on RAVDESS and tested on every EmoDB clip once."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report, results = evaluate_corpora(
            [(subset, "ravdess"), (emodb_subset, "emodb")],
            test_corpus="emodb",
            models=["cnn1d"],
            emotions=["angry", "happy", "neutral", "sad"],
            cache_dir=cache,
            params={"cnn1d": {"max_epochs": 2, "channels": 8, "pool": 4, "val_fraction": 0.0}},
        )
    finally:
        torch.set_num_threads(threads)
    emodb = report["corpora"]["emodb"]
    res = report["results"]["cnn1d"]
    assert res["n_clips"] == emodb["n_clips"] == len(results["cnn1d"].y_true)
    assert res["folds"][0]["n_train"] == report["corpora"]["ravdess"]["n_clips"]
    assert {g.split(":")[0] for g in results["cnn1d"].groups} == {"emodb"}
    proba = results["cnn1d"].proba
    assert proba.shape == (emodb["n_clips"], 4) and np.allclose(proba.sum(axis=1), 1.0)


def test_cross_corpus_augmented_training_degrades_the_training_side_only(
    subset, emodb_subset, cache
):
    """``augment=1``: one degraded copy of every RAVDESS (training) clip joins the fit; the
    EmoDB clips are tested once each, unaltered; a network refuses ``augment`` by name."""
    sources = [(subset, "ravdess"), (emodb_subset, "emodb")]
    four = ["angry", "happy", "neutral", "sad"]
    report, results = evaluate_corpora(
        sources, test_corpus="emodb", features="seed", models=["logreg"], emotions=four,
        augment=1, cache_dir=cache,
    )  # fmt: skip
    ravdess, emodb = report["corpora"]["ravdess"], report["corpora"]["emodb"]
    res = report["results"]["logreg"]
    assert report["augmented_copies"] == 1
    assert res["n_clips"] == emodb["n_clips"] == len(results["logreg"].y_true)
    assert res["folds"][0]["n_train"] == ravdess["n_clips"]  # the copies are extra rows
    plain, _ = evaluate_corpora(
        sources, test_corpus="emodb", features="seed", models=["logreg"], emotions=four,
        cache_dir=cache,
    )  # fmt: skip
    assert plain["augmented_copies"] == 0 and plain["results"]["logreg"]["uar"] != res["uar"]
    with pytest.raises(ParameterError, match="cnn1d: --augment trains classic models only"):
        evaluate_corpora(sources, test_corpus="emodb", models=["cnn1d"], augment=1, cache_dir=cache)
