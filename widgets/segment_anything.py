"""`SegmentAnything(model=...)`: click on a photo, SAM draws the mask.

The kernel embeds each photo once (`pipe.embed`: the image encoder, the slow part). In the browser a click adds a
point (shift-click or right-click: a background point), a drag draws a box; the canvas sends the prompts as its
`points` / `box` traits, and the kernel runs only the prompt encoder and mask decoder on the cached embedding
(`pipe.segment`) and sends back the three candidate masks at display size with their predicted IoU. Which candidate
is shown and the mask's opacity are browser-only choices. "Segment everything" runs the automatic grid (with a
progress bar) and sends a label map.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from ._base import STATIC, ErrorReporting, Panel, es_module, guarded
from ._image_input import ImageSource
from ._live import resolve_pipeline
from ._render.vision import MAX_SIDE, display_size, jpeg_bytes, label_map, overlay_jpeg
from ._serialize import WireArray


class SamCanvas(ErrorReporting, anywidget.AnyWidget):
    """The photo, the prompts (points and a box, in the photo's pixels) and the masks over it."""

    _esm = es_module("segment_anything.js")
    _css = STATIC / "vision.css"

    image = T.Bytes(b"").tag(sync=True)
    meta = T.Dict().tag(sync=True)  # width, height (original pixels), name
    points = T.List().tag(sync=True)  # [[x, y, label]], label 1 = the object, 0 = not it
    box = T.List().tag(sync=True)  # [] or [x0, y0, x1, y1]
    masks = WireArray("uint8")  # (candidates, h, w) 0/1 at display size
    scores = T.List(T.Float()).tag(sync=True)  # each candidate's predicted IoU
    selected = T.Int(0).tag(sync=True)  # the candidate shown (the browser's choice)
    everything = WireArray("uint8")  # (h, w) label map of "segment everything"
    opacity = T.Float(0.55).tag(sync=True)
    latency_ms = T.Float(0.0).tag(sync=True)  # the last prompt's kernel time (prompt encoder, decoder, resize)
    busy = T.Bool(False).tag(sync=True)
    untrained = T.List(T.Unicode()).tag(sync=True)

    @T.validate("points")
    def _valid_points(self, proposal: dict[str, Any]) -> list:
        w, h = self.meta.get("width", 0), self.meta.get("height", 0)
        for i, p in enumerate(proposal["value"]):
            ok = (isinstance(p, (list, tuple)) and len(p) == 3 and p[2] in (0, 1)
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p[:2])
                  and 0 <= p[0] <= w and 0 <= p[1] <= h)
            if not ok:
                return self.checked(proposal, f"point {i} must be [x, y, label] inside the {w} x {h} photo with "
                                              f"label 1 (the object) or 0 (not it); got {p!r:.60}.")
        return self.checked(proposal, None)

    @T.validate("box")
    def _valid_box(self, proposal: dict[str, Any]) -> list:
        b = proposal["value"]
        ok = not b or (len(b) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
                       and b[0] < b[2] and b[1] < b[3])
        return self.checked(proposal, None if ok else f"box must be [] or [x0, y0, x1, y1] with x0 < x1, y0 < y1; "
                                                      f"got {b!r:.60}.")

    @T.validate("opacity")
    def _valid_opacity(self, proposal: dict[str, Any]) -> float:
        return self.checked(proposal, None if 0 <= proposal["value"] <= 1 else "opacity must be from 0 to 1.")


class SegmentAnything(Panel):
    """Pick a photo; click the object (shift-click: not the object) or drag a box; the mask follows each prompt."""

    def __init__(self, model: Any = None, *, image: Any = None, points_per_crop: int = 16) -> None:
        self.canvas = SamCanvas()
        self.source = ImageSource(self._set_image, lambda fn: self.guard(fn))
        self.clear_button = W.Button(description="Clear prompts", icon="eraser", layout=W.Layout(width="auto"))
        self.everything_button = W.Button(description="Segment everything", icon="th", layout=W.Layout(width="auto"),
                                          tooltip="the automatic grid of point prompts, as the pipeline")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="grid", layout=W.Layout(width="320px"))
        self.progress.layout.visibility = "hidden"
        self.points_per_crop = points_per_crop
        super().__init__([self.source, W.HBox([self.clear_button, self.everything_button, self.progress]),
                          self.canvas])
        self.add_class("wb-sam-panel")
        self.rgb: np.ndarray | None = None
        self.embedded: Any = None
        self.result: dict[str, Any] | None = None
        self.pipe = self.guard(resolve_pipeline, "mask-generation", model)
        if self.pipe is not None:
            self.show_model(self.pipe)
        self.clear_button.on_click(lambda _: self.guard(self.clear))
        self.everything_button.on_click(lambda _: self.guard(self.segment_everything))
        self.canvas.observe(lambda c: self.guard(self._prompted), names=["points", "box"])
        self.canvas.observe(lambda c: self.show_error(c["new"]) if c["new"] else None, names="error")
        self.canvas.observe(lambda c: self._redraw_static(), names="selected")
        if image is not None:
            self.guard(self.load, image)

    @guarded
    def load(self, image: Any, name: str = "") -> None:
        """Show any image input and embed it (once: every prompt on it reuses the embedding)."""
        self.source.load(image, name=name)

    def _set_image(self, rgb: np.ndarray, name: str) -> None:
        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        self.busy = self.canvas.busy = True
        try:
            self.embedded = self.pipe.embed(rgb)
        finally:
            self.busy = self.canvas.busy = False
        self.rgb, self.result = rgb, None
        h, w = rgb.shape[:2]
        with self.canvas.hold_sync():
            self.canvas.image = jpeg_bytes(rgb, MAX_SIDE)
            self.canvas.meta = {"width": int(w), "height": int(h), "name": name}
            self.canvas.points, self.canvas.box, self.canvas.scores = [], [], []
            self.canvas.masks = np.zeros((0, 1, 1), dtype=np.uint8)
            self.canvas.everything = np.zeros((1, 1), dtype=np.uint8)
        self.clear_error()
        self.static_html = ""

    @guarded
    def prompt(self, points: list | tuple = (), box: list | tuple | None = None) -> dict[str, Any] | None:
        """Set the prompts from code (points [[x, y, label]], a box [x0, y0, x1, y1]); returns the result."""
        with self.canvas.hold_trait_notifications():
            self.canvas.points = [list(p) for p in points]
            self.canvas.box = list(box) if box else []
        return self.result

    def clear(self) -> None:
        self.prompt([], None)

    def _prompted(self) -> None:
        if self.embedded is None:
            return
        points, box = self.canvas.points, self.canvas.box
        if not points and not box:
            self.result = None
            self.canvas.masks, self.canvas.scores = np.zeros((0, 1, 1), dtype=np.uint8), []
            self.static_html = ""
            return
        size = display_size(*self.embedded.size)
        start = time.perf_counter()
        out = self.pipe.segment(self.embedded, points=[p[:2] for p in points] or None,
                                labels=[p[2] for p in points] or None, box=box or None, output_size=size)
        self.canvas.latency_ms = (time.perf_counter() - start) * 1000
        self.result = out
        with self.canvas.hold_sync():
            self.canvas.masks = out["masks"].astype(np.uint8)
            self.canvas.scores = [float(s) for s in out["scores"]]
            self.canvas.selected = int(np.argmax(out["scores"]))
        self.clear_error()
        self._redraw_static()

    def segment_everything(self, **options: Any) -> dict[str, Any]:
        """The automatic grid (`points_per_crop` per side) on the cached embedding; masks shown as a label map.
        `options` go to the pipeline's generator (`pred_iou_thresh=`, `stability_score_thresh=`, ...)."""
        if self.embedded is None:
            raise RuntimeError("pick a photo first.")
        self.progress.layout.visibility = "visible"
        self.busy = self.canvas.busy = True

        def progress(done: int, total: int) -> None:
            self.progress.max, self.progress.value = total, done

        try:
            found = self.pipe.generate(self.embedded, **{"points_per_crop": self.points_per_crop, **options},
                                      progress=progress)
        finally:
            self.busy = self.canvas.busy = False
            self.progress.layout.visibility = "hidden"
        self.canvas.everything = label_map(found["masks"], display_size(*self.embedded.size))
        self.everything_found = found
        self._redraw_static()
        return found

    def _redraw_static(self) -> None:
        if self.rgb is None:
            return
        layers = np.asarray(self.canvas.everything) if self.canvas.everything is not None else None
        if self.result is not None:
            layers = self.result["masks"][min(self.canvas.selected, len(self.result["masks"]) - 1)].astype(np.uint8)
        if layers is None or layers.shape == (1, 1):
            return
        img = base64.b64encode(overlay_jpeg(self.rgb, layers)).decode("ascii")
        self.static_html = f'<img alt="SAM masks" src="data:image/jpeg;base64,{img}"/>'


__all__ = ["SamCanvas", "SegmentAnything"]
