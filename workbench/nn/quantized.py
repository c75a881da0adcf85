"""A linear layer whose weight stays 4-bit: llama.cpp's Q4_0 / Q4_1 / Q8_0 blocks run on PyTorch's int4 CPU kernel.

Why: batch-1 decoding is a chain of matrix-vector products, bound by the bytes each token reads. A float32
weight costs 4 bytes per number; these blocks cost about 0.6 (Q4_*) or 1.1 (Q8_0), and PyTorch's
`_weight_int4pack_mm_for_cpu` (4-bit codes, a scale and a zero per group of 32 inputs) reads them directly.

The blocks fit that kernel's form w = scale * (code - 8) + zero, per group of 32 inputs:
  Q4_0  w = d * (q - 8)            scale d, zero 0
  Q4_1  w = d * q + m              scale d, zero m + 8d
  Q8_0  w = d * q, q in -128..127  two 4-bit halves of u = q + 128 = 16 hi + lo:
                                   w = 16d (hi - 8) + [d (lo - 8) + 8d]  -> two row blocks, summed
The kernel is fast only with bfloat16 activations, scales and zeros (its float32 path is a slow fallback,
~10x slower than a float32 matmul here): so the scales and zeros are rounded to bfloat16 and each layer's
input and output pass through bfloat16. The codes are exact; the rounding moves SmolLM2-135M's logits by
up to 0.74 (on logits up to 27, "The capital of France is"; greedy ids agree, " Paris"; tests/nn/test_quantized.py
bounds it on tiny models). `dequantize()` and the state
dict give the exact float32 weight llama.cpp's dequantiser gives, so `save_pretrained` writes the float
hub layout.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

GROUP = 32  # inputs per block: llama.cpp's Q4_0 / Q4_1 / Q8_0 block size
PACK_ROWS = 64  # the int4 CPU kernel packs output rows in blocks of this many
BLOCK_BYTES = {"Q4_0": 18, "Q4_1": 20, "Q8_0": 34}  # per block of 32 weights: fp16 d [, fp16 m], codes
KINDS = tuple(BLOCK_BYTES)


def supported(device: torch.device | str | None = None) -> bool:
    """Whether this PyTorch has the int4 CPU kernel and the layer would run on the CPU."""
    cpu = device is None or torch.device(device).type == "cpu"
    return cpu and hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")


def fits(in_features: int, out_features: int) -> bool:
    """Whether the int4 kernel takes this shape (whole blocks along the input, output rows in sixteens)."""
    return in_features % GROUP == 0 and out_features % 16 == 0


def _fp16(raw: torch.Tensor) -> torch.Tensor:
    """(..., 2) little-endian bytes -> (...) float32."""
    return raw.contiguous().view(torch.float16)[..., 0].float()


def _nibbles(raw: torch.Tensor) -> torch.Tensor:
    """(..., 16) bytes -> (..., 32) codes 0..15: the low nibbles are weights 0..15 of the block, the high ones 16..31."""
    return torch.cat([raw & 15, raw >> 4], dim=-1)


def decode_blocks(kind: str, blocks: torch.Tensor, in_features: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of blocks (N, K/32 * bytes) uint8 -> codes (R, K) int32 in 0..15, scales and zeros (R, K/32) float32
    with w = scale * (code - 8) + zero; R = N, or 2N for Q8_0 (its high halves, then its low halves)."""
    if kind not in BLOCK_BYTES:
        raise ValueError(f"{kind} blocks are not 4-bit linear weights; known: {', '.join(KINDS)}")
    n = blocks.shape[0]
    b = blocks.reshape(n, in_features // GROUP, BLOCK_BYTES[kind])
    d = _fp16(b[..., 0:2])
    if kind == "Q4_0":
        return _nibbles(b[..., 2:]).reshape(n, in_features).int(), d, torch.zeros_like(d)
    if kind == "Q4_1":
        m = _fp16(b[..., 2:4])
        return _nibbles(b[..., 4:]).reshape(n, in_features).int(), d, m + 8 * d
    u = b[..., 2:].contiguous().view(torch.int8).int() + 128  # Q8_0: 0..255
    codes = torch.cat([u >> 4, u & 15]).reshape(2 * n, in_features)
    return codes, torch.cat([16 * d, d]), torch.cat([torch.zeros_like(d), 8 * d])


def dequantize_blocks(kind: str, blocks: torch.Tensor, in_features: int) -> torch.Tensor:
    """The float32 weight (N, K), computed as llama.cpp's dequantisers do (d * q [+ m])."""
    n = blocks.shape[0]
    b = blocks.reshape(n, in_features // GROUP, BLOCK_BYTES[kind])
    d = _fp16(b[..., 0:2])[..., None]
    if kind == "Q8_0":
        return (d * b[..., 2:].contiguous().view(torch.int8).float()).reshape(n, in_features)
    if kind == "Q4_0":
        return (d * (_nibbles(b[..., 2:]).float() - 8)).reshape(n, in_features)
    m = _fp16(b[..., 2:4])[..., None]
    return (d * _nibbles(b[..., 4:]).float() + m).reshape(n, in_features)


class QuantizedLinear(nn.Module):
    """`nn.Linear` with its weight kept as llama.cpp blocks (Q4_0, Q4_1 or Q8_0), computed with the int4 CPU kernel.

    The state dict holds the float32 `weight` (dequantised exactly) and `bias`, as `nn.Linear`'s: saving
    writes the float hub layout. Loading a state dict into it is refused (load the float model instead).
    `transposed`: it replaces a layer that stores its weight `[in, out]` (GPT-2's Conv1D, same product), so the
    state dict's `weight` is given in that layout."""

    def __init__(self, kind: str, blocks: torch.Tensor, in_features: int, bias: torch.Tensor | None = None,
                 transposed: bool = False) -> None:
        super().__init__()
        self.transposed = transposed
        if not fits(in_features, blocks.shape[0]):
            raise ValueError(f"the int4 kernel needs in_features ({in_features}) a multiple of {GROUP} and out_features "
                             f"({blocks.shape[0]}) a multiple of 16")
        self.kind, self.in_features, self.out_features = kind, in_features, blocks.shape[0]
        codes, scales, zeros = decode_blocks(kind, blocks, in_features)
        self.register_buffer("blocks", blocks.contiguous(), persistent=False)  # the file's bytes: exact dequantisation
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1), persistent=False)
        # (K/32, R, 2): the kernel's [scale, zero] per group and output row
        self.register_buffer("scales_zeros", torch.stack([scales.t(), zeros.t()], dim=-1).to(torch.bfloat16).contiguous(),
                             persistent=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().float().clone(), requires_grad=False)

    @property
    def rows(self) -> int:
        """The kernel's output rows: out_features, or twice that for Q8_0 (its two 4-bit halves)."""
        return 2 * self.out_features if self.kind == "Q8_0" else self.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.packed, GROUP, self.scales_zeros)
        return self._finish(y, x)

    def _finish(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The kernel's (rows, self.rows) bfloat16 output -> this layer's output, shaped and typed as `x`."""
        y = y.to(x.dtype)
        if self.kind == "Q8_0":  # the high and the low 4-bit halves of each row
            y = y[:, : self.out_features] + y[:, self.out_features :]
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def dequantize(self) -> torch.Tensor:
        """The float32 weight (out_features, in_features), equal to llama.cpp's dequantisation of the blocks."""
        return dequantize_blocks(self.kind, self.blocks, self.in_features)

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        weight = self.dequantize()
        destination[prefix + "weight"] = weight.t().contiguous() if self.transposed else weight
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias if keep_vars else self.bias.detach()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{prefix or 'this'} QuantizedLinear holds fixed {self.kind} blocks; load float weights into "
                           "the float model (from_pretrained(..., dequantize=True)) instead.")

    def extra_repr(self) -> str:
        return (f"{self.kind}, in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}" + (", transposed=True" if self.transposed else ""))


def quantize_linears(model: nn.Module, blocks: dict[str, tuple[str, torch.Tensor]]) -> list[str]:
    """Replace each linear layer whose weight key (`model.layers.0.mlp.up_proj.weight`) has (kind, blocks) in
    `blocks` by a QuantizedLinear with its bias (shapes the kernel cannot take stay float); returns the replaced
    modules' names. Linear layers: `nn.Linear`, and layers whose class sets `weight_in_out = True` (a `weight`
    `[in, out]` and a `bias`, computing x @ weight + bias: GPT-2's Conv1D); the blocks are rows of the `(out, in)`
    weight either way, as GGUF stores them."""
    replaced = []
    for key, (kind, raw) in blocks.items():
        name = key.removesuffix(".weight")
        owner, _, attr = name.rpartition(".")
        parent = model.get_submodule(owner) if owner else model
        layer = getattr(parent, attr, None)
        transposed = getattr(type(layer), "weight_in_out", False)
        if isinstance(layer, nn.Linear):
            in_features, out_features = layer.in_features, layer.out_features
        elif transposed:
            in_features, out_features = layer.weight.shape
        else:
            continue
        if kind not in KINDS or not fits(in_features, out_features):
            continue
        setattr(parent, attr, QuantizedLinear(kind, raw, in_features, layer.bias, transposed=transposed))
        replaced.append(name)
    return replaced


def fuse_siblings(model: nn.Module, groups: tuple[tuple[str, ...], ...]) -> int:
    """For each module whose children named in a group (e.g. ("q_proj", "k_proj", "v_proj")) are all
    QuantizedLinear layers over the same input size, pack their weights side by side once, so that `project`
    computes them with one kernel call. Batch-1 decoding makes hundreds of small matrix-vector products per token:
    fewer, wider calls spend less on each call's set-up and split better over threads. The results are the same
    bits (each output row is computed alone either way); the layers keep their own weights for direct calls.
    Returns the number of groups fused."""
    fused = 0
    for module in model.modules():
        for names in groups:
            layers = [getattr(module, n, None) for n in names]
            if not all(isinstance(m, QuantizedLinear) for m in layers) or len({m.in_features for m in layers}) != 1:
                continue
            first = layers[0]
            if all(m.rows % PACK_ROWS == 0 for m in layers[:-1]):  # each layer's packed rows start a packing block:
                packed = torch.cat([m.packed for m in layers])  # joined as they are, and the layers keep views of it
                offsets = torch.tensor([0] + [m.rows for m in layers]).cumsum(0).tolist()
                for m, start, end in zip(layers, offsets, offsets[1:]):
                    m.packed = packed[start:end]
            else:  # packed again from the codes: the kernel packs rows in blocks of 64, which a join would straddle
                codes = torch.cat([decode_blocks(m.kind, m.blocks, m.in_features)[0] for m in layers])
                packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
            first.register_buffer("fused_packed", packed, persistent=False)
            first.register_buffer("fused_scales_zeros", torch.cat([m.scales_zeros for m in layers], dim=1).contiguous(),
                                  persistent=False)
            # which siblings, in which order, these buffers hold (weak: a replaced layer must not match its successor)
            first.fused_with = tuple(weakref.ref(m) for m in layers)
            fused += 1
    return fused


def project(x: torch.Tensor, *layers: nn.Module) -> list[torch.Tensor]:
    """`[layer(x) for layer in layers]`, with one kernel call when `fuse_siblings` packed exactly these layers."""
    first = layers[0]
    fused_with = getattr(first, "fused_with", ())
    if len(fused_with) != len(layers) or any(ref() is not m for ref, m in zip(fused_with, layers)):
        return [layer(x) for layer in layers]
    flat = x.reshape(-1, first.in_features).to(torch.bfloat16)
    y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, first.fused_packed, GROUP, first.fused_scales_zeros)
    return [m._finish(part, x) for m, part in zip(layers, y.split([m.rows for m in layers], dim=1))]


__all__ = ["KINDS", "QuantizedLinear", "decode_blocks", "dequantize_blocks", "fuse_siblings", "project",
           "quantize_linears", "supported"]
