"""BERT: embeddings -> post-LayerNorm transformer encoder -> task heads.

Module paths equal the keys of hub checkpoints (`bert.encoder.layer.0.attention.self.query.weight`),
so hub files and files saved by the reference library load without renames. RoBERTa and
ELECTRA reuse these blocks (they differ only in embeddings and heads).

Read top to bottom: config, embeddings, attention, layer, encoder, the base model, then one
class per task head, each with its whole forward.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import InputError, UnsupportedModelError
from ..nn.activations import get_activation
from ..nn.attention import Packing, additive_mask, attend, fused_qkv
from ..nn.hooks import HookPoint
from ..nn.losses import sequence_classification_loss, span_loss, token_loss
from ..nn.onednn import Linear, linear_act
from ..outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .modeling import PreTrainedModel, as_tuple, collect_internals, packing_for


@config_dataclass
class BertConfig(PretrainedConfig):
    model_type = "bert"
    positive_fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                       "max_position_embeddings", "type_vocab_size")
    divisible_fields = (("hidden_size", "num_attention_heads"),)

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    position_embedding_type: str = "absolute"
    classifier_dropout: float | None = None


def check_length(input_shape: torch.Size, config: PretrainedConfig, offset: int = 0) -> None:
    """A clear error instead of an index error deep inside the position embeddings."""
    limit = config.max_position_embeddings - offset
    if input_shape[-1] > limit:
        raise InputError(
            f"input has {input_shape[-1]} tokens but this model takes at most {limit}; "
            f"tokenize with truncation=True, max_length={limit} (or split the text)."
        )


def classifier_dropout(config: PretrainedConfig) -> float:
    p = getattr(config, "classifier_dropout", None)
    return config.hidden_dropout_prob if p is None else p


def run_encoder(
    model: nn.Module,
    embed: Callable[[], torch.Tensor],
    stack: nn.Module,
    *,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    output_attentions: bool,
    output_hidden_states: bool,
) -> BaseModelOutput:
    """The body every encoder's forward shares: embed, run the layer stack, gather what was asked for."""
    if (input_ids is None) == (inputs_embeds is None):
        raise InputError("pass exactly one of input_ids or inputs_embeds")
    with collect_internals(model, output_attentions, output_hidden_states) as internals:
        x = embed()
        x = stack(x, additive_mask(attention_mask, x.dtype), packing_for(model, attention_mask))
    return BaseModelOutput(
        last_hidden_state=x,
        hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
        attentions=as_tuple(internals["attentions"], output_attentions),
    )


def select_positions(hidden: torch.Tensor, logits_at: torch.Tensor | None) -> torch.Tensor:
    """`logits_at`: a (B, T) bool mask of the positions whose logits are wanted -> (N, C); None keeps all."""
    return hidden if logits_at is None else hidden[logits_at.to(hidden.device, torch.bool)]


# -- blocks ---------------------------------------------------------------------------------------
class BertEmbeddings(nn.Module):
    # RoBERTa numbers positions after its padding index; BERT from zero.
    position_offset = 0

    def __init__(self, config: PretrainedConfig, dim: int | None = None) -> None:
        super().__init__()
        dim = dim or config.hidden_size
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise UnsupportedModelError(
                f"position_embedding_type={config.position_embedding_type!r} is not supported; only 'absolute' is."
            )
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, dim, padding_idx=self.position_padding_idx(config))
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def position_padding_idx(self, config: PretrainedConfig) -> int | None:
        return None

    def position_ids(self, input_ids: torch.Tensor | None, seq_len: int, device: torch.device) -> torch.Tensor:
        return torch.arange(seq_len, device=device)[None, :]  # (1, T)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        seq_len = inputs_embeds.shape[1]
        if position_ids is None:
            check_length(inputs_embeds.shape[:-1], self.config, self.position_offset)
            position_ids = self.position_ids(input_ids, seq_len, inputs_embeds.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        x = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = Linear(config.hidden_size, config.hidden_size)
        self.key = Linear(config.hidden_size, config.hidden_size)
        self.value = Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        qkv = fused_qkv(x, self.query, self.key, self.value)  # (B, T, 3C), or (N, 3C) when packed
        if packing is not None:
            qkv = packing.unpack(qkv)
        B, T, C3 = qkv.shape
        # (B, T, 3C) -> 3 x (B, H, T, D)
        q, k, v = qkv.view(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = attend(q, k, v, mask, dropout_p=self.dropout_p if self.training else 0.0, probs_hook=self.attn_probs)
        y = y.transpose(1, 2).reshape(B, T, C3 // 3)
        return packing.pack(y) if packing is not None else y


class BertSelfOutput(nn.Module):
    def __init__(self, config: PretrainedConfig, in_features: int | None = None) -> None:
        super().__init__()
        self.dense = Linear(in_features or config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        return self.output(self.self(x, mask, packing), x)


class BertIntermediate(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.act = get_activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_act(x, self.dense, self.act)


class BertLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, config.intermediate_size)  # the checkpoints' `output.*` after the FFN
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        a = self.attention(x, mask, packing)
        return self.hidden_state(self.output(self.intermediate(a), a))


class BertEncoder(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the encoder's input: hidden_states[0]
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        x = self.hidden_state(x)
        if packing is not None:
            x = packing.pack(x)
        for layer in self.layer:
            x = layer(x, mask, packing)
        return packing.unpack(x) if packing is not None else x


class BertPooler(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x[:, 0]))


# -- the base model ---------------------------------------------------------------------------------
class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"


class BertModel(BertPreTrainedModel):
    embeddings_class: type[BertEmbeddings] = BertEmbeddings

    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = self.embeddings_class(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

    def embed(self, input_ids, token_type_ids, position_ids, inputs_embeds) -> torch.Tensor:
        return self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        out = run_encoder(
            self, lambda: self.embed(input_ids, token_type_ids, position_ids, inputs_embeds), self.encoder,
            input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
        )
        if self.pooler is not None:
            out.pooler_output = self.pooler(out.last_hidden_state)
        return out


# -- task heads -------------------------------------------------------------------------------------
class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = get_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = Linear(config.hidden_size, config.vocab_size, bias=False)  # tied to word embeddings
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x)) + self.bias


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictions(x)


class BertForMaskedLM(BertPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER
    tied_weights = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}
    key_aliases = {"cls.predictions.decoder.bias": "cls.predictions.bias"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False, output_hidden_states: bool = False,
                logits_at: torch.Tensor | None = None) -> MaskedLMOutput:
        """`logits_at`: a (B, T) bool mask; logits only there, as (N, vocab) (fill-mask needs few of them)."""
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.cls(select_positions(out.last_hidden_state, logits_at))
        loss = token_loss(logits, labels) if labels is not None else None
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class BertForSequenceClassification(BertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output))  # the pooled [CLS] vector
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class BertForTokenClassification(BertPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> TokenClassifierOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, labels)
        loss = token_loss(logits, labels) if labels is not None else None
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class BertForQuestionAnswering(BertPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                start_positions: torch.Tensor | None = None, end_positions: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> QuestionAnsweringModelOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(-1)  # 2 x (B, T)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)


CONFIG = BertConfig
HEADS = {
    "base": BertModel,
    "masked-lm": BertForMaskedLM,
    "sequence-classification": BertForSequenceClassification,
    "token-classification": BertForTokenClassification,
    "question-answering": BertForQuestionAnswering,
}
