"""Pure renderers: a result in, self-contained HTML or PNG bytes out; no widget, no kernel.

One module per kind of result (`text`, `training`, `audio`, `attention`). Figures are drawn on
`matplotlib.figure.Figure` with the Agg canvas attached directly: never pyplot, never
`matplotlib.use`, so the user's backend (inline, widget, ...) is left as it is, and drawing is
safe from a training thread.
"""

from __future__ import annotations

import io
from typing import Any


def figure_png(fig: Any, dpi: float | None = None) -> bytes:
    """PNG bytes of a `matplotlib.figure.Figure`, through its own Agg canvas (no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi if dpi is not None else "figure")
    return buf.getvalue()
