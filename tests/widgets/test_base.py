"""The one error mechanism of every panel (ipywidgets box or anywidget), without a kernel."""
from __future__ import annotations

import numpy as np

from widgets._base import ErrorReporting, Panel, guarded
from widgets.attention import AttentionView
from workbench import inspect as ad


class Box(Panel):
    @guarded
    def work(self, fail: bool) -> str:
        if fail:
            raise ValueError("bad <input>")
        return "done"


def small_record() -> ad.AttentionRecord:
    a = np.full((2, 2, 3, 3), 1 / 3, np.float32)
    return ad.AttentionRecord(a, ["a", "b", "c"])


def test_a_box_panel_and_an_anywidget_panel_share_one_error_path():
    box, view = Box(), AttentionView(record=small_record())
    for panel in (box, view):
        assert isinstance(panel, ErrorReporting)
        assert type(panel).guard is ErrorReporting.guard and type(panel).show_error is ErrorReporting.show_error
        assert panel.error == "" and panel.last_traceback == ""
    # the same call on both: the message lands in the synced `error` trait, the traceback in Python
    for panel in (box, view):
        assert panel.guard(lambda: 1 / 0) is None
        assert panel.error == "ZeroDivisionError: division by zero" and not panel.busy
        assert "Traceback (most recent call last)" in panel.last_traceback and "1 / 0" in panel.last_traceback
        assert panel.keys.count("error") == 1 and panel.trait_metadata("error", "sync")
        assert panel.guard(lambda: "ok") == "ok" and panel.error == ""
    # each kind only draws it: the box in its status line (escaped), the anywidget in its ES module
    assert box.work(True) is None and "ValueError: bad &lt;input&gt;" in box._status.value
    assert box.work(False) == "done" and box._status.value == ""
    assert "model.get(\"error\")" in (view._esm if isinstance(view._esm, str) else str(view._esm))


def test_busy_is_true_while_guarded_work_runs():
    view = AttentionView(record=small_record())
    seen = []
    view.guard(lambda: seen.append(view.busy))
    assert seen == [True] and not view.busy


def test_an_anywidget_panel_reverts_a_bad_value_and_says_why():
    view = AttentionView(record=small_record())
    view.layer = 7
    assert view.layer == 0 and "layer 7 was not captured" in view.error
    assert "InputError" in view.last_traceback
    view.layer = 1
    assert view.error == ""
