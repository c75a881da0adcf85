"""Pure render functions for the Generate panel: generated tokens, strategies and the logit lens -> HTML.

The same HTML is the panel's static picture (what a saved notebook shows where widgets do not run).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any


def prob_color(p: float) -> str:
    """Low probability warm red, high green; light, so dark text stays readable in either theme."""
    return f"hsl({round(120 * max(0.0, min(1.0, p)))}, 70%, 80%)"


def _visible(text: str) -> str:
    return html.escape(text.replace("\n", "\u21b5").replace("\t", "\u21e5"))


def tokens_html(prompt: str, steps: Sequence[Mapping[str, Any]]) -> str:
    """The prompt, then each generated token on a background coloured by its probability; the title
    (hover, also in a saved notebook) lists the alternatives."""
    spans = []
    for s in steps:
        alternatives = ", ".join(f"{text!r} {p:.0%}" for _, text, p in s.get("top", []))
        spans.append(f'<span class="wb-gen-token" style="background:{prob_color(s["prob"])};color:#1a1a1a;'
                     f'border-radius:3px" title="p={s["prob"]:.1%} | {html.escape(alternatives)}">'
                     f'{html.escape(s["text"])}</span>')
    return ('<div class="wb-gen-static" style="white-space:pre-wrap;line-height:1.8;font-family:sans-serif">'
            f'<span style="opacity:.7">{html.escape(prompt)}</span>{"".join(spans)}</div>')


def strategies_html(columns: Mapping[str, Sequence[str]]) -> str:
    """One column per strategy (greedy, sampling, beam search), each with its outputs."""
    if not columns:
        return ""
    cells = []
    for name, texts in columns.items():
        items = "".join(f'<li style="margin:4px 0;white-space:pre-wrap">{html.escape(t)}</li>' for t in texts)
        cells.append(f'<div class="wb-gen-strategy" data-strategy="{html.escape(name)}" style="flex:1;min-width:180px">'
                     f'<b>{html.escape(name)}</b><ol style="padding-left:1.2em;margin:4px 0">{items}</ol></div>')
    return f'<div class="wb-gen-strategies" style="display:flex;gap:12px;align-items:flex-start">{"".join(cells)}</div>'


def lens_html(tokens: Sequence[str], top_tokens: Sequence[Sequence[Sequence[str]]], top_probs: Any,
              *, every: int = 1) -> str:
    """The logit lens as a table: a row per layer (0 = embeddings, last = the output), a column per position;
    each cell the top prediction, shaded by its probability. `every` keeps every n-th layer (and the last)."""
    layers = list(range(0, len(top_tokens), max(1, every)))
    if layers[-1] != len(top_tokens) - 1:
        layers.append(len(top_tokens) - 1)
    head = "".join(f'<th style="padding:2px 4px;font-weight:normal"><code>{_visible(t)}</code></th>' for t in tokens)
    rows = []
    for layer in reversed(layers):  # the output on top, as the model "finishes" its prediction
        cells = []
        for pos in range(len(tokens)):
            p = float(top_probs[layer][pos][0])
            cells.append(f'<td style="padding:2px 4px;background:rgba(25,118,210,{0.08 + 0.8 * p:.2f});color:#111" '
                         f'title="{p:.1%}"><code style="background:none;color:inherit">'
                         f'{_visible(top_tokens[layer][pos][0])}</code></td>')
        label = "output" if layer == len(top_tokens) - 1 else ("embed" if layer == 0 else f"L{layer}")
        rows.append(f'<tr><th style="text-align:right;padding:2px 4px;font-weight:normal">{label}</th>{"".join(cells)}</tr>')
    return ('<div class="wb-gen-lens" style="overflow-x:auto"><table style="border-collapse:collapse;font-size:12px">'
            f'<tr><th></th>{head}</tr>{"".join(rows)}</table>'
            '<div style="font-size:11px;opacity:.7">each cell: the next token that layer would predict at that position '
            "(final norm + LM head on its hidden state); darker = more probable</div></div>")
