"""Hook points: named identity modules that make a model's internals visible.

A `HookPoint` does nothing until something captures it. Attention modules check
`hook.active` and only then leave the fast fused path to compute the probabilities,
so `capture(model, "attn_probs", layers=[3])` slows down layer 3 alone. Hook points hold
no parameters, so state-dict keys (the hub layout) never change.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterable, Iterator
from typing import Callable

import torch
from torch import nn

_LAYER_INDEX = re.compile(r"\.(\d+)\.")


class HookPoint(nn.Module):
    """Identity module that calls its captures' functions on the passing tensor."""

    def __init__(self) -> None:
        super().__init__()
        self._fns: list[Callable[[torch.Tensor], torch.Tensor | None]] = []

    @property
    def active(self) -> bool:
        return bool(self._fns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self._fns:
            out = fn(x)
            if out is not None:
                x = out
        return x


class ActivationCache(dict):
    """Captured tensors by hook name, in the order the model produced them."""

    def stack(self, suffix: str) -> list[torch.Tensor]:
        """All captured tensors whose name ends with `suffix`, in model order."""
        return [v for k, v in self.items() if k.endswith(suffix)]


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Every hook point of `model`, by its module path."""
    return {name: m for name, m in model.named_modules() if isinstance(m, HookPoint)}


def layer_of(name: str) -> int | None:
    found = _LAYER_INDEX.findall(f".{name}.")
    return int(found[-1]) if found else None


def _matches(name: str, pattern: str) -> bool:
    # A bare word matches the last path component ("attn_probs"); anything else is a glob over the path
    # from the model's root or from any submodule ("encoder.layer.3.*" also finds "bert.encoder.layer.3.*").
    if any(ch in pattern for ch in "*?[."):
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, "*." + pattern)
    return name.rsplit(".", 1)[-1] == pattern


@contextlib.contextmanager
def capture(
    model: nn.Module,
    names: str | Iterable[str] = "attn_probs",
    *,
    layers: Iterable[int] | None = None,
    detach: bool = True,
    fn: Callable[[str, torch.Tensor], torch.Tensor | None] | None = None,
) -> Iterator[ActivationCache]:
    """Record (or edit, with `fn`) the tensors passing the matching hook points.

    `names` are hook-name suffixes ("attn_probs", "hidden_out") or globs over module paths
    ("encoder.layer.3.*", matched from the root or from any submodule). `layers` keeps only hook points
    inside those layer indices.
    `fn(name, tensor)` may return a replacement tensor (ablation, patching).
    """
    patterns = [names] if isinstance(names, str) else list(names)
    wanted_layers = None if layers is None else set(int(i) for i in layers)
    points = {
        name: hp
        for name, hp in hook_points(model).items()
        if any(_matches(name, p) for p in patterns)
        and (wanted_layers is None or layer_of(name) in wanted_layers)
    }
    if not points:
        available = sorted({n.rsplit(".", 1)[-1] for n in hook_points(model)})
        raise KeyError(f"no hook point matches {patterns!r}; this model has: {', '.join(available) or 'none'}")
    cache = ActivationCache()
    installed: list[tuple[HookPoint, Callable]] = []

    def make(name: str) -> Callable[[torch.Tensor], torch.Tensor | None]:
        def record(x: torch.Tensor) -> torch.Tensor | None:
            out = fn(name, x) if fn is not None else None
            kept = x if out is None else out
            cache[name] = kept.detach() if detach else kept
            return out

        return record

    try:
        for name, hp in points.items():
            f = make(name)
            hp._fns.append(f)
            installed.append((hp, f))
        yield cache
    finally:
        for hp, f in installed:
            hp._fns.remove(f)
