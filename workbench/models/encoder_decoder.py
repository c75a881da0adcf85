"""What the text encoder-decoder families (BART, T5) share: the encoder's states for decoding, the
decoder's causal mask, and one forward that gathers both stacks' internals into a `Seq2SeqOutput`.

Functions, not a base class: each family's forward stays readable in its own file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..nn.attention import additive_mask
from ..nn.cache import KVCache
from ..nn.losses import token_loss
from ..outputs import Seq2SeqOutput
from .modeling import as_tuple, collect_internals


class EncoderStates(tuple):
    """The encoder's output as the decoder needs it: (hidden (B, S, C), padding mask (B, S) or None).

    A tuple, so the generation loops can select rows of both at once (`type(x)(rows of each)`);
    the mask has one row per input, never per beam: the decoder's cross-attention lets the beams
    of an input share it (`workbench.nn.attention.attend`).
    """

    def __new__(cls, items: Iterable[Any]) -> "EncoderStates":
        items = tuple(items)
        if len(items) != 2:
            raise InputError(f"encoder states are (hidden, attention_mask); got {len(items)} items.")
        return super().__new__(cls, items)

    @property
    def hidden(self) -> torch.Tensor:
        return self[0]

    @property
    def mask(self) -> torch.Tensor | None:
        return self[1]

    def cross_mask(self, dtype: torch.dtype) -> torch.Tensor | None:
        """The additive (B, 1, 1, S) mask the cross-attention adds (None: no padding)."""
        return additive_mask(self.mask, dtype)


def encoder_states(hidden: torch.Tensor | Any, attention_mask: torch.Tensor | None) -> EncoderStates:
    """Wrap an encoder output (a tensor, an `EncoderStates`, or a reference-style tuple whose first item is the
    hidden states) with its padding mask; an all-ones mask becomes None (the fused path needs none)."""
    if isinstance(hidden, EncoderStates):
        return hidden if attention_mask is None else EncoderStates((hidden.hidden, _mask(attention_mask, hidden.hidden)))
    if not isinstance(hidden, torch.Tensor):
        hidden = hidden[0]
    return EncoderStates((hidden, _mask(attention_mask, hidden)))


def _mask(attention_mask: torch.Tensor | None, hidden: torch.Tensor) -> torch.Tensor | None:
    if attention_mask is None or bool(attention_mask.all()):
        return None
    if attention_mask.shape != hidden.shape[:2]:
        raise InputError(f"attention_mask has shape {tuple(attention_mask.shape)}, but the encoder states are "
                         f"{tuple(hidden.shape[:2])} (batch, tokens); pass the mask the tokenizer returned.")
    return attention_mask.to(hidden.device)


def causal_mask(t: int, past: int, dtype: torch.dtype, device: torch.device,
                padding: torch.Tensor | None = None) -> torch.Tensor | None:
    """Additive mask of t new decoder tokens over past + t positions: causal over the new ones, full view of
    the cached ones; `padding` (B, past + t) of 1/0 masks padded decoder positions too. None when nothing is masked."""
    mask = None
    if t > 1:
        allowed = torch.ones(t, past + t, dtype=torch.bool, device=device).tril(past)
        mask = torch.zeros(t, past + t, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
    pad = additive_mask(padding, dtype) if padding is not None else None
    if pad is None:
        return mask
    return pad if mask is None else (mask + pad).clamp(min=torch.finfo(dtype).min)  # (B, 1, t, T)


def shift_right(labels: torch.Tensor, start_id: int, pad_id: int | None) -> torch.Tensor:
    """Teacher forcing: the decoder reads the labels one step late, behind the start token (-100 -> pad)."""
    if pad_id is None:
        raise InputError("the config has no pad_token_id, which shifting labels into decoder inputs needs.")
    shifted = torch.cat([torch.full_like(labels[:, :1], start_id), labels[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == -100, pad_id)


def encode_source(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                  device: torch.device) -> EncoderStates:
    """The generation protocol's `encode`: source ids (B, S) -> the encoder's states with their padding mask."""
    mask = None if attention_mask is None else attention_mask.to(device)
    return encoder_states(encoder(input_ids.to(device), mask), mask)


def with_lm_loss(out: Seq2SeqOutput, logits: torch.Tensor, labels: torch.Tensor | None) -> Seq2SeqOutput:
    """An LM head's output: its logits in place of the decoder states, and the token loss when labels are given."""
    out.logits, out.last_hidden_state = logits, None
    if labels is not None:
        out.loss = token_loss(logits.float(), labels)
    return out


def run_seq2seq(encoder: nn.Module, decoder: nn.Module, encode: Callable[[], EncoderStates],
                decode: Callable[[EncoderStates, KVCache], torch.Tensor], cache: KVCache, *,
                output_attentions: bool, output_hidden_states: bool) -> Seq2SeqOutput:
    """Encode (`encode()`, which may return given states without running the encoder), then decode on the
    cache; hook points gather attentions and hidden states. The last hidden state of each stack is its output
    (after its final norm, if any), as the reference reports it."""
    with collect_internals(encoder, output_attentions, output_hidden_states) as enc:
        states = encode()
    with collect_internals(decoder, output_attentions, output_hidden_states) as dec_self, \
            collect_internals(decoder, output_attentions, False, attention_names="cross_attn_probs") as dec_cross:
        hidden = decode(states, cache)
    out = Seq2SeqOutput(last_hidden_state=hidden, past_key_values=cache, encoder_last_hidden_state=states.hidden)
    if output_hidden_states:
        out.encoder_hidden_states = (*enc["hidden_states"][:-1], states.hidden) if enc["hidden_states"] else None
        out.decoder_hidden_states = (*dec_self["hidden_states"][:-1], hidden)
    if output_attentions:
        out.encoder_attentions = as_tuple(enc["attentions"], True) if enc["attentions"] else None
        out.decoder_attentions = as_tuple(dec_self["attentions"], True)
        out.cross_attentions = as_tuple(dec_cross["attentions"], True)
    return out
