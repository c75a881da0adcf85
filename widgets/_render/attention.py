"""The attention view's static picture: an `AttentionRecord` and the view's settings -> PNG.

What a saved notebook (or any place without widgets) shows instead of the canvas views:
head lines (or the head-mean heatmap when there are too many tokens to read), the matrix
view's window, or the model view's grid of thumbnails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench import inspect as ad

from . import figure_png

THUMB = 32  # model view thumbnail side
MAX_LINES_TOKENS = 120  # beyond this many tokens the head view is drawn as the head-mean heatmap


def attention_png(record: ad.AttentionRecord | None, *, view: str = "head", layer: int = 0,
                  heads: list[int] | None = None, window: tuple[int, int, int, int] | None = None,
                  error: str = "", dpi: int = 80) -> bytes:
    """Draw one view of `record` (None: a figure with `error`). `heads` None: all; `window`: [q0, q1, k0, k1]."""
    from matplotlib.figure import Figure

    if record is None:
        fig = Figure(figsize=(6, 1), dpi=dpi)
        fig.text(0.01, 0.5, error or "no attention", color="#b00020", family="monospace", va="center")
        return figure_png(fig, dpi)
    rec = record
    heads = list(range(rec.num_heads)) if heads is None else heads
    if view == "model":
        return figure_png(_model_grid(rec, dpi), dpi)
    a = rec.layer(layer)  # (H, Tq, Tk)
    title = f"{rec.model_name or 'attention'} · layer {layer} · heads {_span(heads, rec.num_heads)}"
    tq, tk = len(rec.query_tokens), len(rec.key_tokens)
    if view == "matrix" or max(tq, tk) > MAX_LINES_TOKENS:  # too many lines to read: the head-mean heatmap
        q0, q1, k0, k1 = window if (view == "matrix" and window) else (0, tq, 0, tk)
        fig = _heatmap(rec, ad.downsample(a[heads].mean(axis=0)[q0:q1, k0:k1], 256), (q0, q1, k0, k1), dpi)
    else:
        fig = _head_lines(rec, a, heads, dpi)
    fig.axes[0].set_title(title, fontsize=8)
    return figure_png(fig, dpi)


def _model_grid(rec: ad.AttentionRecord, dpi: int) -> Any:
    from matplotlib.figure import Figure

    L, H = rec.num_layers, rec.num_heads
    thumbs = ad.downsample(rec.attentions, THUMB)
    fig = Figure(figsize=(H * 0.6 + 0.5, L * 0.6 + 0.6), dpi=dpi)
    axes = fig.subplots(L, H, squeeze=False)
    for i in range(L):
        for h in range(H):
            ax = axes[i][h]
            ax.imshow(thumbs[i, h], cmap="Blues", interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if h == 0:
                ax.set_ylabel(f"L{rec.layers[i]}", fontsize=7)
            if i == 0:
                ax.set_title(f"H{h}", fontsize=7)
    fig.suptitle(f"{rec.model_name or 'attention'} · layers × heads", fontsize=9)
    return fig


def _heatmap(rec: ad.AttentionRecord, m: np.ndarray, window: tuple[int, int, int, int], dpi: int) -> Any:
    from matplotlib.figure import Figure

    q0, q1, k0, k1 = window
    fig = Figure(figsize=(6, 6), dpi=dpi)
    ax = fig.add_subplot()
    ax.imshow(m, cmap="Blues", interpolation="nearest", aspect="auto")
    if q1 - q0 <= 60 and k1 - k0 <= 60:
        ax.set_yticks(range(q1 - q0), rec.query_tokens[q0:q1], fontsize=6)
        ax.set_xticks(range(k1 - k0), rec.key_tokens[k0:k1], fontsize=6, rotation=90)
    return fig


def _head_lines(rec: ad.AttentionRecord, a: np.ndarray, heads: list[int], dpi: int) -> Any:
    from matplotlib.collections import LineCollection
    from matplotlib.colors import hsv_to_rgb
    from matplotlib.figure import Figure

    tq, tk = len(rec.query_tokens), len(rec.key_tokens)
    fig = Figure(figsize=(4.5, max(2.0, 0.18 * max(tq, tk) + 0.6)), dpi=dpi)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.9))
    ax.set_xlim(-0.8, 1.8), ax.set_ylim(max(tq, tk), -1), ax.axis("off")
    for i, tok in enumerate(rec.query_tokens):
        ax.text(0, i, tok, ha="right", va="center", fontsize=7)
    for j, tok in enumerate(rec.key_tokens):
        ax.text(1, j, tok, ha="left", va="center", fontsize=7)
    segs, colors = [], []
    for h in heads:
        rgb = hsv_to_rgb((h / rec.num_heads, 0.75, 0.8))
        qi, kj = np.nonzero(a[h] > 0.02)
        segs += [((0.05, q), (0.95, k)) for q, k in zip(qi, kj)]
        colors += [(*rgb, float(min(1.0, a[h, q, k]))) for q, k in zip(qi, kj)]
    ax.add_collection(LineCollection(segs, colors=colors, linewidths=1.2))
    return fig


def _span(heads: list[int], n: int) -> str:
    return "all" if len(heads) == n else ",".join(map(str, heads))
