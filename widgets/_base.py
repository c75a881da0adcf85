"""What every panel shares: one error mechanism, the `Panel` box, the live (debounced) panel.

`ErrorReporting` is the one way a panel reports failure, for ipywidgets boxes and anywidget
panels alike: work runs through `self.guard(fn, ...)` (or `@guarded`), an exception becomes the
synced `error` trait (plus `last_traceback` in Python) instead of a dead widget or a traceback
lost in a log, and `busy` is true while the work runs. Each kind of panel only *draws* `error`:
`Panel` in its status line, an anywidget panel in its ES module.

`Panel` is a VBox with that status line and `static_html` (the last result as self-contained
HTML: what a saved notebook shows where widgets do not run). `LivePanel` is a panel whose output
follows its inputs: debounced updates, stale results dropped. `es_module()` reads an ES module
from `static/`, inlining the sibling modules it imports (anywidget loads `_esm` from a blob: URL,
where relative imports cannot resolve).
"""

from __future__ import annotations

import functools
import html
import re
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, TypeVar

import ipywidgets as W
import traitlets as T

F = TypeVar("F", bound=Callable[..., Any])
STATIC = Path(__file__).parent / "static"  # the ES modules and styles shipped with the package


class ErrorReporting(T.HasTraits):
    """Mixin: `error` and `busy` traits, `guard`, `show_error`, `clear_error`, `last_traceback`."""

    error = T.Unicode("").tag(sync=True)
    busy = T.Bool(False).tag(sync=True)
    last_traceback = ""  # the traceback of the last error shown (Python side only)

    def show_error(self, err: BaseException | str) -> None:
        if isinstance(err, BaseException):
            self.last_traceback = "".join(traceback.format_exception(type(err), err, err.__traceback__))
            err = f"{type(err).__name__}: {err}"
        self.error = err

    def clear_error(self) -> None:
        self.error = ""

    def guard(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn`; on failure show the error in the panel and return None."""
        self.busy = True
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # a panel must never die silently
            self.show_error(err)
            return None
        else:
            self.clear_error()
            return result
        finally:
            self.busy = False


def guarded(method: F) -> F:
    """Decorator for panel methods: errors go to the panel, not up the callback stack."""

    @functools.wraps(method)
    def wrapper(self: ErrorReporting, *args: Any, **kwargs: Any) -> Any:
        return self.guard(method, self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def error_html(message: str) -> str:
    return ('<div class="workbench-error" style="color:#b00020;white-space:pre-wrap;font-family:monospace">'
            f"{html.escape(message)}</div>") if message else ""


class Panel(ErrorReporting, W.VBox):
    """A box of controls with a status line that shows the panel's `error`."""

    static_html = T.Unicode("")

    def __init__(self, children: list[W.Widget] | None = None, **kwargs: Any) -> None:
        self._status = W.HTML(value="", layout=W.Layout(min_height="1.2em"))
        super().__init__(children=[*(children or []), self._status], **kwargs)
        self.add_class("workbench-panel")

    @T.observe("error")
    def _draw_error(self, change: dict[str, Any]) -> None:
        self._status.value = error_html(change["new"])

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if self.static_html:
            bundle["text/html"] = self.static_html
        return bundle


_SIBLING_IMPORT = re.compile(r'^import \{[^}]*\} from "\./([\w-]+\.js)";\n', re.M)


def es_module(name: str) -> str:
    """`static/<name>` with each `import {...} from "./<sibling>.js";` line replaced by the sibling's code."""
    source = (STATIC / name).read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        sibling = (STATIC / match.group(1)).read_text(encoding="utf-8")
        return f"// ---- inlined from {match.group(1)}\n{re.sub(r'^export ', '', sibling, flags=re.M)}// ----\n"

    return _SIBLING_IMPORT.sub(inline, source)


def resolve_pipeline(task: str, model: Any, tokenizer: Any = None) -> Any:
    """A pipeline object passes through; a name or folder builds the task's pipeline."""
    from workbench.pipelines import pipeline
    from workbench.pipelines.base import Pipeline

    if isinstance(model, Pipeline):
        return model
    return pipeline(task, model=model, tokenizer=tokenizer)


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
        from .attention import AttentionView

        if self.pipe is None:
            raise RuntimeError("no model is loaded; create the panel again with model=...")
        text, pair = self.attention_inputs()
        if not text.strip():
            raise ValueError("type an input first; the attention view shows the model reading it.")
        view = AttentionView(model=self.pipe.model, tokenizer=self.pipe.tokenizer, text=text, text_pair=pair)
        if view.error:
            raise RuntimeError(view.error)
        self.attention = view
        self.attention_out.clear_output()
        with self.attention_out:
            from IPython.display import display

            display(view)
        return view

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
                self._timer = threading.Timer(self.debounce_ms / 1000, self._execute, args=(seq,))
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
