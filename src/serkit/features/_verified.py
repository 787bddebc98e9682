"""Remembered SHA-256 checks of large weight files, so a cold start need not re-hash them.

Hashing the 75 MB Whisper weights costs about 0.09 s of CPU in every fresh process on a
CPU with SHA instructions (more on one without, plus reading the file when it is not in the
page cache). The first check of a file hashes it in full; a passing result
is written to a small JSON file in the user's cache folder together with the file's
identity (resolved path, size, modification and change times in ns, inode). Later
processes skip the hash while the identity is unchanged. Any write to the file changes its
change time (``st_ctime_ns``, which ``os.utime`` cannot set back), so a modified or
replaced file is hashed again and refused if it differs.

What this does not guard against: someone who can write both the weights and this memo
file (the user's own cache) can make serkit accept other weights; such a person can edit
serkit's own code as well. The check protects against damaged, truncated or swapped
installs, which is what the pinned hash is for. ``SERKIT_VERIFY_ALWAYS=1`` hashes every
time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .._atomic import atomic_write_text

__all__ = ["memo_path", "sha256_file", "verified_sha256"]

MEMO_NAME = "verified-weights.json"
ALWAYS_ENV = "SERKIT_VERIFY_ALWAYS"


def memo_path() -> Path:
    """``$SERKIT_CACHE_DIR/verified-weights.json``, else ``$XDG_CACHE_HOME/serkit/...``."""
    if os.environ.get("SERKIT_CACHE_DIR"):
        return Path(os.environ["SERKIT_CACHE_DIR"]) / MEMO_NAME
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "serkit" / MEMO_NAME


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity(path: Path) -> dict[str, int]:
    st = path.stat()
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
    }


def _read_memo(memo: Path) -> dict:
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def verified_sha256(path: Path, expected: str) -> str:
    """The SHA-256 of ``path``, taken from the memo when the file is unchanged since it passed.

    Parameters
    ----------
    path : Path
        The file to check.
    expected : str
        The pinned hex digest. Only a file that matched it is remembered.

    Returns
    -------
    str
        The digest: ``expected`` when the memo vouches for the file, else the freshly
        computed one (which the caller compares with ``expected``).
    """
    resolved = Path(os.path.realpath(path))
    identity = _identity(resolved)
    memo = memo_path()
    always = os.environ.get(ALWAYS_ENV, "") not in ("", "0")
    entries = _read_memo(memo)
    entry = entries.get(str(resolved))
    if not always and entry == {**identity, "sha256": expected}:
        return expected
    found = sha256_file(resolved)
    if found == expected and not always:
        entries[str(resolved)] = {**identity, "sha256": found}
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(memo, json.dumps(entries, indent=1, sort_keys=True))
        except OSError:
            pass  # a read-only cache only costs the hash next time
    return found
