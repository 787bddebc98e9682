"""Honest counts and messages when reading corpora (issue 13, findings 9-10)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import SHARED, SR, voice_like
from serkit import CorpusError, SerkitWarning
from serkit.cli import main
from serkit.corpora import load_corpus, load_csv, load_folder


def _clip(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, voice_like(dur=1.0), SR)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "corpus"
    for i in range(3):
        _clip(root / "angry" / f"a{i}.wav")
        _clip(root / "sad" / f"s{i}.wav")
    (root / "sad" / "junk.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "sad" / "empty.wav").write_bytes(b"")
    return root


def test_corpus_counts_agree(folder, capsys):
    assert main(["corpus", str(folder), "--corpus", "folder", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_clips"] == 6
    assert report["n_problems"] == len(report["problems"]) == 2
    assert sum(report["emotions"].values()) == report["n_clips"]


def test_an_unreadable_subfolder_is_a_problem(folder, lock_folder):
    locked = folder / "sad"
    lock_folder(locked)
    scan = load_folder(folder)
    assert len(scan) == 3
    [problem] = scan.problems
    assert problem.path == locked and "folder cannot be read (Permission denied)" in problem.reason


def test_duplicate_csv_columns_are_refused(tmp_path):
    _clip(tmp_path / "a.wav")
    table = tmp_path / "clips.csv"
    table.write_text("path,label,Label\na.wav,angry,sad\n")
    with pytest.raises(CorpusError, match="column 'Label' appears twice"):
        load_csv(table)


def test_an_unterminated_quote_is_an_error_not_a_swallowed_file(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav"):
        _clip(tmp_path / name)
    table = tmp_path / "clips.csv"
    table.write_text('path,label\na.wav,angry\n"b.wav,sad\nc.wav,happy\n')
    with pytest.raises(CorpusError, match="unterminated quote"):
        load_csv(table)


# ------------------------------------------------------- a folder read with the wrong reader
EMODB_SHARED = SHARED / "data" / "emodb"
NAMES = {
    "ravdess": ["Actor_01/03-01-05-02-01-01-01.wav", "Actor_02/03-01-04-01-02-02-02.wav"],
    "emodb": ["03a01Wa.wav", "08b10Lc.wav", "16a02Fa.wav"],
    "cremad": ["1001_DFA_ANG_XX.wav", "1002_IEO_SAD_HI.wav"],
    "tess": ["OAF_back_angry.wav", "YAF_dog_sad.wav"],
    "savee": ["DC/a01.wav", "JE/sa02.wav"],
    "folder": ["angry/x1.wav", "sad/x2.wav"],
}


def _touch(root, names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()  # readers look at names only


@pytest.mark.parametrize("scheme", sorted(NAMES))
def test_the_scheme_that_fits_is_named(tmp_path, scheme):
    _touch(tmp_path, NAMES[scheme])
    chosen = "tess" if scheme != "tess" else "emodb"
    with pytest.warns(SerkitWarning, match=f"these names fit --corpus {scheme} ") as caught:
        scan = load_corpus(tmp_path, chosen)
    assert len(scan) == 0 and scan.better_corpus == scheme
    assert caught[0].filename == __file__  # the warning points at the caller, not at serkit


def test_no_hint_when_most_names_fit(tmp_path):
    _touch(tmp_path, [*NAMES["emodb"], "notes-03a01Wa.wav"])
    with pytest.warns(SerkitWarning, match="1 of 4 files could not be used") as caught:
        scan = load_corpus(tmp_path, "emodb")
    assert len(scan) == 3 and scan.better_corpus is None
    assert "fit --corpus" not in str(caught[0].message)


def test_corpus_command_suggests_the_scheme(tmp_path, capsys):
    _touch(tmp_path, NAMES["emodb"])
    with pytest.warns(SerkitWarning, match="ravdess: 3 of 3 files could not be used"):
        assert main(["corpus", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("hint      these names fit --corpus emodb")
    with pytest.warns(SerkitWarning, match="these names fit --corpus emodb"):
        assert main(["corpus", str(tmp_path), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["better_corpus"] == "emodb"
    # as a user sees it: one line, no logger or module name, no source line
    done = subprocess.run(
        [sys.executable, "-m", "serkit", "corpus", str(tmp_path), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("serkit: warning: ravdess: 3 of 3 files could not be used")
    assert "these names fit --corpus emodb" in done.stderr
    for internal in ("serkit.corpora", "WARNING", ".py:", "SerkitWarning"):
        assert internal not in done.stderr


def test_shared_emodb_read_as_ravdess_suggests_emodb(capsys):
    if not EMODB_SHARED.is_dir():
        pytest.skip(f"shared EmoDB not found at {EMODB_SHARED} (../shared is absent)")
    with pytest.warns(SerkitWarning) as caught:
        assert main(["corpus", str(EMODB_SHARED), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_clips"] == 0 and report["n_problems"] == 535
    assert report["better_corpus"] == "emodb"
    [message] = [str(w.message) for w in caught]
    assert "535 of 535 files could not be used" in message
    assert "these names fit --corpus emodb (535 of 535 checked" in message
