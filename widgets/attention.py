"""`AttentionView`: attention of a transformer on a text, drawn on canvas in the notebook.

The browser code (`static/attention.js`, `static/attention.css`) ships inside the package:
nothing is fetched from a CDN. Only what is on screen travels, as binary buffers (one
`WireArray` trait per array: float16 / uint16 buffer + dtype + shape in one message): the head
view gets the top-k edges of the selected layer (every edge for short inputs), the matrix view
one down-sampled window, the model view small thumbnails, the summaries panel the head-mean and
rollout of the layer plus an entropy table. What is not an array (the layer an array belongs
to, the matrix window) is in a small `*_meta` dict sent in the same message (`hold_sync`).
The full attention stays in Python, in an `AttentionRecord`.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as T

from workbench import inspect as ad
from workbench.pipelines import pipeline
from workbench.pipelines.base import Pipeline
from workbench.processors.auto import AutoProcessor
from workbench.errors import InputError

from ._base import STATIC, ErrorReporting, es_module
from ._render.attention import THUMB, attention_png
from ._serialize import WireArray, array_to_json, wire_state

VIEWS = ("head", "model", "matrix")
HEAD_BUDGET = 1 << 20  # bytes of edges for the head view (4 bytes per edge: uint16 key + float16 weight)
MATRIX_MAX = 512  # matrix view: at most this many rows/columns per window, pooled beyond
SUMMARY_MAX = 128  # summaries panel heatmap side
HTML_LAYER_MATRIX = 256  # save_html: matrix side stored per layer
ARRAYS = ("edge_index", "edge_weight", "matrix", "thumbs", "summary", "entropy")  # the WireArray traits
JSON_TRAITS = ("meta", "edge_meta", "matrix_meta", "summary_meta", "heads", "window")


class AttentionView(ErrorReporting, anywidget.AnyWidget):
    """Head, model and matrix views of a model's attention on `text` (and `text_pair`).

    `model` is a pipeline (its `.attention(text)` is shown), a hub id, a local folder, or a loaded model
    (with `tokenizer` when its folder is unknown): names and models become a pipeline in the core.
    `layers` limits capture (None: all layers); `heads` selects heads (None: all).
    `record` shows a ready `AttentionRecord` instead (decoder, cross, image patches).
    Errors show inside the view (`error`, drawn by the ES module), as in every panel.
    """

    _esm = es_module("attention.js")
    _css = STATIC / "attention.css"

    meta = T.Dict().tag(sync=True)  # tokens, segments, layers, heads count, kind, model name
    view = T.Unicode("head").tag(sync=True)
    layer = T.Int(0).tag(sync=True)
    heads = T.List(T.Int()).tag(sync=True)  # selected heads; empty = all
    window = T.List(T.Int()).tag(sync=True)  # matrix view: [q0, q1, k0, k1] token range; empty = all
    edge_index = WireArray("uint16")  # (H, Tq, k): top-k keys per query, strongest first
    edge_weight = WireArray("float16")  # (H, Tq, k)
    edge_meta = T.Dict().tag(sync=True)  # k, layer, complete (k == every key)
    matrix = WireArray("float16")  # (n, rows, cols), drawn as the mean over n
    matrix_meta = T.Dict().tag(sync=True)  # window [q0, q1, k0, k1], layer, heads
    thumbs = WireArray("float16")  # (L, H, s, s)
    summary = WireArray("float16")  # (2, s, s): head mean, rollout through `layer`
    summary_meta = T.Dict().tag(sync=True)  # layer, rollout (False: not defined for this kind)
    entropy = WireArray("float16")  # (L, H), nats
    status = T.Unicode("").tag(sync=True)
    untrained = T.List(T.Unicode()).tag(sync=True)  # freshly initialised weights of the model shown: a badge says so

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        text: str | None = None,
        text_pair: str | None = None,
        layer: int = 0,
        heads: list[int] | None = None,
        view: str = "head",
        *,
        layers: list[int] | None = None,
        record: ad.AttentionRecord | None = None,
    ) -> None:
        super().__init__()
        self.record: ad.AttentionRecord | None = None
        self._rollout: np.ndarray | None = None
        self.guard(self._build, model, tokenizer, text, text_pair, layer, heads, view, layers, record)
        self.observe(self._on_change, names=["view", "layer", "heads", "window"])

    def _build(self, model: Any, tokenizer: Any, text: str | None, text_pair: str | None, layer: int,
               heads: list[int] | None, view: str, layers: list[int] | None, record: ad.AttentionRecord | None) -> None:
        if view not in VIEWS:
            raise InputError(f"view must be one of {VIEWS}; got {view!r}")
        self.record = record if record is not None else self._capture(model, tokenizer, text, text_pair, layers)
        rec = self.record
        if layer not in rec.layers:
            raise InputError(f"layer {layer} was not captured; choose one of {rec.layers}")
        bad = [h for h in heads or [] if not 0 <= h < rec.num_heads]
        if bad:
            raise InputError(f"heads {bad} do not exist; this model has heads 0..{rec.num_heads - 1}")
        self._rollout = rec.rollout() if rec.kind != "cross" else None
        self.meta = {**rec.to_dicts(), "seq_len": len(rec.query_tokens)}
        with self.hold_trait_notifications():
            self.view, self.layer, self.heads = view, layer, list(heads or [])
        self.entropy = rec.head_entropy()
        self._refresh()

    # -- data ------------------------------------------------------------------------------------
    def _capture(self, model: Any, tokenizer: Any, text: str | None, text_pair: str | None, layers: list[int] | None) -> ad.AttentionRecord:
        """The record of `model` reading `text`, through a pipeline (the panel loads nothing itself)."""
        if model is None:
            raise InputError("pass model= (a pipeline, a hub id such as 'sentence-transformers/all-MiniLM-L6-v2', a "
                             "folder, or a loaded model), or record= (an AttentionRecord)")
        if text is None:
            raise InputError("pass text= (the sentence whose attention to show)")
        if not isinstance(model, Pipeline):
            if tokenizer is None and not isinstance(model, (str, os.PathLike)):  # a loaded model: its own tokenizer
                tokenizer = AutoProcessor.for_model(model, needed_by="AttentionView")
            model = pipeline("feature-extraction", model=model, tokenizer=tokenizer)
        self.untrained = model.untrained_weights
        return model.attention(text, text_pair, layers=layers)

    def _selected(self) -> list[int]:
        n = self.record.num_heads
        return [h for h in self.heads if 0 <= h < n] or list(range(n))

    def _refresh(self, changed: set[str] | None = None) -> None:
        """Recompute the buffers the current view shows (and nothing else)."""
        rec = self.record
        if rec is None:
            return
        changed = changed or {"view", "layer", "heads", "window"}
        a = rec.layer(self.layer)  # (H, Tq, Tk)
        # hold_sync: each array travels in the same message as its *_meta.
        with self.hold_sync(), self.hold_trait_notifications():
            if "layer" in changed:
                self._set_edges(a)
                self._set_summary()
            if self.view == "matrix" and changed & {"view", "layer", "heads", "window"}:
                self._set_matrix(a)
            if self.view == "model" and self.thumbs is None:
                self._set_thumbs()
        self.status = f"layer {self.layer} · {len(rec.query_tokens)} tokens · {rec.num_heads} heads"

    def _edges_state(self, a: np.ndarray, layer: int) -> dict[str, Any]:
        k = ad.edges_per_query(a.shape[0], a.shape[1], a.shape[2], HEAD_BUDGET)
        idx, w = ad.top_k_edges(a, k)
        return {"edge_index": idx, "edge_weight": w, "edge_meta": {"k": k, "layer": layer, "complete": k == a.shape[2]}}

    def _set_edges(self, a: np.ndarray) -> None:
        for name, value in self._edges_state(a, self.layer).items():
            setattr(self, name, value)

    def _window(self) -> tuple[int, int, int, int]:
        tq, tk = len(self.record.query_tokens), len(self.record.key_tokens)
        w = list(self.window)
        if len(w) != 4:
            return 0, tq, 0, tk
        q0, q1, k0, k1 = (int(x) for x in w)
        q0, k0 = max(0, min(q0, tq - 1)), max(0, min(k0, tk - 1))
        return q0, max(q0 + 1, min(q1, tq)), k0, max(k0 + 1, min(k1, tk))

    def _matrix_state(self, a: np.ndarray, layer: int, window: tuple[int, int, int, int], side: int) -> dict[str, Any]:
        q0, q1, k0, k1 = window
        m = a[self._selected()].mean(axis=0)[q0:q1, k0:k1]
        return {"matrix": ad.downsample(m, side)[None],  # (1, rows, cols)
                "matrix_meta": {"window": [q0, q1, k0, k1], "layer": layer, "heads": self._selected()}}

    def _set_matrix(self, a: np.ndarray) -> None:
        for name, value in self._matrix_state(a, self.layer, self._window(), MATRIX_MAX).items():
            setattr(self, name, value)

    def _set_thumbs(self) -> None:
        self.thumbs = ad.downsample(self.record.attentions, THUMB)  # (L, H, s, s)

    def _summary_state(self, layer: int) -> dict[str, Any]:
        rec = self.record
        i = rec.layers.index(layer)
        mean = rec.attentions[i].mean(axis=0)
        maps = [mean, self._rollout[i] if self._rollout is not None else np.zeros_like(mean)]
        return {"summary": ad.downsample(np.stack(maps), SUMMARY_MAX),  # (2, s, s)
                "summary_meta": {"layer": layer, "rollout": self._rollout is not None}}

    def _set_summary(self) -> None:
        for name, value in self._summary_state(self.layer).items():
            setattr(self, name, value)

    # Bad values set from code are refused before the view sees them (the panel shows why; see `checked`).
    @T.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> int:
        ok = self.record is None or proposal["value"] in self.record.layers
        return self.checked(proposal, None if ok else
                            f"layer {proposal['value']} was not captured; choose one of {self.record.layers}.")

    @T.validate("heads")
    def _valid_heads(self, proposal: dict[str, Any]) -> list[int]:
        n = self.record.num_heads if self.record is not None else None
        bad = [h for h in proposal["value"] if n is not None and not (isinstance(h, int) and 0 <= h < n)]
        return self.checked(proposal, f"heads {bad} do not exist; this model has heads 0..{n - 1}." if bad else None)

    @T.validate("view")
    def _valid_view(self, proposal: dict[str, Any]) -> str:
        return self.checked(proposal, None if proposal["value"] in VIEWS else f"use one of {VIEWS}.")

    def _on_change(self, change: dict[str, Any]) -> None:
        self.guard(self._refresh, {change["name"]})

    # -- static forms ------------------------------------------------------------------------------
    def bytes_sent(self) -> dict[str, int]:
        """Bytes of every synced buffer and JSON trait as they stand (what a display sends now)."""
        arrays = {name: getattr(self, name) for name in ARRAYS}
        sizes = {name: 0 if a is None else a.nbytes for name, a in arrays.items()}
        headers = [{k: v for k, v in array_to_json(a).items() if k != "buffer"} for a in arrays.values() if a is not None]
        sizes["json"] = sum(len(json.dumps(x)) for x in [*headers, *(getattr(self, n) for n in JSON_TRAITS)])
        sizes["total"] = sum(sizes.values())
        return sizes

    def render_png(self, dpi: int = 80) -> bytes:
        """A PNG of the current view (matplotlib), for saved notebooks and places without widgets."""
        if self.record is None:
            return attention_png(None, error=self.error, dpi=dpi)
        return attention_png(self.record, view=self.view, layer=self.layer, heads=self._selected(),
                             window=self._window() if self.view == "matrix" else None, dpi=dpi)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if data is not None:
            try:
                data["image/png"] = base64.b64encode(self.render_png()).decode("ascii")
            except Exception as err:  # the live widget still shows; say why the fallback is missing
                data["text/plain"] = f"AttentionView (no static image: {type(err).__name__}: {err})"
        return bundle

    def _standalone_state(self) -> dict[str, Any]:
        """Everything the JS needs without a kernel: current traits plus every layer's buffers."""
        rec = self.record
        full = (0, len(rec.query_tokens), 0, len(rec.key_tokens))
        per_layer: dict[str, dict[str, Any]] = {}
        for layer in rec.layers:
            a = rec.layer(layer)
            per_layer[str(layer)] = {**self._edges_state(a, layer), **self._summary_state(layer),
                                     **self._matrix_state(a, layer, full, HTML_LAYER_MATRIX)}
        names = ("meta", "view", "layer", "heads", "entropy", "error", "status")
        state = {n: getattr(self, n) for n in names}
        state.update(per_layer[str(self.layer)], thumbs=ad.downsample(rec.attentions, THUMB), window=[], standalone=True)
        return {"state": wire_state(self, state), "per_layer": {k: wire_state(self, v) for k, v in per_layer.items()}}

    def save_html(self, path: str | os.PathLike) -> Path:
        """Write one self-contained HTML file (code, styles and data inlined; no network)."""
        if self.record is None:
            raise InputError(f"nothing to save: {self.error or 'no attention was captured'}")

        def enc(v: Any) -> Any:
            if isinstance(v, (bytes, bytearray, memoryview)):
                return {"$b64": base64.b64encode(bytes(v)).decode("ascii")}
            if isinstance(v, dict):
                return {k: enc(x) for k, x in v.items()}
            return v

        payload = json.dumps(enc(self._standalone_state())).replace("</", "<\\/")
        js = base64.b64encode(es_module("attention.js").encode("utf-8")).decode("ascii")
        css = (STATIC / "attention.css").read_text()
        title = html.escape(f"Attention · {self.record.model_name or 'model'}")
        page = (STATIC / "standalone.html").read_text()
        page = page.replace("%TITLE%", title).replace("%CSS%", css).replace("%JS_B64%", js).replace("%PAYLOAD%", payload)
        out = Path(path)
        out.write_text(page, encoding="utf-8")
        return out


__all__ = ["AttentionView"]
