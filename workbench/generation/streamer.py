"""Streaming: text pieces as they are generated, for a loop on another thread (a panel, a notebook cell)."""

from __future__ import annotations

import queue
from typing import Any

import torch


class TextIteratorStreamer:
    """Iterate over the text of the first sequence while `generate(..., streamer=this)` runs elsewhere.

    Tokens are decoded together (a word split over several tokens, or a character over several
    bytes, arrives whole): a piece is released once the decoded text no longer ends in an
    incomplete character. `ids` keeps every streamed token id, in order.
    """

    _END = object()

    def __init__(self, tokenizer: Any, *, skip_special_tokens: bool = True, timeout: float | None = None) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.timeout = timeout
        self.ids: list[int] = []
        self._printed = 0
        self._queue: queue.Queue = queue.Queue()

    def __call__(self, token: torch.Tensor) -> None:
        """Called by the decoding loop with the chosen ids (B,) after each step; only row 0 is streamed."""
        self.ids.append(int(token.reshape(-1)[0]))
        text = self.tokenizer.decode(self.ids, skip_special_tokens=self.skip_special_tokens)
        if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
            return
        if len(text) > self._printed:
            self._queue.put(text[self._printed :])
            self._printed = len(text)

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=self.skip_special_tokens)
        if len(text) > self._printed:
            self._queue.put(text[self._printed :])
            self._printed = len(text)
        self._queue.put(self._END)

    def __iter__(self) -> "TextIteratorStreamer":
        return self

    def __next__(self) -> str:
        piece = self._queue.get(timeout=self.timeout)
        if piece is self._END:
            raise StopIteration
        return piece
