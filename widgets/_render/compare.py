"""Renderers for `Compare`: one model's result with its differences from the reference marked, the columns,
the batch summary and the disagreement table (static form). Pure: results and marks in, HTML/PNG out.

Marks use translucent colours and `currentColor`, so they read in light and dark JupyterLab themes alike.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import figure_png
from .text import bars_html, entities_html

CSS = (Path(__file__).parents[1] / "static" / "compare.css").read_text(encoding="utf-8")


def _e(text: Any) -> str:
    return html.escape(str(text))


def move_badge(item: dict[str, Any]) -> str:
    """▲n / ▼n / new / = for a ranked item, against the reference's ranking."""
    if item["new"]:
        return '<span class="wb-cmp-move wb-cmp-new" title="not in the reference\'s list">new</span>'
    move = item["move"]
    if move > 0:
        return f'<span class="wb-cmp-move wb-cmp-up" title="ranked {move} higher than in the reference">▲{move}</span>'
    if move < 0:
        return f'<span class="wb-cmp-move wb-cmp-down" title="ranked {-move} lower than in the reference">▼{-move}</span>'
    return '<span class="wb-cmp-move wb-cmp-same" title="same rank as in the reference">=</span>'


def ranking_html(groups: Sequence[Sequence[dict[str, Any]]], marks: Sequence[dict[str, Any]] | None,
                 key: Any) -> str:
    """Fill-mask style lists: rank, token, score bar, and (not for the reference) the rank move."""
    parts = []
    for g, group in enumerate(groups):
        mark = marks[g] if marks else None
        rows = []
        for i, item in enumerate(group):
            badge = move_badge(mark["items"][i]) if mark else ""
            score = float(item["score"])
            rows.append(f'<tr class="wb-cmp-rank-row" data-key="{_e(key(item))}"><td>{i + 1}</td>'
                        f'<td class="wb-cmp-token">{_e(key(item))}</td><td><span class="wb-cmp-bar" '
                        f'style="width:{max(1.0, 80 * score):.0f}px"></span> {score:.3f}</td><td>{badge}</td></tr>')
        dropped = (f'<div class="wb-cmp-dropped">dropped from the reference\'s list: '
                   f'{", ".join(_e(d) for d in mark["dropped"])}</div>') if mark and mark["dropped"] else ""
        title = f"<div><b>mask {g + 1}</b></div>" if len(groups) > 1 else ""
        parts.append(f'{title}<table class="wb-cmp-ranking">{"".join(rows)}</table>{dropped}')
    return "".join(parts)


def labels_html(result: Sequence[dict[str, Any]], marks: dict[str, Any] | None) -> str:
    """Label bars; against the reference: a flip badge and each label's score change."""
    bars = bars_html([(d["label"], float(d["score"])) for d in result], color="#59a14f", css_class="wb-label-bars")
    if not marks:
        return bars
    flip = (f'<div class="wb-cmp-flip">label flip: {_e(marks["ref_top"])} → {_e(marks["top"])}</div>'
            if marks["flip"] else "")
    deltas = "".join(f'<span class="wb-cmp-delta {"wb-cmp-pos" if d > 0 else "wb-cmp-neg" if d < 0 else ""}" '
                     f'data-label="{_e(label)}">{_e(label)} {d:+.3f}</span> ' for label, d in marks["deltas"].items())
    return f'{flip}{bars}<div class="wb-cmp-deltas">Δ score vs reference: {deltas or "—"}</div>'


_CHANGE_TITLES = {"type": "type changed (reference: {ref})", "boundary": "other boundaries than the reference's",
                  "extra": "not found by the reference"}


def spans_html(text: str, result: Sequence[dict[str, Any]], marks: dict[str, Any] | None) -> str:
    """The text with entities highlighted; against the reference: changed entities outlined, missing ones listed."""
    body = entities_html(text, result)
    if not marks:
        return body
    changes = [m for m in marks["marks"] if m["change"] != "same"]
    items = [f'<li class="wb-cmp-ent wb-cmp-ent-{m["change"]}" data-change="{m["change"]}">'
             f'<b>{_e(text[m["start"]:m["end"]])}</b> {_e(m["type"])}: '
             f'{_e(_CHANGE_TITLES[m["change"]].format(ref=m["ref_type"]))}</li>' for m in changes]
    items += [f'<li class="wb-cmp-ent wb-cmp-ent-missing" data-change="missing"><b>{_e(text[m["start"]:m["end"]])}</b> '
              f'{_e(m["type"])}: missing (the reference found it)</li>' for m in marks["missing"]]
    listing = f'<ul class="wb-cmp-ent-list">{"".join(items)}</ul>' if items else ""
    return body + listing


def words_html(text: str, marks: dict[str, Any] | None, score: float | None = None) -> str:
    """A text; against the reference: inserted/replacing words marked, the reference's removed words struck.
    `score`: the model's own score of its text (seq2seq: log-probability per token), under it."""
    below = "" if score is None else (f'<div class="wb-cmp-score" title="the best beam\'s log-probability per token '
                                      f'(higher: the model is surer of its output)">score {score:.3f}</div>')
    if not marks:
        return f'<div class="wb-cmp-text">{_e(text)}</div>{below}'
    out = []
    for tag, ref_words, words in marks["ops"]:
        if tag == "equal":
            out.append(_e(" ".join(words)))
            continue
        if ref_words:
            out.append(f'<del class="wb-cmp-del" title="in the reference">{_e(" ".join(ref_words))}</del>')
        if words:
            out.append(f'<ins class="wb-cmp-ins" title="{"replaces" if ref_words else "not in"} the reference">'
                       f'{_e(" ".join(words))}</ins>')
    return f'<div class="wb-cmp-text">{" ".join(out)}</div>{below}'


BOX_COLORS = {"match": "#2ca02c", "relabel": "#9467bd", "extra": "#ff7f0e", "missing": "#d62728", "ref": "#1f77b4"}


def boxes_png(rgb: Any, result: Sequence[dict[str, Any]], marks: dict[str, Any] | None,
              ref: Sequence[dict[str, Any]], dpi: int = 80) -> bytes:
    """The photo with this model's boxes coloured by how they match the reference's (matched, relabelled,
    extra) and the reference's unmatched boxes dashed (missing here)."""
    from matplotlib.patches import Rectangle

    from .vision import photo_axes

    fig, ax = photo_axes(rgb, 420, dpi)
    status = {}
    if marks:
        status.update({p["index"]: ("match" if p["same_label"] else "relabel", p["iou"]) for p in marks["pairs"]})
        status.update({i: ("extra", None) for i in marks["extra"]})
    drawn = [(d, *status.get(i, ("ref", None)), "-") for i, d in enumerate(result)]
    if marks:
        drawn += [(ref[j], "missing", None, "--") for j in marks["missing"]]
    for d, kind, value, style in drawn:
        b = d["box"]
        color = BOX_COLORS[kind]
        ax.add_patch(Rectangle((b["xmin"], b["ymin"]), b["xmax"] - b["xmin"], b["ymax"] - b["ymin"], fill=False,
                               edgecolor=color, linewidth=2, linestyle=style))
        text = f"{d['label']} {float(d['score']):.2f}" + (f" IoU {value:.2f}" if value is not None else "") + \
            (" (missing)" if kind == "missing" else "")
        ax.text(b["xmin"], b["ymin"], text, color="white", fontsize=8, va="bottom",
                bbox={"facecolor": color, "pad": 1, "lw": 0})
    return figure_png(fig)


def boxes_html(rgb: Any, result: Sequence[dict[str, Any]], marks: dict[str, Any] | None,
               ref: Sequence[dict[str, Any]]) -> str:
    png = base64.b64encode(boxes_png(rgb, result, marks, ref)).decode("ascii")
    rows = ""
    if marks:
        rows = "".join(f'<tr class="wb-cmp-box-row"><td>{_e(result[p["index"]]["label"])}</td>'
                       f'<td>{_e(ref[p["ref_index"]]["label"])}</td><td>{p["iou"]:.2f}</td></tr>' for p in marks["pairs"])
        rows = (f'<table class="wb-cmp-boxes"><tr><th>here</th><th>reference</th><th>IoU</th></tr>{rows}</table>'
                if rows else "")
    legend = "".join(f'<span class="wb-cmp-legend" style="border-color:{c}">{k}</span>' for k, c in BOX_COLORS.items()
                     if marks or k == "ref")
    return (f'<img class="wb-cmp-image" alt="detections" style="max-width:100%" src="data:image/png;base64,{png}"/>'
            f'<div>{legend}</div>{rows}')


# -- the panel's views -----------------------------------------------------------------------------
def format_parameters(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def columns_html(columns: Sequence[dict[str, Any]]) -> str:
    """Side-by-side columns: name, parameters, latency, the badge, the vs-reference note, the rendered result."""
    cells = []
    for i, col in enumerate(columns):
        ref = i == 0
        note = ("reference" if ref else col.get("note", ""))
        agrees = col.get("agrees", True)
        cls = "wb-cmp-col" + ("" if ref or agrees else " wb-cmp-differs")
        body = col.get("html") or f'<div class="wb-cmp-error">{_e(col.get("error", ""))}</div>'
        cells.append(
            f'<div class="{cls}" data-model="{_e(col["name"])}" data-agrees="{str(bool(agrees)).lower()}">'
            f'<div class="wb-cmp-head"><b class="wb-cmp-name">{_e(col["name"])}</b>'
            f'<span class="wb-cmp-meta">{format_parameters(col.get("parameters"))} params · '
            f'{col.get("latency_ms", 0.0):.0f} ms</span></div>{col.get("badge", "")}'
            f'<div class="wb-cmp-note">{"" if ref else ("= " if agrees else "≠ ")}{_e(note)}</div>{body}</div>')
    return f'<div class="wb-cmp-cols">{"".join(cells)}</div>'


def summary_html(summary: Sequence[dict[str, Any]], metric: str | None, n: int, disagreements: int) -> str:
    """Per model: examples, the metric against the labels (when there are labels), mean latency."""
    head = "<tr><th>model</th><th>examples</th>" + (f"<th>{_e(metric)}</th>" if metric else "") + \
        "<th>ms / example</th><th>parameters</th></tr>"
    rows = "".join(f'<tr class="wb-cmp-summary-row" data-model="{_e(s["name"])}"><td>{_e(s["name"])}</td><td>{s["n"]}</td>'
                   + (f'<td class="wb-cmp-metric">{s["metric"]:.3f}</td>' if metric else "")
                   + f'<td>{s["latency_ms"]:.1f}</td><td>{format_parameters(s.get("parameters"))}</td></tr>'
                   for s in summary)
    return (f'<div class="wb-cmp-batch"><table class="wb-cmp-summary">{head}{rows}</table>'
            f'<div class="wb-cmp-disagree-count">{disagreements} of {n} examples answered differently</div></div>')


def table_html(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The disagreement table as plain HTML (the panel and a saved notebook show it; `Compare.sorted_disagreements`
    sorts it from code)."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="wb-cmp-table-static"><tr>{head}</tr>{body}</table>'


def page_html(body: str) -> str:
    """Self-contained: the panel's style travels with the HTML a saved notebook shows."""
    return f'<div class="wb-compare"><style>{CSS}</style>{body}</div>'
