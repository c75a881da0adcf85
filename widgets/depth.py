"""`Depth(model=...)`: relative depth of a photo, beside or over it, as a rotatable point cloud, and scored against
a measured depth when there is one.

The kernel runs the depth-estimation pipeline once per image and sends `DepthView` the photo (JPEG) and the depth
normalised to 0..1 (float16, at most 640 pixels a side; 1 = nearest). Everything else happens in the browser
(`static/depth.js`) with no kernel round trip: side by side or blended over the photo (a slider), hover reads the
relative depth at the pointer, and the 3-D view draws every pixel as a point at its depth, coloured from the photo,
rotated by dragging (software z-buffer on a canvas; no WebGL, no CDN). `compare(measured)` scores the prediction
against a measured depth or disparity map with Spearman's rank correlation (relative depth is only defined up to
its order) and shows the measured map beside it.
"""

from __future__ import annotations

import base64
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.errors import InputError
from workbench.training.metrics import rank_correlation

from ._base import STATIC, ErrorReporting, Panel, es_module, guarded, view_trait
from ._image_input import ImageSource
from ._live import resolve_pipeline
from ._render.depth import colormap_table, depth_png, normalized, shrink
from ._render.vision import jpeg_bytes
from ._serialize import WireArray

ARRANGEMENTS = ("side", "overlay")
VIEWS = ("2d", "3d")


class DepthView(ErrorReporting, anywidget.AnyWidget):
    """The canvases: photo, colour-mapped depth (and a measured map), hover, and the point cloud."""

    _esm = es_module("depth.js")
    _css = (STATIC / "vision.css").read_text(encoding="utf-8") + (STATIC / "depth.css").read_text(encoding="utf-8")

    image = T.Bytes(b"").tag(sync=True)  # JPEG of the photo
    meta = T.Dict().tag(sync=True)  # width, height, name, range [min, max] of the raw prediction, colormap (768 ints), note
    depth = WireArray("float16")  # (h, w) 0..1, 1 = nearest
    raw = WireArray("float16")  # (h, w) the prediction as the model gave it (hover reads it)
    measured = WireArray("float16")  # (h, w) a measured map normalised 0..1 (NaN: no measurement), or None
    blend = T.Float(0.6).tag(sync=True)  # overlay: 0 = photo only, 1 = depth only
    arrangement = T.Unicode("side").tag(sync=True)
    view = T.Unicode("2d").tag(sync=True)
    untrained = T.List(T.Unicode()).tag(sync=True)

    @T.validate("blend")
    def _valid_blend(self, proposal: dict[str, Any]) -> float:
        return self.checked(proposal, None if 0 <= proposal["value"] <= 1 else "blend must be from 0 to 1.")

    @T.validate("arrangement")
    def _valid_arrangement(self, proposal: dict[str, Any]) -> str:
        return self.checked(proposal, None if proposal["value"] in ARRANGEMENTS else f"use one of {ARRANGEMENTS}.")

    @T.validate("view")
    def _valid_view(self, proposal: dict[str, Any]) -> str:
        return self.checked(proposal, None if proposal["value"] in VIEWS else f"use one of {VIEWS}.")


class Depth(Panel):
    """Estimate the depth of a photo from the gallery, an upload, a path or a URL.

    `model`: a pipeline, hub id or folder of a depth-estimation checkpoint (Depth Anything). `arrangement`
    ("side" / "overlay"), `blend` and `view` ("2d" / "3d") set the browser's controls; `estimate(image)` runs on
    any image input and returns the depth at the image's size; `compare(measured)` scores it.
    """

    def __init__(self, model: Any = None, *, image: Any = None, arrangement: str = "side", blend: float = 0.6,
                 view: str = "2d", device: Any = None) -> None:
        self.view = DepthView()
        self.source = ImageSource(self._show, lambda fn: self.guard(fn))
        self.info = W.HTML("<i>Pick a sample photo, upload one, or type a path or URL.</i>")
        super().__init__([self.source, self.info, self.view])
        self.add_class("wb-depth-panel")
        self.rgb: np.ndarray | None = None
        self.name = ""
        self.depth: np.ndarray | None = None  # (H, W) the prediction at the photo's size
        self.measured: np.ndarray | None = None
        self.score: float | None = None  # rank correlation with the measured map
        self.pipe = self.guard(resolve_pipeline, "depth-estimation", model)
        if self.pipe is not None:
            self.show_model(self.pipe)
        self.view.arrangement, self.view.blend, self.view.view = arrangement, blend, view
        self.view.observe(self._redraw_static, names=["blend", "arrangement"])
        self.view.observe(lambda c: self.show_error(c["new"]) if c["new"] else None, names="error")
        if image is not None:
            self.guard(self.estimate, image)

    # -- properties that set the browser's controls ---------------------------------------------------
    blend = view_trait("blend")
    arrangement = view_trait("arrangement")
    mode = view_trait("view", '"2d" (maps) or "3d" (the point cloud).')

    # -- running ----------------------------------------------------------------------------------------
    @guarded
    def estimate(self, image: Any, name: str = "") -> np.ndarray:
        """Predict the depth of any image input and draw it; returns the depth (H, W) at the image's size."""
        return self.source.load(image, name=name)

    def _show(self, rgb: np.ndarray, name: str) -> np.ndarray:
        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        depth = self.pipe(rgb)["predicted_depth"].float().numpy()
        self.rgb, self.name, self.depth = rgb, name, depth
        self.measured, self.score = None, None
        h, w = rgb.shape[:2]
        small = shrink(depth)
        with self.view.hold_sync():
            self.view.image = jpeg_bytes(rgb)
            self.view.meta = {"width": int(w), "height": int(h), "name": name,
                              "range": [float(depth.min()), float(depth.max())], "colormap": colormap_table(),
                              "note": ""}
            self.view.depth = np.nan_to_num(normalized(small), nan=0.0)
            self.view.raw = small
            self.view.measured = None
        self.info.value = (f"<b>{name}</b> ({w}x{h}): relative depth {depth.min():.3g} .. {depth.max():.3g} "
                           "(larger = nearer) &middot; <i>hover to read it; switch to the 3-D view and drag to rotate</i>")
        self._redraw_static()
        return depth

    def compare(self, measured: Any, *, valid: Any = None, name: str = "measured") -> float:
        """Spearman's rank correlation between the prediction and `measured` (H, W) (depth or disparity: pass
        disparity, or 1/depth, since the prediction grows toward the camera) over `valid` pixels (default: finite
        and positive). Shows the measured map beside the prediction and the score in the panel."""
        if self.depth is None:
            raise InputError("estimate a depth first: pick a photo or call estimate(image).")
        m = np.asarray(measured, dtype=np.float32)
        if m.shape != self.depth.shape:
            raise InputError(f"the measured map is {m.shape} but the photo is {self.depth.shape}; give one value per pixel.")
        keep = np.isfinite(m) & (m > 0) if valid is None else np.asarray(valid, dtype=bool) & np.isfinite(m)
        self.score = rank_correlation(self.depth, m, keep)
        self.measured = np.where(keep, m, np.nan)
        note = f"rank correlation with the {name} map: {self.score:.3f} over {int(keep.sum())} pixels"
        with self.view.hold_sync():
            self.view.measured = shrink(normalized(self.measured))
            self.view.meta = {**self.view.meta, "note": note, "measured_name": name}
        self.info.value += f"<br/><b>{note}</b> (1: the same near-to-far order)"
        self._redraw_static()
        return self.score

    # -- the saved picture ------------------------------------------------------------------------------
    def render_png(self) -> bytes:
        if self.rgb is None or self.depth is None:
            raise InputError("no depth yet: pick or load an image first.")
        measured = None if self.measured is None else normalized(self.measured)
        return depth_png(self.rgb, normalized(self.depth), measured=measured, blend=self.view.blend,
                         arrangement=self.view.arrangement, title=self.name, note=self.view.meta.get("note", ""))

    def _redraw_static(self, change: Any = None) -> None:
        if self.rgb is not None and self.depth is not None:
            png = base64.b64encode(self.render_png()).decode("ascii")
            self.static_html = f'<img alt="depth" src="data:image/png;base64,{png}" style="max-width:100%"/>'


__all__ = ["Depth", "DepthView"]
