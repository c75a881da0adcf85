"""Arrays on the wire: one synced trait per array, as bqplot and jupyter-scatter do.

A `WireArray` trait holds a numpy array, cast on assignment to the trait's wire dtype
(little-endian, C-contiguous), so the Python value is exactly what the browser gets. Its JSON
form is

    {"dtype": "float16", "shape": [2, 3], "buffer": <memoryview of the raw bytes>}

ipywidgets lifts a memoryview nested in a dict out of the JSON message and sends it as a binary
buffer of the same message, so an array and its dtype and shape can never arrive apart. The
browser side is `static/_arrays.js` (`fromWire`). Metadata that is not an array stays in small
dict traits; set those together with their array inside `widget.hold_sync()` (one message).

`pack`/`unpack` are the same format as raw bytes (for files and tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import traitlets as T

from workbench.errors import InputError

WIRE_DTYPES = {"float16": np.float16, "float32": np.float32, "uint8": np.uint8, "uint16": np.uint16, "int32": np.int32}


def _wire_dtype(dtype: str) -> np.dtype:
    if dtype not in WIRE_DTYPES:
        raise InputError(f"unsupported wire dtype {dtype!r}; use one of {sorted(WIRE_DTYPES)}")
    return np.dtype(WIRE_DTYPES[dtype]).newbyteorder("<")


def to_wire_array(array: Any, dtype: str) -> np.ndarray:
    """`array` as a C-contiguous little-endian array of wire `dtype` (integers must fit it)."""
    target = _wire_dtype(dtype)
    a = np.asarray(array)
    if target.kind in "iu" and a.size and a.dtype.kind in "iuf":
        info = np.iinfo(target)
        lo, hi = a.min(), a.max()
        if lo < info.min or hi > info.max:
            raise InputError(f"values {lo}..{hi} do not fit the wire dtype {dtype} ({info.min}..{info.max})")
    return np.ascontiguousarray(a, dtype=target)


# -- raw bytes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Packed:
    """An array as raw little-endian bytes plus what is needed to rebuild it."""

    data: bytes
    dtype: str
    shape: tuple[int, ...]

    @property
    def meta(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @property
    def nbytes(self) -> int:
        return len(self.data)


def pack(array: Any, dtype: str = "float16") -> Packed:
    """Array -> bytes in `dtype` (default float16, the wire format for attention)."""
    a = to_wire_array(array, dtype)
    return Packed(a.tobytes(), dtype, tuple(int(s) for s in a.shape))


def unpack(data: bytes | memoryview | Packed, dtype: str | None = None, shape: Sequence[int] | None = None) -> np.ndarray:
    """Bytes (+ dtype and shape) -> a numpy array (a copy, writable)."""
    if isinstance(data, Packed):
        data, dtype, shape = data.data, data.dtype, data.shape
    if dtype not in WIRE_DTYPES or shape is None:
        raise InputError(f"unpack needs a dtype from {sorted(WIRE_DTYPES)} and a shape")
    a = np.frombuffer(bytes(data), dtype=_wire_dtype(dtype))
    if a.size != math.prod(shape):
        raise InputError(f"{len(bytes(data))} bytes of {dtype} do not fill shape {tuple(shape)}")
    return a.reshape(tuple(shape)).astype(WIRE_DTYPES[dtype])


# -- the trait -------------------------------------------------------------------------------------
def array_to_json(value: np.ndarray | None, widget: Any = None) -> dict[str, Any] | None:
    """A wire array -> {"dtype", "shape", "buffer"}; the buffer is a zero-copy byte view."""
    if value is None:
        return None
    return {"dtype": value.dtype.name, "shape": list(value.shape), "buffer": memoryview(value.reshape(-1).view(np.uint8))}


def array_from_json(obj: dict[str, Any] | None, widget: Any = None) -> np.ndarray | None:
    if obj is None:
        return None
    return unpack(obj["buffer"], obj["dtype"], obj["shape"])


class WireArray(T.TraitType):
    """A synced numpy array (or None), cast to `dtype` on assignment; see the module docstring."""

    info_text = "an array (or None)"

    def __init__(self, dtype: str = "float16", **kwargs: Any) -> None:
        _wire_dtype(dtype)
        self.dtype = dtype
        super().__init__(default_value=None, allow_none=True, **kwargs)
        self.tag(sync=True, to_json=array_to_json, from_json=array_from_json)

    def validate(self, obj: Any, value: Any) -> np.ndarray | None:
        if value is None:
            return None
        try:
            return to_wire_array(value, self.dtype)
        except (TypeError, ValueError, InputError) as err:
            raise T.TraitError(f"{self.name}: cannot send {type(value).__name__} as a {self.dtype} array ({err})") from err


def wire_state(widget: T.HasTraits, state: dict[str, Any]) -> dict[str, Any]:
    """Trait values (not necessarily the widget's own) in the JSON form the browser gets (for saved pages)."""
    traits = widget.traits()
    return {name: array_to_json(traits[name].validate(widget, value)) if isinstance(traits.get(name), WireArray) else value
            for name, value in state.items()}


__all__ = ["WIRE_DTYPES", "Packed", "WireArray", "array_from_json", "array_to_json", "pack", "to_wire_array", "unpack", "wire_state"]
