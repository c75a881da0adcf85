"""`LivePanel`: a panel whose output follows its inputs, the base of the text panels.

An input change starts a debounced update (`debounce_ms`; 0 = run at once, in the caller's
thread): a newer request replaces a waiting one, and a result that arrives after a newer request
started is dropped (`dropped` counts both). Each live panel has an Attention button that opens
`AttentionView` on its own pipeline and current input.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as W
import traitlets as T

from workbench.pipelines import pipeline
from workbench.pipelines.base import Pipeline

from ._base import Panel
from .attention import AttentionView


def resolve_pipeline(task: str, model: Any, tokenizer: Any = None) -> Any:
    """A pipeline object passes through; a name or folder builds the task's pipeline."""
    if isinstance(model, Pipeline):
        return model
    return pipeline(task, model=model, tokenizer=tokenizer)

# The debounce timer: a module attribute so tests can swap in a manual clock (no real-time races).
Timer = threading.Timer


class LivePanel(Panel):
    """A panel whose output follows its inputs: debounced updates, stale results dropped."""

    task: str = ""
    debounce_ms = T.Int(150)
    html = T.Unicode("")  # the rendered result (also kept as static_html)
    runs = T.Int(0)  # updates that finished (result or error shown)
    dropped = T.Int(0)  # requests dropped as stale

    def __init__(self, model: Any = None, *, tokenizer: Any = None, debounce_ms: int = 150,
                 controls: list[W.Widget] | None = None) -> None:
        self._view = W.HTML(value="")
        self.attention_button = W.Button(description="Attention", icon="eye",
                                         tooltip="open the attention view on the current input")
        self.attention_out = W.Output()
        self.attention_button.on_click(lambda _: self.guard(self.show_attention))
        self.attention = None  # the last AttentionView opened from this panel
        super().__init__(children=[*(controls or []), self._view, self.attention_button, self.attention_out])
        self.debounce_ms = debounce_ms
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.pipe = self.guard(resolve_pipeline, self.task, model, tokenizer)
        if self.pipe is not None:
            self.show_model(self.pipe)

    # -- subclass API ------------------------------------------------------------------------
    def compute(self) -> Any:
        """Run the pipeline on the current inputs; None when there is nothing to do yet."""
        raise NotImplementedError

    def render(self, result: Any) -> str:
        raise NotImplementedError

    def set_result(self, result: Any) -> None:
        self.result = result

    def attention_inputs(self) -> tuple[str, str | None]:
        """The text (and second text) whose attention the Attention button shows."""
        pair = getattr(self, "text_pair", "") or None
        return self.text, pair

    def show_attention(self) -> Any:
        """Open an AttentionView of this panel's model on the current input, below the panel."""
        if self.pipe is None:
            raise RuntimeError("no model is loaded; create the panel again with model=...")
        text, pair = self.attention_inputs()
        if not text.strip():
            raise ValueError("type an input first; the attention view shows the model reading it.")
        view = AttentionView(model=self.pipe, text=text, text_pair=pair)
        if view.error:
            raise RuntimeError(view.error)
        self.attention = view
        self.attention_out.clear_output()
        with self.attention_out:
            from IPython.display import display

            display(view)
        return view

    def in_range(self, value: Any, low: int, high: int) -> str | None:
        """None when `value` is a whole number in [low, high], else what is wrong (for `checked`)."""
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}."
        return None

    # -- update machinery -------------------------------------------------------------------
    def request(self, change: Any = None) -> None:
        """An input changed: schedule an update (or run it now when debounce_ms is 0)."""
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
            if self._timer is not None and self._timer.is_alive():
                self._timer.cancel()
                self.dropped += 1
            self._timer = None
            if self.debounce_ms > 0:
                self._timer = Timer(self.debounce_ms / 1000, self._execute, args=(seq,))
                self._timer.daemon = True
                self._timer.start()
        if self.debounce_ms <= 0:
            self._execute(seq)

    def update(self) -> None:
        """Recompute now from the current inputs (what an input change ends up calling)."""
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        self._execute(seq)

    def _execute(self, seq: int) -> None:
        with self._run_lock:
            if seq != self._seq:
                self.dropped += 1
                return
            self.busy = True
            try:
                if self.pipe is None:
                    raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
                result = self.compute()
                page = "" if result is None else self.render(result)
            except Exception as err:  # noqa: BLE001 - a panel never dies silently
                if seq == self._seq:
                    self.show_error(err)
                    # The last result no longer answers the current input: dim it, and clear the result trait.
                    if self._view.value and "wb-stale" not in self._view.value:
                        self._view.value = f'<div class="wb-stale" style="opacity:.35" title="out of date">{self._view.value}</div>'
                    self.set_result(None)
                    self.runs += 1
                return
            finally:
                self.busy = False
            if seq != self._seq:  # a newer request started while this one ran
                self.dropped += 1
                return
            self.clear_error()
            self._view.value = page
            self.html = page
            self.static_html = page
            self.set_result(result)
            self.runs += 1
