"""Model outputs: dataclasses with the field names users know (`.logits`, `.attentions`, ...).

Like the reference library's, they also index by name (`out["logits"]`) and by position
over the fields that are set (`out[0]`), so code written for either works with both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator

import torch

Tensors = tuple[torch.Tensor, ...]


@dataclass
class ModelOutput:
    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(v for v in (getattr(self, f.name) for f in fields(self)) if v is not None)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class PreTrainingOutput(ModelOutput):
    """ELECTRA discriminator: one logit per token (replaced or original)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class Seq2SeqOutput(ModelOutput):
    """Encoder-decoder models (Whisper, BART, T5): the decoder's logits (or states) and both stacks' internals."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    past_key_values: Any = None  # the KV cache (workbench.nn.cache.KVCache) the decoder ran on
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    decoder_hidden_states: Tensors | None = None
    encoder_attentions: Tensors | None = None
    decoder_attentions: Tensors | None = None
    cross_attentions: Tensors | None = None


@dataclass
class BaseModelOutputWithPast(ModelOutput):
    """A decoder stack: the last hidden state and the KV cache it filled."""

    last_hidden_state: torch.Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class CausalLMOutput(ModelOutput):
    """A decoder with a language-model head: next-token logits at each kept position."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class ImageClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class SemanticSegmenterOutput(ModelOutput):
    """Per-pixel class scores (B, num_labels, h, w), usually at a fraction of the input's resolution."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class DepthEstimatorOutput(ModelOutput):
    """Relative (or metric) depth per input pixel: (B, H, W)."""

    loss: torch.Tensor | None = None
    predicted_depth: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class UniversalSegmentationModelOutput(ModelOutput):
    """A mask classifier's body (Mask2Former): the backbone's last map, the pixel decoder's mask features, the
    transformer decoder's queries, and every decoder layer's mask logits (the last is the model's)."""

    encoder_last_hidden_state: torch.Tensor | None = None
    pixel_decoder_last_hidden_state: torch.Tensor | None = None
    transformer_decoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    pixel_decoder_hidden_states: Tensors | None = None
    transformer_decoder_hidden_states: Tensors | None = None
    transformer_decoder_intermediate_states: Tensors | None = None
    masks_queries_logits: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class OneFormerModelOutput(ModelOutput):
    """OneFormer's body, in the reference's field names: the backbone's maps, the pixel decoder's (mask features
    first, then the three levels), the task token (B, d) from the task text, the queries the decoder started from
    (`transformer_decoder_contrastive_queries`, the task token last) and ended with, the last step's class and mask
    logits, and every earlier step's (`transformer_decoder_auxiliary_predictions`)."""

    encoder_hidden_states: Tensors | None = None
    pixel_decoder_hidden_states: Tensors | None = None
    transformer_decoder_hidden_states: tuple[dict[str, torch.Tensor], ...] | None = None
    transformer_decoder_object_queries: torch.Tensor | None = None
    transformer_decoder_contrastive_queries: torch.Tensor | None = None
    transformer_decoder_mask_predictions: torch.Tensor | None = None
    transformer_decoder_class_predictions: torch.Tensor | None = None
    transformer_decoder_auxiliary_predictions: tuple[dict[str, torch.Tensor], ...] | None = None
    text_queries: torch.Tensor | None = None
    task_token: torch.Tensor | None = None
    attentions: tuple[Tensors, ...] | None = None


@dataclass
class OneFormerForUniversalSegmentationOutput(ModelOutput):
    """Mask classification conditioned on a task (semantic / instance / panoptic): `class_queries_logits`
    (B, Q, num_labels + 1) and `masks_queries_logits` (B, Q, h, w), as Mask2Former's; then the body's fields."""

    loss: torch.Tensor | None = None
    class_queries_logits: torch.Tensor | None = None
    masks_queries_logits: torch.Tensor | None = None
    auxiliary_predictions: tuple[dict[str, torch.Tensor], ...] | None = None
    encoder_hidden_states: Tensors | None = None
    pixel_decoder_hidden_states: Tensors | None = None
    transformer_decoder_hidden_states: tuple[dict[str, torch.Tensor], ...] | None = None
    transformer_decoder_object_queries: torch.Tensor | None = None
    transformer_decoder_contrastive_queries: torch.Tensor | None = None
    transformer_decoder_mask_predictions: torch.Tensor | None = None
    transformer_decoder_class_predictions: torch.Tensor | None = None
    transformer_decoder_auxiliary_predictions: tuple[dict[str, torch.Tensor], ...] | None = None
    text_queries: torch.Tensor | None = None
    task_token: torch.Tensor | None = None
    attentions: tuple[Tensors, ...] | None = None


@dataclass
class UniversalSegmentationOutput(ModelOutput):
    """Mask classification: per query a class distribution (B, Q, num_labels + 1; the last is "no object") and a mask
    (B, Q, h, w) at a quarter of the input's resolution. Post-processing turns them into semantic, instance or
    panoptic segments (`workbench.processors.segmentation`)."""

    loss: torch.Tensor | None = None
    class_queries_logits: torch.Tensor | None = None
    masks_queries_logits: torch.Tensor | None = None
    auxiliary_logits: list[dict[str, torch.Tensor]] | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    pixel_decoder_last_hidden_state: torch.Tensor | None = None
    transformer_decoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    pixel_decoder_hidden_states: Tensors | None = None
    transformer_decoder_hidden_states: Tensors | None = None
    attentions: Tensors | None = None
