"""Attention data for viewers: capture, summaries, compact binary form, down-sampling.

Headless (no widget imports): the attention panel, the static HTML export and scripts all
read the same `AttentionRecord`. Capture goes through the model's `attn_probs` hook points,
so only the requested layers leave the fused attention path.

One record holds one example (no batch axis): `attentions` is (L, H, Tq, Tk) for the layers
listed in `layers`. Kinds:
  "self"    encoder self-attention (BERT): queries and keys are the same tokens;
  "causal"  decoder self-attention: same tokens, upper triangle is zero;
  "cross"   encoder-decoder attention: queries are decoder tokens, keys encoder positions;
  "patches" vision (ViT): tokens are patches on a `grid` (rows, cols), plus any extra
            leading tokens such as [CLS].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

KINDS = ("self", "causal", "cross", "patches")
_WIRE_DTYPES = {"float16": np.float16, "float32": np.float32, "uint8": np.uint8, "uint16": np.uint16, "int32": np.int32}


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
    grid: tuple[int, int] | None = None  # "patches": (rows, cols) of the patch grid
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
def capture_attentions(model: Any, inputs: Mapping[str, Any], layers: Iterable[int] | None = None) -> tuple[list[int], np.ndarray]:
    """Run `model(**inputs)` with only `layers` on the eager path; (layer indices, (L, H, Tq, Tk) of example 0)."""
    import torch

    from .hooks import capture

    num_layers = _num_layers(model)
    wanted = list(range(num_layers)) if layers is None else sorted({int(i) for i in layers})
    bad = [i for i in wanted if not 0 <= i < num_layers] if num_layers else []
    if bad:
        raise InputError(f"layers {bad} do not exist; this model has layers 0..{num_layers - 1}")
    with torch.inference_mode(), capture(model, "attn_probs", layers=wanted) as cache:
        model(**inputs)
    if not cache:
        raise InputError("the model ran but no attention hook fired; is it an attention model?")
    first = next(iter(cache.values()))
    out = np.empty((len(cache), *first.shape[1:]), dtype=np.float32)  # (L, H, Tq, Tk); one copy, no stack
    for i, p in enumerate(cache.values()):
        out[i] = p[0].float().cpu().numpy()
    return [_layer_index(name) for name in cache], out


def _layer_index(name: str) -> int:
    from .hooks import _layer_of

    i = _layer_of(name)
    return -1 if i is None else int(i)


def _num_layers(model: Any) -> int:
    cfg = getattr(model, "config", None)
    for key in ("num_hidden_layers", "n_layers", "n_layer", "num_layers"):
        n = getattr(cfg, key, None)
        if isinstance(n, int):
            return n
    return 0


def record_from_text(
    model: Any,
    tokenizer: Any,
    text: str,
    text_pair: str | None = None,
    *,
    layers: Iterable[int] | None = None,
    max_length: int | None = None,
) -> AttentionRecord:
    """Tokenize `text` (and `text_pair`), run the encoder, and capture self-attention."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("text must be a non-empty string")
    limit = max_length or getattr(getattr(model, "config", None), "max_position_embeddings", None)
    enc = tokenizer(text, text_pair, return_tensors="pt", truncation=limit is not None, max_length=limit)
    inputs = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    device = getattr(model, "device", None)
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
    got, attn = capture_attentions(model, inputs, layers)
    tokens = list(enc.tokens())
    segments = None
    if text_pair is not None:
        # Special tokens (None) join the segment before them; [CLS] joins segment 0.
        segments, last = [], 0
        for s in enc.sequence_ids():
            last = last if s is None else int(s)
            segments.append(last)
    name = str(getattr(getattr(model, "config", None), "name_or_path", "") or "")
    return AttentionRecord(attn, tokens, kind="self", layers=got, segment_ids=segments, model_name=name)


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


# -- binary form -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Packed:
    """An array as raw little-endian bytes plus what is needed to rebuild it."""

    data: bytes
    dtype: str
    shape: tuple[int, ...]

    @property
    def meta(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @property
    def nbytes(self) -> int:
        return len(self.data)


def pack(array: Any, dtype: str = "float16") -> Packed:
    """Array -> bytes in `dtype` (default float16, the wire format for attention)."""
    if dtype not in _WIRE_DTYPES:
        raise InputError(f"unsupported wire dtype {dtype!r}; use one of {sorted(_WIRE_DTYPES)}")
    a = np.ascontiguousarray(np.asarray(array), dtype=np.dtype(_WIRE_DTYPES[dtype]).newbyteorder("<"))
    return Packed(a.tobytes(), dtype, tuple(int(s) for s in a.shape))


def unpack(data: bytes | memoryview | Packed, dtype: str | None = None, shape: Sequence[int] | None = None) -> np.ndarray:
    """Bytes (+ dtype and shape) -> a numpy array (a copy, writable)."""
    if isinstance(data, Packed):
        data, dtype, shape = data.data, data.dtype, data.shape
    if dtype not in _WIRE_DTYPES or shape is None:
        raise InputError(f"unpack needs a dtype from {sorted(_WIRE_DTYPES)} and a shape")
    a = np.frombuffer(bytes(data), dtype=np.dtype(_WIRE_DTYPES[dtype]).newbyteorder("<"))
    if a.size != math.prod(shape):
        raise InputError(f"{len(bytes(data))} bytes of {dtype} do not fill shape {tuple(shape)}")
    return a.reshape(tuple(shape)).astype(_WIRE_DTYPES[dtype])


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


__all__ = [
    "KINDS",
    "AttentionRecord",
    "Packed",
    "block_edges",
    "capture_attentions",
    "downsample",
    "edges_per_query",
    "head_entropy",
    "mean_over_heads",
    "pack",
    "record_from_text",
    "rollout",
    "row_entropy",
    "top_k_edges",
    "unpack",
]
