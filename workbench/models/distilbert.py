"""DistilBERT: a 6-layer BERT without token types or pooler; its own module names (q_lin, ffn.lin1, ...)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..nn.activations import get_activation
from ..nn.attention import Packing, attend, fused_qkv
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
from .bert import check_length, run_encoder, select_positions
from .modeling import PreTrainedModel

LN_EPS = 1e-12  # fixed in DistilBERT, not a config field


@config_dataclass
class DistilBertConfig(PretrainedConfig):
    model_type = "distilbert"
    attribute_map = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}
    positive_fields = ("vocab_size", "max_position_embeddings", "n_layers", "n_heads", "dim", "hidden_dim")
    divisible_fields = (("dim", "n_heads"),)

    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    initializer_range: float = 0.02
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int | None = 0


def sinusoidal_table(n_pos: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos position table used when `sinusoidal_pos_embds` is set."""
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    rate = torch.pow(10000.0, 2 * (torch.arange(dim) // 2).to(torch.float64) / dim)
    angles = pos / rate  # (n_pos, dim)
    table = torch.empty(n_pos, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


class Embeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=LN_EPS)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None, position_ids: torch.Tensor | None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            check_length(inputs_embeds.shape[:-1], self.config)
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)[None, :]
        return self.dropout(self.LayerNorm(inputs_embeds + self.position_embeddings(position_ids)))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.dim // config.n_heads
        self.q_lin = Linear(config.dim, config.dim)
        self.k_lin = Linear(config.dim, config.dim)
        self.v_lin = Linear(config.dim, config.dim)
        self.out_lin = Linear(config.dim, config.dim)
        self.dropout_p = config.attention_dropout
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        qkv = fused_qkv(x, self.q_lin, self.k_lin, self.v_lin)  # (B, T, 3C), or (N, 3C) when packed
        if packing is not None:
            qkv = packing.unpack(qkv)
        B, T, C3 = qkv.shape
        q, k, v = qkv.view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, D)
        y = attend(q, k, v, mask, dropout_p=self.dropout_p if self.training else 0.0, probs_hook=self.attn_probs)
        y = y.transpose(1, 2).reshape(B, T, C3 // 3)
        return self.out_lin(packing.pack(y) if packing is not None else y)


class FFN(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.lin1 = Linear(config.dim, config.hidden_dim)
        self.lin2 = Linear(config.hidden_dim, config.dim)
        self.act = get_activation(config.activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(linear_act(x, self.lin1, self.act)))


class TransformerBlock(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=LN_EPS)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=LN_EPS)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        a = self.sa_layer_norm(self.attention(x, mask, packing) + x)
        return self.hidden_state(self.output_layer_norm(self.ffn(a) + a))


class Transformer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the stack's input: hidden_states[0]
        self.layer = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, packing: Packing | None = None) -> torch.Tensor:
        x = self.hidden_state(x)
        if packing is not None:
            x = packing.pack(x)
        for block in self.layer:
            x = block(x, mask, packing)
        return packing.unpack(x) if packing is not None else x


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, Embeddings) and self.config.sinusoidal_pos_embds:
            module.position_embeddings.weight.copy_(sinusoidal_table(self.config.max_position_embeddings, self.config.dim))


class DistilBertModel(DistilBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        return run_encoder(
            self, lambda: self.embeddings(input_ids, inputs_embeds, position_ids), self.transformer,
            input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
        )


class DistilBertForMaskedLM(DistilBertPreTrainedModel):
    tied_weights = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.act = get_activation(config.activation)
        self.distilbert = DistilBertModel(config)
        self.vocab_transform = Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=LN_EPS)
        self.vocab_projector = Linear(config.dim, config.vocab_size)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False, output_hidden_states: bool = False,
                logits_at: torch.Tensor | None = None) -> MaskedLMOutput:
        """`logits_at`: a (B, T) bool mask; logits only there, as (N, vocab)."""
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds,
                              output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        hidden = select_positions(out.last_hidden_state, logits_at)
        logits = self.vocab_projector(self.vocab_layer_norm(self.act(self.vocab_transform(hidden))))
        loss = token_loss(logits, labels) if labels is not None else None
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class DistilBertForSequenceClassification(DistilBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = Linear(config.dim, config.dim)
        self.classifier = Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds,
                              output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        x = torch.relu(self.pre_classifier(out.last_hidden_state[:, 0]))  # the first token's vector
        logits = self.classifier(self.dropout(x))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class DistilBertForTokenClassification(DistilBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = Linear(config.dim, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> TokenClassifierOutput:
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds,
                              output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_loss(logits, labels) if labels is not None else None
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.qa_outputs = Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.qa_dropout)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                start_positions: torch.Tensor | None = None, end_positions: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> QuestionAnsweringModelOutput:
        out = self.distilbert(input_ids, attention_mask, position_ids, inputs_embeds,
                              output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        start_logits, end_logits = self.qa_outputs(self.dropout(out.last_hidden_state)).unbind(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)


CONFIG = DistilBertConfig
HEADS = {
    "base": DistilBertModel,
    "masked-lm": DistilBertForMaskedLM,
    "sequence-classification": DistilBertForSequenceClassification,
    "token-classification": DistilBertForTokenClassification,
    "question-answering": DistilBertForQuestionAnswering,
}
