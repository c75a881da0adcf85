"""ELECTRA: BERT's encoder behind small embeddings (projected up), a replaced-token discriminator head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..nn.activations import get_activation
from ..nn.losses import sequence_classification_loss, span_loss, token_loss
from ..nn.onednn import Linear
from ..outputs import (
    MaskedLMOutput,
    PreTrainingOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .bert import BertConfig, BertEmbeddings, BertModel, classifier_dropout, select_positions
from .modeling import PreTrainedModel
from .roberta import RobertaClassificationHead


@config_dataclass
class ElectraConfig(BertConfig):
    model_type = "electra"
    positive_fields = BertConfig.positive_fields + ("embedding_size",)

    embedding_size: int = 128
    hidden_size: int = 256
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    summary_type: str = "first"
    summary_use_proj: bool = True
    summary_activation: str = "gelu"
    summary_last_dropout: float = 0.1


class ElectraEmbeddings(BertEmbeddings):
    def __init__(self, config: PretrainedConfig, dim: int | None = None) -> None:
        super().__init__(config, dim or config.embedding_size)


class ElectraPreTrainedModel(PreTrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"


class ElectraModel(ElectraPreTrainedModel, BertModel):
    embeddings_class = ElectraEmbeddings

    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config, add_pooling_layer=False)  # ELECTRA checkpoints have no pooler
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = Linear(config.embedding_size, config.hidden_size)

    def embed(self, input_ids, token_type_ids, position_ids, inputs_embeds) -> torch.Tensor:
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        return self.embeddings_project(x) if hasattr(self, "embeddings_project") else x


class ElectraDiscriminatorPredictions(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = get_activation(config.hidden_act)
        self.dense_prediction = Linear(config.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_prediction(self.act(self.dense(x))).squeeze(-1)  # (B, T)


class ElectraForPreTraining(ElectraPreTrainedModel):
    """The discriminator: for each token, the logit that it was replaced by the generator."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> PreTrainingOutput:
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None
        if labels is not None:  # binary: replaced or original, over real tokens only
            keep = attention_mask.bool() if attention_mask is not None else torch.ones_like(labels, dtype=torch.bool)
            loss = F.binary_cross_entropy_with_logits(logits[keep], labels[keep].to(logits.dtype))
        return PreTrainingOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraGeneratorPredictions(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dense = Linear(config.hidden_size, config.embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class ElectraForMaskedLM(ElectraPreTrainedModel):
    """The generator: a small masked-LM whose output layer shares the word embeddings."""

    tied_weights = {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = Linear(config.embedding_size, config.vocab_size)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False, output_hidden_states: bool = False,
                logits_at: torch.Tensor | None = None) -> MaskedLMOutput:
        """`logits_at`: a (B, T) bool mask; logits only there, as (N, vocab)."""
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        hidden = select_positions(out.last_hidden_state, logits_at)
        logits = self.generator_lm_head(self.generator_predictions(hidden))
        loss = token_loss(logits, labels) if labels is not None else None
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForSequenceClassification(ElectraPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.classifier = RobertaClassificationHead(config, activation=F.gelu)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForTokenClassification(ElectraPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> TokenClassifierOutput:
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_loss(logits, labels) if labels is not None else None
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForQuestionAnswering(ElectraPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                start_positions: torch.Tensor | None = None, end_positions: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> QuestionAnsweringModelOutput:
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)


CONFIG = ElectraConfig
HEADS = {
    "base": ElectraModel,
    "pretraining": ElectraForPreTraining,
    "masked-lm": ElectraForMaskedLM,
    "sequence-classification": ElectraForSequenceClassification,
    "token-classification": ElectraForTokenClassification,
    "question-answering": ElectraForQuestionAnswering,
}
