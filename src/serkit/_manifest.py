"""Reading the JSON manifest of a saved model folder, for every kind of bundle."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._errors import BundleError

__all__ = ["read_json_manifest"]


def read_json_manifest(
    path: Path,
    *,
    fmt: str,
    version: int,
    required: Iterable[str],
    what: str,
    error: type[BundleError] = BundleError,
) -> dict[str, Any]:
    """Read ``path`` and check its ``format``, ``format_version`` and required keys.

    Raises ``error`` (a :class:`BundleError`) naming the file and the problem: unreadable,
    not JSON, another format, a newer version than this serkit reads, or a missing key.
    """
    try:
        manifest = json.loads(path.read_text())
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc})") from exc
    except ValueError as exc:
        raise error(f"{path}: the {what} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise error(f"{path}: not a serkit {what}")
    if int(manifest.get("format_version", 0)) > version:
        raise error(
            f"{path}: format {manifest.get('format_version')} is newer than this serkit "
            f"reads ({version}); upgrade serkit"
        )
    for key in required:
        if key not in manifest:
            raise error(f"{path}: the {what} lacks {key!r}")
    return manifest
