"""Corpus readers: synthetic trees for every naming scheme, and the shared RAVDESS copy."""

from __future__ import annotations

import pickle
import warnings
from collections import Counter
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from serkit import CorpusError, ParameterError, SerkitWarning
from serkit.corpora import (
    CORPORA,
    EMOTIONS,
    EXTRA_EMOTIONS,
    CorpusScan,
    Problem,
    Utterance,
    load_corpus,
    load_cremad,
    load_csv,
    load_emodb,
    load_folder,
    load_ravdess,
    load_savee,
    load_tess,
    normalize_emotion,
    parse_emotions,
)

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)


def touch(root: Path, *names: str) -> list[Path]:
    """Create empty files (the readers parse names only)."""
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        paths.append(path)
    return paths


def reasons(scan: CorpusScan) -> dict[str, str]:
    return {p.path.name: p.reason for p in scan.problems}


# --------------------------------------------------------------------------------------------
# vocabulary


def test_vocabulary_is_ravdess_order() -> None:
    assert EMOTIONS == (
        "neutral",
        "calm",
        "happy",
        "sad",
        "angry",
        "fearful",
        "disgust",
        "surprised",
    )
    assert EXTRA_EMOTIONS == ("bored",)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("anger", "angry"),
        ("ANGRY", "angry"),
        ("ang", "angry"),
        ("fear", "fearful"),
        ("FEA", "fearful"),
        ("happiness", "happy"),
        ("Joy", "happy"),
        ("sadness", "sad"),
        ("surprise", "surprised"),
        ("ps", "surprised"),
        ("pleasant_surprise", "surprised"),
        ("Pleasant Surprised", "surprised"),
        ("pleasant-surprise", "surprised"),
        ("disgusted", "disgust"),
        ("boredom", "bored"),
        (" Neutral ", "neutral"),
        ("calm", "calm"),
    ],
)
def test_normalize_emotion_synonyms(label: str, expected: str) -> None:
    assert normalize_emotion(label) == expected


@pytest.mark.parametrize(
    ("label", "corpus", "expected"),
    [
        ("05", "ravdess", "angry"),
        ("08", "ravdess", "surprised"),
        ("a", "savee", "angry"),
        ("sa", "savee", "sad"),
        ("su", "savee", "surprised"),
        ("A", "emodb", "fearful"),  # Angst: collides with SAVEE's "a"
        ("F", "emodb", "happy"),  # Freude: collides with SAVEE's "f"
        ("L", "emodb", "bored"),
        ("W", "emodb", "angry"),
        ("NEU", "cremad", "neutral"),
        ("anger", "emodb", "angry"),  # synonyms still work with a corpus
    ],
)
def test_normalize_emotion_corpus_codes(label: str, corpus: str, expected: str) -> None:
    assert normalize_emotion(label, corpus=corpus) == expected


def test_normalize_emotion_keeps_unknown_and_rejects_bad_input() -> None:
    assert normalize_emotion("  Frustrated ") == "frustrated"
    assert normalize_emotion("05") == "05"  # numbers mean something only within a corpus
    assert normalize_emotion("a") == "a"
    with pytest.raises(ParameterError, match="non-empty"):
        normalize_emotion("  ")
    with pytest.raises(ParameterError, match="corpus must be one of"):
        normalize_emotion("a", corpus="iemocap")


def test_parse_emotions() -> None:
    assert parse_emotions("angry,happy,neutral,sad") == ("angry", "happy", "neutral", "sad")
    assert parse_emotions(" anger , Joy,angry, ") == ("angry", "happy")
    assert parse_emotions(["boredom", "fear"]) == ("bored", "fearful")
    assert parse_emotions("happy,frustrated", allow_custom=True) == ("happy", "frustrated")
    with pytest.raises(ParameterError, match=r"'grumpy'.*neutral, calm, .*bored"):
        parse_emotions("angry,grumpy")
    with pytest.raises(ParameterError, match="at least one"):
        parse_emotions(" , ")
    with pytest.raises(ParameterError, match="strings"):
        parse_emotions(["angry", 3])  # type: ignore[list-item]


# --------------------------------------------------------------------------------------------
# records


def test_utterance_record() -> None:
    extra = {"intensity": "strong"}
    utt = Utterance("x/03-01-05-02-01-01-01.wav", "angry", "01", "male", "ravdess", extra)
    assert isinstance(utt.path, Path)
    assert utt.speaker_id == "ravdess:01"
    extra["intensity"] = "changed"  # the record holds its own copy
    assert utt.extra == {"intensity": "strong"}
    with pytest.raises(FrozenInstanceError):
        utt.emotion = "sad"  # type: ignore[misc]
    assert hash(utt) == hash(Utterance(utt.path, "angry", "01", "male", "ravdess", {}))
    assert pickle.loads(pickle.dumps(utt)) == utt
    assert str(Problem("a/b.wav", "bad name")) == str(Path("a/b.wav")) + ": bad name"


def test_to_frame_and_summary() -> None:
    utts = [
        Utterance(Path("r/b.wav"), "sad", "s2", None, "folder", {"folder": "sad", "x": "1"}),
        Utterance(Path("r/a.wav"), "happy", "s1", "female", "folder", {"folder": "Joy"}),
        Utterance(Path("r/c.wav"), "frustrated", "s1", "female", "folder", {}),
    ]
    scan = CorpusScan("folder", Path("r"), utts, [Problem(Path("r/z.wav"), "bad")], 4)
    frame = scan.to_frame()
    assert list(frame.columns) == [
        "path",
        "emotion",
        "speaker",
        "gender",
        "corpus",
        "folder",
        "x",
    ]
    assert frame["path"].tolist() == [str(Path("r") / n) for n in ("b.wav", "a.wav", "c.wav")]
    assert frame["x"].isna().tolist() == [False, True, True]
    assert frame["gender"].isna().tolist() == [True, False, False]
    summary = scan.summary()
    assert summary == {
        "corpus": "folder",
        "root": "r",
        "n_clips": 3,
        "n_speakers": 2,
        "emotions": {"happy": 1, "sad": 1, "frustrated": 1},
        "speakers_by_gender": {"female": 1, "unknown": 1},
        "n_problems": 1,
        "n_excluded": 4,
    }
    empty = CorpusScan("ravdess", Path("r")).to_frame()
    assert list(empty.columns) == ["path", "emotion", "speaker", "gender", "corpus"]
    assert len(empty) == 0


# --------------------------------------------------------------------------------------------
# RAVDESS


@pytest.fixture
def ravdess_tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "Actor_01/03-01-01-01-01-01-01.wav",
        "Actor_01/03-01-05-02-02-01-01.WAV",  # upper-case extension
        "Actor_01/03-02-03-01-01-02-01.flac",  # song
        "Actor_02/03-01-04-01-02-02-02.flac",
        "Actor_02/03-01-08-02-01-01-02.mp3",
        "Actor_02/README.md",  # not audio: ignored
        "MANIFEST.tsv",
        ".DS_Store",
        "Actor_02/._03-01-04-01-02-02-02.flac",  # macOS resource fork: ignored
        "__MACOSX/Actor_01/03-01-01-01-01-01-01.wav",
        # problems
        "Actor_01/03-01-09-01-01-01-01.wav",  # emotion 09
        "Actor_01/03-01-01-02-01-01-01.wav",  # neutral + strong
        "Actor_01/03-01-05-01-01-01-02.wav",  # actor field disagrees with folder
        "Actor_01/03-01-05-01-01-01.wav",  # six fields
        "Actor_01/hello.wav",
        "Actor_03/03-01-05-01-01-01-25.wav",  # actor out of range
        "Actor_03/03-02-07-01-01-01-03.wav",  # song has no disgust
        "Actor_03/04-01-05-01-01-01-03.wav",  # modality 04
        "Actor_03/03-01-05-03-01-01-03.wav",  # intensity 03
        "copies/03-01-01-01-01-01-01.flac",  # the same clip again
    )
    return tmp_path


def test_ravdess_parses_names(ravdess_tree: Path) -> None:
    scan = load_ravdess(ravdess_tree)
    assert scan.corpus == "ravdess" and scan.root == ravdess_tree
    assert [u.path.name for u in scan] == [
        "03-01-01-01-01-01-01.wav",
        "03-01-05-02-02-01-01.WAV",
        "03-02-03-01-01-02-01.flac",
        "03-01-04-01-02-02-02.flac",
        "03-01-08-02-01-01-02.mp3",
    ]
    assert [u.path for u in scan] == sorted(u.path for u in scan)
    angry = scan.utterances[1]
    assert (angry.emotion, angry.speaker, angry.gender) == ("angry", "01", "male")
    assert angry.extra == {
        "modality": "audio-only",
        "vocal_channel": "speech",
        "intensity": "strong",
        "statement": "Dogs are sitting by the door",
        "repetition": "1",
        "code": "03-01-05-02-02-01-01",
    }
    assert scan.utterances[2].extra["vocal_channel"] == "song"
    assert scan.utterances[2].extra["statement"] == "Kids are talking by the door"
    assert scan.utterances[3].gender == "female"
    assert [u.emotion for u in scan] == ["neutral", "angry", "happy", "sad", "surprised"]
    assert scan.n_excluded == 0


def test_ravdess_reports_problems(ravdess_tree: Path) -> None:
    scan = load_ravdess(ravdess_tree)
    assert len(scan.problems) == 10
    why = reasons(scan)
    assert "unknown emotion code '09'" in why["03-01-09-01-01-01-01.wav"]
    assert "neutral with strong intensity" in why["03-01-01-02-01-01-01.wav"]
    assert "folder Actor_01 but its actor field is 02" in why["03-01-05-01-01-01-02.wav"]
    assert "seven two-digit fields" in why["03-01-05-01-01-01.wav"]
    assert "seven two-digit fields" in why["hello.wav"]
    assert "outside 01-24" in why["03-01-05-01-01-01-25.wav"]
    assert "song part has no disgust" in why["03-02-07-01-01-01-03.wav"]
    assert "unknown modality code '04'" in why["04-01-05-01-01-01-03.wav"]
    assert "unknown intensity code '03'" in why["03-01-05-03-01-01-03.wav"]
    assert "same clip (03-01-01-01-01-01-01) as" in why["03-01-01-01-01-01-01.flac"]
    assert scan.summary()["n_problems"] == 10


def test_ravdess_subset_counts_excluded(ravdess_tree: Path) -> None:
    scan = load_ravdess(ravdess_tree, emotions="anger,sad")
    assert [u.emotion for u in scan] == ["angry", "sad"]
    assert scan.n_excluded == 3
    assert len(scan.problems) == 10  # problems are not exclusions


def test_ravdess_flat_layout_and_warnings(tmp_path: Path) -> None:
    touch(tmp_path, "a/b/03-01-02-01-01-01-07.wav", "03-01-02-01-01-01-08.ogg")
    with pytest.warns(SerkitWarning, match="no clips labelled bored"):
        scan = load_ravdess(tmp_path, emotions=["calm", "bored"])
    assert [u.speaker for u in scan] == ["08", "07"]  # root/03-... sorts before root/a/...
    (tmp_path / "empty").mkdir()
    with pytest.warns(SerkitWarning, match="no audio files"):
        assert len(load_ravdess(tmp_path / "empty")) == 0


def test_missing_root_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"ravdess root .*nowhere does not exist"):
        load_ravdess(tmp_path / "nowhere")
    file = touch(tmp_path, "x.wav")[0]
    with pytest.raises(CorpusError, match="not a directory"):
        load_corpus(file, "emodb")
    assert issubclass(CorpusError, ValueError)
    with pytest.raises(ParameterError, match=r"unknown corpus 'iemocap'.*ravdess, cremad"):
        load_corpus(tmp_path, "iemocap")
    with pytest.raises(ParameterError, match="speaker_pattern applies only"):
        load_corpus(tmp_path, "ravdess", speaker_pattern=r"(\d+)")
    with pytest.raises(ParameterError, match="'grumpy'"):
        load_corpus(tmp_path, "ravdess", emotions="grumpy")


# --------------------------------------------------------------------------------------------
# CREMA-D


def test_cremad(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "AudioWAV/1001_DFA_ANG_XX.wav",
        "AudioWAV/1002_IEO_HAP_HI.wav",
        "AudioWAV/1091_WSI_NEU_XX.wav",
        "AudioWAV/1001_ITS_FEA_LO.wav",
        "AudioWAV/1001_DFA_XYZ_XX.wav",
        "AudioWAV/1001_ABC_ANG_XX.wav",
        "AudioWAV/0999_DFA_ANG_XX.wav",
        "AudioWAV/1001_DFA_ANG_ZZ.wav",
        "AudioWAV/1001_DFA_ANG.wav",
    )
    scan = load_cremad(tmp_path)
    assert [(u.speaker, u.emotion) for u in scan] == [
        ("1001", "angry"),
        ("1001", "fearful"),
        ("1002", "happy"),
        ("1091", "neutral"),
    ]
    assert all(u.gender is None for u in scan)
    assert scan.utterances[0].extra == {
        "sentence": "DFA",
        "text": "Don't forget a jacket",
        "level": "unspecified",
        "code": "1001_DFA_ANG_XX",
    }
    assert scan.utterances[2].extra["level"] == "high"
    why = reasons(scan)
    assert "unknown emotion code 'XYZ'" in why["1001_DFA_XYZ_XX.wav"]
    assert "unknown sentence code 'ABC'" in why["1001_ABC_ANG_XX.wav"]
    assert "outside 1001-1091" in why["0999_DFA_ANG_XX.wav"]
    assert "unknown level 'ZZ'" in why["1001_DFA_ANG_ZZ.wav"]
    assert "<actor>_<sentence>_<emotion>_<level>" in why["1001_DFA_ANG.wav"]


def test_cremad_genders_from_demographics(tmp_path: Path) -> None:
    touch(tmp_path, "1001_DFA_ANG_XX.wav", "1002_DFA_SAD_XX.wav", "1003_DFA_SAD_XX.wav")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    scan = load_corpus(tmp_path, "CREMA-D", emotions="sad")
    assert [(u.speaker, u.gender) for u in scan] == [("1002", "female"), ("1003", None)]
    assert scan.n_excluded == 1
    (tmp_path / "VideoDemographics.csv").write_text("Actor,Gender\n1001,Male\n")
    with pytest.raises(CorpusError, match="ActorID and Sex; found Actor, Gender"):
        load_cremad(tmp_path)


# --------------------------------------------------------------------------------------------
# TESS, SAVEE, EmoDB


def test_tess(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "OAF_angry/OAF_back_angry.wav",
        "OAF_Pleasant_surprise/OAF_bean_pleasant_surprise.wav",
        "YAF_pleasant_surprised/YAF_bite_ps.wav",
        "YAF_pleasant_surprised/YAF_chat_pleasant_surprised.wav",
        "YAF_fear/YAF_dog_fear.wav",
        "YAF_disgust/YAF_dog_disgust.wav",
        "OAF_bored/OAF_back_bored.wav",
        "ZZZ_angry/ZZZ_back_angry.wav",
        "OAF_angry/OAF_angry.wav",
        "OAF_Pleasant_surprise/OAF_pleasant_surprise.wav",
    )
    scan = load_tess(tmp_path)
    got = {(u.speaker, u.extra["word"], u.emotion) for u in scan}
    assert got == {
        ("OAF", "back", "angry"),
        ("OAF", "bean", "surprised"),
        ("YAF", "bite", "surprised"),
        ("YAF", "chat", "surprised"),
        ("YAF", "dog", "fearful"),
        ("YAF", "dog", "disgust"),
    }
    assert {u.gender for u in scan} == {"female"}
    assert {u.extra["text"] for u in scan if u.extra["word"] == "back"} == {"Say the word back"}
    why = reasons(scan)
    assert "does not end in a TESS emotion" in why["OAF_back_bored.wav"]
    assert "unknown speaker 'ZZZ'" in why["ZZZ_back_angry.wav"]
    assert "<speaker>_<word>_<emotion>" in why["OAF_angry.wav"]
    assert "OAF_pleasant_surprise.wav" in why
    assert len(scan.problems) == 4


def test_savee_both_layouts(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "AudioData/DC/a01.wav",
        "AudioData/JE/sa15.wav",
        "AudioData/JK/su02.wav",
        "ALL/KL_d03.wav",
        "ALL/DC_n30.wav",
        "ALL/JE_f01.wav",
        "ALL/JK_h07.wav",
        "AudioData/DC/JE_a02.wav",  # prefix and folder disagree
        "ALL/a05.wav",  # no speaker
        "ALL/DC_x01.wav",  # unknown code
        "ALL/ZZ_a01.wav",  # unknown speaker
        "ALL/DC_a1.wav",
        "AudioData/KL/d03.wav",  # the same clip as ALL/KL_d03.wav
    )
    scan = load_savee(tmp_path)
    got = {(u.speaker, u.emotion, u.extra["sentence"]) for u in scan}
    assert got == {
        ("DC", "angry", "01"),
        ("JE", "sad", "15"),
        ("JK", "surprised", "02"),
        ("KL", "disgust", "03"),
        ("DC", "neutral", "30"),
        ("JE", "fearful", "01"),
        ("JK", "happy", "07"),
    }
    assert {u.gender for u in scan} == {"male"}
    why = reasons(scan)
    assert "folder DC but its name says speaker JE" in why["JE_a02.wav"]
    assert "no speaker" in why["a05.wav"]
    assert "unknown emotion code 'x'" in why["DC_x01.wav"]
    assert "unknown speaker 'ZZ'" in why["ZZ_a01.wav"]
    assert "DC_a1.wav" in why
    assert why["d03.wav"].startswith("the same clip (KL_d03) as ")
    assert str(tmp_path / "ALL" / "KL_d03.wav") in why["d03.wav"]


def test_emodb(tmp_path: Path) -> None:
    letters = {"W": "angry", "L": "bored", "E": "disgust", "A": "fearful"}
    letters |= {"F": "happy", "T": "sad", "N": "neutral"}
    touch(tmp_path, *(f"wav/03a01{k}a.wav" for k in letters))
    touch(
        tmp_path,
        "wav/16b10Tb.wav",
        "wav/04a01Wa.wav",  # no speaker 04
        "wav/03a03Wa.wav",  # no text a03
        "wav/03a01Xa.wav",
        "wav/03a01wa.wav",  # lower-case emotion letter
        "wav/03a01W.wav",
    )
    scan = load_emodb(tmp_path)
    assert Counter(u.emotion for u in scan) == Counter([*letters.values(), "sad"])
    last = scan.utterances[-1]
    assert (last.speaker, last.gender, last.emotion) == ("16", "female", "sad")
    assert last.extra["text_code"] == "b10" and last.extra["version"] == "b"
    assert scan.utterances[0].gender == "male"
    assert scan.utterances[0].extra["text"] == "Der Lappen liegt auf dem Eisschrank."
    why = reasons(scan)
    assert "unknown speaker '04'" in why["04a01Wa.wav"]
    assert "unknown text code 'a03'" in why["03a03Wa.wav"]
    assert "unknown emotion letter 'X'" in why["03a01Xa.wav"]
    assert "unknown emotion letter 'w'" in why["03a01wa.wav"]
    assert "03a01W.wav" in why
    subset = load_emodb(tmp_path, emotions="boredom,sad")
    assert [u.emotion for u in subset] == ["bored", "sad", "sad"]
    assert subset.n_excluded == 5


# --------------------------------------------------------------------------------------------
# generic readers


@pytest.fixture
def folder_tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "Anger/spk01/take1.wav",
        "anger/spk02/take1.flac",
        "happy/spk01/take2.wav",
        "frustrated/spk03/x.wav",
        "happy/nospeaker.wav",
        "loose.wav",  # not in a label folder
        "happy/notes.txt",
    )
    return tmp_path


def test_folder_without_pattern(folder_tree: Path) -> None:
    scan = load_folder(folder_tree)
    assert {u.speaker for u in scan} == {"unknown"}
    assert Counter(u.emotion for u in scan) == {"angry": 2, "happy": 2, "frustrated": 1}
    assert {u.extra["folder"] for u in scan} == {"Anger", "anger", "happy", "frustrated"}
    assert reasons(scan) == {
        "loose.wav": "not inside a label folder (expected <root>/<label>/<clip>)"
    }
    assert {u.corpus for u in scan} == {"folder"} and {u.gender for u in scan} == {None}


@pytest.mark.parametrize("pattern", [r"/(spk\d+)/", r"(?P<speaker>spk\d+)", r"spk\d+"])
def test_folder_speaker_pattern(folder_tree: Path, pattern: str) -> None:
    scan = load_corpus(folder_tree, "folder", speaker_pattern=pattern)
    assert sorted(u.speaker for u in scan) == ["spk01", "spk01", "spk02", "spk03"]
    assert set(reasons(scan)) == {"loose.wav", "nospeaker.wav"}
    assert "does not match speaker_pattern" in reasons(scan)["nospeaker.wav"]
    assert scan.utterances[0].speaker_id == "folder:spk01"


def test_folder_subset_and_bad_pattern(folder_tree: Path) -> None:
    scan = load_folder(folder_tree, emotions="frustrated,anger")
    assert sorted(u.emotion for u in scan) == ["angry", "angry", "frustrated"]
    assert scan.n_excluded == 2
    with pytest.raises(ParameterError, match="not a valid regular expression"):
        load_folder(folder_tree, speaker_pattern="(spk")


def test_csv(tmp_path: Path) -> None:
    touch(tmp_path, "clips/a.wav", "clips/b.wav", "clips/c.wav", "clips/e.wav", "other/d.wav")
    abs_d = tmp_path / "other" / "d.wav"
    (tmp_path / "meta").mkdir()
    table = tmp_path / "meta" / "clips.csv"
    table.write_text(
        "Path,Label,Speaker,Gender,session\n"
        "../clips/a.wav,Anger,s1,M,1\n"
        "../clips/b.wav,frustrated,s2,female,2\n"
        f"{abs_d},neutral,s3,,1\n"
        "../clips/missing.wav,sad,s1,m,1\n"
        "../clips/a.wav,happy,s1,m,1\n"
        "../clips/c.wav,,s1,m,1\n"
        "../clips/e.wav,sad,,m,1\n"
        ",sad,s1,m,1\n"
        "\n",
        encoding="utf-8",
    )
    scan = load_csv(table)
    assert scan.root == table and scan.corpus == "csv"
    rows = [(u.path.name, u.emotion, u.speaker, u.gender, u.extra) for u in scan]
    assert rows == [
        ("a.wav", "angry", "s1", "male", {"session": "1"}),
        ("b.wav", "frustrated", "s2", "female", {"session": "2"}),
        ("d.wav", "neutral", "s3", None, {"session": "1"}),
    ]
    assert scan.utterances[0].path == tmp_path / "clips" / "a.wav"
    why = sorted(p.reason for p in scan.problems)
    assert why == [
        "row 5: file not found",
        "row 6: listed again (first on row 2)",
        "row 7: empty label",
        "row 8: empty speaker",
        "row 9: empty path",
    ]
    assert list(scan.to_frame().columns)[-1] == "session"


def test_csv_subset_tsv_emotion_column_and_pattern(tmp_path: Path) -> None:
    touch(tmp_path, "spk1/a.wav", "spk2/b.wav", "c.wav")
    table = tmp_path / "list.tsv"
    table.write_text("path\temotion\nspk1/a.wav\tjoy\nspk2/b.wav\tsad\nc.wav\tsad\n")
    scan = load_corpus(table, "csv", emotions="happy", speaker_pattern=r"^(spk\d)/")
    assert [(u.speaker, u.emotion) for u in scan] == [("spk1", "happy")]
    assert scan.n_excluded == 1
    assert "does not match speaker_pattern" in reasons(scan)["c.wav"]
    plain = load_csv(table)
    assert {u.speaker for u in plain} == {"unknown"}


def test_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(CorpusError, match="is a directory"):
        load_csv(tmp_path)
    table = tmp_path / "t.csv"
    table.write_text("file,emotion_label,speaker\na.wav,sad,s1\n")
    with pytest.raises(
        CorpusError, match=r"path, label.*found: 'file', 'emotion_label', 'speaker'"
    ):
        load_csv(table)
    table.write_text("")
    with pytest.raises(CorpusError, match="empty"):
        load_csv(table)
    table.write_bytes(b"path,label\n\xff\xfe.wav,sad\n")
    with pytest.raises(CorpusError, match="UTF-8"):
        load_csv(table)
    table.write_text("path,label\n")
    with pytest.warns(SerkitWarning, match="lists no clips"):
        assert len(load_csv(table)) == 0


def test_corpora_names_all_dispatch(tmp_path: Path) -> None:
    assert CORPORA == ("ravdess", "cremad", "tess", "savee", "emodb", "folder", "csv")
    table = tmp_path / "t.csv"
    table.write_text("path,label\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SerkitWarning)
        for name in CORPORA:
            scan = load_corpus(table if name == "csv" else tmp_path, name)
            assert scan.corpus == name


# --------------------------------------------------------------------------------------------
# the shared RAVDESS corpus


def test_shared_ravdess(ravdess_root: Path) -> None:
    scan = load_corpus(ravdess_root)
    assert scan.problems == []
    assert len(scan) == 1440
    summary = scan.summary()
    assert summary["n_speakers"] == 24
    assert summary["speakers_by_gender"] == {"female": 12, "male": 12}
    assert summary["emotions"] == {e: 96 if e == "neutral" else 192 for e in EMOTIONS}
    assert set(Counter(u.speaker for u in scan).values()) == {60}
    assert {u.extra["vocal_channel"] for u in scan} == {"speech"}
    assert all(u.path.suffix == ".flac" for u in scan)
    frame = scan.to_frame()
    assert frame.shape == (1440, 11)
    assert frame["path"].is_monotonic_increasing


def test_shared_ravdess_subset(ravdess_root: Path) -> None:
    scan = load_ravdess(ravdess_root, emotions="angry,happy,neutral,sad")
    assert len(scan) == 672
    assert scan.n_excluded == 1440 - 672
    assert scan.problems == []
