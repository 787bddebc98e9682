"""Model parameters typed on the command line: ``NAME=VALUE`` strings to Python values.

Shared by the classic zoo and the networks, so neither has to import the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from .._errors import ParameterError

__all__ = ["coerce_value", "parse_params"]


def coerce_value(text: str) -> Any:
    """Read a CLI string as a Python literal where it is one, else keep the string."""
    lowered = text.strip().lower()
    if lowered in ("none", "true", "false"):
        return {"none": None, "true": True, "false": False}[lowered]
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_params(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``NAME=VALUE`` strings (as typed after ``--param``) into a parameter dict.

    Values are read with :func:`ast.literal_eval` where they are Python literals
    (numbers, ``None``/``True``/``False`` in any case, tuples written as comma lists,
    quoted strings); anything else, such as ``linear`` or ``scale``, stays a string.

    Parameters
    ----------
    items : iterable of str
        Entries of the form ``"NAME=VALUE"``. A single string is taken as one entry.

    Returns
    -------
    params : dict of str to object
        Names (as written, e.g. ``"C"`` or ``"clf__C"``) mapped to converted values.

    Raises
    ------
    ParameterError
        An entry has no ``=``, an empty name or value, or a name given twice.

    Examples
    --------
    >>> parse_params(["C=3", "hidden_layer_sizes=300,100", "kernel=linear"])
    {'C': 3, 'hidden_layer_sizes': (300, 100), 'kernel': 'linear'}
    """
    if isinstance(items, str):
        items = [items]
    params: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ParameterError(f"parameter {item!r} must have the form NAME=VALUE")
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            raise ParameterError(f"parameter {item!r} has an empty name; use NAME=VALUE")
        if not value.strip():
            raise ParameterError(f"parameter {item!r} has an empty value; use NAME=VALUE")
        if key in params:
            raise ParameterError(f"parameter {key!r} is given more than once")
        params[key] = coerce_value(value)
    return params
