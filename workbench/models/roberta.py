"""RoBERTa: BERT's encoder with position ids counted after the padding index, no token types, its own heads."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..nn.losses import sequence_classification_loss, span_loss, token_loss
from ..nn.onednn import Linear
from ..outputs import MaskedLMOutput, QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput
from .bert import BertConfig, BertEmbeddings, BertModel, classifier_dropout, select_positions
from .modeling import PreTrainedModel


@config_dataclass
class RobertaConfig(BertConfig):
    model_type = "roberta"

    vocab_size: int = 50265
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2


class RobertaEmbeddings(BertEmbeddings):
    def __init__(self, config: PretrainedConfig, dim: int | None = None) -> None:
        super().__init__(config, dim)
        self.padding_idx = config.pad_token_id
        self.position_offset = config.pad_token_id + 1

    def position_padding_idx(self, config: PretrainedConfig) -> int | None:
        return config.pad_token_id

    def position_ids(self, input_ids: torch.Tensor | None, seq_len: int, device: torch.device) -> torch.Tensor:
        if input_ids is None:  # only embeddings given: no padding to see, count from padding_idx + 1
            return torch.arange(self.padding_idx + 1, seq_len + self.padding_idx + 1, device=device)[None, :]
        # Real tokens are numbered padding_idx+1, +2, ...; padding keeps padding_idx.
        mask = input_ids.ne(self.padding_idx).int()
        return (torch.cumsum(mask, dim=1) * mask).long() + self.padding_idx  # (B, T)


class RobertaPreTrainedModel(PreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"


class RobertaModel(RobertaPreTrainedModel, BertModel):
    embeddings_class = RobertaEmbeddings


class RobertaLMHead(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = Linear(config.hidden_size, config.vocab_size, bias=False)  # tied to word embeddings
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(F.gelu(self.dense(x)))) + self.bias


class RobertaClassificationHead(nn.Module):
    """The first token's vector -> dense -> activation -> labels (module names of the `classifier.*` keys).

    RoBERTa uses tanh; ELECTRA the same head with gelu.
    """

    def __init__(self, config: PretrainedConfig, activation=torch.tanh) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.out_proj = Linear(config.hidden_size, config.num_labels)
        self.activation = activation

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])
        x = self.dropout(self.activation(self.dense(x)))
        return self.out_proj(x)


class RobertaForMaskedLM(RobertaPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER
    tied_weights = {"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight"}
    key_aliases = {"lm_head.decoder.bias": "lm_head.bias"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False, output_hidden_states: bool = False,
                logits_at: torch.Tensor | None = None) -> MaskedLMOutput:
        """`logits_at`: a (B, T) bool mask; logits only there, as (N, vocab)."""
        out = self.roberta(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.lm_head(select_positions(out.last_hidden_state, logits_at))
        loss = token_loss(logits, labels) if labels is not None else None
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class RobertaForSequenceClassification(RobertaPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        out = self.roberta(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class RobertaForTokenClassification(RobertaPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> TokenClassifierOutput:
        out = self.roberta(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_loss(logits, labels) if labels is not None else None
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class RobertaForQuestionAnswering(RobertaPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                start_positions: torch.Tensor | None = None, end_positions: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> QuestionAnsweringModelOutput:
        out = self.roberta(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)


CONFIG = RobertaConfig
HEADS = {
    "base": RobertaModel,
    "masked-lm": RobertaForMaskedLM,
    "sequence-classification": RobertaForSequenceClassification,
    "token-classification": RobertaForTokenClassification,
    "question-answering": RobertaForQuestionAnswering,
}
