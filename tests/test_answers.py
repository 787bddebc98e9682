"""Answers over a user's label set (--emotions, emotions=) and the uncertain mark."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from serkit import ParameterError
from serkit.answers import is_uncertain, restrict_proba, restriction_matrix
from serkit.cli import main
from serkit.features import extract_files
from serkit.recognizer import EmotionRecognizer
from serkit.results import Prediction

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
FOUR = ["angry", "happy", "neutral", "sad"]


@pytest.fixture(scope="module")
def examples() -> tuple[list[Path], np.ndarray, list[str]]:
    paths = sorted(EXAMPLES.glob("*.flac"))
    X = extract_files(paths, "seed", jobs=1).matrix()
    return paths, X, [EMOTIONS[p.name.split("-")[2]] for p in paths]


@pytest.fixture(scope="module")
def recognizer(examples) -> EmotionRecognizer:
    _, X, y = examples
    return EmotionRecognizer("seed", "logreg").fit(X, y)


def test_matrix_sums_merged_classes_onto_their_emotion() -> None:
    classes = ["angry", "calm", "happy", "neutral", "sad", "surprised"]
    matrix = restriction_matrix(classes, FOUR)
    proba = np.array([[0.1, 0.3, 0.1, 0.2, 0.1, 0.2]])
    out = restrict_proba(proba, matrix)
    np.testing.assert_allclose(out, [[0.125, 0.125, 0.625, 0.125]])  # calm + neutral
    # calm listed itself: it is not added to neutral
    both = restrict_proba(proba, restriction_matrix(classes, ["calm", "neutral"]))
    np.testing.assert_allclose(both, [[0.6, 0.4]])


def test_rows_without_mass_on_the_set_become_uniform() -> None:
    out = restrict_proba(np.array([[0.0, 1.0]]), restriction_matrix(["angry", "sad"], ["angry"]))
    np.testing.assert_allclose(out, [[1.0]])
    matrix = restriction_matrix(["angry", "happy", "sad"], ["angry", "happy"])
    out = restrict_proba(np.array([[0.0, 0.0, 1.0]]), matrix)
    np.testing.assert_allclose(out, [[0.5, 0.5]])


@pytest.mark.parametrize(
    ("emotions", "message"),
    [
        (["bored"], "cannot answer bored; its emotions are angry, calm"),
        ([], "the emotion list is empty"),
        (["sad", "sad"], "repeats a name"),
    ],
)
def test_bad_label_sets_are_named(emotions, message) -> None:
    with pytest.raises(ParameterError, match=message):
        restriction_matrix(["angry", "calm", "sad"], emotions)


def test_restricted_recognizer_answers_over_the_set(recognizer, examples) -> None:
    paths, X, _ = examples
    four = recognizer.restrict(FOUR)
    assert list(four.classes_) == FOUR
    assert list(recognizer.classes_) == sorted(set(EMOTIONS.values()))  # original unchanged
    full = recognizer.predict_proba(X)
    out = four.predict_proba(X)
    assert out.shape == (len(X), 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    cols = {c: i for i, c in enumerate(recognizer.classes_)}
    mass = full[:, [cols["angry"], cols["happy"], cols["neutral"], cols["sad"]]].copy()
    mass[:, 2] += full[:, cols["calm"]]
    np.testing.assert_allclose(out, mass / mass.sum(axis=1, keepdims=True))
    prediction = four.predict_file(paths[0])
    assert prediction.emotion in FOUR and list(prediction.probabilities) == FOUR
    assert four.restrict(["sad", "angry"]).classes_.tolist() == ["sad", "angry"]  # from the base


def test_restricted_recognizer_is_not_saved(recognizer, tmp_path) -> None:
    with pytest.raises(ParameterError, match="restricted to a label set"):
        recognizer.restrict(FOUR).save(tmp_path / "model")


def test_uncertain_mark_follows_the_bundle_threshold(recognizer, examples, tmp_path) -> None:
    paths, X, y = examples
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    assert rec.uncertain_below_ is None and rec.predict_file(paths[0]).uncertain is None
    rec.calibration_ = {"method": "temperature", "temperature": 3.0, "uncertain_below": 0.5}
    rec.save(tmp_path / "model")
    loaded = EmotionRecognizer.load(tmp_path / "model")
    assert loaded.uncertain_below_ == 0.5
    predictions = loaded.predict_files(paths)
    for p in predictions:
        assert p.uncertain is (p.confidence < 0.5)
        assert p.to_dict()["uncertain"] is p.uncertain
    assert any(p.uncertain for p in predictions)  # a temperature of 3 flattens most answers
    unmarked = Prediction.from_probabilities(["a", "b"], [0.2, 0.8], path="x").to_dict()
    assert "uncertain" not in unmarked  # a model without a threshold: outputs as before
    assert is_uncertain(None, 0.5) is None and is_uncertain(0.4, None) is None


def test_threshold_outside_0_1_is_refused(examples, tmp_path) -> None:
    from serkit._errors import BundleError

    _, X, y = examples
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    rec.calibration_ = {"method": "temperature", "temperature": 1.0, "uncertain_below": 1.5}
    rec.save(tmp_path / "model")
    with pytest.raises(BundleError, match=r"uncertain_below must be a number in \[0, 1\]"):
        EmotionRecognizer.load(tmp_path / "model")


@pytest.fixture(scope="module")
def marked_model(examples, tmp_path_factory) -> Path:
    _, X, y = examples
    rec = EmotionRecognizer("seed", "logreg").fit(X, y)
    rec.calibration_ = {"method": "temperature", "temperature": 3.0, "uncertain_below": 0.5}
    folder = tmp_path_factory.mktemp("marked") / "model"
    rec.save(folder)
    return folder


def test_cli_emotions_and_uncertain_in_json_csv_and_table(marked_model, capsys) -> None:
    files = [str(p) for p in sorted(EXAMPLES.glob("*.flac"))[:6]]
    assert main(["predict", *files, "--model", str(marked_model), "--json", "-q",
                 "--emotions", ",".join(FOUR)]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert all(list(r["probabilities"]) == FOUR for r in rows)
    assert all(r["emotion"] in FOUR and isinstance(r["uncertain"], bool) for r in rows)
    assert main(["predict", *files, "--model", str(marked_model), "--csv", "-q"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0][:4] == ["path", "emotion", "confidence", "uncertain"]
    assert {r[3] for r in table[1:]} <= {"true", "false"}
    assert main(["predict", *files, "--model", str(marked_model), "-q"]) == 0
    out = capsys.readouterr()
    flagged = [line for line in out.out.splitlines() if line.endswith("uncertain")]
    assert flagged and "marked uncertain: confidence below 0.50" in out.err


def test_cli_unknown_emotion_is_a_usage_error(marked_model, capsys) -> None:
    code = main(["predict", str(sorted(EXAMPLES.glob("*.flac"))[0]), "--model",
                 str(marked_model), "--emotions", "angry,bored"])  # fmt: skip
    assert code == 2
    assert "cannot answer bored" in capsys.readouterr().err


def test_timeline_rows_carry_the_mark(marked_model, tmp_path) -> None:
    import soundfile as sf

    from serkit.timeline import predict_timeline

    clips = [sf.read(p, dtype="float32")[0] for p in sorted(EXAMPLES.glob("*.flac"))[:4]]
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate(clips), 16000)
    rec = EmotionRecognizer.load(marked_model).restrict(FOUR)
    timeline = predict_timeline(rec, long, speaker_norm=False)
    assert timeline.classes == FOUR
    rows = timeline.rows("windows")
    assert rows and all(isinstance(r["uncertain"], bool) for r in rows)
    assert all(set(s.to_dict()["probabilities"]) == set(FOUR) for s in timeline.speech)


def test_service_emotions_parameter(marked_model) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from serkit.service import create_app

    data = sorted(EXAMPLES.glob("*.flac"))[0].read_bytes()
    with TestClient(create_app(marked_model)) as client:
        ok = client.post("/v1/predict?emotions=angry,happy,neutral,sad", content=data,
                         headers={"Content-Type": "audio/flac"})  # fmt: skip
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert list(body["probabilities"]) == FOUR and isinstance(body["uncertain"], bool)
        assert sum(body["probabilities"].values()) == pytest.approx(1.0)
        bad = client.post("/v1/predict?emotions=bored", content=data,
                          headers={"Content-Type": "audio/flac"})  # fmt: skip
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "bad_emotions"
        assert "cannot answer bored" in bad.json()["error"]["message"]
        full = client.post("/v1/predict", content=data, headers={"Content-Type": "audio/flac"})
        assert len(full.json()["probabilities"]) == 8
