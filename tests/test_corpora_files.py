"""Labelling one file at a time (``serkit.corpora.file_labeller``) gives what the corpus
readers give when they scan the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from serkit import ParameterError
from serkit.corpora import (
    FILE_CORPORA,
    file_labeller,
    label_file,
    load_corpus,
    load_folder,
)

REPO = Path(__file__).resolve().parents[1]


def _same(a, b) -> None:
    assert (a.emotion, a.speaker, a.gender, a.corpus, dict(a.extra)) == (
        b.emotion,
        b.speaker,
        b.gender,
        b.corpus,
        dict(b.extra),
    )


def test_named_corpora_label_files_as_their_readers(ravdess_root: Path) -> None:
    scan = load_corpus(ravdess_root, "ravdess")
    label = file_labeller("ravdess")
    for utt in scan.utterances[::97]:
        _same(label(utt.path), utt)
        _same(label_file(utt.path), utt)
    with pytest.raises(ValueError, match=r"x/03-01-09-01-01-01-01.wav: unknown emotion code"):
        label("x/03-01-09-01-01-01-01.wav")


def test_emodb_files() -> None:
    root = REPO.parent / "shared" / "data" / "emodb-2s"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    scan = load_corpus(root, "emodb")
    label = file_labeller("emodb")
    for utt in scan.utterances[::53]:
        _same(label(utt.path), utt)


def test_folder_layout_and_refusals(tmp_path: Path) -> None:
    for rel in ("Anger/spk1/a.wav", "calm/spk2/b.wav", "loose.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    scan = load_folder(tmp_path, speaker_pattern=r"/(spk\d+)/")
    label = file_labeller("folder", root=tmp_path, speaker_pattern=r"/(spk\d+)/")
    assert len(scan.utterances) == 2
    for utt in scan.utterances:
        _same(label(utt.path), utt)
    with pytest.raises(ValueError, match=r"loose\.wav: not inside a label folder"):
        label(tmp_path / "loose.wav")
    with pytest.raises(ValueError, match="not inside the corpus folder"):
        label(tmp_path.parent / "elsewhere" / "x.wav")
    with pytest.raises(ParameterError, match="needs the corpus folder"):
        file_labeller("folder")
    with pytest.raises(ParameterError, match="cannot be labelled one file at a time"):
        file_labeller("cremad")
    assert "cremad" not in FILE_CORPORA and "csv" not in FILE_CORPORA
