"""Warnings that point at the caller's code, not at serkit's own lines.

``warnings.warn`` with a fixed ``stacklevel`` names whichever serkit function happens
to sit that many frames up (``load_corpus`` for a reader called through it), and
Python's default display prints that serkit source line. :func:`warn` walks up to
the first frame outside the serkit package instead, as ``skip_file_prefixes`` does
from Python 3.12 on.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

from ._errors import SerkitWarning

__all__ = ["warn"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = SerkitWarning) -> None:
    """Issue ``message`` as ``category``, attributed to the nearest caller outside serkit."""
    frame: FrameType | None = sys._getframe(1)
    level = 2  # stacklevel 2 is the caller of this function
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
