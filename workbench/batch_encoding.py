"""A batch on its way into the Rust tokenizer and out of it, in the reference library's shapes.

In: `batch_inputs` checks the text arguments of a tokenizer call (one text, a pair, a batch of
texts or pairs, pre-split words) and shapes them for `encode_batch`. Out: `BatchEncoding`, a
`dict` of model inputs that also keeps the Rust encodings: attribute access (`batch.input_ids`),
the word/char/token maps of every row, and `convert_to_tensors` / `to(device)`; `to_python` is
the way back from tensors to lists. torch and numpy are imported only when tensors are asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tokenizers

from .errors import InputError, WorkbenchError

__all__ = ["BatchEncoding", "batch_inputs", "describe", "to_python"]


class BatchEncoding(dict):
    """The tokenizer's output: a dict (`input_ids`, `attention_mask`, ...) with attribute access.

    It is a real `dict`, so `model(**batch)` and `dict(batch)` work. `encodings` holds the Rust
    `tokenizers.Encoding` of every row (overflow rows included) for the word/char/token maps.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        encodings: Sequence[tokenizers.Encoding] | None = None,
        tensor_type: str | None = None,
    ) -> None:
        super().__init__(data or {})
        self._encodings = list(encodings) if encodings is not None else None
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; private names must fail fast (pickle, copy).
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no key {name!r}; keys: {list(self.keys())}") from None

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            return super().__getitem__(key)
        if isinstance(key, int) and self._encodings is not None:
            return self._encodings[key]  # the reference returns the row's Encoding for an int
        if isinstance(key, slice):
            return {k: v[key] for k, v in self.items()}
        raise KeyError(f"BatchEncoding keys are strings (got {key!r})")

    def __reduce__(self) -> tuple[Any, ...]:  # keep the dict content and the encodings through pickle/deepcopy
        return (BatchEncoding, (dict(self), self._encodings))

    @property
    def encodings(self) -> list[tokenizers.Encoding] | None:
        return self._encodings

    @property
    def n_sequences(self) -> int | None:
        return self._encodings[0].n_sequences if self._encodings else None

    def _encoding(self, batch_index: int) -> tokenizers.Encoding:
        if not self._encodings:
            raise WorkbenchError("This BatchEncoding has no encodings (it was built from ids, not text).")
        return self._encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index).word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index).sequence_ids

    # The mapping helpers take (index) for row 0 or (batch_index, index), like the reference.
    @staticmethod
    def _split(first: int, second: int | None) -> tuple[int, int]:
        return (0, first) if second is None else (first, second)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        b, t = self._split(batch_or_token_index, token_index)
        return self._encoding(b).token_to_word(t)

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        b, t = self._split(batch_or_token_index, token_index)
        return self._encoding(b).token_to_sequence(t)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> tuple[int, int] | None:
        b, t = self._split(batch_or_token_index, token_index)
        return self._encoding(b).token_to_chars(t)

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        b, c = self._split(batch_or_char_index, char_index)
        return self._encoding(b).char_to_token(c, sequence_index)

    def char_to_word(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        b, c = self._split(batch_or_char_index, char_index)
        return self._encoding(b).char_to_word(c, sequence_index)

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> tuple[int, int] | None:
        b, w = self._split(batch_or_word_index, word_index)
        return self._encoding(b).word_to_tokens(w, sequence_index)

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> tuple[int, int] | None:
        b, w = self._split(batch_or_word_index, word_index)
        return self._encoding(b).word_to_chars(w, sequence_index)

    def convert_to_tensors(self, tensor_type: str) -> BatchEncoding:
        """Turn every list value into a `torch.Tensor` ("pt") or `numpy.ndarray` ("np"), in place."""
        if tensor_type == "pt":
            import torch

            def as_tensor(value: Any) -> Any:
                return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.long)

        elif tensor_type == "np":
            import numpy as np

            def as_tensor(value: Any) -> Any:
                return value if isinstance(value, np.ndarray) else np.asarray(value, dtype=np.int64)

        else:
            raise InputError(f"return_tensors={tensor_type!r} is not supported; use 'pt', 'np' or None.")
        for key, value in list(self.items()):
            try:
                self[key] = as_tensor(value)
            except (ValueError, TypeError) as err:
                raise InputError(
                    f"Cannot stack {key!r} into one tensor: the sequences have different lengths. "
                    "Pass padding=True (and truncation=True for long texts) to get equal lengths."
                ) from err
        return self

    def to(self, device: Any, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every tensor value to `device` (a no-op for values that are not tensors)."""
        for key, value in list(self.items()):
            if hasattr(value, "to") and callable(value.to):
                self[key] = value.to(device=device, non_blocking=non_blocking)
        return self


def describe(value: Any) -> str:
    return f"{type(value).__name__} ({value!r:.40})"


def batch_inputs(text: Any, text_pair: Any, is_split_into_words: bool) -> tuple[list[Any], bool]:
    """Validate the text arguments and shape them for `encode_batch`; also says if it was a batch."""
    if is_split_into_words:

        def is_words(x: Any) -> bool:
            return isinstance(x, (list, tuple)) and all(isinstance(w, str) for w in x)

        is_batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        rows = list(text) if is_batched else [text]
        pairs = None
        if text_pair is not None and (is_batched or text_pair):
            pairs = list(text_pair) if is_batched else [text_pair]
        for name, items in (("text", rows), ("text_pair", pairs or [])):
            for i, words in enumerate(items):
                if not is_words(words):
                    raise InputError(
                        f"With is_split_into_words=True, {name} must be a list of words (strings) or a batch of "
                        f"such lists; item {i} is {describe(words)}."
                    )
    else:
        if isinstance(text, str):
            is_batched, rows = False, [text]
        elif isinstance(text, (list, tuple)):
            is_batched, rows = True, list(text)
        else:
            raise InputError(
                "text must be a string, a list of strings, or a list of (text, text_pair) tuples; "
                f"got {describe(text)}."
            )
        for i, item in enumerate(rows):
            is_pair = isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(s, str) for s in item)
            if not (isinstance(item, str) or (is_pair and text_pair is None)):
                raise InputError(
                    f"Every item of a batch must be a string (or a (text, text_pair) tuple); item {i} is "
                    f"{describe(item)}. For pre-split words pass is_split_into_words=True."
                )
        rows = [tuple(item) if isinstance(item, (list, tuple)) else item for item in rows]
        pairs = None
        if is_batched and text_pair is not None:
            if not isinstance(text_pair, (list, tuple)):
                raise InputError(
                    f"text is a batch of {len(rows)} texts, so text_pair must be a list of as many texts; "
                    f"got {describe(text_pair)}."
                )
            pairs = list(text_pair)
        elif not is_batched and text_pair:  # the reference treats text_pair="" as no pair
            if not isinstance(text_pair, str):
                raise InputError(
                    f"text is one string, so text_pair must be one string too; got {describe(text_pair)}."
                )
            pairs = [text_pair]
        for i, item in enumerate(pairs or []):
            if not isinstance(item, str):
                raise InputError(f"Every text_pair item must be a string; item {i} is {describe(item)}.")
    if is_batched and not rows:
        raise InputError("The batch is empty; pass at least one text.")
    if pairs is not None:
        if len(pairs) != len(rows):
            raise InputError(f"text has {len(rows)} items but text_pair has {len(pairs)}; they must match one to one.")
        rows = list(zip(rows, pairs, strict=True))
    return rows, is_batched


def to_python(value: Any) -> Any:
    """Tensors/arrays -> nested lists of ints; anything else unchanged."""
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if isinstance(value, tuple):
        return [to_python(v) for v in value]
    if isinstance(value, list) and value and hasattr(value[0], "tolist"):
        return [to_python(v) for v in value]
    return value
