"""The summarise / translate panels' pure parts: an `Explanation` (workbench.pipelines.text2text_generation)
-> what the alignment view shows, and the static picture a saved notebook keeps (self-contained HTML with
the alignment heatmap as a PNG)."""

from __future__ import annotations

import base64
import html
from typing import Any

import numpy as np

from . import figure_png

MAX_PNG_TOKENS = 160  # the static heatmap labels at most this many tokens per axis (pooled beyond)


def source_pieces(tokens: list[str], spans: list[tuple[int, int]], text: str) -> list[str]:
    """What each source token shows: its stretch of the caller's text (with the spaces before it), so the
    pieces read as the original text; tokens with no text (the task prefix, special tokens) show as tokens."""
    pieces, end = [], 0
    for token, (s, e) in zip(tokens, spans):
        if (s, e) == (0, 0):
            pieces.append(token.replace("\u2581", " ").replace("\u0120", " "))
        else:
            pieces.append(text[min(end, s):e])
            end = e
    return pieces


def view_state(info: Any) -> dict[str, Any]:
    """Plain data for the alignment view (everything but the attention arrays)."""
    pieces = source_pieces(info.source_tokens, info.source_offsets, info.text)
    texted = [i for i, span in enumerate(info.source_offsets) if span != (0, 0)]
    return {
        "source_tokens": pieces,
        "source_is_text": [span != (0, 0) for span in info.source_offsets],
        "output_tokens": list(info.output_tokens),
        "cut_text": info.text[info.kept_chars:] if info.truncated else "",
        "total_tokens": int(info.total_tokens),
        "read_tokens": len(info.source_tokens),
        "first_text_token": texted[0] if texted else 0,
        "layers": list(info.layers),
        "alternatives": [{"text": a["text"], "score": round(float(a["score"]), 4)} for a in info.alternatives],
    }


def alignment_png(attention: np.ndarray, output_tokens: list[str], source: list[str], title: str, dpi: int = 80) -> bytes:
    """(T_out, T_src) attention -> a heatmap with the output tokens down and the source tokens across."""
    from matplotlib.figure import Figure

    from workbench.inspect import downsample

    a = downsample(attention, MAX_PNG_TOKENS)
    rows, cols = a.shape
    fig = Figure(figsize=(min(14, 2 + cols * 0.14), min(10, 1.5 + rows * 0.16)), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(a, cmap="Blues", aspect="auto", interpolation="nearest")
    if cols == len(source):
        ax.set_xticks(range(cols), [s.strip() or "␣" for s in source], rotation=90, fontsize=6)
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(source)} source tokens (pooled)", fontsize=7)
    if rows == len(output_tokens):
        ax.set_yticks(range(rows), [t.strip() or "␣" for t in output_tokens], fontsize=6)
    else:
        ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return figure_png(fig, dpi)


def alignment_html(state: dict[str, Any], attention: np.ndarray | None, *, title: str, untrained: str = "") -> str:
    """The panel's last result as self-contained HTML: output, beams with scores, the truncation, the heatmap."""
    esc = html.escape
    out_text = state.get("output_text", "")
    parts = [f'<div class="wb-s2s-static" style="font-family:sans-serif;font-size:13px">{untrained}',
             f"<div><b>{esc(title)}</b></div>",
             f'<div style="margin:4px 0;padding:4px 6px;border-left:3px solid #2c5aa0">{esc(out_text)}</div>']
    if state.get("cut_text"):
        parts.append(f'<div style="color:#8a5300">The model read {state["read_tokens"]} of {state["total_tokens"]} '
                     f'source tokens; not read: <s style="color:#999">{esc(state["cut_text"][:300])}'
                     f'{"…" if len(state["cut_text"]) > 300 else ""}</s></div>')
    beams = state.get("alternatives") or []
    if len(beams) > 1:
        rows = "".join(f"<tr><td>{i + 1}</td><td>{b['score']:.3f}</td><td>{esc(b['text'])}</td></tr>"
                       for i, b in enumerate(beams))
        parts.append(f'<table style="font-size:12px"><tr><th>#</th><th>score</th><th>beam</th></tr>{rows}</table>')
    if attention is not None and attention.size:
        png = alignment_png(attention, state["output_tokens"], state["source_tokens"],
                            "cross-attention (mean over heads, last layer)")
        parts.append(f'<img alt="cross-attention" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    parts.append("</div>")
    return "".join(parts)
