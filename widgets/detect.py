"""`Detect(model=...)`: object detection on a photo, drawn and explored in the browser.

The kernel runs the detection pipeline once per image (`pipe.explain(image)`: every object query's box,
best label and score, and its cross-attention heat map) and sends it all to `DetectionView`, an anywidget
that draws on canvas (`static/detect.js`). Everything that needs no model happens in the browser with no
kernel round trip: the score threshold, the class filter, the box opacity, hover (label and score; the
smallest box under the pointer wins; click cycles through overlapping boxes), the heat map of the hovered
or clicked box's query, and the overlay / side-by-side layout when two models are compared. Setting
`threshold`, `classes`, `opacity` or `arrangement` from code moves the browser's controls and the saved picture;
moving a control in the browser stays in the browser (that is the point: no message per slider step).

Arrays travel as `WireArray` traits (one per array, binary); the photo travels as JPEG bytes (it is a
picture; raw pixels would be ten times larger).
"""

from __future__ import annotations

from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.errors import InputError

from ._base import STATIC, ErrorReporting, Panel, es_module, guarded, view_trait
from ._image_input import ImageSource
from ._live import resolve_pipeline
from ._render.vision import detections_png, jpeg_bytes, photo_img_html, resample_maps
from ._serialize import WireArray

LAYOUTS = ("overlay", "side")


class DetectionView(ErrorReporting, anywidget.AnyWidget):
    """The canvas: the photo, every query's box (filtered in the browser), hover, heat maps. Rows of the arrays
    are detections: model `source[i]`'s query `query[i]`."""

    _esm = es_module("detect.js")
    _css = STATIC / "vision.css"

    image = T.Bytes(b"").tag(sync=True)  # JPEG of the photo
    meta = T.Dict().tag(sync=True)  # width, height (original pixels), name, labels, models, grid
    boxes = WireArray("float32")  # (N, 4) xmin, ymin, xmax, ymax in original pixels
    scores = WireArray("float32")  # (N,)
    label_ids = WireArray("int32")  # (N,) into meta["labels"]
    source = WireArray("uint8")  # (N,) into meta["models"]
    query = WireArray("int32")  # (N,) the model's object query
    heat = WireArray("float16")  # (N, rows, cols) that query's cross-attention (last decoder layer, mean over heads)
    threshold = T.Float(0.5).tag(sync=True)
    classes = T.List(T.Int()).tag(sync=True)  # label ids shown; empty = all
    opacity = T.Float(1.0).tag(sync=True)
    arrangement = T.Unicode("overlay").tag(sync=True)  # "overlay" or "side" (`layout` is every widget's CSS box)
    untrained = T.List(T.Unicode()).tag(sync=True)

    @T.validate("threshold")
    def _valid_threshold(self, proposal: dict[str, Any]) -> float:
        v = proposal["value"]
        return self.checked(proposal, None if 0 <= v <= 1 else "the score threshold must be from 0 to 1.")

    @T.validate("opacity")
    def _valid_opacity(self, proposal: dict[str, Any]) -> float:
        v = proposal["value"]
        return self.checked(proposal, None if 0 <= v <= 1 else "opacity must be from 0 to 1.")

    @T.validate("arrangement")
    def _valid_arrangement(self, proposal: dict[str, Any]) -> str:
        return self.checked(proposal, None if proposal["value"] in LAYOUTS else f"use one of {LAYOUTS}.")

    @T.validate("classes")
    def _valid_classes(self, proposal: dict[str, Any]) -> list[int]:
        n = len(self.meta.get("labels", [])) if self.meta else None
        bad = [c for c in proposal["value"] if n is not None and not 0 <= c < n]
        return self.checked(proposal, f"label ids {bad} do not exist (0..{n - 1})." if bad else None)


class Detect(Panel):
    """Detect objects in a photo from the gallery, an upload, a path or a URL.

    `model`: a pipeline, hub id or folder of an object-detection checkpoint, or a list of two to compare
    (overlaid in distinct colours, or side by side). `threshold`, `classes` (label names or ids), `opacity`
    and `arrangement` ("overlay" / "side") set the browser's controls;
    `detect(image)` runs on any image input.
    """

    def __init__(self, model: Any = None, *, image: Any = None, threshold: float = 0.5, arrangement: str = "overlay",
                 device: Any = None) -> None:
        self.view = DetectionView()
        self.source = ImageSource(self._show, lambda fn: self.guard(fn))
        self.info = W.HTML("<i>Pick a sample photo, upload one, or type a path or URL.</i>")
        super().__init__([self.source, self.info, self.view])
        self.add_class("wb-detect-panel")
        self.rgb: np.ndarray | None = None
        self.result: list[dict[str, Any]] | None = None  # per model: explain() of the current image
        models = model if isinstance(model, (list, tuple)) else [model]
        self.pipes = self.guard(lambda: [resolve_pipeline("object-detection", m) for m in models]) or []
        if len(self.pipes) > 2:
            self.show_error(InputError("Detect compares at most two models; pass one or two."))
            self.pipes = self.pipes[:2]
        if self.pipes:
            self._badge_for(self.pipes)
        self.view.threshold, self.view.arrangement = threshold, arrangement
        self.view.observe(self._redraw_static, names=["threshold", "classes", "opacity", "arrangement"])
        self.view.observe(lambda c: self.show_error(c["new"]) if c["new"] else None, names="error")
        if image is not None:
            self.guard(self.detect, image)

    # -- properties that set the browser's controls ---------------------------------------------------
    threshold = view_trait("threshold")
    arrangement = view_trait("arrangement", '"overlay" (every model on one picture) or "side" (one picture per model).')
    opacity = view_trait("opacity")

    @property
    def classes(self) -> list[str]:
        labels = self.view.meta.get("labels", [])
        return [labels[i] for i in self.view.classes]

    @classes.setter
    def classes(self, names: list[str | int]) -> None:
        labels = self.view.meta.get("labels", [])
        ids = []
        for n in names:
            if isinstance(n, str) and n not in labels:
                self.show_error(InputError(f"no class {n!r} in this model's labels (e.g. {', '.join(labels[:5])})."))
                return
            ids.append(labels.index(n) if isinstance(n, str) else int(n))
        self.view.classes = ids

    # -- running ----------------------------------------------------------------------------------------
    def _badge_for(self, pipes: list[Any]) -> None:
        self.show_model(pipes[0])
        if len(pipes) > 1:  # the badge speaks for every model shown
            self.untrained = sorted({w for p in pipes for w in p.untrained_weights})
            if self.untrained and not self._badge.value:
                self.show_model(pipes[1])

    @guarded
    def detect(self, image: Any, name: str = "") -> list[list[dict[str, Any]]]:
        """Run the model(s) on any image input and draw; returns each model's detections over the threshold."""
        return self.source.load(image, name=name)

    def _show(self, rgb: np.ndarray, name: str) -> list[list[dict[str, Any]]]:
        if not self.pipes:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        self.rgb = rgb
        self.result = [pipe.explain(rgb) for pipe in self.pipes]
        first = self.result[0]
        labels = list(first["labels"])
        rows: dict[str, list[np.ndarray]] = {k: [] for k in ("boxes", "scores", "label_ids", "source", "query", "heat")}
        for m, res in enumerate(self.result):
            ids = res["label_ids"]
            if res["labels"] != labels:  # another label set: map its names onto the first model's list
                for lab in res["labels"]:
                    if lab not in labels:
                        labels.append(lab)
                ids = np.array([labels.index(res["labels"][i]) for i in ids], dtype=np.int32)
            q = len(res["scores"])
            rows["boxes"].append(res["boxes"])
            rows["scores"].append(res["scores"])
            rows["label_ids"].append(ids)
            rows["source"].append(np.full(q, m, dtype=np.uint8))
            rows["query"].append(np.arange(q, dtype=np.int32))
            rows["heat"].append(resample_maps(res["attention"], first["grid"]))
        h, w = rgb.shape[:2]
        names = [str(getattr(p.model.config, "name_or_path", "") or f"model {i + 1}") for i, p in enumerate(self.pipes)]
        with self.view.hold_sync():
            self.view.image = jpeg_bytes(rgb)
            self.view.meta = {"width": int(w), "height": int(h), "name": name, "labels": labels, "models": names,
                              "grid": list(first["grid"])}
            for key, parts in rows.items():
                setattr(self.view, key, np.concatenate(parts))
        kept = [int((r["scores"] >= self.view.threshold).sum()) for r in self.result]
        self.info.value = (f"<b>{name}</b> ({w}x{h}): " + ", ".join(f"{n}: {k} boxes over {self.view.threshold:.2f}"
                                                                    for n, k in zip(names, kept))
                           + " &middot; <i>hover a box to see where its query looked; click to cycle overlaps</i>")
        self._redraw_static()
        return [self.detections(i) for i in range(len(self.pipes))]

    def detections(self, model: int = 0) -> list[dict[str, Any]]:
        """Model `model`'s detections at the current threshold and classes, in the pipeline's format."""
        if self.result is None:
            return []
        res, labels = self.result[model], self.result[model]["labels"]
        keep_ids = set(self.classes)
        out = []
        for s, c, b in zip(res["scores"], res["label_ids"], res["boxes"]):
            if s >= self.view.threshold and (not keep_ids or labels[c] in keep_ids):
                out.append({"score": float(s), "label": labels[c],
                            "box": dict(zip(("xmin", "ymin", "xmax", "ymax"), (int(v) for v in b)))})
        return out

    # -- the saved picture ------------------------------------------------------------------------------
    def render_png(self) -> bytes:
        if self.rgb is None:
            raise InputError("nothing detected yet: pick or load an image first.")
        v = self.view
        return detections_png(self.rgb, v.boxes, v.scores, v.label_ids, v.meta["labels"], models=v.source,
                              model_names=v.meta["models"], threshold=v.threshold, classes=v.classes)

    def _redraw_static(self, change: Any = None) -> None:
        if self.rgb is not None:
            self.static_html = photo_img_html(self.render_png(), "detections")


__all__ = ["Detect", "DetectionView"]
