"""Inspection: what a model attends to, as records viewers draw, and the pure summaries they show.

One API for every model: `attention_record(model, inputs, kind=...)` runs the model once with
the hook points of that attention kind captured (`workbench.nn.hooks.capture`), so only the
requested layers leave the fused attention path. Each model declares which hook points record
which kind (`PreTrainedModel.attention_kinds`). Pipelines build the inputs and labels
(`pipeline.attention(x)`); the attention panel, the static HTML export and scripts all read
the same `AttentionRecord`. Rollout, entropy and down-sampling are pure functions.

One record holds one example (no batch axis): `attentions` is (L, H, Tq, Tk) for the layers
listed in `layers`. Kinds:
  "self"    encoder self-attention (BERT): queries and keys are the same tokens;
  "causal"  decoder self-attention: same tokens, upper triangle is zero;
  "cross"   encoder-decoder attention: queries are decoder tokens, keys encoder positions;
  "patches" vision (ViT): tokens are patches on a `grid` (rows, cols), plus any extra
            leading tokens such as [CLS];
  "cross" may also carry a `grid` when its keys are the cells of an image's feature map (DETR's
            object queries looking at the image).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .nn.hooks import capture, layer_of

KINDS = ("self", "causal", "cross", "patches")


@dataclass
class AttentionRecord:
    """Attention probabilities of one example, with the labels needed to draw them."""

    attentions: np.ndarray  # (L, H, Tq, Tk) float32
    query_tokens: list[str]
    key_tokens: list[str] | None = None  # None: the same as query_tokens (self/causal/patches)
    kind: str = "self"
    layers: list[int] | None = None  # model layer index of each entry on axis 0; None: 0..L-1
    segment_ids: list[int] | None = None  # per query token (sentence pairs: 0/1; specials take a neighbour's)
    key_segment_ids: list[int] | None = None
    grid: tuple[int, int] | None = None  # "patches": (rows, cols) of the patch grid; "cross": of the keys, if on one
    model_name: str = ""

    def __post_init__(self) -> None:
        a = np.asarray(self.attentions, dtype=np.float32)
        if a.ndim != 4:
            raise InputError(f"attentions must be (layers, heads, queries, keys); got shape {a.shape}")
        self.attentions = a
        if self.kind not in KINDS:
            raise InputError(f"unknown attention kind {self.kind!r}; use one of {KINDS}")
        L, H, Tq, Tk = a.shape
        if len(self.query_tokens) != Tq:
            raise InputError(f"{len(self.query_tokens)} query tokens for {Tq} query positions")
        if self.key_tokens is None:
            if self.kind == "cross":
                raise InputError("cross-attention needs key_tokens (the encoder positions' labels)")
            self.key_tokens = list(self.query_tokens)
        if len(self.key_tokens) != Tk:
            raise InputError(f"{len(self.key_tokens)} key tokens for {Tk} key positions")
        if self.kind != "cross" and Tq != Tk:
            raise InputError(f"{self.kind!r} attention is square; got {Tq} queries and {Tk} keys (use kind='cross')")
        self.layers = list(range(L)) if self.layers is None else [int(i) for i in self.layers]
        if len(self.layers) != L:
            raise InputError(f"{len(self.layers)} layer indices for {L} captured layers")
        if self.kind == "patches":
            if self.grid is None:
                raise InputError("'patches' attention needs grid=(rows, cols)")
            rows, cols = self.grid
            if rows * cols > Tq:
                raise InputError(f"grid {rows}x{cols} has more patches than the {Tq} tokens")
        elif self.kind == "cross" and self.grid is not None:  # keys on an image's feature grid (DETR)
            rows, cols = self.grid
            if rows * cols != Tk:
                raise InputError(f"grid {rows}x{cols} does not cover the {Tk} key positions")
        for name, seg, n in (("segment_ids", self.segment_ids, Tq), ("key_segment_ids", self.key_segment_ids, Tk)):
            if seg is not None and len(seg) != n:
                raise InputError(f"{name} has {len(seg)} entries for {n} tokens")
        if self.key_segment_ids is None and self.kind != "cross":
            self.key_segment_ids = self.segment_ids

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]

    def layer(self, model_layer: int) -> np.ndarray:
        """(H, Tq, Tk) of a model layer index (not the position on axis 0)."""
        try:
            return self.attentions[self.layers.index(model_layer)]
        except ValueError:
            raise InputError(f"layer {model_layer} was not captured; captured layers: {self.layers}") from None

    def mean_over_heads(self) -> np.ndarray:
        return mean_over_heads(self.attentions)

    def rollout(self) -> np.ndarray:
        if self.kind == "cross":
            raise InputError("rollout multiplies square self-attention maps; it is not defined for cross-attention")
        return rollout(self.attentions)

    def head_entropy(self) -> np.ndarray:
        return head_entropy(self.attentions)

    def to_dicts(self) -> dict[str, Any]:
        """Metadata (no arrays) in plain types."""
        return {
            "kind": self.kind,
            "layers": self.layers,
            "num_heads": self.num_heads,
            "query_tokens": self.query_tokens,
            "key_tokens": self.key_tokens,
            "segment_ids": self.segment_ids,
            "key_segment_ids": self.key_segment_ids,
            "grid": list(self.grid) if self.grid else None,
            "model_name": self.model_name,
        }


# -- capture -------------------------------------------------------------------------------------
def hook_patterns(model: Any, kind: str) -> list[str]:
    """The hook-point names (suffixes or globs) that record `kind` in `model`."""
    kinds: Mapping[str, str] = getattr(model, "attention_kinds", None) or {"attn_probs": "self"}
    patterns = [p for p, k in kinds.items() if k == kind]
    if not patterns:
        raise InputError(f"{type(model).__name__} records no {kind!r} attention; it has: {sorted(set(kinds.values()))}")
    return patterns


@contextlib.contextmanager
def capture_attention(model: Any, kind: str = "self", *, layers: Iterable[int] | None = None,
                      detach: bool = True) -> Iterator[list[tuple[int, Any]]]:
    """Capture the attention probabilities of one kind while the block runs.

    Yields a list that, after the block, holds `(layer index, probs (B, H, Tq, Tk))` in layer order.
    """
    found: list[tuple[int, Any]] = []
    with capture(model, hook_patterns(model, kind), layers=layers, detach=detach) as cache:
        yield found
    found.extend(sorted(((layer_of(name) or 0, t) for name, t in cache.items()), key=lambda x: x[0]))


def attention_record(
    model: Any,
    inputs: Mapping[str, Any],
    *,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    kind: str = "self",
    layers: Iterable[int] | None = None,
    row: int = 0,
    keys: slice | None = None,
    segment_ids: list[int] | None = None,
    grid: tuple[int, int] | None = None,
) -> AttentionRecord:
    """Run `model(**inputs)` once and record the `kind` attention of example `row`.

    `keys` keeps a slice of the key positions (e.g. the audio frames before padding).
    """
    import torch

    num_layers = _num_layers(model, kind)
    wanted = None if layers is None else sorted({int(i) for i in layers})
    bad = [i for i in wanted or [] if not 0 <= i < num_layers] if num_layers else []
    if bad:
        raise InputError(f"layers {bad} do not exist; this model has layers 0..{num_layers - 1}")
    with torch.inference_mode(), capture_attention(model, kind, layers=wanted) as found:
        model(**inputs)
    if not found:
        raise InputError("the model ran but no attention hook fired; is it an attention model?")
    first = found[0][1]
    tk = first.shape[-1] if keys is None else len(range(first.shape[-1])[keys])
    out = np.empty((len(found), first.shape[1], first.shape[2], tk), dtype=np.float32)  # (L, H, Tq, Tk): one copy
    for i, (_, probs) in enumerate(found):
        p = probs[row] if keys is None else probs[row][..., keys]
        out[i] = p.float().cpu().numpy()
    name = str(getattr(getattr(model, "config", None), "name_or_path", "") or "")
    return AttentionRecord(out, list(query_tokens), None if key_tokens is None else list(key_tokens), kind=kind,
                           layers=[layer for layer, _ in found], segment_ids=segment_ids, grid=grid, model_name=name)


def _num_layers(model: Any, kind: str) -> int:
    count = getattr(model, "attention_layer_count", None)  # a model whose stacks differ in depth says per kind
    if callable(count):
        return int(count(kind))
    cfg = getattr(model, "config", None)
    keys = ("decoder_layers",) if kind in ("causal", "cross") else ()
    for key in (*keys, "num_hidden_layers", "n_layers", "n_layer", "num_layers"):
        n = getattr(cfg, key, None)
        if isinstance(n, int):
            return n
    return 0


def segments_of(sequence_ids: Sequence[int | None]) -> list[int]:
    """Per token of a sentence pair: 0 or 1. Special tokens (None) join the segment before them; [CLS] joins 0."""
    out, last = [], 0
    for s in sequence_ids:
        last = last if s is None else int(s)
        out.append(last)
    return out


# -- summaries -------------------------------------------------------------------------------------
def mean_over_heads(attentions: np.ndarray) -> np.ndarray:
    """(..., H, Tq, Tk) -> (..., Tq, Tk)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(attentions, dtype=np.float32)).mean(dim=-3).numpy()


def rollout(attentions: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) after each layer: (L, H, T, T) -> (L, T, T).

    Per layer: mean over heads, add the identity (the residual stream), renormalise rows;
    then multiply layers: R_l = A_l @ R_{l-1}. Entry l is the rollout through layer l.
    """
    import torch

    a = torch.from_numpy(mean_over_heads(attentions))  # (L, T, T)
    if a.shape[-1] != a.shape[-2]:
        raise InputError(f"rollout needs square attention maps; got {a.shape[-2]}x{a.shape[-1]}")
    eye = torch.eye(a.shape[-1], dtype=torch.float32)
    out = torch.empty_like(a)
    acc = eye
    for i in range(a.shape[0]):
        aug = a[i] + eye
        aug /= aug.sum(dim=-1, keepdim=True)
        acc = aug @ acc
        out[i] = acc
    return out.numpy()


def row_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row (last axis) of a probability array; 0 log 0 = 0."""
    import torch

    p = torch.from_numpy(np.ascontiguousarray(probs, dtype=np.float32))
    return torch.special.entr(p).sum(dim=-1).numpy()  # entr(x) = -x ln x, 0 at 0; threaded


def head_entropy(attentions: np.ndarray) -> np.ndarray:
    """(L, H, Tq, Tk) -> (L, H): mean over query tokens of each row's entropy (nats).

    Low: a head that looks at one token per query (e.g. previous token, [SEP]); near
    log(Tk): a head that spreads evenly.
    """
    return row_entropy(attentions).mean(axis=-1, dtype=np.float64).astype(np.float32)


# -- large inputs ----------------------------------------------------------------------------------
def downsample(matrix: np.ndarray, max_rows: int, max_cols: int | None = None) -> np.ndarray:
    """Block-pool the last two axes to at most (max_rows, max_cols).

    Query rows are averaged and key columns summed, so every pooled row of an attention
    map still sums to 1 (it reads as "attention from this block of queries to that block
    of keys"). Blocks are as even as possible; nothing is dropped.
    """
    m = np.asarray(matrix, dtype=np.float32)
    max_cols = max_rows if max_cols is None else max_cols
    rows, cols = m.shape[-2:]
    if rows > max_rows:
        edges = np.linspace(0, rows, max_rows + 1).round().astype(int)
        m = np.add.reduceat(m, edges[:-1], axis=-2) / np.diff(edges)[:, None]
    if cols > max_cols:
        edges = np.linspace(0, cols, max_cols + 1).round().astype(int)
        m = np.add.reduceat(m, edges[:-1], axis=-1)
    return m


def block_edges(n: int, blocks: int) -> np.ndarray:
    """Start positions (and the end) of `min(n, blocks)` even blocks over n positions."""
    return np.linspace(0, n, min(n, blocks) + 1).round().astype(int)


def top_k_edges(attention: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` strongest keys of every query: (..., Tq, Tk) -> indices (..., Tq, k) int, weights (..., Tq, k).

    Sorted by weight, strongest first. For the head view of long inputs: the rest of each
    row is too faint to see anyway.
    """
    import torch

    a = torch.from_numpy(np.ascontiguousarray(attention, dtype=np.float32))
    k = max(1, min(int(k), a.shape[-1]))
    w, idx = torch.topk(a, k, dim=-1, largest=True, sorted=True)  # threaded; faster than argpartition
    return idx.numpy(), w.numpy()


def edges_per_query(num_heads: int, num_queries: int, num_keys: int, budget_bytes: int, bytes_per_edge: int = 4) -> int:
    """How many keys per query fit in `budget_bytes` for `num_heads` heads (at least 1, at most all)."""
    k = budget_bytes // max(1, num_heads * num_queries * bytes_per_edge)
    return int(max(1, min(num_keys, k)))




# -- logit lens ------------------------------------------------------------------------------------
@dataclass
class LogitLens:
    """What each layer of a language model would predict next, at each position ("logit lens").

    Entry l on axis 0 reads the hidden state after l layers (0: the embeddings) through the model's
    final norm and LM head; the last entry is the model's real prediction.
    """

    tokens: list[str]  # the input tokens (positions)
    top_ids: np.ndarray  # (L + 1, T, k) int64: the k most likely next tokens, best first
    top_probs: np.ndarray  # (L + 1, T, k) float32
    top_tokens: list[list[list[str]]]  # (L + 1, T, k) their texts
    model_name: str = ""

    @property
    def num_layers(self) -> int:
        return self.top_ids.shape[0] - 1

    def to_dicts(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "top_ids": self.top_ids.tolist(), "top_probs": self.top_probs.tolist(),
                "top_tokens": self.top_tokens, "model_name": self.model_name}


def logit_lens(model: Any, input_ids: Any, *, tokens: Sequence[str], decode: Any, k: int = 3) -> LogitLens:
    """Run `model` once on `input_ids` (1, T) and read every layer's hidden state through its head.

    The model must offer `lens_logits(hidden) -> logits` (final norm + LM head); `decode(ids) -> list[str]`
    names the predicted tokens."""
    import torch

    lens = getattr(model, "lens_logits", None)
    if lens is None:
        raise InputError(f"{type(model).__name__} has no lens_logits(hidden); the logit lens needs a language model head.")
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise InputError(f"the logit lens reads one sequence: input_ids of shape (1, T), got {tuple(input_ids.shape)}")
    with torch.inference_mode():
        out = model(input_ids=input_ids, output_hidden_states=True)
        # hidden_states[-1] already went through the final norm: its reading is the model's own logits.
        logits = [lens(h) for h in out.hidden_states[:-1]] + [out.logits]
        probs = torch.softmax(torch.cat(logits).float(), dim=-1)  # (L + 1, T, V)
        top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    ids = top.indices.cpu().numpy()
    names = [[decode(row.tolist()) for row in layer] for layer in ids]
    name = str(getattr(getattr(model, "config", None), "name_or_path", "") or "")
    return LogitLens(list(tokens), ids, top.values.cpu().numpy().astype(np.float32), names, name)


__all__ = [
    "KINDS",
    "AttentionRecord",
    "LogitLens",
    "attention_record",
    "block_edges",
    "capture_attention",
    "downsample",
    "edges_per_query",
    "head_entropy",
    "hook_patterns",
    "logit_lens",
    "mean_over_heads",
    "rollout",
    "row_entropy",
    "segments_of",
    "top_k_edges",
]
