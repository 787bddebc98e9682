"""The model shipped inside the package: it loads, it is what its card says, it predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serkit.bundles import default_model_path, read_manifest
from serkit.cli import main
from serkit.corpora import EMOTIONS, load_corpus
from serkit.recognizer import EmotionRecognizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def default():
    return EmotionRecognizer.load(default_model_path())


def test_card_and_bundle(default):
    manifest = read_manifest(default_model_path())
    assert sorted(manifest["classes"]) == sorted(EMOTIONS)
    assert list(default.classes_) == manifest["classes"]
    card = manifest["model_card"]
    assert "CC BY-NC-SA 4.0" in card["licence"]
    assert card["held_out_speakers"] == ["ravdess:23", "ravdess:24"]
    assert "ravdess:23" not in manifest["training"]["speakers"]
    for norm in ("global", "session_norm"):  # the card's key, written before the one name
        assert 0.125 < card["evaluation"][norm]["uar"] <= 1.0
    assert default.supports_speaker_norm
    size = sum(p.stat().st_size for p in default_model_path().rglob("*") if p.is_file())
    assert size > 1024 * 1024  # the weights are there, not only the manifest
    assert size <= 20 * 1024 * 1024


def test_predict_examples_without_a_model_argument(capsys):
    code = main(["predict", str(EXAMPLES), "--json", "-q"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 16
    truth = {u.path.name: u.emotion for u in load_corpus(EXAMPLES, "ravdess").utterances}
    correct = sum(truth[Path(r["path"]).name] == r["emotion"] for r in rows)
    # a sanity check that the trained model is wired in (chance is 2 of 16), not a benchmark
    assert correct >= 6


def test_speaker_norm_and_info_default(capsys, default):
    code = main(["predict", str(EXAMPLES), r"--group-by=-(\d+)\.flac$", "--json", "-q"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and all(r["emotion"] in EMOTIONS for r in rows)
    grouped = {Path(r["path"]).name: r["probabilities"] for r in rows}
    # each actor's clips were normalised together, and only together: the same as
    # predicting that actor's clips alone as one session, and not the same as one
    # session of all sixteen
    for actor in ("23", "24"):
        paths = sorted(EXAMPLES.glob(f"*-{actor}.flac"))
        alone = default.predict_files(paths, speakers=["one"] * len(paths))
        for pred in alone:
            got = grouped[Path(pred.path).name]
            assert got == pytest.approx(pred.probabilities, abs=1e-9)
    paths = sorted(EXAMPLES.glob("*.flac"))
    pooled = default.predict_files(paths, speakers=["all"] * len(paths))
    assert any(
        grouped[Path(p.path).name] != pytest.approx(p.probabilities, abs=1e-6) for p in pooled
    )
    code = main(["info", "default"])
    out = capsys.readouterr().out
    assert code == 0 and "model card" in out and "speaker_norm" in out
