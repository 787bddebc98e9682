"""The serkit command, run in-process through serkit.cli.main."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from serkit import __version__
from serkit.cli import build_parser, main
from serkit.files import CORPUS_EXTENSIONS

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


# ------------------------------------------------------------------ messages that point the way
EMOTION_CODES = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                 "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
INTERNALS = ("Traceback", 'File "', ".py:", "serkit.corpora", "serkit.features", "SerkitWarning")


def _no_internals(text: str) -> None:
    for word in INTERNALS:
        assert word not in text, f"{word!r} shown to the user:\n{text}"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A logreg on the MFCC block of the 16 example clips: small and quick to fit."""
    from serkit.features import extract_files
    from serkit.recognizer import EmotionRecognizer

    paths = sorted(EXAMPLES.glob("*.flac"))
    spec = "seed:groups=mfcc"
    X = extract_files(paths, spec, jobs=1).matrix()
    labels = [EMOTION_CODES[p.name.split("-")[2]] for p in paths]
    actors = [p.stem.split("-")[-1] for p in paths]
    rec = EmotionRecognizer(spec, "logreg").fit(X, labels, groups=actors)
    return rec.save(tmp_path_factory.mktemp("cli") / "model")


def test_plain_serkit_lists_every_command_on_one_line(capsys):
    code, out, err = run(capsys)
    commands = build_parser()._subparsers._group_actions[0].choices
    assert code == 2 and out == ""
    lines = err.splitlines()
    for name in commands:
        [line] = [x for x in lines if x.split()[:1] == [name]]
        assert len(line.split()) > 2  # the name and its one-line help
    assert "serkit COMMAND --help" in err


def test_a_long_recording_points_to_timeline_and_the_limit_is_an_option(
    capsys, tmp_path, tiny_model
):
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(601 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    code, out, _ = run(capsys, "predict", str(long), "--model", str(tiny_model), "--json", "-q")
    [row] = json.loads(out)
    assert code == 1 and "more than the limit of 600 s" in row["error"]
    assert f"serkit timeline {long}" in row["error"] and "--max-seconds 602" in row["error"]
    clip = EXAMPLES / "03-01-05-02-01-01-23.flac"  # 3.4 s
    code, out, _ = run(capsys, "predict", str(clip), "--model", str(tiny_model), "--max-seconds",
                       "2", "--json", "-q")  # fmt: skip
    assert code == 1 and "more than the limit of 2 s" in json.loads(out)[0]["error"]
    code, out, _ = run(capsys, "predict", str(clip), "--model", str(tiny_model), "--max-seconds",
                       "5", "--json", "-q")  # fmt: skip
    assert code == 0 and json.loads(out)[0]["emotion"]
    for bad in ("0", "3601", "nan"):
        code, _, err = run(capsys, "predict", str(clip), "--model", str(tiny_model),
                           "--max-seconds", bad)  # fmt: skip
        assert code == 2 and "--max-seconds must be > 0 and at most 3600" in err
        assert "serkit timeline FILE" in err
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "--max-seconds S" in capsys.readouterr().out
    code, _, err = run(capsys, "predict", str(clip), "--dask", "local:1", "--out",
                       str(tmp_path / "out"), "--max-seconds", "10")  # fmt: skip
    assert code == 2 and "--max-seconds is not supported with --dask" in err


def test_no_audio_found_names_the_folder_and_the_extensions(capsys, tmp_path, tiny_model):
    empty = tmp_path / "emptydir"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    code, _, err = run(capsys, "predict", str(empty), "--model", str(tiny_model), "-q")
    assert code == 2 and f"no audio files found in {empty}" in err
    assert ".wav" in err and ".flac" in err and err.count("\n") == 1


def test_one_exit_rule_for_nothing_to_predict(capsys, tmp_path, tiny_model, audio_files):
    # predict: 1 when every file failed; timeline: 1 when the recording gave no window
    for name in ("short", "silence", "text", "empty"):
        path = str(audio_files[name])
        code, out, _ = run(capsys, "predict", path, "--model", str(tiny_model), "-q")
        assert code == 1 and "error:" in out, name
        code, out, err = run(capsys, "timeline", path, "--model", str(tiny_model), "-q")
        assert code == 1, name
        assert "nothing to predict" in out or "error:" in err, name
    code, out, _ = run(capsys, "timeline", str(audio_files["short"]), "--model", str(tiny_model))
    assert "less than the shortest window (0.25 s)" in out
    code, out, _ = run(capsys, "timeline", str(audio_files["silence"]), "--model",
                       str(tiny_model), "--json", "-q")  # fmt: skip
    assert code == 1 and json.loads(out)["windows"] == []
    clip = EXAMPLES / "03-01-05-02-01-01-23.flac"
    code, _, _ = run(capsys, "timeline", str(clip), "--model", str(tiny_model), "-q")
    assert code == 0
    from serkit._messages import EXIT_STATUS

    for command in ("predict", "timeline"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert " ".join(EXIT_STATUS.split()[:6]) in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("bad", ["text", "empty", "missing", "folder_of_text", "model_path"])
@pytest.mark.parametrize("command", ["predict", "timeline"])
def test_bad_inputs_get_one_line_without_internals(
    capsys, tmp_path, tiny_model, audio_files, command, bad
):
    model, target = str(tiny_model), None
    if bad in ("text", "empty"):
        target = str(audio_files[bad])
    elif bad == "missing":
        target = str(tmp_path / "missing.wav")
    elif bad == "folder_of_text":
        target = str(tmp_path / "docs")
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "a.txt").write_text("x")
    else:  # a model folder whose manifest cannot be read
        model = str(tmp_path / "model")
        (tmp_path / "model" / "model.json").mkdir(parents=True)
        target = str(EXAMPLES / "03-01-05-02-01-01-23.flac")
    code, out, err = run(capsys, command, target, "--model", model, "-q")
    assert code in (1, 2)
    _no_internals(out + err)
    assert len(err.splitlines()) <= 1
    named = model if bad == "model_path" else target
    assert named in out + err


def _serkit(*argv: str) -> subprocess.CompletedProcess:
    """The command in a fresh process: warnings shown as a user sees them (pytest records
    the warnings of in-process calls instead of printing them)."""
    return subprocess.run(
        [sys.executable, "-m", "serkit", *argv], capture_output=True, text=True, timeout=300
    )


def test_warnings_are_one_line_without_source(tmp_path, tiny_model, audio_files):
    done = _serkit("corpus", str(tmp_path), "-q")
    assert done.returncode == 0
    extensions = ", ".join(sorted(CORPUS_EXTENSIONS))
    assert done.stderr.splitlines() == [
        f"serkit: warning: no audio files found under {tmp_path} (extensions: {extensions})"
    ]
    # a warning raised while features are extracted (truncated WAV): the message, no source
    done = _serkit("predict", str(audio_files["truncated"]), "--model", str(tiny_model), "-q")
    assert done.returncode == 0 and done.stderr.startswith("serkit: warning: ")
    assert "truncated" in done.stderr and len(done.stderr.splitlines()) == 1
    _no_internals(done.stderr)


def test_warnings_still_reach_recorders_and_the_display_is_restored(tmp_path):
    import warnings

    from serkit import SerkitWarning

    before = warnings.formatwarning
    with pytest.warns(SerkitWarning, match="no audio files found"):
        assert main(["corpus", str(tmp_path), "-q"]) == 0
    assert warnings.formatwarning is before


def test_log_lines_name_no_internal_logger():
    import logging

    from serkit._messages import _Formatter

    def line(name: str) -> str:
        record = logging.LogRecord(name, logging.WARNING, __file__, 1, "%d left", (3,), None)
        return _Formatter().format(record)

    assert line("serkit.corpora._record") == "serkit: warning: 3 left"
    assert line("distributed.worker") == "serkit: warning (distributed.worker): 3 left"


def test_an_output_that_cannot_be_written_is_one_line(capsys, tmp_path, tiny_model):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    clip = str(EXAMPLES / "03-01-05-02-01-01-23.flac")
    code, _, err = run(capsys, "plot", clip, "--out", str(blocker / "plot.png"))
    assert code == 2 and err.startswith(f"serkit plot: error: {blocker}")
    assert len(err.splitlines()) == 1 and ".tmp-" not in err
    _no_internals(err)
    rows = blocker / "rows.csv"
    code, _, err = run(capsys, "timeline", clip, "--model", str(tiny_model), "--out", str(rows),
                       "-q")  # fmt: skip
    assert code == 2 and err.startswith(f"serkit timeline: error: {rows}: cannot be written")
    assert len(err.splitlines()) == 1 and ".tmp-" not in err
