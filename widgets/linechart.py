"""`LineChart`: the FineTune cockpit's live chart, drawn in the browser (`static/linechart.js`).

The points of every series travel as one float32 (N, 2) array trait; `meta` says which rows
belong to which series (offset, length) and how to draw it (name, colour, dash). Both are set in
one message, so the browser never pairs new points with old offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anywidget
import numpy as np
import traitlets as T

from ._base import es_module
from ._render.training import run_color
from ._serialize import WireArray


def pack_series(series: Sequence[dict[str, Any]]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """[{name, x, y, color, dash}] -> (float32 (N, 2) array of (x, y) rows, meta with each series' offset and length)."""
    chunks, meta, offset = [], [], 0
    for s in series:
        chunks.append(np.column_stack([np.asarray(s["x"], np.float32), np.asarray(s["y"], np.float32)]))  # (n, 2)
        meta.append({"name": s["name"], "offset": offset, "length": len(s["x"]), "color": s.get("color", run_color(0)),
                     "dash": bool(s.get("dash", False))})
        offset += len(s["x"])
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, 2), np.float32)
    return data, meta


class LineChart(anywidget.AnyWidget):
    """Lines drawn on a canvas in the browser from a float32 array of (x, y) rows."""

    _esm = es_module("linechart.js")
    title = T.Unicode("").tag(sync=True)
    data = WireArray("float32")  # (N, 2): every series' points, one after another
    meta = T.List([]).tag(sync=True)  # [{name, offset, length, color, dash}]

    def set_series(self, series: Sequence[dict[str, Any]]) -> None:
        data, meta = pack_series(series)
        with self.hold_sync():
            self.data = data
            self.meta = meta
