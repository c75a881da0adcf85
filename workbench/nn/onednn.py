"""Dense layers and 1-D convolutions for CPU inference through oneDNN: the same float32 arithmetic, faster.

torch sends `F.linear` on the CPU to MKL's sgemm. For the shapes of speech and vision transformers
(hundreds to a few thousand rows, 768-3072 wide) oneDNN's matmul is markedly faster on current x86 CPUs,
AMD's especially, and it can apply GELU on the way out, saving a pass over the activations (so can its
convolution). Results agree with `F.linear` / `F.conv1d` + `F.gelu` to float32 rounding (the sums are
taken in another order).

Only float32 and bfloat16 CPU inference takes this path (no gradients: the ops have no backward); anything
else, or a torch built without oneDNN, uses the plain functions. In bfloat16 oneDNN uses the CPU's bf16
instructions (AMX tiles or AVX-512 BF16 where present): ~3.5x float32's matmul speed on AMX, which is what the
audio timeline's fast mode relies on. The checkpoint layout is untouched: modules
stay `nn.Linear` / `nn.Conv1d`, the path is chosen per call.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .activations import gelu_tanh

_ONEDNN: bool | None = None  # probed on first use


def _onednn_available() -> bool:
    global _ONEDNN
    if _ONEDNN is None:
        try:
            probe = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 2), torch.ones(3, 2), None, "none", [], "")
            _ONEDNN = bool(torch.equal(probe, torch.full((1, 3), 2.0)))
        except (AttributeError, RuntimeError, NotImplementedError):
            _ONEDNN = False
    return _ONEDNN


# Below this many rows (a decoder's step, a few prompt tokens) MKL's matmul is as fast, and for the smallest shapes
# it stays single-threaded, so it does not wait for a second core on a busy machine.
MIN_ROWS = 32


FAST_DTYPES = (torch.float32, torch.bfloat16)


def _fast_path(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype in FAST_DTYPES and weight.dtype == x.dtype
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)) and _onednn_available())


def _fast_matmul(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return x.numel() >= MIN_ROWS * x.shape[-1] and _fast_path(x, weight)


def dense(x: torch.Tensor, *layers: nn.Linear, gelu: bool = False) -> torch.Tensor:
    """`x @ W.T + b` for one `nn.Linear`, or several side by side (their outputs concatenated: fused Q/K/V),
    optionally followed by exact (erf) GELU."""
    rows = x.numel() // x.shape[-1]
    if len(layers) > 1 and rows <= x.shape[-1] and _fast_matmul(x, layers[0].weight):
        # one oneDNN call per layer, outputs joined, when the outputs are smaller than the weights (a 10 s wav2vec2
        # clip: ~8% of its forward went to joining the weights on every call). Joined weights are never kept between
        # calls: a notebook's in-place `weight.data` edit (it moves no version counter) would leave them stale
        return torch.cat([dense(x, m, gelu=gelu) for m in layers], dim=-1)
    if len(layers) == 1:
        weight, bias = layers[0].weight, layers[0].bias
    else:  # training, a small input, or outputs larger than the weights: weights joined per call (gradients flow)
        weight = torch.cat([m.weight for m in layers])
        bias = None if layers[0].bias is None else torch.cat([m.bias for m in layers])
    return dense_weight(x, weight, bias, gelu=gelu)


_POST_OPS = {F.gelu: ("gelu", "none"), gelu_tanh: ("gelu", "tanh"), F.relu: ("relu", "")}  # oneDNN's names


def linear_act(x: torch.Tensor, layer: nn.Linear, act: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`act(layer(x))`, the activation applied inside oneDNN's matmul when it is one oneDNN knows (GELU, its tanh
    form, ReLU): one pass over the activations instead of two."""
    post = _POST_OPS.get(act)
    if post is not None and _fast_matmul(x, layer.weight):
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, post[0], [], post[1])
    return act(layer(x))


def conv1d(x: torch.Tensor, conv: nn.Conv1d, *, weight: torch.Tensor | None = None, gelu: bool = False) -> torch.Tensor:
    """`conv(x)` (B, C, T), optionally followed by exact GELU; `weight` replaces the module's (weight norm)."""
    weight = conv.weight if weight is None else weight
    if _fast_path(x, weight) and isinstance(conv.padding, tuple):
        # oneDNN convolves images: a 1-D signal is an image one pixel high
        y = torch.ops.mkldnn._convolution_pointwise(
            x.unsqueeze(2), weight.unsqueeze(2), conv.bias, [0, conv.padding[0]], [1, conv.stride[0]],
            [1, conv.dilation[0]], conv.groups, "gelu" if gelu else "none", [], "none" if gelu else "")
        return y.squeeze(2)
    y = F.conv1d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    return F.gelu(y) if gelu else y


def framed_conv1d(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """A one-input-channel `conv` (no padding, no groups) on raw samples x (B, samples) -> (B, frames, C_out): the
    kernel's frames cut out of the signal (a view) times the weight, as one matmul. Its output is time-major, the
    channels-last layout oneDNN's convolutions keep from layer to layer; oneDNN's own convolution here wrote its
    output channels-last and then spent 4x the convolution's time transposing 512 x 3199 activations back."""
    frames = x.unfold(1, conv.kernel_size[0], conv.stride[0])  # (B, frames, kernel)
    return dense_weight(frames, conv.weight.reshape(conv.out_channels, -1), conv.bias)


def dense_weight(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, gelu: bool = False) -> torch.Tensor:
    """`F.linear(x, weight, bias)` with a weight of one's own (not a module's), optionally followed by exact GELU,
    through oneDNN where it takes it."""
    if _fast_matmul(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu" if gelu else "none", [],
                                                  "none" if gelu else "")
    y = F.linear(x, weight, bias)
    return F.gelu(y) if gelu else y


class Linear(nn.Linear):
    """`nn.Linear` (same parameters, same checkpoint keys) whose float32 CPU inference goes through oneDNN.

    On this project's 2-core AMD Zen 4 CI machine oneDNN's matmul runs the shapes of vision and text encoders
    (hundreds of rows and up, 384-3072 wide) 1.4-1.7x faster than MKL's sgemm behind `F.linear`, and these layers
    are ~90% of an encoder's time. Training, other dtypes and other devices take `F.linear` as before.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dense(x, self)
