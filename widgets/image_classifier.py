"""`ImageClassifier(model=...)`: top-k labels of a photo, and where the ViT looked.

The kernel runs the image-classification pipeline (top-k bars, rendered by `widgets._render.text.bars_html`)
and its patch attention once per image (`pipe.attention(image)`), and sends what [CLS] attends to on the
patch grid for every layer: each head, the mean over heads and the attention rollout (Abnar & Zuidema)
through that layer, one `WireArray` (L, H + 2, rows, cols). `AttentionOverlay` (`static/imageattn.js`)
stretches the chosen map over the photo; choosing the layer, head/mean/rollout and the opacity happens in
the browser with no kernel round trip.
"""

from __future__ import annotations

from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.inspect import rollout

from ._base import STATIC, ErrorReporting, Panel, es_module, guarded
from ._image_input import ImageSource
from ._live import resolve_pipeline
from ._render.text import bars_html
from ._render.vision import cls_attention_maps, jpeg_bytes, overlay_png, photo_img_html, top_k_rows
from ._serialize import WireArray


class AttentionOverlay(ErrorReporting, anywidget.AnyWidget):
    """The photo with one attention map over it; `maps` is (layers, heads + 2, rows, cols): heads, mean, rollout."""

    _esm = es_module("imageattn.js")
    _css = STATIC / "vision.css"

    image = T.Bytes(b"").tag(sync=True)
    meta = T.Dict().tag(sync=True)  # width, height, layers, heads, grid, name
    maps = WireArray("float16")
    layer = T.Int(-1).tag(sync=True)  # index into meta["layers"]; -1 = the last
    view = T.Unicode("rollout").tag(sync=True)  # "rollout", "mean" or "head <h>"
    opacity = T.Float(0.6).tag(sync=True)
    untrained = T.List(T.Unicode()).tag(sync=True)

    @T.validate("opacity")
    def _valid_opacity(self, proposal: dict[str, Any]) -> float:
        return self.checked(proposal, None if 0 <= proposal["value"] <= 1 else "opacity must be from 0 to 1.")

    @T.validate("view")
    def _valid_view(self, proposal: dict[str, Any]) -> str:
        v, heads = proposal["value"], self.meta.get("heads", 0) if self.meta else 0
        ok = v in ("rollout", "mean") or (v.startswith("head ") and v[5:].isdigit() and (not heads or int(v[5:]) < heads))
        return self.checked(proposal, None if ok else f"use 'rollout', 'mean' or 'head <0..{max(heads - 1, 0)}>'.")


class ImageClassifier(Panel):
    """Classify a photo from the gallery, an upload, a path or a URL; see the top-k labels and the attention."""

    def __init__(self, model: Any = None, *, image: Any = None, top_k: int = 5, device: Any = None) -> None:
        self.overlay = AttentionOverlay()
        self.source = ImageSource(self._show, lambda fn: self.guard(fn))
        self.bars = W.HTML("<i>Pick a sample photo, upload one, or type a path or URL.</i>")
        self.top_k = top_k
        super().__init__([self.source, W.HBox([self.bars, self.overlay], layout=W.Layout(align_items="flex-start",
                                                                                       flex_flow="row wrap"))])
        self.add_class("wb-image-classifier-panel")
        self.rgb: np.ndarray | None = None
        self.result: list[dict[str, Any]] | None = None
        self.pipe = self.guard(resolve_pipeline, "image-classification", model)
        if self.pipe is not None:
            self.show_model(self.pipe)  # the panel's badge (the overlay draws one only when shown alone)
        self.overlay.observe(self._redraw_static, names=["layer", "view", "opacity"])
        self.overlay.observe(lambda c: self.show_error(c["new"]) if c["new"] else None, names="error")
        if image is not None:
            self.guard(self.classify, image)

    @guarded
    def classify(self, image: Any, name: str = "") -> list[dict[str, Any]]:
        """Classify any image input and show where the model looked; returns the top-k labels."""
        return self.source.load(image, name=name)

    def _show(self, rgb: np.ndarray, name: str) -> list[dict[str, Any]]:
        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        self.rgb = rgb
        self.result = self.pipe(rgb, top_k=self.top_k)
        rec = self.pipe.attention(rgb)
        maps = cls_attention_maps(rec.attentions, rollout(rec.attentions), rec.grid)
        h, w = rgb.shape[:2]
        with self.overlay.hold_sync():
            self.overlay.image = jpeg_bytes(rgb)
            self.overlay.meta = {"width": int(w), "height": int(h), "layers": rec.layers, "heads": rec.num_heads,
                                 "grid": list(rec.grid), "name": name}
            self.overlay.maps = maps
        self.bars.value = f"<b>{name}</b>" + bars_html(top_k_rows(self.result), css_class="wb-bars wb-cls-bars")
        self._redraw_static()
        return self.result

    def current_map(self) -> np.ndarray:
        """The (rows, cols) map the overlay shows for the current layer and view."""
        o = self.overlay
        maps = o.maps.astype(np.float32)
        layer = o.layer if o.layer >= 0 else maps.shape[0] - 1
        heads = o.meta["heads"]
        index = {"mean": heads, "rollout": heads + 1}.get(o.view)
        return maps[layer, int(o.view[5:]) if index is None else index]

    def _redraw_static(self, change: Any = None) -> None:
        if self.rgb is None or self.overlay.maps is None:
            return
        o = self.overlay
        layer = o.meta["layers"][o.layer] if o.layer >= 0 else o.meta["layers"][-1]
        png = overlay_png(self.rgb, self.current_map(), alpha=o.opacity, title=f"{o.view} · layer {layer}")
        self.static_html = (f'<div style="display:flex;gap:12px;align-items:flex-start">{self.bars.value}'
                            f'{photo_img_html(png, "attention")}</div>')


__all__ = ["AttentionOverlay", "ImageClassifier"]
