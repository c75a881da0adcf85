"""Pure renderers for the image-text panels: the photo with its label bars, and the image x label score matrix."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from .text import bars_html
from .vision import jpeg_bytes


def thumbnail_uri(rgb: np.ndarray, side: int = 160) -> str:
    """A small JPEG of the photo as a data: URI (the saved notebook keeps it)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(rgb, max_side=side, quality=85)).decode("ascii")


def label_bars_html(result: Sequence[dict[str, Any]], photo_uri: str = "", name: str = "") -> str:
    """The photo (small) beside one bar per label, best first."""
    bars = bars_html([(str(r["label"]), float(r["score"])) for r in result], color="#7b61c4",
                     css_class="wb-bars wb-zsi-bars")
    img = (f'<figure class="wb-zsi-photo" style="margin:0"><img alt="{html.escape(name)}" src="{photo_uri}" '
           f'style="max-width:160px;max-height:160px;border-radius:3px"/><figcaption style="font-size:11px">'
           f"{html.escape(name)}</figcaption></figure>") if photo_uri else ""
    return f'<div class="wb-zsi-result" style="display:flex;gap:14px;align-items:flex-start">{img}{bars}</div>'


# Scoped to the matrix's own classes; inline, so a saved notebook's HTML looks the same without the package.
MATRIX_STYLE = ("<style>.wb-zsi-matrix{border-collapse:collapse;font-size:12px;margin-top:6px}"
                ".wb-zsi-matrix td,.wb-zsi-matrix th{padding:3px 7px;text-align:center;"
                "border:1px solid var(--jp-border-color2,#ddd)}"
                ".wb-zsi-matrix caption{caption-side:top;text-align:left;font-size:12px;padding:2px 0}"
                ".wb-zsi-image img{width:56px;height:56px;object-fit:cover;border-radius:3px;display:block;margin:auto}"
                ".wb-zsi-image span{font-size:10px;font-weight:normal}"
                ".wb-zsi-label{max-width:120px;font-weight:600;word-break:break-word}</style>")


def _cell_colors(score: float) -> tuple[str, str]:
    """Background from white to deep purple with the score, text colour that stays readable on it."""
    s = min(1.0, max(0.0, score))
    r, g, b = (int(round(255 + (t - 255) * s)) for t in (84, 39, 143))
    return f"rgb({r},{g},{b})", "#fff" if s > 0.5 else "#111"


def similarity_table_html(names: Sequence[str], thumbs: Sequence[str], labels: Sequence[str], scores: np.ndarray,
                          *, caption: str = "") -> str:
    """Images (rows, with thumbnails) x labels (columns); each cell the image's score for the label, shaded by it.
    The best label of each image is outlined."""
    head = "".join(f'<th class="wb-zsi-label" scope="col">{html.escape(label)}</th>' for label in labels)
    rows = []
    for i, (name, thumb) in enumerate(zip(names, thumbs)):
        best = int(np.argmax(scores[i])) if len(labels) else -1
        cells = []
        for j in range(len(labels)):
            bg, fg = _cell_colors(float(scores[i, j]))
            outline = "outline:2px solid #f2a900;outline-offset:-2px;" if j == best else ""
            cells.append(f'<td class="wb-zsi-cell" data-score="{scores[i, j]:.6f}" style="background:{bg};color:{fg};'
                         f'{outline}">{scores[i, j]:.3f}</td>')
        rows.append(f'<tr><th scope="row" class="wb-zsi-image"><img alt="{html.escape(name)}" src="{thumb}"/>'
                    f"<span>{html.escape(name)}</span></th>{''.join(cells)}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'{MATRIX_STYLE}<table class="wb-zsi-matrix">{cap}<thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
