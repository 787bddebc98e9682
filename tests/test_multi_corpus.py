"""Training and evaluating on several corpora at once: one vocabulary, speakers per corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serkit.bundles import read_manifest
from serkit.cli import main
from serkit.workflows import source_tables

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# EmoDB letters for RAVDESS emotion codes: angry W, happy F, neutral N, sad T, fearful A
# (calm has no EmoDB letter; boredom L has no RAVDESS code)
LETTERS = {"05": "W", "03": "F", "01": "N", "04": "T", "06": "A"}


@pytest.fixture(scope="module")
def emodb_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example clips again, named as two EmoDB speakers' (03 and 08), plus boredom."""
    root = tmp_path_factory.mktemp("emodb")
    for clip in sorted(EXAMPLES.glob("*.flac")):
        code, actor = clip.stem.split("-")[2], clip.stem.split("-")[-1]
        speaker = "03" if actor == "23" else "08"
        letter = LETTERS.get(code, "L" if code == "02" else None)
        if letter is not None:
            shutil.copy(clip, root / f"{speaker}a01{letter}{'ab'[int(code) % 2]}.flac")
    return root


def test_one_vocabulary_and_the_map(emodb_like: Path) -> None:
    tables, name = source_tables(
        EXAMPLES, ["seed"], corpus="ravdess", also=[(emodb_like, "emodb")],
        label_map={"calm": "neutral", "bored": None},
    )  # fmt: skip
    table = next(iter(tables.values()))
    assert name == "ravdess+emodb"
    emotions = set(table.meta["emotion"])
    assert "calm" not in emotions and "bored" not in emotions
    assert {"angry", "neutral", "disgust", "surprised"} <= emotions  # the union, not shared
    assert set(table.meta["corpus"]) == {"ravdess", "emodb"}
    # calm clips became neutral; boredom clips are gone
    assert (table.meta["emotion"] == "neutral").sum() == 4 + 2


def test_train_on_two_corpora(emodb_like: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "model"
    code = main([
        "train", str(EXAMPLES), "--corpus", "ravdess", "--also", f"{emodb_like}:emodb",
        "--map", "calm=neutral", "--map", "bored=", "--features", "seed", "--model", "logreg",
        "--exclude-speakers", "emodb:08", "--out", str(out), "-q",
    ])  # fmt: skip
    assert code == 0
    training = read_manifest(out)["training"]
    assert training["corpus"] == "ravdess+emodb"
    assert training["label_map"] == {"calm": "neutral", "bored": None}
    assert training["speakers"] == ["emodb:03", "ravdess:23", "ravdess:24"]
    assert "calm" not in read_manifest(out)["classes"]
    assert main(["predict", str(EXAMPLES), "--model", str(out), "--json", "-q"]) == 0
    capsys.readouterr()


def test_evaluate_folds_hold_whole_speakers_of_every_corpus(emodb_like: Path, capsys) -> None:
    code = main([
        "evaluate", str(EXAMPLES), "--corpus", "ravdess", "--also", f"{emodb_like}:emodb",
        "--map", "calm=neutral", "--features", "seed", "--models", "logreg",
        "--folds", "2", "--json", "-q",
    ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["corpus"]["name"] == "ravdess+emodb"
    assert report["n_speakers"] == 4 and "bored" in report["classes"]
    assert "calm" not in report["classes"]


def test_bad_map_is_named(capsys) -> None:
    code = main(["train", str(EXAMPLES), "--map", "calm", "--out", "x", "-q"])
    assert code == 2 and "--map takes EMOTION=EMOTION" in capsys.readouterr().err
