"""What every panel shares: one error mechanism, the `Panel` box, its ES modules.

`ErrorReporting` is the one way a panel reports failure, for ipywidgets boxes and anywidget
panels alike: work runs through `self.guard(fn, ...)` (or `@guarded`), an exception becomes the
synced `error` trait (plus `last_traceback` in Python) instead of a dead widget or a traceback
lost in a log, and `busy` is true while the work runs. Each kind of panel only *draws* `error`:
`Panel` in its status line, an anywidget panel in its ES module.

`Panel` is a VBox with that status line and `static_html` (the last result as self-contained
HTML: what a saved notebook shows where widgets do not run). `es_module()` reads an ES module
from `static/`, inlining the sibling modules it imports (anywidget loads `_esm` from a blob: URL,
where relative imports cannot resolve).
"""

from __future__ import annotations

import functools
import html
import re
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

    def checked(self, proposal: dict[str, Any], problem: str | None) -> Any:
        """For a `@T.validate` hook: a bad value set from code is refused before anything sees it. The panel
        shows why (`problem`) and keeps its current value, so the trait and its control stay in agreement
        and the next good value works."""
        name = proposal["trait"].name
        if problem is None:
            if self.error and self.error == getattr(self, "_rejected", None):
                self.clear_error()  # a good value after a refused one: the refusal no longer applies
            return proposal["value"]
        from workbench.errors import InputError

        self.show_error(InputError(f"{name} = {proposal['value']!r}: {problem}"))
        self._rejected = self.error
        return getattr(self, name)

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


# While a panel shows an error, its last result (children with class "wb-result") is dimmed: it no longer
# answers the inputs on screen. The rule travels with the error line (stock widgets have no stylesheet of ours).
STALE_CSS = ("<style>.workbench-panel.wb-stale .wb-result{opacity:.35;filter:grayscale(1);"
             "transition:opacity .2s}</style>")


def view_trait(name: str, doc: str = "") -> property:
    """A panel property that reads and sets trait `name` of the panel's browser view (`self.view`): code sets
    the same control the user moves, and the view's validation refuses bad values."""
    return property(lambda self: getattr(self.view, name), lambda self, value: setattr(self.view, name, value),
                    doc=doc or f"The browser view's `{name}` (read and set).")


def error_html(message: str) -> str:
    return (STALE_CSS + '<div class="workbench-error" style="color:#b00020;white-space:pre-wrap;font-family:monospace">'
            f"{html.escape(message)}</div>") if message else ""


def untrained_html(weights: list[str], total: int | None = None) -> str:
    """The badge a panel shows when its model has freshly initialised weights: its output means nothing yet."""
    if not weights:
        return ""
    every = total is not None and len(weights) >= total
    which = "every weight is random (a model built from a config)" if every else (
        f"{len(weights)} weight{'s' if len(weights) != 1 else ''} freshly initialised: "
        + ", ".join(html.escape(w) for w in weights[:4]) + (" ..." if len(weights) > 4 else ""))
    return ('<div class="wb-untrained" role="status" style="display:inline-block;margin:2px 0 6px;padding:2px 8px;'
            'border-radius:4px;background:#fff3cd;color:#664d03;border:1px solid #e0b84c;font-size:12px">'
            f"&#9888; <b>untrained weights</b>: {which}. Outputs are random until the model is trained.</div>")


class Panel(ErrorReporting, W.VBox):
    """A box of controls with a status line that shows the panel's `error`, and a badge when its model has
    untrained weights (`untrained` lists them; see `show_model`)."""

    static_html = T.Unicode("")
    untrained = T.List(T.Unicode()).tag(sync=True)

    def __init__(self, children: list[W.Widget] | None = None, **kwargs: Any) -> None:
        self._status = W.HTML(value="", layout=W.Layout(min_height="1.2em"))
        self._badge = W.HTML(value="")
        self._draw_static: Callable[[], str] | None = None
        super().__init__(children=[self._badge, *(children or []), self._status], **kwargs)
        self.add_class("workbench-panel")

    def show_model(self, pipe: Any) -> None:
        """Say in the panel when the pipeline's model has untrained weights (the load report knows)."""
        weights = list(getattr(pipe, "untrained_weights", []) or [])
        model = getattr(pipe, "model", None)
        total = len(model.state_dict()) if weights and model is not None else None
        self.untrained = weights
        self._badge.value = untrained_html(weights, total)

    @T.observe("error")
    def _draw_error(self, change: dict[str, Any]) -> None:
        self._status.value = error_html(change["new"])
        (self.add_class if change["new"] else self.remove_class)("wb-stale")  # dims the stale result

    def defer_static(self, draw: Callable[[], str]) -> None:
        """Make `static_html` with `draw()` only when it is needed (the panel is displayed, or
        `current_static_html()` asks): a static picture can cost a figure, and the live panel never shows it."""
        self._draw_static = draw

    def current_static_html(self) -> str:
        """`static_html`, drawn now if the panel deferred it."""
        if self._draw_static is not None:
            draw, self._draw_static = self._draw_static, None
            self.static_html = draw()
        return self.static_html

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        static = self.current_static_html()
        if static:
            bundle["text/html"] = static
        return bundle


_SIBLING_IMPORT = re.compile(r'^import \{[^}]*\} from "\./([\w-]+\.js)";\n', re.M)


def es_module(name: str) -> str:
    """`static/<name>` with each `import {...} from "./<sibling>.js";` line replaced by the sibling's code."""
    source = (STATIC / name).read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        sibling = (STATIC / match.group(1)).read_text(encoding="utf-8")
        return f"// ---- inlined from {match.group(1)}\n{re.sub(r'^export ', '', sibling, flags=re.M)}// ----\n"

    return _SIBLING_IMPORT.sub(inline, source)
