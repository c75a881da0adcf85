"""ELECTRA: BERT's encoder behind small embeddings (projected up), a replaced-token discriminator head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..activations import get_activation
from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput, PreTrainingOutput
from .bert import BertConfig, BertEmbeddings, BertModel
from .heads import (
    EncoderTaskModel,
    FirstTokenClassificationHead,
    MaskedLMModel,
    QuestionAnsweringModel,
    SequenceClassificationModel,
    TokenClassificationModel,
    classifier_dropout,
)


class ElectraConfig(BertConfig):
    model_type = "electra"
    defaults = {
        **BertConfig.defaults,
        "embedding_size": 128,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "summary_type": "first",
        "summary_use_proj": True,
        "summary_activation": "gelu",
        "summary_last_dropout": 0.1,
    }


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
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)

    def embed(self, input_ids, token_type_ids, position_ids, inputs_embeds) -> torch.Tensor:
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        return self.embeddings_project(x) if hasattr(self, "embeddings_project") else x


class ElectraDiscriminatorPredictions(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = get_activation(config.hidden_act)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_prediction(self.act(self.dense(x))).squeeze(-1)  # (B, T)


class ElectraForPreTraining(ElectraPreTrainedModel, EncoderTaskModel):
    """The discriminator: for each token, the logit that it was replaced by the generator."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False,
                return_dict: bool = True) -> PreTrainingOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions, output_hidden_states)
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None
        if labels is not None:
            keep = attention_mask.bool() if attention_mask is not None else torch.ones_like(labels, dtype=torch.bool)
            loss = F.binary_cross_entropy_with_logits(logits[keep], labels[keep].to(logits.dtype))
        return PreTrainingOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraGeneratorPredictions(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class ElectraForMaskedLM(ElectraPreTrainedModel, MaskedLMModel):
    """The generator: a small masked-LM whose output layer shares the word embeddings."""

    tied_weights = {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = nn.Linear(config.embedding_size, config.vocab_size)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.generator_lm_head(self.generator_predictions(hidden))


class ElectraForSequenceClassification(ElectraPreTrainedModel, SequenceClassificationModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.classifier = FirstTokenClassificationHead(config, F.gelu)

    def classify(self, out: BaseModelOutput) -> torch.Tensor:
        return self.classifier(out.last_hidden_state)


class ElectraForTokenClassification(ElectraPreTrainedModel, TokenClassificationModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)


class ElectraForQuestionAnswering(ElectraPreTrainedModel, QuestionAnsweringModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)


CONFIG = ElectraConfig
HEADS = {
    "base": ElectraModel,
    "pretraining": ElectraForPreTraining,
    "masked-lm": ElectraForMaskedLM,
    "sequence-classification": ElectraForSequenceClassification,
    "token-classification": ElectraForTokenClassification,
    "question-answering": ElectraForQuestionAnswering,
}
