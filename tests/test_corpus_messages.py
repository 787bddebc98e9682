"""Honest counts and messages when reading corpora (issue 13, findings 9-10)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, voice_like
from serkit import CorpusError
from serkit.cli import main
from serkit.corpora import load_csv, load_folder


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
