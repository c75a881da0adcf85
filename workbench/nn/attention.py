"""Attention behind one signature: fused sdpa by default, eager when probabilities are wanted."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .hooks import HookPoint
from .onednn import dense


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    dropout_p: float = 0.0,
    scale: float | None = None,
    is_causal: bool = False,
    probs_hook: HookPoint | None = None,
) -> torch.Tensor:
    """Scaled dot-product attention. q, k, v: (B, H, T, D); mask: additive float, broadcastable to (B, H, Tq, Tk).

    The eager path runs only when `probs_hook` is being captured, so the probabilities
    can be recorded (or edited) there; otherwise torch's fused kernel does the work.

    Keys/values may have fewer heads than queries (grouped-query attention: H = G * Hkv, query heads
    g*G .. g*G + G - 1 share key/value head g), and fewer rows than queries (B = G * Bk): each group of G query rows then
    shares one row of keys/values. Beam search uses this for cross-attention, whose keys are the
    same for every beam of an input: the G beams are folded into the query axis, one attention
    call serves them all, and the keys are neither copied per beam nor reordered.
    """
    if k.shape[0] != q.shape[0]:
        return _attend_grouped(q, k, v, mask, dropout_p=dropout_p, scale=scale, is_causal=is_causal, probs_hook=probs_hook)
    gqa = k.shape[1] != q.shape[1]  # grouped-query attention: each key/value head serves H / Hkv query heads
    if probs_hook is None or not probs_hook.active:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                                              enable_gqa=gqa)
    if gqa:  # the eager path shows one map per query head: repeat each key/value head for its group
        group = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale  # (B, H, Tq, Tk)
    if is_causal:
        tq, tk = scores.shape[-2:]
        causal = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
        scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
    if mask is not None:
        scores = scores + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    probs = probs_hook(probs)
    if dropout_p > 0.0:
        probs = F.dropout(probs, p=dropout_p)
    return torch.matmul(probs, v)  # (B, H, Tq, D)


def _attend_grouped(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, **options) -> torch.Tensor:
    b, h, t, d = q.shape
    groups = b // k.shape[0]
    per_key_mask = mask is None or (mask.shape[-2] == 1 and mask.shape[0] in (1, k.shape[0]))
    if groups * k.shape[0] != b or not per_key_mask or options["is_causal"]:
        raise ValueError(f"{b} query rows cannot share {k.shape[0]} key rows (grouping needs a mask per key row, "
                         "not per query, and no causal rule)")
    hook = options["probs_hook"]
    if hook is not None and hook.active:  # inspection: give the hook one row per query row, as without grouping
        if mask is not None and mask.shape[0] > 1:
            mask = mask.repeat_interleave(groups, 0)
        return attend(q, k.repeat_interleave(groups, 0), v.repeat_interleave(groups, 0), mask, **options)
    folded = q.view(k.shape[0], groups, h, t, d).transpose(1, 2).reshape(k.shape[0], h, groups * t, d)  # (Bk, H, G*t, D)
    out = attend(folded, k, v, mask, **options)  # a (Bk, 1, 1, S) padding mask holds for every folded query
    return out.view(k.shape[0], h, groups, t, d).transpose(1, 2).reshape(b, h, t, d)  # (B, H, t, D)


def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, Tk) 1/0 padding mask -> (B, 1, 1, Tk) additive mask; None when nothing is masked."""
    if attention_mask is None:
        return None
    if attention_mask.dim() == 2:
        if bool(attention_mask.all()):
            return None  # no padding: let sdpa take its fastest path
        attention_mask = attention_mask[:, None, None, :]
    return (1.0 - attention_mask.to(dtype)) * torch.finfo(dtype).min


class Packing:
    """Real (unpadded) tokens of a padded batch, for running dense layers on them alone.

    Linear layers, LayerNorm and activations act per token, so in a padded batch a large
    share of their work is spent on padding. Packing the real tokens to (N, C) skips it;
    attention unpacks to (B, H, T, D) where it needs the sequence structure. Positions under
    padding come back as zeros.
    """

    def __init__(self, attention_mask: torch.Tensor) -> None:
        self.shape = tuple(attention_mask.shape)  # (B, T)
        self.index = attention_mask.reshape(-1).nonzero().squeeze(1)  # (N,)

    @staticmethod
    def worthwhile(attention_mask: torch.Tensor | None) -> bool:
        return attention_mask is not None and attention_mask.dim() == 2 and not bool(attention_mask.all())

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, x.shape[-1]).index_select(0, self.index)  # (B, T, C) -> (N, C)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(self.shape[0] * self.shape[1], x.shape[-1])
        out.index_copy_(0, self.index, x)
        return out.view(*self.shape, x.shape[-1])  # (N, C) -> (B, T, C)


def fused_qkv(x: torch.Tensor, q: torch.nn.Linear, k: torch.nn.Linear, v: torch.nn.Linear) -> torch.Tensor:
    """One matmul for three projections (the checkpoint keeps them separate; we only fuse at run time)."""
    return dense(x, q, k, v)


def causal_mask(attention_mask: torch.Tensor | None, past: int, t: int, dtype: torch.dtype,
                device: torch.device) -> tuple[torch.Tensor | None, bool]:
    """The mask of `t` new decoder tokens after `past` cached ones: (additive mask, is_causal).

    `attention_mask` (B, past + t) is 1 on real tokens, 0 on (left or right) padding. Without padding
    no mask is built: one new token sees everything (None, False), a fresh prompt is plain causal
    (None, True, sdpa's fast path). Otherwise one additive (B, 1, t, past + t) mask holds both rules,
    with the dtype's minimum (not -inf), so a padding query that sees no key gets uniform weights
    instead of NaN.
    """
    padded = attention_mask is not None and not bool(attention_mask.all())
    if not padded:
        if t == 1 or past == 0:
            return None, t > 1
    allowed = torch.ones(t, past + t, dtype=torch.bool, device=device).tril(past)  # (t, past + t)
    if padded:
        allowed = allowed[None, None] & attention_mask[:, None, None, :].bool()  # (B, 1, t, past + t)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask, False


class ProjectedAttention(torch.nn.Module):
    """Multi-head attention with separate q/k/v/out projections (`q_proj`, `k_proj`, `v_proj`, `out_proj`
    keys), as Whisper and BART store it; keys/values are computed by the caller (`project_kv`), so a decoder
    can cache them. The probabilities pass the hook point `attn_probs` (`cross_attn_probs` for cross-attention)."""

    def __init__(self, dim: int, heads: int, dropout: float, *, cross: bool = False, key_bias: bool = True) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout, self.cross = heads, dim // heads, dropout, cross
        self.k_proj = torch.nn.Linear(dim, dim, bias=key_bias)  # Whisper's key projection has no bias
        self.v_proj = torch.nn.Linear(dim, dim)
        self.q_proj = torch.nn.Linear(dim, dim)
        self.out_proj = torch.nn.Linear(dim, dim)
        self.hook_name = "cross_attn_probs" if cross else "attn_probs"
        setattr(self, self.hook_name, HookPoint())

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def project_kv(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k_proj(source)), self.split(self.v_proj(source))

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        """`kv`: the keys/values to attend to (B', H, S, D); B' may be fewer rows than x (beams share them)."""
        q = self.split(self.q_proj(x))
        out = attend(q, kv[0], kv[1], mask, dropout_p=self.dropout if self.training else 0.0,
                     probs_hook=getattr(self, self.hook_name))
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, -1))  # (B, T, C)
