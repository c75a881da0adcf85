"""`Detect(model=...)`: object detection on a photo, drawn and explored in the browser.

The kernel runs the detection pipeline once per image (`pipe.explain(image)`: every object query's box,
best label and score, and its cross-attention heat map) and sends it all to `DetectionView`, an anywidget
that draws on canvas (`static/detect.js`). Everything that needs no model happens in the browser with no
kernel round trip: the score threshold, the class filter, the box opacity, hover (label and score; the
smallest box under the pointer wins; click cycles through overlapping boxes), the heat map of the hovered
or clicked box's query, and the overlay / side-by-side layout when two models are compared. Setting
`threshold`, `classes`, `opacity` or `arrangement` from code moves the browser's controls and the saved picture;
moving a control in the browser stays in the browser (that is the point: no message per slider step).

With an open-vocabulary detector (OWLv2, the zero-shot-object-detection pipeline) the panel takes typed queries
("a cat, a remote control"): every patch's box is tagged with its best query, and hovering a box shows that query's
score map over the photo. The photo's features are computed once; each new set of queries runs only the text tower
and the light heads. "find similar" lets you drag a box around an example in the browser: the kernel crops it and
runs image-guided detection (the example's most object-like patch is the query; overlapping boxes suppressed).

Arrays travel as `WireArray` traits (one per array, binary); the photo travels as JPEG bytes (it is a
picture; raw pixels would be ten times larger).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.errors import InputError, UnsupportedModelError
from workbench.pipelines.zero_shot import parse_labels

from ._base import STATIC, ErrorReporting, Panel, es_module, guarded, view_trait
from ._image_input import ImageSource
from ._live import resolve_pipeline
from ._render.vision import detections_png, jpeg_bytes, photo_img_html, resample_maps
from ._serialize import WireArray

LAYOUTS = ("overlay", "side")
ZERO_SHOT = "zero-shot-object-detection"
MAX_PATCH_BOXES = 300  # an open-vocabulary model boxes every patch: its best ones are sent (the threshold filters them)


def detection_pipeline(model: Any) -> Any:
    """An object-detection pipeline for `model`, or a zero-shot one when its family detects open-vocabulary."""
    try:
        return resolve_pipeline("object-detection", model)
    except UnsupportedModelError as err:
        if "object-detection' head" not in str(err):
            raise
        return resolve_pipeline(ZERO_SHOT, model)


def zero_shot_rows(found: dict[str, Any]) -> dict[str, Any]:
    """A zero-shot `explain()` as the rows Detect draws: the best-scoring patches, each with its query's score map."""
    order = np.argsort(-found["scores"], kind="stable")[:MAX_PATCH_BOXES]
    return {**found, "scores": found["scores"][order], "label_ids": found["label_ids"][order],
            "boxes": found["boxes"][order], "query": order.astype(np.int32),
            "attention": found["maps"][found["label_ids"][order]]}


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
    guided = T.Bool(False).tag(sync=True)  # the model can find what an example shows ("find similar" in the browser)
    example_box = T.List(T.Float()).tag(sync=True)  # xmin, ymin, xmax, ymax of the example dragged in the browser

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
    (overlaid in distinct colours, or side by side); or one open-vocabulary detector (OWLv2), with `queries`
    typed comma separated and `find_similar(box)` for an example. `threshold` (default 0.5, 0.1 for open-vocabulary
    scores), `classes` (label names or ids), `opacity` and `arrangement` ("overlay" / "side") set the browser's
    controls; `detect(image)` runs on any image input.
    """

    def __init__(self, model: Any = None, *, image: Any = None, queries: str = "", threshold: float | None = None,
                 arrangement: str = "overlay", device: Any = None) -> None:
        self.view = DetectionView()
        self.source = ImageSource(self._show, lambda fn: self.guard(fn))
        self.info = W.HTML("<i>Pick a sample photo, upload one, or type a path or URL.</i>")
        self.queries_box = W.Text(value=queries, description="find", continuous_update=False,
                                  placeholder="what to find, comma separated: a cat, a remote control (Enter)",
                                  layout=W.Layout(width="760px", max_width="100%"))
        self.queries_box.add_class("wb-detect-queries")
        super().__init__([self.source, self.queries_box, self.info, self.view])
        self.add_class("wb-detect-panel")
        self.rgb: np.ndarray | None = None
        self.name = ""
        self.result: list[dict[str, Any]] | None = None  # per model: explain() of the current image
        models = model if isinstance(model, (list, tuple)) else [model]
        self.pipes = self.guard(lambda: [detection_pipeline(m) for m in models]) or []
        if len(self.pipes) > 2:
            self.show_error(InputError("Detect compares at most two models; pass one or two."))
            self.pipes = self.pipes[:2]
        self.zero_shot = any(p.task == ZERO_SHOT for p in self.pipes)
        if self.zero_shot and len(self.pipes) > 1:
            self.show_error(InputError("an open-vocabulary detector (OWLv2) runs alone here; pass one model."))
            self.pipes = [p for p in self.pipes if p.task == ZERO_SHOT][:1]
        self.queries_box.layout.display = "" if self.zero_shot else "none"
        if self.pipes:
            self._badge_for(self.pipes)
        self.view.threshold = threshold if threshold is not None else (0.1 if self.zero_shot else 0.5)
        self.view.arrangement, self.view.guided = arrangement, self.zero_shot
        self.view.observe(self._redraw_static, names=["threshold", "classes", "opacity", "arrangement"])
        self.view.observe(lambda c: self.show_error(c["new"]) if c["new"] else None, names="error")
        self.queries_box.observe(lambda c: self.guard(self._rerun), names="value")
        self._applying = False  # the kernel is setting example_box itself (not a drag in the browser)
        self.view.observe(self._on_example, names="example_box")
        if image is not None:
            self.guard(self.detect, image)

    # -- properties that set the browser's controls ---------------------------------------------------
    threshold = view_trait("threshold")
    arrangement = view_trait("arrangement", '"overlay" (every model on one picture) or "side" (one picture per model).')
    opacity = view_trait("opacity")

    @property
    def queries(self) -> str:
        """The open-vocabulary queries, comma separated (setting them runs the model on the current photo)."""
        return self.queries_box.value

    @queries.setter
    def queries(self, text: str) -> None:
        self.queries_box.value = text

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

    def _rerun(self) -> list[list[dict[str, Any]]] | None:
        self.view.example_box = []
        return self._show(self.rgb, self.name) if self.rgb is not None else None

    @guarded
    def find_similar(self, box: Sequence[float]) -> list[dict[str, Any]]:
        """Image-guided detection: find what the photo shows inside `box` (xmin, ymin, xmax, ymax in its pixels),
        as dragging a box with "find similar" does in the browser; returns the detections at the threshold."""
        self._find_similar([float(v) for v in box])
        return self.detections()

    def _on_example(self, change: dict[str, Any]) -> None:
        if change["new"] and not self._applying:  # a box dragged in the browser
            self.guard(self._find_similar, list(change["new"]))

    def _find_similar(self, box: list[float]) -> None:
        if not self.zero_shot:
            raise InputError("finding similar objects needs an open-vocabulary detector (OWLv2).")
        if self.rgb is None:
            raise InputError("load a photo first, then drag a box around an example.")
        h, w = self.rgb.shape[:2]
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, x1, y0, y1 = max(0, min(x0, x1)), min(w, max(x0, x1)), max(0, min(y0, y1)), min(h, max(y0, y1))
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise InputError(f"the example box {box} is smaller than 4 pixels; drag a box around the whole object.")
        self._applying = True
        try:
            self.view.example_box = [float(v) for v in (x0, y0, x1, y1)]
        finally:
            self._applying = False
        self._show(self.rgb, self.name, example=self.rgb[y0:y1, x0:x1])

    def _explain(self, pipe: Any, rgb: np.ndarray, example: np.ndarray | None) -> dict[str, Any] | None:
        if pipe.task != ZERO_SHOT:
            return pipe.explain(rgb)
        if example is not None:
            return zero_shot_rows(pipe.explain(rgb, query_image=example))
        labels = [q.strip() for q in self.queries.split(",") if q.strip()]
        if not labels:
            return None
        return zero_shot_rows(pipe.explain(rgb, parse_labels(labels, ZERO_SHOT)))

    def _show(self, rgb: np.ndarray, name: str, example: np.ndarray | None = None) -> list[list[dict[str, Any]]]:
        if not self.pipes:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        self.rgb, self.name = rgb, name
        self.view.busy = True
        try:
            found = [self._explain(pipe, rgb, example) for pipe in self.pipes]
        finally:
            self.view.busy = False
        if any(f is None for f in found):  # no queries yet: the photo alone
            found = [{"scores": np.zeros(0, np.float32), "label_ids": np.zeros(0, np.int32), "labels": [],
                      "boxes": np.zeros((0, 4), np.float32), "grid": (1, 1), "attention": np.zeros((0, 1, 1), np.float32)}]
        self.result = found
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
            rows["query"].append(res.get("query", np.arange(q, dtype=np.int32)))
            rows["heat"].append(resample_maps(res["attention"], first["grid"]))
        h, w = rgb.shape[:2]
        names = [str(getattr(p.model.config, "name_or_path", "") or f"model {i + 1}") for i, p in enumerate(self.pipes)]
        with self.view.hold_sync():
            self.view.image = jpeg_bytes(rgb)
            self.view.meta = {"width": int(w), "height": int(h), "name": name, "labels": labels, "models": names,
                              "grid": list(first["grid"]), "example": list(self.view.example_box) if example is not None else []}
            for key, parts in rows.items():
                setattr(self.view, key, np.concatenate(parts))
        kept = [int((r["scores"] >= self.view.threshold).sum()) for r in self.result]
        hint = "hover a box to see where its query looked; click to cycle overlaps"
        if self.zero_shot:
            hint = ("type what to find above" if not labels else
                    "boxes like the dashed example; edit the queries to search by text again"
                    if example is not None else
                    "hover a box for its query's score map; <b>find similar</b>: drag a box around an example")
        self.info.value = (f"<b>{name}</b> ({w}x{h}): " + ", ".join(f"{n}: {k} boxes over {self.view.threshold:.2f}"
                                                                    for n, k in zip(names, kept))
                           + f" &middot; <i>{hint}</i>")
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
