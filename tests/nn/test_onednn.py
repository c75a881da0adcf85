"""The oneDNN inference path equals the plain torch functions (to float32 rounding) and steps aside for training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workbench.nn.activations import get_activation
from workbench.nn.onednn import Linear, _onednn_available, conv1d, dense, linear_act


def test_dense_and_conv_equal_torch_and_keep_gradients():
    torch.manual_seed(0)
    q, k, v = nn.Linear(48, 48), nn.Linear(48, 48), nn.Linear(48, 48, bias=True)
    conv = nn.Conv1d(16, 24, kernel_size=5, stride=2, padding=2, groups=4)
    x, s = torch.randn(2, 20, 48), torch.randn(2, 16, 101)  # 40 rows: oneDNN takes them
    fused = torch.cat([q.weight, k.weight, v.weight]), torch.cat([q.bias, k.bias, v.bias])
    with torch.inference_mode():
        torch.testing.assert_close(dense(x, q, k, v), F.linear(x, *fused), atol=1e-5, rtol=0)
        torch.testing.assert_close(dense(x[:, 2:], q, gelu=True), F.gelu(q(x[:, 2:])), atol=1e-5, rtol=0)
        torch.testing.assert_close(conv1d(s, conv, gelu=True), F.gelu(conv(s)), atol=1e-5, rtol=0)
        torch.testing.assert_close(conv1d(s, conv, weight=conv.weight * 2), F.conv1d(s, conv.weight * 2, conv.bias, 2, 2, 1, 4),
                                   atol=1e-5, rtol=0)
    y = dense(x, q, gelu=True).sum() + conv1d(s, conv).sum()  # training: the plain functions, with gradients
    y.backward()
    assert q.weight.grad is not None and conv.weight.grad is not None
    assert isinstance(_onednn_available(), bool)


def test_linear_and_fused_activations_equal_torch():
    torch.manual_seed(0)
    layer, plain = Linear(32, 40), nn.Linear(32, 40)
    plain.load_state_dict(layer.state_dict())  # the same keys: checkpoints load into either
    x = torch.randn(3, 12, 32)  # 36 rows: oneDNN takes them
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), plain(x), atol=1e-5, rtol=0)
        for name in ("gelu", "gelu_new", "relu", "quick_gelu", "silu"):  # oneDNN knows the first three
            act = get_activation(name)
            torch.testing.assert_close(linear_act(x, layer, act), act(plain(x)), atol=1e-5, rtol=0)
            torch.testing.assert_close(linear_act(x[:1, :2], layer, act), act(plain(x[:1, :2])), atol=1e-5, rtol=0)
    linear_act(x, layer, F.gelu).sum().backward()  # training: F.linear, with gradients
    assert layer.weight.grad is not None


def test_side_by_side_layers_follow_in_place_weight_edits():
    """Fused Q/K/V on the fast path computes with the weights as they are now: an ablation through `weight.data`
    (which moves no version counter) shows at once, in float32 and in bfloat16."""
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (nn.Linear(16, 8).to(dtype) for _ in range(3))
        x = torch.randn(40, 16, dtype=dtype)  # >= 32 rows: the oneDNN path when it is available
        with torch.inference_mode():
            before = dense(x, q, k, v)
            k.weight.data[:4] = 0  # a student zeroes part of a head
            after = dense(x, q, k, v)
        want = torch.cat([F.linear(x, m.weight, m.bias) for m in (q, k, v)], dim=-1)
        torch.testing.assert_close(after, want, atol=1e-4 if dtype == torch.float32 else 3e-2, rtol=0)
        assert not torch.equal(before[:, 8:12], after[:, 8:12])
