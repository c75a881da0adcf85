"""RoBERTa: BERT's encoder with position ids counted after the padding index and its own heads."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput
from .bert import BertConfig, BertEmbeddings, BertModel
from .heads import (
    FirstTokenClassificationHead,
    MaskedLMModel,
    QuestionAnsweringModel,
    SequenceClassificationModel,
    TokenClassificationModel,
    classifier_dropout,
)


class RobertaConfig(BertConfig):
    model_type = "roberta"
    defaults = {
        **BertConfig.defaults,
        "vocab_size": 50265,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }


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
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)  # tied to word embeddings
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(F.gelu(self.dense(x)))) + self.bias


class RobertaForMaskedLM(RobertaPreTrainedModel, MaskedLMModel):
    ignore_on_load = PreTrainedModel.NO_POOLER
    tied_weights = {"lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight"}
    key_aliases = {"lm_head.decoder.bias": "lm_head.bias"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden)


class RobertaForSequenceClassification(RobertaPreTrainedModel, SequenceClassificationModel):
    ignore_on_load = PreTrainedModel.NO_POOLER
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = FirstTokenClassificationHead(config, torch.tanh)

    def classify(self, out: BaseModelOutput) -> torch.Tensor:
        return self.classifier(out.last_hidden_state)


class RobertaForTokenClassification(RobertaPreTrainedModel, TokenClassificationModel):
    ignore_on_load = PreTrainedModel.NO_POOLER
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)


class RobertaForQuestionAnswering(RobertaPreTrainedModel, QuestionAnsweringModel):
    ignore_on_load = PreTrainedModel.NO_POOLER
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)


CONFIG = RobertaConfig
HEADS = {
    "base": RobertaModel,
    "masked-lm": RobertaForMaskedLM,
    "sequence-classification": RobertaForSequenceClassification,
    "token-classification": RobertaForTokenClassification,
    "question-answering": RobertaForQuestionAnswering,
}
