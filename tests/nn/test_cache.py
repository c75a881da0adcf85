"""The KV cache: static and dynamic layouts hold the same keys, reorder rows, crop positions."""

from __future__ import annotations

import pytest
import torch

from workbench.nn.cache import KVCache


def steps(cache: KVCache, g: torch.Generator, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for t in (3, 1, 1)[:n]:
        k, v = torch.randn(4, 2, t, 5, generator=g), torch.randn(4, 2, t, 5, generator=g)
        for layer in range(2):
            out.append(cache.update(layer, k + layer, v + layer))
    return out


def test_static_equals_dynamic_and_reorder_and_crop():
    dyn, sta = KVCache(2), KVCache(2, max_length=8)
    a = steps(dyn, torch.Generator().manual_seed(0), 3)
    b = steps(sta, torch.Generator().manual_seed(0), 3)
    for (k1, v1), (k2, v2) in zip(a, b):
        assert torch.equal(k1, k2) and torch.equal(v1, v2)
    assert dyn.length == sta.length == 5
    order = torch.tensor([3, 3, 0, 1])
    expected = dyn.update(0, torch.zeros(4, 2, 0, 5), torch.zeros(4, 2, 0, 5))[0].index_select(0, order)
    for cache in (dyn, sta):
        cache.reorder(order)
        k, _ = cache.update(0, torch.zeros(4, 2, 0, 5), torch.zeros(4, 2, 0, 5))
        assert torch.equal(k, expected)
        cache.crop(2)
        assert cache.update(1, torch.zeros(4, 2, 0, 5), torch.zeros(4, 2, 0, 5))[0].shape[2] == 2


def test_static_cache_refuses_overflow():
    cache = KVCache(1, max_length=2)
    cache.update(0, torch.zeros(1, 1, 2, 3), torch.zeros(1, 1, 2, 3))
    with pytest.raises(ValueError, match="holds 2 positions"):
        cache.update(0, torch.zeros(1, 1, 1, 3), torch.zeros(1, 1, 1, 3))


def test_select_inputs_keeps_cross_entries_in_step():
    cache = KVCache(1)
    cache.update(0, torch.arange(3.0).view(3, 1, 1, 1), torch.arange(3.0).view(3, 1, 1, 1))
    cache.cross[0] = (torch.arange(3.0).view(3, 1, 1, 1), torch.arange(3.0).view(3, 1, 1, 1))
    cache.select_inputs(torch.tensor([2, 0]))
    assert cache.cross[0][0].flatten().tolist() == [2.0, 0.0]
    assert cache.update(0, torch.zeros(2, 1, 0, 1), torch.zeros(2, 1, 0, 1))[0].flatten().tolist() == [2.0, 0.0]
