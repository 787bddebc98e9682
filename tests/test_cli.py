"""The serkit command, run in-process through serkit.cli.main."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serkit import __version__
from serkit.cli import build_parser, main

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_everywhere(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"corpus", "features", "plot", "cache", "download"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: serkit " + name in capsys.readouterr().out


def test_corpus_on_examples(capsys):
    code, out, _ = run(capsys, "corpus", str(EXAMPLES), "--json", "-q")
    assert code == 0
    report = json.loads(out)
    assert report["n_clips"] == 16
    assert report["n_speakers"] == 2
    assert report["emotions"] == {e: 2 for e in report["emotions"]} and len(report["emotions"]) == 8
    assert report["problems"] == []
    assert 40 < report["total_duration_s"] < 90
    code, out, _ = run(capsys, "corpus", str(EXAMPLES), "--check", "-q")
    assert code == 0 and "clips     16" in out and "problems  0" in out


def test_corpus_reports_problems(capsys, tmp_path, audio_files):
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    (actor / "03-01-05-02-01-01-01.wav").write_bytes(audio_files["voice"].read_bytes())
    (actor / "03-01-04-01-01-01-01.wav").write_bytes(b"")  # parses, but is empty
    (actor / "not-a-ravdess-name.wav").write_bytes(audio_files["voice"].read_bytes())
    code, out, _ = run(capsys, "corpus", str(tmp_path), "--json", "-q")
    report = json.loads(out)
    reasons = {Path(p["path"]).name: p["reason"] for p in report["problems"]}
    # the empty clip is a problem only, not also a clip (issue 13: counts that agree)
    assert code == 0 and report["n_clips"] == 1
    assert report["n_problems"] == len(report["problems"]) == 2
    assert "not-a-ravdess-name.wav" in reasons and "03-01-04-01-01-01-01.wav" in reasons


def test_features_to_every_format(capsys, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "f.parquet"
    code, text, _ = run(
        capsys, "features", str(EXAMPLES), "--features", "seed", "--out", str(out),
        "--cache-dir", str(cache), "--jobs", "2", "-q",
    )  # fmt: skip
    assert code == 0 and "16 clips x 180 features" in text
    frame = pd.read_parquet(out)
    assert len(frame) == 16 and frame.shape[1] >= 185
    assert {"path", "speaker", "emotion", "mfcc_1", "mel_128"} <= set(frame.columns)
    assert sorted(frame["speaker"].unique()) == ["23", "24"]
    # second run reads the cache and writes the same numbers
    csv = tmp_path / "f.csv"
    code, text, _ = run(
        capsys, "features", str(EXAMPLES), "--features", "seed", "--out", str(csv),
        "--cache-dir", str(cache), "-q", "--json",
    )  # fmt: skip
    summary = json.loads(text)
    assert code == 0 and summary["n_cached"] == 16 and summary["skipped"] == []
    again = pd.read_csv(csv)
    np.testing.assert_allclose(again["mfcc_1"], frame["mfcc_1"], rtol=1e-6)
    npz = tmp_path / "seq.npz"
    code, _, _ = run(
        capsys, "features", str(EXAMPLES), "--emotions", "angry,sad", "--features", "logmel",
        "--out", str(npz), "--no-cache", "-q",
    )  # fmt: skip
    data = np.load(npz)
    assert code == 0 and len(data["lengths"]) == 4
    assert data["frames"].shape[0] == data["lengths"].sum()


def test_features_sequence_to_table_is_an_error(capsys, tmp_path):
    code, _, err = run(
        capsys, "features", str(EXAMPLES), "--features", "logmel", "--out",
        str(tmp_path / "x.csv"), "--no-cache", "-q",
    )  # fmt: skip
    assert code == 2 and ".npz" in err


def test_errors_are_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "corpus", str(tmp_path / "missing"), "-q")
    assert code == 2 and "missing" in err and err.count("\n") == 1
    code, _, err = run(capsys, "corpus", str(EXAMPLES), "--emotions", "angry,grumpy", "-q")
    assert code == 2 and "grumpy" in err
    code, _, err = run(
        capsys, "features", str(EXAMPLES), "--features", "nope", "--out", "x.csv", "-q"
    )
    assert code == 2 and "unknown feature set" in err


def test_plot_writes_png(capsys, tmp_path):
    out = tmp_path / "plot.png"
    code, _text, _ = run(
        capsys, "plot", str(EXAMPLES / "03-01-05-02-01-01-23.flac"), "--out", str(out)
    )
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000
    code, _, err = run(capsys, "plot", str(tmp_path / "plot.png"))
    assert code == 2 and "not a readable audio file" in err


def test_cache_info_and_clear(capsys, tmp_path):
    cache = tmp_path / "c"
    run(capsys, "features", str(EXAMPLES), "--out", str(tmp_path / "f.csv"), "--cache-dir",
        str(cache), "-q")  # fmt: skip
    code, out, _ = run(capsys, "cache", "info", "--cache-dir", str(cache), "--json")
    info = json.loads(out)
    assert code == 0 and info["n_entries"] == 16
    code, out, _ = run(capsys, "cache", "clear", "--cache-dir", str(cache))
    assert code == 0 and "removed 16" in out


def test_console_script_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "serkit", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"serkit {__version__}"


def test_import_is_light():
    code = (
        "import sys, serkit, serkit.features, serkit.corpora, serkit.audio;"
        "heavy = [m for m in ('librosa', 'opensmile', 'torch', 'matplotlib', 'fastapi')"
        " if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_corpus_on_shared_ravdess(capsys, ravdess_root):
    code, out, _ = run(capsys, "corpus", str(ravdess_root), "--json", "-q")
    report = json.loads(out)
    assert code == 0 and report["n_clips"] == 1440 and report["problems"] == []
    assert report["total_duration_s"] == pytest.approx(1.48 * 3600, rel=0.01)
