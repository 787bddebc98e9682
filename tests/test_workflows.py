"""train / evaluate / predict / info, through the CLI and the plain functions, on real clips."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from serkit._errors import SerkitWarning
from serkit.cli import main
from serkit.workflows import collect_audio_files, evaluate_corpus

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_speaker_kfold_report(capsys, subset, cache, tmp_path):
    report_dir = tmp_path / "report"
    code, out, _ = run(
        capsys, "evaluate", str(subset), "--models", "logreg,dt", "--folds", "4",
        "--cache-dir", str(cache), "--report", str(report_dir), "--json", "-q",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["protocol"] == "speaker-kfold" and report["n_clips"] == 240
    assert len(report["classes"]) == 8 and report["n_speakers"] == 4
    for name in ("logreg", "dt"):
        res = report["results"][name]
        # the scores are those of the pooled confusion matrix (rows: true class)
        confusion = np.asarray(res["confusion"], dtype=float)
        assert res["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
        recalls = np.diag(confusion) / confusion.sum(axis=1)
        assert res["uar"] == pytest.approx(recalls.mean())
        # one speaker per fold, each tested exactly once
        tested = [s for fold in res["folds"] for s in fold["test_speakers"]]
        assert sorted(tested) == [f"ravdess:0{i}" for i in range(1, 5)]
        assert sum(sum(row) for row in res["confusion"]) == 240
    assert json.loads((report_dir / "report.json").read_text())["results"].keys() == {
        "logreg",
        "dt",
    }
    markdown = (report_dir / "report.md").read_text()
    assert "## Leaderboard" in markdown and "| logreg |" in markdown
    for name in ("logreg", "dt"):
        assert (report_dir / f"confusion_{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_random_and_holdout_protocols(subset, cache):
    report, results = evaluate_corpus(subset, cache_dir=cache, models=["logreg"], protocol="random")
    assert results["logreg"].summary()["n_clips"] == 60  # 25 % of 240
    report, results = evaluate_corpus(
        subset, cache_dir=cache, models=["logreg"], protocol="holdout", test_speakers=["02"]
    )
    assert report["results"]["logreg"]["folds"][0]["test_speakers"] == ["ravdess:02"]
    assert results["logreg"].summary()["n_clips"] == 60


def test_speaker_norm_and_search_run(subset, cache):
    from serkit.models import default_param_grid

    options = {"cache_dir": cache, "models": ["logreg"], "n_splits": 4}
    _, plain = evaluate_corpus(subset, **options)
    _, normed = evaluate_corpus(subset, **options, speaker_norm=True)
    report, _ = evaluate_corpus(subset, **options, speaker_norm=True, search=True)
    assert report["speaker_norm"] is True and report["search"] is True
    # each fold chose its parameters from the grid
    grid = default_param_grid("logreg")
    for fold in report["results"]["logreg"]["folds"]:
        assert fold["best_params"] and all(
            fold["best_params"][name] in values for name, values in grid.items()
        )
    # per-speaker normalisation changed what the model saw: other probabilities, same clips
    assert plain["logreg"].indices.tolist() == normed["logreg"].indices.tolist()
    assert not np.allclose(plain["logreg"].proba, normed["logreg"].proba)


def test_train_info_predict(capsys, subset, cache, tmp_path, audio_files):
    model = tmp_path / "model"
    code, out, _ = run(
        capsys, "train", str(subset), "--model", "logreg", "--param", "C=0.5",
        "--out", str(model), "--cache-dir", str(cache), "-q",
    )  # fmt: skip
    assert code == 0 and "240 clips of 4 speakers" in out
    code, out, _ = run(capsys, "info", str(model))
    assert code == 0 and "logreg" in out and "angry, calm, disgust" in out
    manifest = json.loads((model / "model.json").read_text())
    assert manifest["model"]["params"] == {"C": 0.5}
    assert manifest["training"]["n_clips"] == 240

    code, out, _ = run(capsys, "predict", "--model", str(model), str(EXAMPLES), "--json", "-q")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 16
    for row in rows:
        assert row["emotion"] in row["probabilities"]
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-6
        assert row["confidence"] == max(row["probabilities"].values())

    bad = audio_files["text"]
    code, out, _err = run(
        capsys, "predict", "--model", str(model), str(EXAMPLES / "03-01-05-02-01-01-23.flac"),
        str(bad), "--csv", "-q",
    )  # fmt: skip
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == 2
    assert table[0]["emotion"] and not table[0]["error"]
    assert table[1]["emotion"] == "" and "not a readable audio file" in table[1]["error"]

    code, out, _ = run(capsys, "predict", "--model", str(model), str(bad), "-q")
    assert code == 1 and "error:" in out


def test_collect_audio_files_keeps_explicit_paths(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.FLAC").write_bytes(b"x")
    found = collect_audio_files([tmp_path, tmp_path / "notes.txt"])
    assert [p.name for p in found] == ["a.wav", "b.FLAC", "notes.txt"]


def test_collect_audio_files_lists_as_dask_jobs_do(tmp_path, monkeypatch):
    """The local path and ``--dask`` list the same files in the same order: links to
    folders followed, hidden folders skipped, relative inputs kept relative."""
    from serkit.distributed import iter_audio_files

    archive = tmp_path / "archive"
    (archive / "calls").mkdir(parents=True)
    (archive / "calls" / "1.wav").write_bytes(b"x")
    (archive / ".trash").mkdir()
    (archive / ".trash" / "old.wav").write_bytes(b"x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "2.flac").write_bytes(b"x")
    (archive / "linked").symlink_to(elsewhere, target_is_directory=True)
    (archive / "linked" / "loop").symlink_to(archive, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    local = collect_audio_files(["archive"])
    assert [str(p) for p in local] == [
        os.path.join("archive", "calls", "1.wav"),
        os.path.join("archive", "linked", "2.flac"),
    ]
    assert [os.path.abspath(p) for p in local] == list(iter_audio_files(["archive"]))


def test_an_unreadable_folder_is_named_not_dropped_silently(tmp_path, lock_folder):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "1.wav").write_bytes(b"x")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "2.wav").write_bytes(b"x")
    lock_folder(locked)
    with pytest.warns(SerkitWarning, match=f"{locked}: folder cannot be read .Permission denied"):
        found = collect_audio_files([tmp_path])
    assert [p.name for p in found] == ["1.wav"]


def test_predict_reads_a_file_list_without_dask(capsys, tmp_path):
    listing = tmp_path / "list.txt"
    clip = EXAMPLES / "03-01-05-02-01-01-23.flac"
    listing.write_text(f"# calls of Monday\n{clip}\n\nmissing.wav\n")
    code, out, _ = run(capsys, "predict", "--files-from", str(listing), "--json", "-q")
    rows = json.loads(out)
    assert code == 0 and [row["path"] for row in rows] == [str(clip), str(tmp_path / "missing.wav")]
    assert rows[0]["emotion"] and rows[1]["error"]


def test_augmented_training_of_an_ensemble_on_one_feature_set(subset, cache, tmp_path, capsys):
    """``--augment`` trains an ensemble whose members read one feature set: every member sees
    the copies (evaluation and ``train``); members on two feature sets are refused by name."""
    from serkit.bundles import read_manifest
    from serkit.workflows import augment_table, evaluate_table, load_table

    table = load_table(subset, features="seed", cache_dir=cache)
    augmented = augment_table(table, copies=1, cache_dir=cache)
    name = "ensemble:logreg+dt"
    report, results = evaluate_table(table, models=[name], n_splits=4, augmented=augmented)
    assert report["augmented_copies"] == 1 and len(results[name].y_true) == len(table)
    plain, _ = evaluate_table(table, models=[name], n_splits=4)
    assert plain["results"][name]["uar"] != report["results"][name]["uar"]

    model = tmp_path / "ens-aug"
    code, out, _ = run(
        capsys, "train", str(subset), "--model", name, "--features", "seed", "--augment", "1",
        "--out", str(model), "--cache-dir", str(cache), "-q",
    )  # fmt: skip
    assert code == 0
    training = read_manifest(model)["training"]
    assert training["augmented_copies"] == 1 and training["n_training_rows"] == 2 * 240
    code, out, _ = run(capsys, "predict", "--model", str(model), str(EXAMPLES), "--json", "-q")
    assert code == 0 and len(json.loads(out)) == 16

    code, _, err = run(
        capsys, "evaluate", str(subset), "--models", "ensemble:logreg+svm@stats",
        "--features", "seed", "--augment", "1", "--cache-dir", str(cache), "-q",
    )  # fmt: skip
    assert code == 2 and "members to read one feature set; they read seed" in err


def test_augmented_training_never_sees_test_clips(subset, cache, monkeypatch):
    from serkit.models import AugmentedTraining
    from serkit.workflows import augment_table, evaluate_table, load_table

    table = load_table(subset, features="seed", cache_dir=cache)
    augmented = augment_table(table, copies=1, cache_dir=cache)
    assert len(augmented) == len(table)
    assert augmented.meta["session"].nunique() == 4
    seen = []
    real_fit = AugmentedTraining.fit

    def spy(self, X, y, source_rows=None):
        seen.append(np.asarray(source_rows))
        return real_fit(self, X, y, source_rows=source_rows)

    monkeypatch.setattr(AugmentedTraining, "fit", spy)
    report, results = evaluate_table(table, models=["logreg"], n_splits=4, augmented=augmented)
    assert report["augmented_copies"] == 1 and len(seen) == 4
    assert report["augmentation_skipped"] == []
    folds = results["logreg"].fold_of
    for k, rows in enumerate(seen):
        test_rows = results["logreg"].indices[folds == k]
        assert not set(rows) & set(test_rows)
