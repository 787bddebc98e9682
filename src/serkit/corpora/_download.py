"""Fetch RAVDESS from Zenodo: resumable download, checksum, safe extraction.

Nothing here runs at import; :func:`download_ravdess` does all the work and is
the only code in :mod:`serkit.corpora` that writes files.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .._errors import DownloadError, ParameterError
from .._version import __version__

__all__ = ["download_ravdess"]

logger = logging.getLogger(__name__)

_ARCHIVES = {
    "speech": "Audio_Speech_Actors_01-24.zip",
    "song": "Audio_Song_Actors_01-19.zip",
}
_CHUNK = 1 << 20
_PARTIAL = ".partial"
_ACTOR_DIR = re.compile(r"^actor_\d+$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# HTTP


def _request(url: str, headers: Mapping[str, str] | None = None) -> urllib.request.Request:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing to fetch {url}: only http and https URLs are used")
    return urllib.request.Request(
        url, headers={"User-Agent": f"serkit/{__version__}", **(headers or {})}
    )


def _network_error(url: str, exc: BaseException) -> DownloadError:
    if isinstance(exc, urllib.error.HTTPError):
        cause = f"HTTP {exc.code} {exc.reason}"
    elif isinstance(exc, urllib.error.URLError):
        cause = str(exc.reason)
    else:
        cause = str(exc) or type(exc).__name__
    return DownloadError(f"fetching {url} failed: {cause}")


_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)


def _fetch_record(base_url: str, record: str, timeout: float) -> list[dict[str, Any]]:
    url = f"{base_url.rstrip('/')}/api/records/{urllib.parse.quote(str(record), safe='')}"
    logger.info("reading Zenodo record %s", url)
    try:
        with urllib.request.urlopen(
            _request(url, {"Accept": "application/json"}), timeout=timeout
        ) as response:
            body = response.read()
    except DownloadError:
        raise
    except _NETWORK_ERRORS as exc:
        raise _network_error(url, exc) from exc
    try:
        meta = json.loads(body)
    except ValueError as exc:
        raise DownloadError(f"fetching {url} failed: the answer is not JSON ({exc})") from exc
    files = meta.get("files") if isinstance(meta, dict) else None
    if isinstance(files, dict):  # InvenioRDM's {"entries": {...}} form
        entries = files.get("entries", {})
        files = list(entries.values()) if isinstance(entries, dict) else entries
    if not isinstance(files, list):
        raise DownloadError(f"fetching {url} failed: the record lists no files")
    return [f for f in files if isinstance(f, dict)]


def _file_entry(
    files: list[dict[str, Any]], name: str, base_url: str, record: str
) -> tuple[str, int, str, str]:
    """(url, size, algorithm, digest) of ``name`` in the record's file list."""
    for entry in files:
        if entry.get("key", entry.get("filename")) != name:
            continue
        links = entry.get("links") or {}
        url = links.get("self") or links.get("content") or links.get("download")
        if not url:
            url = f"{base_url.rstrip('/')}/records/{record}/files/{name}?download=1"
        checksum = str(entry.get("checksum", ""))
        algorithm, _, digest = checksum.partition(":")
        if not digest:
            algorithm, digest = "md5", checksum
        algorithm = algorithm.lower()
        if algorithm not in hashlib.algorithms_available or not digest:
            raise DownloadError(f"record entry for {name} has no usable checksum: {checksum!r}")
        try:
            size = int(entry["size"])
        except (KeyError, TypeError, ValueError):
            raise DownloadError(f"record entry for {name} has no valid size") from None
        return str(url), size, algorithm, digest.lower()
    listed = ", ".join(str(f.get("key")) for f in files) or "none"
    raise DownloadError(f"the Zenodo record has no file {name} (files: {listed})")


def _download(url: str, target: Path, size: int, *, progress: bool, timeout: float) -> None:
    """Download ``url`` into ``target``, resuming from a partial file when there is one."""
    from tqdm.auto import tqdm

    have = target.stat().st_size if target.exists() else 0
    if have > size:
        logger.info("%s is larger than expected; starting again", target)
        target.unlink()
        have = 0
    if have == size:
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        try:
            response = urllib.request.urlopen(_request(url, headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not have:
                raise
            exc.close()
            logger.info("server cannot resume %s at byte %d; starting again", url, have)
            target.unlink()
            return _download(url, target, size, progress=progress, timeout=timeout)
        with response:
            if have and response.status == 206:
                start = _range_start(response.headers.get("Content-Range", ""))
                if start != have:
                    logger.info(
                        "server resumed %s at byte %s, not %d; starting again", url, start, have
                    )
                    response.close()
                    target.unlink()
                    return _download(url, target, size, progress=progress, timeout=timeout)
                mode = "ab"
                logger.info("resuming %s at byte %d", url, have)
            else:
                if have:
                    logger.info("server ignored the Range request for %s; starting again", url)
                have = 0
                mode = "wb"
            with (
                open(target, mode) as out,
                tqdm(
                    total=size,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=target.name,
                    disable=not progress,
                ) as bar,
            ):
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
            got = target.stat().st_size
            if got < size:  # the server closed early; keep what came for the next run
                raise DownloadError(
                    f"fetching {url} failed: the connection ended after {got} of {size} bytes; "
                    "run again to resume"
                )
    except DownloadError:  # a subclass of OSError: pass it on as it is
        raise
    except _NETWORK_ERRORS as exc:
        raise _network_error(url, exc) from exc


def _range_start(content_range: str) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", content_range)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------
# verification and extraction


def _verify(target: Path, size: int, algorithm: str, digest: str) -> None:
    actual_size = target.stat().st_size
    if actual_size != size:
        target.unlink()
        raise DownloadError(
            f"{target.name}: downloaded {actual_size} bytes, the record says {size}; "
            "the file was deleted, run again to download it afresh"
        )
    h = hashlib.new(algorithm)
    with open(target, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            h.update(block)
    if h.hexdigest() != digest:
        target.unlink()
        raise DownloadError(
            f"{target.name}: {algorithm} checksum {h.hexdigest()} does not match the record's "
            f"{digest}; the file was deleted, run again to download it afresh"
        )


def _members(archive: zipfile.ZipFile, name: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The files to extract with their safe relative targets; refuse unsafe names."""
    out = []
    for info in archive.infolist():
        raw = info.filename
        parts = raw.replace("\\", "/").split("/")
        if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw) or ".." in parts:
            raise DownloadError(
                f"{name}: refusing to extract member {raw!r} (absolute path or '..')"
            )
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DownloadError(f"{name}: refusing to extract symbolic link {raw!r}")
        rel = PurePosixPath(*[p for p in parts if p not in ("", ".")])
        if info.is_dir() or not rel.parts or rel.parts[0] == "__MACOSX":
            continue
        out.append((info, rel))
    # a zip that wraps everything in one folder (other than Actor_NN) is unwrapped
    tops = {rel.parts[0] for _, rel in out}
    if (
        len(tops) == 1
        and all(len(rel.parts) > 2 for _, rel in out)
        and not _ACTOR_DIR.match(next(iter(tops)))
    ):
        out = [(info, PurePosixPath(*rel.parts[1:])) for info, rel in out]
    return out


def _extract(archive_path: Path, dest: Path, work: Path) -> list[str]:
    """Extract into ``work`` first, then move into ``dest``; return the relative file names."""
    name = archive_path.name
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = _members(archive, name)
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            for info, rel in members:
                target = work.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{name} is not a valid zip archive ({exc})") from exc
    moved = []
    for _, rel in members:
        final = dest.joinpath(*rel.parts)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work.joinpath(*rel.parts), final)
        moved.append(rel.as_posix())
    shutil.rmtree(work, ignore_errors=True)
    return moved


def _marker(dest: Path, name: str) -> Path:
    return dest / f".done-{name}"


def _marker_digest(marker: Path) -> str | None:
    try:
        lines = marker.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return lines[0].strip().lower() if lines and lines[0].strip() else None


def _write_marker(marker: Path, digest: str, files: list[str]) -> None:
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text("\n".join([digest, *files]) + "\n", encoding="utf-8")
    os.replace(tmp, marker)


def _parse_parts(parts: str | Iterable[str]) -> list[str]:
    items = [parts] if isinstance(parts, str) else list(parts)
    out: list[str] = []
    for item in items:
        key = item.strip().lower() if isinstance(item, str) else item
        if key not in _ARCHIVES:
            raise ParameterError(
                f"parts must name {' and/or '.join(_ARCHIVES)}; got {item!r} in parts={parts!r}"
            )
        if key not in out:
            out.append(key)
    if not out:
        raise ParameterError(
            f"parts must name at least one of {', '.join(_ARCHIVES)}; got {parts!r}"
        )
    return out


# --------------------------------------------------------------------------------------------
# public


def download_ravdess(
    dest: str | os.PathLike[str],
    *,
    parts: str | Iterable[str] = ("speech",),
    base_url: str = "https://zenodo.org",
    record: str = "1188976",
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Download RAVDESS's audio from Zenodo and unpack it where :func:`load_ravdess` reads it.

    For each part the archive is downloaded into ``dest/.partial/`` (an
    interrupted download resumes from where it stopped, via an HTTP ``Range``
    request), its size and checksum are checked against the Zenodo record,
    and it is extracted to ``dest/Actor_NN/*.wav``. A marker file
    ``dest/.done-<archive>`` (the checksum, then the extracted files) records
    success; a part whose marker exists is skipped without touching the
    network, so a second call is a no-op. Delete the marker to fetch a part
    again.

    Parameters
    ----------
    dest : path
        Folder to fill; created if missing.
    parts : str or sequence of str
        ``"speech"`` (Audio_Speech_Actors_01-24.zip, 1440 clips, about 200 MB)
        and/or ``"song"`` (Audio_Song_Actors_01-19.zip, 1012 clips). Both share
        the ``Actor_NN`` folders; file names differ.
    base_url : str
        Zenodo's address (tests point this at a local server).
    record : str
        The Zenodo record id of RAVDESS.
    progress : bool
        Show a tqdm progress bar on stderr.
    timeout : float > 0
        Seconds to wait on the network before giving up.

    Returns
    -------
    Path
        ``dest``, ready for :func:`~serkit.corpora.load_ravdess`.

    Raises
    ------
    ParameterError
        If ``parts`` names something other than speech or song, or ``timeout``
        is not positive.
    DownloadError
        If the network fails (the message names the URL and the cause; a
        partial download is kept for resuming), the record lacks an archive,
        the size or checksum does not match (the bad file is deleted), or the
        archive holds an absolute or ``..`` path (nothing is extracted).

    Examples
    --------
    >>> from serkit.corpora import download_ravdess, load_ravdess
    >>> root = download_ravdess("data/ravdess")  # doctest: +SKIP
    >>> load_ravdess(root).summary()["n_clips"]  # doctest: +SKIP
    1440
    """
    wanted = _parse_parts(parts)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ParameterError(f"timeout must be a positive number of seconds; got {timeout!r}")
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    todo = [p for p in wanted if _marker_digest(_marker(dest, _ARCHIVES[p])) is None]
    if not todo:
        logger.info("RAVDESS %s already in %s", " and ".join(wanted), dest)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    files = _fetch_record(base_url, record, timeout)
    partial = dest / _PARTIAL
    for part in todo:
        name = _ARCHIVES[part]
        url, size, algorithm, digest = _file_entry(files, name, base_url, record)
        partial.mkdir(parents=True, exist_ok=True)
        archive = partial / name
        logger.info("downloading %s (%d bytes) into %s", url, size, archive)
        _download(url, archive, size, progress=progress, timeout=timeout)
        _verify(archive, size, algorithm, digest)
        try:
            extracted = _extract(archive, dest, partial / f"{name}.extract")
        except DownloadError:
            archive.unlink(missing_ok=True)
            shutil.rmtree(partial / f"{name}.extract", ignore_errors=True)
            raise
        _write_marker(_marker(dest, name), digest, extracted)
        archive.unlink()
        logger.info("extracted %d files from %s into %s", len(extracted), name, dest)
    with contextlib.suppress(OSError):  # not empty: something else is in there
        partial.rmdir()
    return dest
