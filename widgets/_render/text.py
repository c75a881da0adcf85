"""Pure render functions for the text panels: pipeline result -> self-contained HTML (or PNG).

No widget state here, so each function is tested without a kernel, and the same HTML is the
panel's live view and its `static_html` (what a saved notebook shows).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

from . import figure_png

# One colour per entity type (cycled); light enough that the text stays readable.
PALETTE = ("#ffd166", "#8ecae6", "#b5e48c", "#f4a3c0", "#cdb4db", "#ffb570", "#a0e7e5", "#e9c46a")
# the bar's track is translucent grey: it reads on light and dark themes (and in saved HTML without the theme's CSS)
_BAR = ('<div class="wb-bar-row" style="display:flex;align-items:center;gap:6px;margin:2px 0" '
        'data-label="{label}" data-score="{score:.6f}">'
        '<span class="wb-bar-label" title="{label}" style="width:{lw}em;flex:none;text-align:right;font-family:monospace;'
        'overflow:hidden;text-overflow:ellipsis;white-space:nowrap">{label}</span>'
        '<span style="flex:0 0 240px;background:rgba(127,127,127,.2);height:14px;position:relative">'
        '<span class="wb-bar" style="position:absolute;left:0;top:0;bottom:0;width:{pct:.1f}%;background:{color}">'
        "</span></span>"
        '<span class="wb-bar-score" style="font-family:monospace">{score:.4f}</span></div>')


def bars_html(items: Sequence[tuple[str, float]], *, color: str = "#4c78a8", css_class: str = "wb-bars") -> str:
    """Horizontal bars, one per (label, score); scores in [0, 1] fill the bar (others are scaled to the max)."""
    if not items:
        return f'<div class="{css_class}"><em>no results</em></div>'
    top = max(1.0, max(abs(s) for _, s in items))
    width = max(4, min(24, max(len(label) for label, _ in items) + 1))
    rows = [_BAR.format(label=html.escape(label), score=float(s), pct=100 * max(0.0, float(s)) / top, color=color,
                        lw=width * 0.62) for label, s in items]
    return f'<div class="{css_class}">' + "".join(rows) + "</div>"


def fill_mask_html(result: Any) -> str:
    """Fill-mask output (one mask: a list of dicts; several: a list of lists) -> bars + completed sentences."""
    groups = result if result and isinstance(result[0], list) else [result]
    parts = []
    for i, group in enumerate(groups):
        title = f"<div><b>mask {i + 1}</b></div>" if len(groups) > 1 else ""
        bars = bars_html([(g["token_str"].strip() or g["token_str"], g["score"]) for g in group], css_class="wb-fill-bars")
        sentences = "".join(f'<li class="wb-fill-sentence">{html.escape(g["sequence"])}</li>' for g in group)
        parts.append(f'<div class="wb-fill-group">{title}{bars}<ol style="margin:4px 0">{sentences}</ol></div>')
    return '<div class="wb-fill-mask">' + "".join(parts) + "</div>"


def labels_html(result: Any) -> str:
    """[{label, score}] (text-classification) or {labels, scores} (zero-shot) -> label bars."""
    if isinstance(result, dict) and "labels" in result:
        items = list(zip(result["labels"], result["scores"]))
    else:
        items = [(d["label"], d["score"]) for d in result]
    return bars_html(items, color="#59a14f", css_class="wb-label-bars")


def entity_colors(entities: Sequence[dict[str, Any]]) -> dict[str, str]:
    kinds: list[str] = []
    for e in entities:
        kind = _entity_kind(e)
        if kind not in kinds:
            kinds.append(kind)
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}


def _entity_kind(e: dict[str, Any]) -> str:
    return e.get("entity_group") or str(e.get("entity", "")).split("-", 1)[-1]


def entities_html(text: str, entities: Sequence[dict[str, Any]]) -> str:
    """The text with each entity highlighted by type (hover: type and score), and a legend."""
    colors = entity_colors(entities)
    out, pos = [], 0
    for e in sorted(entities, key=lambda e: e["start"]):
        start, end = int(e["start"]), int(e["end"])
        if start < pos:  # overlapping spans (token mode): keep the first
            continue
        label = e.get("entity_group") or e.get("entity")
        kind = _entity_kind(e)
        out.append(html.escape(text[pos:start]))
        out.append(
            f'<mark class="wb-entity" data-type="{html.escape(kind)}" data-score="{float(e["score"]):.4f}" '
            f'title="{html.escape(str(label))} {float(e["score"]):.3f}" '
            f'style="background:{colors[kind]};padding:0 2px;border-radius:3px">{html.escape(text[start:end])}'
            f'<sub style="font-size:70%;margin-left:2px">{html.escape(kind)}</sub></mark>'
        )
        pos = end
    out.append(html.escape(text[pos:]))
    legend = "".join(
        f'<span class="wb-legend-item" style="background:{c};padding:0 4px;margin-right:6px;border-radius:3px">'
        f"{html.escape(k)}</span>" for k, c in colors.items()
    ) or "<em>no entities</em>"
    return (f'<div class="wb-ner"><div class="wb-ner-text" style="line-height:1.9">{"".join(out)}</div>'
            f'<div class="wb-legend" style="margin-top:4px">{legend}</div></div>')


def qa_html(context: str, answers: Sequence[dict[str, Any]]) -> str:
    """The context with the best answer highlighted, its score, and the other candidates."""
    if not answers:
        return '<div class="wb-qa"><em>no answer</em></div>'
    best = answers[0]
    s, e = int(best["start"]), int(best["end"])
    if s == e:
        shown = html.escape(context) + '<div class="wb-qa-empty"><em>(no answer in the context)</em></div>'
    else:
        shown = (html.escape(context[:s]) + '<mark class="wb-qa-answer" style="background:#ffd166">'
                 + html.escape(context[s:e]) + "</mark>" + html.escape(context[e:]))
    alternatives = bars_html([(a["answer"] or "(no answer)", a["score"]) for a in answers], css_class="wb-qa-bars")
    return (f'<div class="wb-qa"><div><b>answer:</b> <span class="wb-qa-best">{html.escape(best["answer"])}</span> '
            f'<span class="wb-qa-score">score {float(best["score"]):.4f}</span></div>'
            f'<div class="wb-qa-context" style="margin:6px 0;line-height:1.6">{shown}</div>{alternatives}</div>')


CSS_DPI = 96  # CSS pixels per inch: a figure of W/96 inches is W CSS pixels wide


def heatmap_label(sentence: str, index: int, width: int = 28, lines: int = 2) -> str:
    """A row label: "i: sentence" wrapped to `lines` lines of `width` characters, ellipsised past that."""
    import textwrap

    wrapped = textwrap.wrap(f"{index}: {sentence}", width=width, max_lines=lines, placeholder=" …")
    return "\n".join(wrapped) or f"{index}:"


def similarity_figure(sentences: Sequence[str], matrix: Sequence[Sequence[float]], *, width: int = 640,
                      pixel_ratio: float = 2.0) -> Any:
    """A cosine-similarity heatmap laid out for `width` CSS pixels: the row labels' space is measured from
    their drawn extents (never cut), the square cells take what is left, the height follows from them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(sentences)
    w_in = width / CSS_DPI
    fig = Figure(figsize=(w_in, w_in), dpi=CSS_DPI * pixel_ratio)
    renderer = FigureCanvasAgg(fig).get_renderer()
    pad, colorbar, bottom, top = 0.12, 0.75, 0.35, 0.12  # inches: gaps, the colour bar with its ticks, x ticks
    for chars in (28, 22, 16, 12, 8):  # narrower wrapping until the labels leave the cells at least 40%
        labels = [heatmap_label(s, i, chars) for i, s in enumerate(sentences)]
        probes = [fig.text(0, 0, label, fontsize=9) for label in labels]
        label_w = max(t.get_window_extent(renderer).width for t in probes) / fig.dpi
        label_h = max(t.get_window_extent(renderer).height for t in probes) / fig.dpi
        for t in probes:
            t.remove()
        if label_w + 2 * pad + colorbar <= 0.6 * w_in:
            break
    cell_w = min(0.75, (w_in - label_w - 2 * pad - colorbar) / n)
    cell_h = max(cell_w, label_h * 1.05)  # a row is at least as tall as its (two-line) label
    side_w, side_h = cell_w * n, cell_h * n
    h_in = top + side_h + bottom
    fig.set_size_inches(w_in, h_in)
    left = pad + label_w + pad
    ax = fig.add_axes((left / w_in, bottom / h_in, side_w / w_in, side_h / h_in))
    lo = -1 if min(min(r) for r in matrix) < 0 else 0
    im = ax.imshow(matrix, vmin=lo, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(n), [str(i) for i in range(n)], fontsize=9 if cell_w * 72 >= 14 else 6)
    ax.set_yticks(range(n), labels, fontsize=9)
    size = min(9.0, cell_w * 72 * 0.3, cell_h * 72 * 0.5)  # "0.00" fits its cell
    if size >= 5:  # smaller is unreadable: the colours and the panel's neighbours table still tell
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{matrix[i][j]:.2f}", ha="center", va="center", fontsize=size,
                        color="white" if matrix[i][j] < 0.6 else "black")
    cax = fig.add_axes(((left + side_w + pad) / w_in, bottom / h_in, 0.12 / w_in, side_h / h_in))
    fig.colorbar(im, cax=cax)
    cax.tick_params(labelsize=8)
    return fig


def similarity_png(sentences: Sequence[str], matrix: Sequence[Sequence[float]], *, width: int = 640,
                   pixel_ratio: float = 2.0) -> bytes:
    """The heatmap as PNG bytes, `width * pixel_ratio` pixels wide: shown `width` CSS pixels wide it is sharp
    on screens up to that device pixel ratio (see `heatmap_html`). 256 colours: a saved output stays small."""
    import io

    from PIL import Image

    png = figure_png(similarity_figure(sentences, matrix, width=width, pixel_ratio=pixel_ratio))
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(out, format="png", optimize=True)
    return out.getvalue()


def heatmap_html(png: bytes, sentences: Sequence[str], *, alt: str, pixel_ratio: float = 2.0) -> str:
    """The heatmap at its own CSS size (never stretched: at most the output's width, aspect kept), with every
    sentence in full as its tooltip (the PNG's labels may be ellipsised)."""
    import struct

    w, h = struct.unpack(">II", png[16:24])  # the PNG's IHDR: pixel width and height
    tip = "\n".join(f"{i}: {s}" for i, s in enumerate(sentences))
    return (f'<img class="wb-heatmap" alt="{html.escape(alt)}" title="{html.escape(tip)}" '
            f'width="{round(w / pixel_ratio)}" height="{round(h / pixel_ratio)}" '
            f'style="max-width:100%;height:auto" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>')


def nearest_neighbours(matrix: Sequence[Sequence[float]], k: int = 1) -> list[list[tuple[int, float]]]:
    """For each row, the k most similar other rows as (index, score), best first."""
    out = []
    for i, row in enumerate(matrix):
        others = sorted(((j, float(s)) for j, s in enumerate(row) if j != i), key=lambda t: -t[1])
        out.append(others[:k])
    return out


def neighbours_html(sentences: Sequence[str], matrix: Sequence[Sequence[float]], k: int = 1) -> str:
    rows = []
    for i, near in enumerate(nearest_neighbours(matrix, k)):
        found = "; ".join(f"{html.escape(sentences[j])} <small>({s:.3f})</small>" for j, s in near) or "-"
        rows.append(f'<tr class="wb-nn-row"><td>{i}: {html.escape(sentences[i])}</td><td>→ {found}</td></tr>')
    return '<table class="wb-neighbours">' + "".join(rows) + "</table>"


def png_html(png: bytes, alt: str = "") -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'
