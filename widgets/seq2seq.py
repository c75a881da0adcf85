"""`Summarize(model=...)` and `Translate(model=...)`: generate from a text and see what the decoder looked at.

A panel is stock controls (the text, length and beam controls, a language pair for translation, Run)
over an `AlignmentView`, an anywidget (`static/seq2seq.js`) that shows the output as it streams in,
then the alignment: hover an output token to see its cross-attention over the source text (mean over
heads, one head, or every head of the chosen layer), hover a source token to see which output tokens
used it. The beams with their scores are listed, and a source longer than the model takes shows which
part it read and which it never saw. Hover and the layer/head choice run in the browser; the arrays
arrive once per result as binary buffers: the head-mean of every layer, and the heads of the chosen layer
(sent again when the layer changes). A saved notebook keeps the static picture (`static_html`).
"""

from __future__ import annotations

import threading
from typing import Any

import anywidget
import ipywidgets as W
import numpy as np
import traitlets as T

from ._base import STATIC, ErrorReporting, Panel, es_module, untrained_html
from ._live import resolve_pipeline
from ._render.seq2seq import alignment_html, view_state
from ._serialize import WireArray

MAX_LENGTH = 1024


class AlignmentView(ErrorReporting, anywidget.AnyWidget):
    """Output tokens over source tokens, linked by the decoder's cross-attention (drawn in the browser)."""

    _esm = es_module("seq2seq.js")
    _css = STATIC / "seq2seq.css"

    state = T.Dict().tag(sync=True)  # tokens, truncation, beams: `widgets._render.seq2seq.view_state`
    mean = WireArray("float16")  # (L, T_out, T_src): each layer's head-mean
    heads = WireArray("float16")  # (H, T_out, T_src): every head of `layer`
    heads_layer = T.Int(-1).tag(sync=True)  # the layer `heads` belongs to (set with it)
    layer = T.Int(-1).tag(sync=True)  # model layer index shown (-1: the last)
    head_mode = T.Unicode("mean").tag(sync=True)  # "mean", "all", or a head index as text
    streaming = T.Unicode("").tag(sync=True)  # the output so far, while generating
    status = T.Unicode("").tag(sync=True)

    def __init__(self) -> None:
        super().__init__()
        self._attention: np.ndarray | None = None  # (L, H, T_out, T_src), kept in Python

    def show(self, info: Any) -> None:
        """Show an `Explanation` (workbench.pipelines.text2text_generation)."""
        a = np.asarray(info.cross_attention, dtype=np.float32)
        self._attention = a
        layer = info.layers[-1] if info.layers else 0
        with self.hold_sync():
            self.state = {**view_state(info), "output_text": info.output_text}
            self.mean = a.mean(axis=1)
            self.layer = layer
            self._send_heads(layer)
            self.streaming = ""

    @T.observe("layer")
    def _layer_changed(self, change: dict[str, Any]) -> None:
        if self._attention is not None and change["new"] != self.heads_layer:
            with self.hold_sync():
                self._send_heads(change["new"])

    def _send_heads(self, layer: int) -> None:
        layers = self.state.get("layers") or []
        if layer in layers:
            self.heads = self._attention[layers.index(layer)]
            self.heads_layer = layer

    def clear(self) -> None:
        self._attention = None
        with self.hold_sync():
            self.state, self.mean, self.heads, self.heads_layer, self.streaming = {}, None, None, -1, ""


class _GenerationPanel(Panel):
    """What Summarize and Translate share: a text, length and beam controls, Run, the alignment view."""

    task = ""
    text = T.Unicode("").tag(sync=True)
    max_length = T.Int(60).tag(sync=True)
    min_length = T.Int(0).tag(sync=True)
    num_beams = T.Int(4).tag(sync=True)
    output = T.Unicode("").tag(sync=True)  # the last result's text
    runs = T.Int(0)  # generations finished (result or error shown)

    def __init__(self, model: Any = None, *, tokenizer: Any = None, text: str = "", max_length: int | None = None,
                 min_length: int | None = None, num_beams: int | None = None, extra: list[W.Widget] | None = None) -> None:
        self.view = AlignmentView()
        self.text_box = W.Textarea(placeholder="Paste a text…", layout=W.Layout(width="100%", height="7em"))
        self.max_box = W.BoundedIntText(min=1, max=MAX_LENGTH, description="max length", layout=W.Layout(width="170px"))
        self.min_box = W.BoundedIntText(min=0, max=MAX_LENGTH, description="min length", layout=W.Layout(width="170px"))
        self.beam_box = W.IntSlider(min=1, max=8, description="beams", layout=W.Layout(width="260px"))
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self._thread: threading.Thread | None = None
        self.result: Any = None
        super().__init__([self.text_box, W.HBox([*(extra or []), self.max_box, self.min_box, self.beam_box,
                                                 self.run_button]), self.view])
        self.add_class("wb-s2s-panel")
        for trait, box in (("text", self.text_box), ("max_length", self.max_box), ("min_length", self.min_box),
                           ("num_beams", self.beam_box)):
            T.link((self, trait), (box, "value"))
        self.run_button.on_click(lambda _: self.run())
        self.pipe = self.guard(self._load, model, tokenizer)
        if self.pipe is not None:
            self.show_model(self.pipe)
            defaults = self.pipe.generation_config
            self.max_length = max_length or _length_default(defaults)
            self.min_length = min(min_length if min_length is not None else defaults.min_length or 0, self.max_length)
            self.num_beams = num_beams or max(1, min(8, defaults.num_beams))
        self.text = text

    def _load(self, model: Any, tokenizer: Any) -> Any:
        return resolve_pipeline(self.task, model, tokenizer)

    # -- refusing bad values set from code ------------------------------------------------------
    @T.validate("max_length")
    def _valid_max(self, proposal: dict[str, Any]) -> Any:
        v = proposal["value"]
        return self.checked(proposal, None if isinstance(v, int) and 1 <= v <= MAX_LENGTH else
                            f"must be a whole number from 1 to {MAX_LENGTH}.")

    @T.validate("min_length")
    def _valid_min(self, proposal: dict[str, Any]) -> Any:
        v = proposal["value"]
        return self.checked(proposal, None if isinstance(v, int) and 0 <= v <= self.max_length else
                            f"must be a whole number from 0 to max_length ({self.max_length}).")

    @T.validate("num_beams")
    def _valid_beams(self, proposal: dict[str, Any]) -> Any:
        v = proposal["value"]
        return self.checked(proposal, None if isinstance(v, int) and 1 <= v <= 16 else "must be a whole number from 1 to 16.")

    # -- running --------------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The generation options of the controls (max_length counts the decoder's start token, as the reference)."""
        return {"max_length": int(self.max_length), "max_new_tokens": None, "min_length": int(self.min_length),
                "num_beams": int(self.num_beams)}

    def current_pipeline(self) -> Any:
        return self.pipe

    def run(self, wait: bool = False) -> None:
        """Generate for the current text in a background thread (the output streams into the view);
        `wait=True` runs it in this thread (scripts, tests)."""
        if self._thread is not None and self._thread.is_alive():
            self.view.status = "still running: wait for the current result"
            return
        if wait:
            self._generate()
            return
        self._thread = threading.Thread(target=self._generate, daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _generate(self) -> None:
        self.busy = True
        self.run_button.disabled = True
        self.view.status = "generating…"
        try:
            self.guard(self._explain)
            if self.error:
                self.view.show_error(self.error)
                self._dim()
            else:
                self.view.clear_error()
        finally:
            self.run_button.disabled = False
            self.busy = False
            self.runs += 1

    def _explain(self) -> Any:
        from workbench.errors import InputError

        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        if not self.text.strip():
            raise InputError("type or paste a text first.")
        pipe = self.current_pipeline()
        options = self.options()
        beams = options["num_beams"]
        self.view.streaming = ""
        info = pipe.explain(self.text, on_text=self._stream, **options)
        self.result = info
        self.output = info.output_text
        self.view.show(info)
        read = f" · read {len(info.source_tokens)} of {info.total_tokens} tokens" if info.truncated else ""
        self.view.status = f"{len(info.output_tokens)} tokens · {beams} beam{'s' if beams > 1 else ''}{read}"
        self.static_html = alignment_html(
            self.view.state, info.cross_attention[-1].mean(axis=0), title=f"{self.task}: {self._checkpoint_name()}",
            untrained=untrained_html(self.untrained))
        return info

    def _stream(self, text: str) -> None:
        self.view.streaming = text

    def _dim(self) -> None:
        self.view.status = "error: the result shown (if any) is out of date"

    def _checkpoint_name(self) -> str:
        return str(getattr(getattr(getattr(self.pipe, "model", None), "config", None), "name_or_path", "") or "model")


def _length_default(config: Any) -> int:
    """The checkpoint's own length when it has one (bart-large-cnn: 142), else a short one for a panel."""
    if config.max_new_tokens:
        return max(1, min(MAX_LENGTH, int(config.max_new_tokens) + 1, 60))
    return max(1, min(MAX_LENGTH, int(config.max_length)))


class Summarize(_GenerationPanel):
    """Summarise a text with a BART or T5 checkpoint (a hub id, a folder, a loaded model or a pipeline)."""

    task = "summarization"


class Translate(_GenerationPanel):
    """Translate a text; `pair` picks one of the checkpoint's language pairs (T5: "translation_en_to_de", ...)."""

    task = "translation"
    pair = T.Unicode("").tag(sync=True)

    def __init__(self, model: Any = None, *, tokenizer: Any = None, text: str = "", pair: str | None = None,
                 **options: Any) -> None:
        self.pair_box = W.Dropdown(description="pair", layout=W.Layout(width="260px"))
        super().__init__(model, tokenizer=tokenizer, text=text, extra=[self.pair_box], **options)
        tasks = self.pipe.translation_tasks() if self.pipe is not None else []
        self.pair_box.options = [(_pair_label(t), t) for t in tasks] or [("as the model is", "")]
        self.pair = pair if pair is not None else (self.pipe.task_name if self.pipe is not None and
                                                   self.pipe.task_name in tasks else (tasks[0] if tasks else ""))
        T.link((self, "pair"), (self.pair_box, "value"))

    @T.validate("pair")
    def _valid_pair(self, proposal: dict[str, Any]) -> Any:
        tasks = self.pipe.translation_tasks() if getattr(self, "pipe", None) is not None else []
        ok = proposal["value"] in tasks or (not tasks and proposal["value"] == "")
        return self.checked(proposal, None if ok else f"must be one of this model's pairs: {tasks or ['']}.")

    def _load(self, model: Any, tokenizer: Any) -> Any:
        import warnings

        with warnings.catch_warnings():  # "translation" picks the checkpoint's first pair, with a warning: the panel shows it
            warnings.simplefilter("ignore", UserWarning)
            return super()._load(model, tokenizer)

    def current_pipeline(self) -> Any:
        if self.pair and self.pair != self.pipe.task_name:
            self.pipe = self.pipe.with_task(self.pair)
        return self.pipe


def _pair_label(task: str) -> str:
    parts = task.split("_")  # translation_en_to_de
    return f"{parts[1]} → {parts[3]}" if len(parts) == 4 else task
