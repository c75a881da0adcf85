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
