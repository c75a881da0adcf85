"""What every panel shares: a box with a status line, errors shown inside it, a static view.

A panel subclasses `Panel`, builds its controls, and runs its work through `self.guard(...)`
(or `@guarded`), so any exception becomes a red message in the panel instead of a dead
widget or a traceback lost in a log. `self.static_html` holds the last result as
self-contained HTML; it is what a saved notebook shows where widgets do not run.
"""

from __future__ import annotations

import functools
import html
import traceback
from typing import Any, Callable, TypeVar

import ipywidgets as W
import traitlets as T

F = TypeVar("F", bound=Callable[..., Any])


class Panel(W.VBox):
    error = T.Unicode("").tag(sync=True)
    busy = T.Bool(False).tag(sync=True)
    static_html = T.Unicode("")

    def __init__(self, children: list[W.Widget] | None = None, **kwargs: Any) -> None:
        self._status = W.HTML(value="", layout=W.Layout(min_height="1.2em"))
        super().__init__(children=[*(children or []), self._status], **kwargs)
        self.add_class("workbench-panel")

    def show_error(self, err: BaseException | str) -> None:
        message = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        self.error = message
        self._status.value = (
            '<div class="workbench-error" style="color:#b00020;white-space:pre-wrap;font-family:monospace">'
            f"{html.escape(message)}</div>"
        )

    def clear_error(self) -> None:
        self.error = ""
        self._status.value = ""

    def guard(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn`; on failure show the error in the panel and return None."""
        self.busy = True
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # a panel must never die silently
            self.show_error(err)
            self._last_traceback = traceback.format_exc()
            return None
        else:
            self.clear_error()
            return result
        finally:
            self.busy = False

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if self.static_html:
            bundle["text/html"] = self.static_html
        return bundle


def guarded(method: F) -> F:
    """Decorator for Panel methods: errors go to the panel, not up the callback stack."""

    @functools.wraps(method)
    def wrapper(self: Panel, *args: Any, **kwargs: Any) -> Any:
        return self.guard(method, self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
