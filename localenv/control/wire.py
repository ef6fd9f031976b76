"""Typed values to and from JSON, so events and `status` keep one shape on disk, on the socket and in `--json`.

`to_json` turns a dataclass into plain JSON values (enums by value, tuples as lists, nested dataclasses
as objects); `from_json` reads such an object back into the dataclass its type hints describe.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(value: Any, *, omit_unset: bool = False) -> Any:
    """Plain JSON for `value`; with `omit_unset`, an optional field (default None) that is None is left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if omit_unset and item is None and f.default is None:
                continue
            data[f.name] = to_json(item, omit_unset=omit_unset)
        return data
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(item, omit_unset=omit_unset) for item in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v, omit_unset=omit_unset) for k, v in value.items()}
    return value


def from_json(cls: type[T], raw: Mapping[str, Any]) -> T:
    """The `cls` dataclass `raw` describes; keys it does not know are ignored, absent ones take their default."""
    hints = typing.get_type_hints(cls)
    values = {f.name: _value(hints[f.name], raw[f.name]) for f in dataclasses.fields(cls) if f.name in raw}  # type: ignore[arg-type]
    return cls(**values)


def _value(hint: Any, raw: Any) -> Any:
    if raw is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        return tuple(_value(item, element) for element in raw)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_json(hint, raw)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(raw)
    return raw
