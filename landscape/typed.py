"""Typed results as JSON and back: frozen dataclasses of numbers, strings, lists and arrays.

:func:`to_json` turns a result into plain JSON data (NumPy scalars and arrays to numbers and
lists, non-finite floats to None); :func:`from_json` rebuilds the dataclass from it by the
field types, so a stored result comes back as the class the analysis returned, with its
methods, and nothing downstream reads results by string keys.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import numpy as np


def to_json(obj: Any) -> Any:
    """Plain JSON data of ``obj`` (dataclasses as dicts of their fields, recursively)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_json(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) > _EXACT:
        return str(obj)  # JSON readers in JavaScript (the dashboard) round larger integers
    return obj


_EXACT = 2**53
"""The largest integer a JSON number holds exactly in every reader (an IEEE double)."""


def from_json(hint: Any, data: Any) -> Any:
    """Rebuild a value of type ``hint`` (a dataclass, list[…], tuple[…], dict[…], …) from JSON.

    A None where a float is expected is NaN (the form :func:`to_json` gave it); keys that are
    not fields of a dataclass are ignored and missing ones take the field's default, so
    results stored by earlier versions still load.
    """
    if isinstance(hint, str):
        raise TypeError(f"unresolved type hint {hint!r}")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if (data is None or data == "None") and type(None) in args:
            return None  # ("None": how an earlier version wrote an unset count as a string)
        arms = [a for a in args if a is not type(None)]
        for arm in arms:
            try:
                return from_json(arm, data)
            except (TypeError, ValueError, KeyError):
                continue
        raise ValueError(f"{data!r} fits none of {hint}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise TypeError(f"{hint.__name__} needs a table, got {data!r}")
        hints = typing.get_type_hints(hint)
        kwargs = {}
        for f in dataclasses.fields(hint):
            if f.name in data:
                kwargs[f.name] = from_json(hints[f.name], data[f.name])
        return hint(**kwargs)
    if hint is float:
        if data is None:
            return math.nan
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise TypeError(f"{data!r} is not a number")
        return float(data)
    if hint is int:
        if isinstance(data, str) and data.lstrip("-").isdigit():
            return int(data)  # a large integer, kept as a string (see to_json)
        if isinstance(data, bool) or not isinstance(data, int):
            raise TypeError(f"{data!r} is not an integer")
        return data
    if hint is bool:
        if not isinstance(data, bool):
            raise TypeError(f"{data!r} is not a bool")
        return data
    if hint is str:
        if not isinstance(data, str):
            raise TypeError(f"{data!r} is not a string")
        return data
    if hint is np.ndarray:
        return np.asarray(data)
    if origin in (list, tuple):
        if not isinstance(data, list | tuple):
            raise TypeError(f"{data!r} is not a list")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(from_json(a, v) for a, v in zip(args, data, strict=True))
        arm = args[0] if args else Any
        items = [from_json(arm, v) for v in data]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(data, dict):
            raise TypeError(f"{data!r} is not a table")
        arm = args[1] if len(args) == 2 else Any
        return {k: from_json(arm, v) for k, v in data.items()}
    return data  # Any, or a type without a JSON form of its own
