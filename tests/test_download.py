"""download_ravdess against a local HTTP server that plays Zenodo (127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit import DownloadError, ParameterError
from serkit.corpora import download_ravdess, load_ravdess

RECORD = "1188976"
SPEECH = "Audio_Speech_Actors_01-24.zip"
SONG = "Audio_Song_Actors_01-19.zip"
SPEECH_CLIPS = (
    "Actor_01/03-01-01-01-01-01-01.wav",
    "Actor_01/03-01-05-02-01-01-01.wav",
    "Actor_02/03-01-04-01-02-02-02.wav",
    "Actor_02/03-01-08-02-02-01-02.wav",
)
SONG_CLIPS = ("Actor_01/03-02-03-01-01-01-01.wav", "Actor_02/03-02-06-02-02-02-02.wav")


def _wav(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, (0.1 * rng.standard_normal(800)).astype(np.float32), 16000, format="WAV")
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


SPEECH_ZIP = _zip({name: _wav(i) for i, name in enumerate(SPEECH_CLIPS)})
SONG_ZIP = _zip({name: _wav(10 + i) for i, name in enumerate(SONG_CLIPS)})


@dataclass
class FakeZenodo:
    """What the fake server serves, and what it saw."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)  # overrides, "md5:..."
    sizes: dict[str, int] = field(default_factory=dict)  # overrides
    ignore_range: bool = False
    cut_after: int | None = None  # send only this many bytes of a file, then hang up
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    bytes_sent: int = 0

    def record(self) -> dict:
        return {
            "id": int(RECORD),
            "files": [
                {
                    "key": name,
                    "size": self.sizes.get(name, len(data)),
                    "checksum": self.checksums.get(name, "md5:" + hashlib.md5(data).hexdigest()),
                    "links": {"self": f"{self.base_url}/api/records/{RECORD}/files/{name}/content"},
                }
                for name, data in self.files.items()
            ],
        }


def _handler(state: FakeZenodo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Range")))
            if self.path == f"/api/records/{RECORD}":
                body = json.dumps(state.record()).encode()
                self._send(200, body, {"Content-Type": "application/json"})
                return
            m = re.fullmatch(rf"/api/records/{RECORD}/files/(.+)/content", self.path)
            if m is None or m.group(1) not in state.files:
                self._send(404, b"not found")
                return
            data = state.files[m.group(1)]
            start = 0
            ranged = self.headers.get("Range")
            if ranged and not state.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", ranged).group(1))
                if start >= len(data):
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Content-Type", "application/zip")
            self.end_headers()
            body = data[start:]
            if state.cut_after is not None:
                body = body[: state.cut_after]
                self.close_connection = True
            self.wfile.write(body)
            state.bytes_sent += len(body)

    return Handler


@pytest.fixture
def zenodo() -> Iterator[FakeZenodo]:
    state = FakeZenodo(files={SPEECH: SPEECH_ZIP, SONG: SONG_ZIP})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    state.base_url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _fetch(dest: Path, zenodo: FakeZenodo, **kwargs) -> Path:
    kwargs.setdefault("progress", False)
    return download_ravdess(dest, base_url=zenodo.base_url, timeout=5, **kwargs)


def _downloads(zenodo: FakeZenodo) -> list[tuple[str, str | None]]:
    return [r for r in zenodo.requests if r[0].endswith("/content")]


def test_full_download_extracts_and_loads(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    assert _fetch(dest, zenodo) == dest
    for name in SPEECH_CLIPS:
        assert (dest / name).is_file()
    assert not (dest / SONG_CLIPS[0]).exists()  # only the speech part was asked for
    assert not (dest / ".partial").exists()  # archive removed after extraction
    marker = (dest / f".done-{SPEECH}").read_text().splitlines()
    assert marker[0] == hashlib.md5(SPEECH_ZIP).hexdigest()
    assert sorted(marker[1:]) == sorted(SPEECH_CLIPS)
    scan = load_ravdess(dest)
    assert len(scan) == len(SPEECH_CLIPS) and scan.problems == []
    assert {u.speaker for u in scan} == {"01", "02"}
    assert _downloads(zenodo) == [(f"/api/records/{RECORD}/files/{SPEECH}/content", None)]


def test_second_call_is_a_no_op(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    _fetch(dest, zenodo)
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    zenodo.requests.clear()
    assert _fetch(dest, zenodo) == dest
    assert zenodo.requests == []  # not even the record is read
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == before


def test_speech_and_song_share_actor_folders(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    _fetch(dest, zenodo, parts=("speech",))
    zenodo.requests.clear()
    _fetch(dest, zenodo, parts=["song", "speech"])
    # speech was done already: only the song archive is fetched
    assert [r[0].split("/")[-2] for r in _downloads(zenodo)] == [SONG]
    scan = load_ravdess(dest)
    assert len(scan) == len(SPEECH_CLIPS) + len(SONG_CLIPS)
    assert {u.extra["vocal_channel"] for u in scan} == {"speech", "song"}


def test_resume_sends_range_and_verifies(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    k = len(SPEECH_ZIP) // 3
    (dest / ".partial").mkdir(parents=True)
    (dest / ".partial" / SPEECH).write_bytes(SPEECH_ZIP[:k])
    _fetch(dest, zenodo)
    assert _downloads(zenodo) == [(f"/api/records/{RECORD}/files/{SPEECH}/content", f"bytes={k}-")]
    assert zenodo.bytes_sent == len(SPEECH_ZIP) - k
    assert (dest / f".done-{SPEECH}").is_file()
    assert len(load_ravdess(dest)) == len(SPEECH_CLIPS)


def test_interrupted_download_resumes_on_the_next_call(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    zenodo.cut_after = 1000
    with pytest.raises(DownloadError, match=r"ended after 1000 of \d+ bytes.*resume"):
        _fetch(dest, zenodo)
    assert (dest / ".partial" / SPEECH).stat().st_size == 1000
    assert not (dest / "Actor_01").exists()
    zenodo.cut_after = None
    _fetch(dest, zenodo)
    assert _downloads(zenodo)[-1][1] == "bytes=1000-"
    assert len(load_ravdess(dest)) == len(SPEECH_CLIPS)


def test_server_ignoring_range_restarts_from_zero(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    (dest / ".partial").mkdir(parents=True)
    (dest / ".partial" / SPEECH).write_bytes(b"\0" * 500)  # wrong bytes: only a restart verifies
    zenodo.ignore_range = True
    _fetch(dest, zenodo)
    assert _downloads(zenodo)[0][1] == "bytes=500-"
    assert zenodo.bytes_sent == len(SPEECH_ZIP)
    assert len(load_ravdess(dest)) == len(SPEECH_CLIPS)


def test_complete_partial_file_is_not_downloaded_again(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    (dest / ".partial").mkdir(parents=True)
    (dest / ".partial" / SPEECH).write_bytes(SPEECH_ZIP)
    _fetch(dest, zenodo)
    assert _downloads(zenodo) == []
    assert len(load_ravdess(dest)) == len(SPEECH_CLIPS)


def test_checksum_mismatch_raises_and_extracts_nothing(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    zenodo.checksums[SPEECH] = "md5:" + "0" * 32
    with pytest.raises(DownloadError, match="checksum") as info:
        _fetch(dest, zenodo)
    assert "0" * 32 in str(info.value)
    assert not (dest / ".partial" / SPEECH).exists()  # the bad file is deleted
    assert not (dest / f".done-{SPEECH}").exists()
    assert not any(p.suffix == ".wav" for p in tmp_path.rglob("*"))


def test_oversized_partial_is_discarded(zenodo: FakeZenodo, tmp_path: Path) -> None:
    dest = tmp_path / "ravdess"
    (dest / ".partial").mkdir(parents=True)
    (dest / ".partial" / SPEECH).write_bytes(SPEECH_ZIP + b"junk")  # longer than the record
    _fetch(dest, zenodo)  # too long: thrown away and fetched again
    assert _downloads(zenodo)[0][1] is None
    assert len(load_ravdess(dest)) == len(SPEECH_CLIPS)


def test_unsatisfiable_range_restarts(zenodo: FakeZenodo, tmp_path: Path) -> None:
    # the record promises more bytes than the server has: resuming at the end gets 416,
    # the restart gets a short file, and that is an error that names the sizes
    dest = tmp_path / "ravdess"
    n = len(SPEECH_ZIP)
    zenodo.sizes[SPEECH] = n + 10
    (dest / ".partial").mkdir(parents=True)
    (dest / ".partial" / SPEECH).write_bytes(SPEECH_ZIP)
    with pytest.raises(DownloadError, match=f"ended after {n} of {n + 10} bytes"):
        _fetch(dest, zenodo)
    assert [r[1] for r in _downloads(zenodo)] == [f"bytes={n}-", None]


@pytest.mark.parametrize("evil", ["../evil.wav", "Actor_01/../../evil.wav", "/tmp/evil.wav"])
def test_unsafe_member_is_refused(zenodo: FakeZenodo, tmp_path: Path, evil: str) -> None:
    zenodo.files[SPEECH] = _zip({SPEECH_CLIPS[0]: _wav(0), evil: b"gotcha"})
    dest = tmp_path / "deep" / "ravdess"
    with pytest.raises(DownloadError, match="refusing to extract"):
        _fetch(dest, zenodo)
    assert not any(p.suffix == ".wav" for p in tmp_path.rglob("*"))
    assert not (dest / f".done-{SPEECH}").exists()
    assert not (dest / ".partial" / SPEECH).exists()


def test_wrapping_folder_is_unwrapped(zenodo: FakeZenodo, tmp_path: Path) -> None:
    zenodo.files[SPEECH] = _zip({f"Audio_Speech/{n}": _wav(0) for n in SPEECH_CLIPS})
    dest = tmp_path / "ravdess"
    _fetch(dest, zenodo)
    assert (dest / SPEECH_CLIPS[0]).is_file()


def test_network_error_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(DownloadError, match=re.escape(f"{base}/api/records/{RECORD}")):
        download_ravdess(tmp_path / "r", base_url=base, progress=False, timeout=5)


def test_unknown_record_and_missing_archive(zenodo: FakeZenodo, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        _fetch(tmp_path / "a", zenodo, record="999")
    del zenodo.files[SONG]
    with pytest.raises(DownloadError, match=f"no file {SONG}"):
        _fetch(tmp_path / "b", zenodo, parts="song")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="'video'"):
        download_ravdess(tmp_path, parts=("speech", "video"))
    with pytest.raises(ParameterError, match="timeout"):
        download_ravdess(tmp_path, timeout=0)
    with pytest.raises(DownloadError, match="only http and https"):
        download_ravdess(tmp_path, base_url="file:///etc", progress=False)


def test_progress_bar_goes_to_stderr(
    zenodo: FakeZenodo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fetch(tmp_path / "ravdess", zenodo, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert SPEECH in captured.err
