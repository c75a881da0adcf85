"""The KV cache: keys and values of every attention layer, kept between decoding steps.

Attention layers write to it (`update`), generation moves rows between steps (`reorder`,
`crop`). Self-attention entries grow by the new tokens each step; cross-attention entries
(encoder-decoder models) are computed once from the encoder output and reused.

Two layouts behind one interface:
  dynamic  (max_length=None)  each step concatenates, memory follows the length;
  static   (max_length=N)     buffers of N positions are allocated at the first step and
                              written in place, so no step reallocates.

Cross-attention entries hold one row per *input*: during beam search the K beams of an input
share them (the attention folds the beams into the query axis), so they are never reordered.
"""

from __future__ import annotations

import torch

KV = tuple[torch.Tensor, torch.Tensor]


class KVCache:
    def __init__(self, num_layers: int, *, max_length: int | None = None) -> None:
        self.num_layers = num_layers
        self.max_length = max_length
        self._keys: list[torch.Tensor | None] = [None] * num_layers
        self._values: list[torch.Tensor | None] = [None] * num_layers
        self._lengths = [0] * num_layers
        self.cross: list[KV | None] = [None] * num_layers

    @property
    def static(self) -> bool:
        return self.max_length is not None

    @property
    def length(self) -> int:
        """Tokens already stored (those of the first layer: the others catch up within the step)."""
        return self._lengths[0]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> KV:
        """Append the new keys/values (B, H, t, D) of `layer`; returns all of them so far (B, H, T, D)."""
        start = self._lengths[layer]
        end = start + k.shape[2]
        if not self.static:
            old_k, old_v = self._keys[layer], self._values[layer]
            if old_k is not None:
                k, v = torch.cat([old_k, k], dim=2), torch.cat([old_v, v], dim=2)
            self._keys[layer], self._values[layer] = k, v
            self._lengths[layer] = end
            return k, v
        if end > self.max_length:
            raise ValueError(f"the static cache holds {self.max_length} positions; step {start}..{end} does not fit")
        if self._keys[layer] is None:
            b, h, _, d = k.shape
            self._keys[layer] = k.new_empty(b, h, self.max_length, d)
            self._values[layer] = v.new_empty(b, h, self.max_length, d)
        self._keys[layer][:, :, start:end] = k
        self._values[layer][:, :, start:end] = v
        self._lengths[layer] = end
        return self._keys[layer][:, :, :end], self._values[layer][:, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep self-attention rows `index` (B',) in that order (beam search, dropped rows)."""
        for layer in range(self.num_layers):
            k, v = self._keys[layer], self._values[layer]
            if k is None:
                continue
            n = self._lengths[layer]
            if self.static:
                k[: index.numel(), :, :n] = k[:, :, :n].index_select(0, index)
                v[: index.numel(), :, :n] = v[:, :, :n].index_select(0, index)
                if index.numel() != k.shape[0]:
                    self._keys[layer], self._values[layer] = k[: index.numel()], v[: index.numel()]
            else:
                self._keys[layer], self._values[layer] = k.index_select(0, index), v.index_select(0, index)

    def select_inputs(self, index: torch.Tensor) -> None:
        """Keep inputs `index` in both self- and cross-attention entries (rows = inputs, no beams)."""
        self.reorder(index)
        self.cross = [None if kv is None else (kv[0].index_select(0, index), kv[1].index_select(0, index))
                      for kv in self.cross]

    def crop(self, length: int) -> None:
        """Forget every position from `length` on (e.g. to decode again from an earlier token)."""
        for layer in range(self.num_layers):
            if self._keys[layer] is None or self._lengths[layer] <= length:
                continue
            if not self.static:
                self._keys[layer] = self._keys[layer][:, :, :length]
                self._values[layer] = self._values[layer][:, :, :length]
            self._lengths[layer] = length
