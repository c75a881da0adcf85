"""`Segment(model=...)`: segments of a photo drawn over it, explored in the browser.

The kernel runs the image-segmentation pipeline once per image (`pipe.explain(image)`) and sends the result to
`SegmentView` once: the photo (JPEG), one label map of segment indexes (uint16, 0 = no segment, i + 1 = segment i;
not one PNG per mask) and the segments' labels, scores, areas and colours. Everything that needs no model happens
in the browser (`static/segment.js`) with no kernel round trip: per-class show/hide from the colour legend, the
opacity slider, hover (the segment's label, score and area %) and a click that isolates a segment. Choosing
semantic / instance / panoptic for a mask-classifier model reruns it in the kernel (the menu shows only the subtasks
a model offers: SegFormer has "semantic" alone, Mask2Former and OneFormer panoptic, instance and semantic); for
OneFormer the subtask is the model's task token, so its class scores and masks themselves change. The canvas dims
(`busy`) while the model runs.

Text-prompted segmenters (CLIPSeg) get a prompts box: type what to look for, comma separated ("a cat, a remote
control"; Enter runs it). The kernel sends one heat map per prompt (`soft`, uint8 probabilities at display size,
computed in one pass of the vision tower); the browser draws them with a legend of the prompts (click to hide or show
one; each row shows its highest probability and the share of the photo at or above the threshold), hover reads every
prompt's probability under the pointer, and the threshold slider (pixels below it are not drawn) runs in the browser
with no kernel round trip.

Other models plug in through `show(...)`: a label map with its segments, and/or N soft masks (heat maps) with their
names; the browser draws soft masks with the same legend, opacity, threshold and hover.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.errors import InputError

from ._base import STATIC, ErrorReporting, Panel, es_module, guarded, view_trait
from ._image_input import ImageSource
from ._live import resolve_pipeline
from ._render.segmentation import (legend, segment_colors, segments_png, shrink_nearest, shrink_soft, soft_png,
                                   visible_segments)
from ._render.vision import jpeg_bytes
from ._serialize import WireArray


class SegmentView(ErrorReporting, anywidget.AnyWidget):
    """The canvas: the photo, the segments' colours over it, the legend, hover and isolation, all in the browser."""

    _esm = es_module("segment.js")
    _css = (STATIC / "vision.css").read_text(encoding="utf-8") + (STATIC / "segment.css").read_text(encoding="utf-8")

    image = T.Bytes(b"").tag(sync=True)  # JPEG of the photo
    # width, height (original pixels), name, subtask, subtasks, segments [{label_id, label, score, area, color}],
    # soft_labels [names], soft_colors, soft_scores [highest probability of each]
    meta = T.Dict().tag(sync=True)
    segmentation = WireArray("uint16")  # (h, w) display size: 0 = no segment, i + 1 = segment i
    soft = WireArray("uint8")  # (N, h, w) soft masks 0..255 (heat maps, one per prompt), or None
    opacity = T.Float(0.6).tag(sync=True)
    threshold = T.Float(0.0).tag(sync=True)  # soft masks: values below it are not drawn (the browser's slider)
    hidden = T.List(T.Int()).tag(sync=True)  # label ids (or soft-mask indexes) hidden
    isolated = T.Int(-1).tag(sync=True)  # a segment index shown alone; -1 = all
    subtask = T.Unicode("").tag(sync=True)  # set from the browser's menu: the kernel reruns
    untrained = T.List(T.Unicode()).tag(sync=True)

    @T.validate("opacity")
    def _valid_opacity(self, proposal: dict[str, Any]) -> float:
        return self.checked(proposal, None if 0 <= proposal["value"] <= 1 else "opacity must be from 0 to 1.")

    @T.validate("threshold")
    def _valid_threshold(self, proposal: dict[str, Any]) -> float:
        return self.checked(proposal, None if 0 <= proposal["value"] <= 1 else "threshold must be from 0 to 1.")

    @T.validate("isolated")
    def _valid_isolated(self, proposal: dict[str, Any]) -> int:
        n = len(self.meta.get("segments", [])) if self.meta else 0
        v = proposal["value"]
        return self.checked(proposal, None if v == -1 or 0 <= v < n else f"segment {v} does not exist (0..{n - 1}, or -1).")

    @T.validate("subtask")
    def _valid_subtask(self, proposal: dict[str, Any]) -> str:
        options = self.meta.get("subtasks", []) if self.meta else []
        v = proposal["value"]
        return self.checked(proposal, None if not v or not options or v in options else f"use one of {options}.")


class Segment(Panel):
    """Segment a photo from the gallery, an upload, a path or a URL.

    `model`: a pipeline, hub id or folder of an image-segmentation checkpoint (SegFormer, Mask2Former, OneFormer;
    CLIPSeg, which segments the `prompts` typed in its box: a list or one comma-separated string).
    `subtask` ("semantic", "instance", "panoptic"; default: the model's first), `threshold` (mask classifiers:
    their segment score threshold, 0.9; prompted models: the browser's heat-map threshold, 0), `opacity`, `hidden`
    (class names or ids; prompts) and `isolated` (a segment index) set the browser's controls; `segment(image)`
    runs on any image input.
    """

    def __init__(self, model: Any = None, *, image: Any = None, prompts: str | Sequence[str] = "",
                 subtask: str | None = None, threshold: float | None = None, opacity: float = 0.6,
                 device: Any = None) -> None:
        self.view = SegmentView()
        self.source = ImageSource(self._show_image, lambda fn: self.guard(fn))
        self.info = W.HTML("<i>Pick a sample photo, upload one, or type a path or URL.</i>")
        self.prompts_box = W.Text(placeholder="what to find, comma separated: a cat, a remote control (Enter)",
                                  description="prompts", continuous_update=False, layout=W.Layout(width="100%"))
        self.prompts_box.add_class("wb-segment-prompts")
        super().__init__([self.source, self.prompts_box, self.info, self.view])
        self.add_class("wb-segment-panel")
        self._threshold = 0.9 if threshold is None else threshold
        self.rgb: np.ndarray | None = None
        self.name = ""
        self.index_map: np.ndarray | None = None  # (H, W) segment indexes at the photo's size (-1: none)
        self.soft_maps: np.ndarray | None = None  # (N, H, W) heat maps in 0..1 (prompted models)
        self.segments_info: list[dict[str, Any]] = []
        self.pipe = self.guard(resolve_pipeline, "image-segmentation", model) if model is not None else None
        if self.pipe is not None:
            self.show_model(self.pipe)  # the panel's badge (the view draws one only when shown alone)
        self.prompted = bool(getattr(self.pipe, "prompted", False))
        self.prompts_box.layout.display = None if self.prompted else "none"
        if self.prompted:
            self.view.threshold = 0.0 if threshold is None else threshold
            self.prompts = prompts
        elif prompts and self.pipe is not None:
            self.show_error(InputError("prompts= is for text-prompted segmenters (CLIPSeg); this model finds the "
                                       "classes it was trained on."))
        self.prompts_box.observe(self._on_prompts, names="value")
        self._subtask = subtask
        self.view.opacity = opacity
        self.view.observe(self._redraw_static, names=["opacity", "hidden", "isolated", "threshold"])
        self.view.observe(self._on_subtask, names="subtask")
        self.view.observe(lambda c: self.show_error(c["new"]) if c["new"] else None, names="error")
        if image is not None:
            self.guard(self.segment, image)

    # -- properties that set the browser's controls ---------------------------------------------------
    opacity = view_trait("opacity")
    isolated = view_trait("isolated")

    @property
    def threshold(self) -> float:
        """Prompted models: the heat maps' threshold in the browser; mask classifiers: their segment score threshold
        (used at the next image)."""
        return self.view.threshold if self.prompted else self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if self.prompted:
            self.view.threshold = value
        else:
            self._threshold = value

    @property
    def prompts(self) -> list[str]:
        """What a prompted model looks for (set a list or one comma-separated string: the photo is segmented again)."""
        return [p.strip() for p in self.prompts_box.value.split(",") if p.strip()]

    @prompts.setter
    def prompts(self, value: str | Sequence[str]) -> None:
        self.prompts_box.value = value if isinstance(value, str) else ", ".join(value)

    def _names(self) -> dict[int, str]:
        """What the legend's keys stand for: class names by label id, or prompts by index (heat maps)."""
        if self.soft_maps is not None and not self.segments_info:
            return dict(enumerate(self.view.meta.get("soft_labels", [])))
        return {s["label_id"]: s["label"] for s in self.segments_info}

    @property
    def hidden(self) -> list[str]:
        """The classes (or prompts) hidden, by name."""
        names = self._names()
        return [names.get(i, str(i)) for i in self.view.hidden]

    @hidden.setter
    def hidden(self, classes: Sequence[str | int]) -> None:
        by_name = {label: key for key, label in self._names().items()}
        ids = []
        for c in classes:
            if isinstance(c, str):
                if c not in by_name:
                    self.show_error(InputError(f"no segment of class {c!r} here (present: {', '.join(by_name) or 'none'})."))
                    return
                ids.append(by_name[c])
            else:
                ids.append(int(c))
        self.view.hidden = ids

    subtask = view_trait("subtask")

    # -- running ----------------------------------------------------------------------------------------
    @guarded
    def segment(self, image: Any, name: str = "") -> list[dict[str, Any]]:
        """Segment any image input and draw it; returns the segments ({label, score, area}, area as a fraction)."""
        return self.source.load(image, name=name)

    def _show_image(self, rgb: np.ndarray, name: str) -> list[dict[str, Any]]:
        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        if self.prompted:
            return self._show_heatmaps(rgb, name)
        self.view.busy = True  # the canvas dims while the model runs (a subtask switch reruns it)
        try:
            found = self.pipe.explain(rgb, subtask=self._subtask or None, threshold=self.threshold)
        finally:
            self.view.busy = False
        self._subtask = found["subtask"]
        self.show(rgb, found["segmentation"], found["segments"], name=name, subtask=found["subtask"],
                  subtasks=found["subtasks"])
        return self.segments()

    def _show_heatmaps(self, rgb: np.ndarray, name: str) -> list[dict[str, Any]]:
        prompts = self.prompts
        if not prompts:
            self.show(rgb, name=name)
            self.info.value = f"<b>{name}</b>: <i>type what to find in the prompts box, comma separated, then Enter</i>"
            return []
        self.view.busy = True  # the canvas dims while the model runs (the panel's own busy is guard's)
        try:
            found = self.pipe.explain(rgb, prompts=prompts)
        finally:
            self.view.busy = False
        self.show(rgb, name=name, soft=found["heatmaps"], soft_labels=found["labels"])
        return self.segments()

    def _on_prompts(self, change: dict[str, Any]) -> None:
        if self.rgb is not None and self.pipe is not None and self.prompted:
            self.guard(self._show_heatmaps, self.rgb, self.name)

    def _on_subtask(self, change: dict[str, Any]) -> None:
        new = change["new"]
        if new and new != self._subtask and self.rgb is not None and self.pipe is not None:
            self._subtask = new
            self.guard(self._show_image, self.rgb, self.name)

    def show(self, rgb: np.ndarray, segmentation: np.ndarray | None = None,
             segments: Sequence[dict[str, Any]] = (), *, name: str = "", subtask: str = "",
             subtasks: Sequence[str] = (), soft: np.ndarray | None = None, soft_labels: Sequence[str] = ()) -> None:
        """Draw any segmentation over `rgb` (H, W, 3 uint8): `segmentation` (H, W) segment indexes (-1: none) with
        `segments` [{label_id, label, score, area}], and/or `soft` (N, h, w) masks in 0..1 named by `soft_labels`
        (one heat map per prompt). What any model's pipeline can hand over; the browser does the rest."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"the photo must be (H, W, 3) uint8; got {rgb.shape} {rgb.dtype}.")
        h, w = rgb.shape[:2]
        segments = [dict(s) for s in segments]
        if segmentation is not None:
            segmentation = np.asarray(segmentation)
            if segmentation.shape != (h, w):
                raise InputError(f"the label map is {segmentation.shape} but the photo is {(h, w)}; give one index per pixel.")
            if segmentation.size and segmentation.max() >= len(segments):
                raise InputError(f"the label map names segment {int(segmentation.max())} but {len(segments)} segments "
                                 "were given.")
        if soft is not None:
            soft = np.asarray(soft, dtype=np.float32)
            if soft.ndim != 3 or len(soft_labels) != soft.shape[0]:
                raise InputError(f"soft masks must be (N, h, w) with N names; got {soft.shape} and {len(soft_labels)} "
                                 "names.")
        colors = segment_colors(segments)
        for s, c in zip(segments, colors):
            s["color"] = c
            s["score"] = None if s.get("score") is None else float(s["score"])
        self.rgb, self.name = rgb, name
        self.index_map = None if segmentation is None else segmentation.astype(np.int32)
        self.soft_maps = soft
        self.segments_info = segments
        soft_colors = segment_colors([{"label_id": i} for i in range(len(soft_labels))])
        soft_scores = [] if soft is None else [float(m.max()) for m in soft]
        with self.view.hold_sync():
            self.view.hidden, self.view.isolated = [], -1
            self.view.image = jpeg_bytes(rgb)
            self.view.meta = {"width": int(w), "height": int(h), "name": name, "subtask": subtask,
                              "subtasks": list(subtasks), "segments": segments, "soft_labels": list(soft_labels),
                              "soft_colors": soft_colors, "soft_scores": soft_scores}
            self.view.segmentation = None if segmentation is None else shrink_nearest(segmentation.astype(np.int32) + 1)
            self.view.soft = None if soft is None else shrink_soft(soft)
            self.view.subtask = subtask
        rows = legend(segments, colors)
        what = f"{len(segments)} segment{'s' if len(segments) != 1 else ''} of {len(rows)} class{'es' if len(rows) != 1 else ''}"
        hint = "hover for a segment's label, score and area; click to isolate it; click the legend to hide a class"
        if soft is not None:
            what = f"{soft.shape[0]} prompt{'s' if soft.shape[0] != 1 else ''}" + (f", {what}" if segments else "")
            hint = ("hover to read each prompt's probability; click the legend to hide a prompt; the threshold "
                    "slider hides what is below it")
        self.info.value = (f"<b>{name}</b> ({w}x{h}){' &middot; ' + subtask if subtask else ''}: {what} &middot; "
                           f"<i>{hint}</i>")
        self._redraw_static()

    def segments(self) -> list[dict[str, Any]]:
        """The segments drawn now (hidden classes and isolation applied): {label, score, area}. Prompted models:
        one per prompt shown, score its highest probability, area the share of the photo at or above the threshold."""
        if self.soft_maps is not None and not self.segments_info:
            labels = self.view.meta.get("soft_labels", [])
            return [{"label": labels[k], "score": float(m.max()), "area": float((m >= self.view.threshold).mean())}
                    for k, m in enumerate(self.soft_maps)
                    if k not in self.view.hidden and self.view.isolated in (-1, k)]
        keep = visible_segments(self.segments_info, self.view.hidden, self.view.isolated)
        return [{"label": s["label"], "score": s["score"], "area": s["area"]} for s, k in zip(self.segments_info, keep) if k]

    # -- the saved picture ------------------------------------------------------------------------------
    def render_png(self) -> bytes:
        if self.rgb is None:
            raise InputError("nothing segmented yet: pick or load an image first.")
        if self.soft_maps is not None and not self.segments_info:
            meta = self.view.meta
            return soft_png(self.rgb, self.soft_maps, meta.get("soft_labels", []), meta.get("soft_colors", []),
                            hidden=self.view.hidden, isolated=self.view.isolated, opacity=self.view.opacity,
                            threshold=self.view.threshold, title=self.name)
        index = self.index_map if self.index_map is not None else np.full(self.rgb.shape[:2], -1, dtype=np.int32)
        return segments_png(self.rgb, index, self.segments_info, [s["color"] for s in self.segments_info],
                            hidden=self.view.hidden, isolated=self.view.isolated, opacity=self.view.opacity,
                            title=f"{self.name} · {self.view.subtask}" if self.view.subtask else self.name)

    def _redraw_static(self, change: Any = None) -> None:
        if self.rgb is not None:
            png = base64.b64encode(self.render_png()).decode("ascii")
            self.static_html = f'<img alt="segments" src="data:image/png;base64,{png}" style="max-width:100%"/>'


__all__ = ["Segment", "SegmentView"]
