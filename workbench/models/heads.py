"""Task heads shared by the encoder families: one forward per task.

A family's head class builds its own modules (names follow its checkpoints) and, where
its head differs, overrides one small method (`mlm_logits`, `classify`). The encoder lives
at `self.<base_model_prefix>` as in the hub files.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel, sequence_classification_loss, span_loss, token_loss
from ..outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


class EncoderTaskModel(PreTrainedModel):
    def encode(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        output_attentions: bool,
        output_hidden_states: bool,
    ) -> BaseModelOutput:
        inputs = {
            "input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
            "position_ids": position_ids, "inputs_embeds": inputs_embeds,
        }
        encoder = getattr(self, self.base_model_prefix)
        return encoder(
            **{k: v for k, v in inputs.items() if v is not None},
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )


class MaskedLMModel(EncoderTaskModel):
    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False,
                return_dict: bool = True) -> MaskedLMOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions, output_hidden_states)
        logits = self.mlm_logits(out.last_hidden_state)
        loss = token_loss(logits, labels) if labels is not None else None
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class SequenceClassificationModel(EncoderTaskModel):
    def classify(self, out: BaseModelOutput) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False,
                return_dict: bool = True) -> SequenceClassifierOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions, output_hidden_states)
        logits = self.classify(out)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class TokenClassificationModel(EncoderTaskModel):
    """Expects `self.dropout` and `self.classifier` (the same names in every family's files)."""

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False,
                return_dict: bool = True) -> TokenClassifierOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_loss(logits, labels) if labels is not None else None
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class QuestionAnsweringModel(EncoderTaskModel):
    """Expects `self.qa_outputs` (hidden -> 2: start and end logits)."""

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, return_dict: bool = True) -> QuestionAnsweringModelOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions, output_hidden_states)
        hidden = out.last_hidden_state
        if hasattr(self, "dropout"):
            hidden = self.dropout(hidden)
        start_logits, end_logits = (t.squeeze(-1) for t in self.qa_outputs(hidden).split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)


def classifier_dropout(config: PretrainedConfig) -> float:
    p = getattr(config, "classifier_dropout", None)
    return config.hidden_dropout_prob if p is None else p


class FirstTokenClassificationHead(nn.Module):
    """The first token's vector -> dense -> activation -> labels (RoBERTa: tanh, ELECTRA: gelu).

    Module names (`dense`, `out_proj`) are those of the checkpoints' `classifier.*` keys.
    """

    def __init__(self, config: PretrainedConfig, activation: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)
        self.activation = activation

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])
        x = self.dropout(self.activation(self.dense(x)))
        return self.out_proj(x)
