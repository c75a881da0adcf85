"""Audio Spectrogram Transformer (AST): a log-mel filterbank image -> overlapping 16x16 patches -> a ViT encoder.

The spectrogram (`max_length` frames x `num_mel_bins`, from `workbench.processors.ASTFeatureExtractor`) is cut
into 16x16 patches with strides `frequency_stride` x `time_stride` (10 x 10: patches overlap), giving a
grid of frequency x time patches; two learned tokens ([CLS] and a distillation token) go in front, and
the pooled output is their mean after the last LayerNorm.

Module paths equal the hub checkpoint keys, which keep the ViT layout
(`audio_spectrogram_transformer.encoder.layer.0.attention.attention.query.weight`); the encoder is
written here (pre-norm ViT blocks), not shared, so the family reads top to bottom on its own. The
attention records kind "patches" on the patch grid (`patch_grid(config)`), for drawing over the
spectrogram.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError
from ..nn.activations import get_activation
from ..nn.attention import attend
from ..nn.hooks import HookPoint, hook_points
from ..nn.onednn import dense
from ..nn.losses import sequence_classification_loss
from ..outputs import BaseModelOutput, SequenceClassifierOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals

NUM_EXTRA_TOKENS = 2  # [CLS] and the distillation token, before the patches


@config_dataclass
class ASTConfig(PretrainedConfig):
    model_type = "audio-spectrogram-transformer"
    positive_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "patch_size",
                       "frequency_stride", "time_stride", "max_length", "num_mel_bins")
    divisible_fields = (("hidden_size", "num_attention_heads"),)

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    patch_size: int = 16
    qkv_bias: bool = True
    frequency_stride: int = 10
    time_stride: int = 10
    max_length: int = 1024
    num_mel_bins: int = 128

    def validate(self) -> None:
        super().validate()
        if self.patch_size > min(self.num_mel_bins, self.max_length):
            raise ConfigError(f"ASTConfig.patch_size = {self.patch_size} is larger than the spectrogram "
                              f"({self.max_length} frames x {self.num_mel_bins} mel bins); fix patch_size in config.json.")


def patch_grid(config: ASTConfig) -> tuple[int, int]:
    """(frequency patches, time patches): the rows and columns of the patch grid (12 x 101 for AudioSet AST)."""
    return ((config.num_mel_bins - config.patch_size) // config.frequency_stride + 1,
            (config.max_length - config.patch_size) // config.time_stride + 1)


# -- embeddings ------------------------------------------------------------------------------------------
class ASTPatchEmbeddings(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        p = config.patch_size
        self.projection = nn.Conv2d(1, config.hidden_size, kernel_size=(p, p),
                                    stride=(config.frequency_stride, config.time_stride))

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        """(B, frames, mel bins) -> (B, F' * T', C), frequency-major (row f holds T' time patches)."""
        x = input_values.unsqueeze(1).transpose(2, 3)  # (B, 1, mel, frames): frequency is the image's height
        return self.projection(x).flatten(2).transpose(1, 2)


class ASTEmbeddings(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.config = config
        rows, cols = patch_grid(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embeddings = ASTPatchEmbeddings(config)
        self.position_embeddings = nn.Parameter(torch.zeros(1, rows * cols + NUM_EXTRA_TOKENS, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if input_values.dim() != 3 or tuple(input_values.shape[1:]) != (cfg.max_length, cfg.num_mel_bins):
            raise InputError(
                f"AST expects filterbank features of shape (batch, {cfg.max_length}, {cfg.num_mel_bins}), got "
                f"{tuple(input_values.shape)}; make them with workbench.processors.ASTFeatureExtractor.")
        patches = self.patch_embeddings(input_values)
        b = patches.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.distillation_token.expand(b, -1, -1), patches], dim=1)
        return self.dropout(x + self.position_embeddings)


# -- the ViT encoder ------------------------------------------------------------------------------------
class ASTSelfAttention(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = d // self.num_heads
        self.query = nn.Linear(d, d, bias=config.qkv_bias)
        self.key = nn.Linear(d, d, bias=config.qkv_bias)
        self.value = nn.Linear(d, d, bias=config.qkv_bias)
        self.dropout_p = config.attention_probs_dropout_prob
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """`queries`: only the first ones attend (every token is still a key); None: all of them."""
        B, T, C = x.shape
        if queries is None:
            qkv = dense(x, self.query, self.key, self.value)  # (B, T, 3C): one matmul for the three projections
            q, k, v = qkv.view(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, D)
        else:
            k, v = dense(x, self.key, self.value).view(B, T, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q = dense(x[:, :queries], self.query).view(B, queries, self.num_heads, self.head_dim).transpose(1, 2)
        y = attend(q, k, v, None, dropout_p=self.dropout_p if self.training else 0.0, probs_hook=self.attn_probs)
        return y.transpose(1, 2).reshape(B, q.shape[2], C)


class ASTSelfOutput(nn.Module):
    def __init__(self, config: ASTConfig, in_features: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(dense(x, self.dense))


class ASTAttention(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.attention = ASTSelfAttention(config)
        self.output = ASTSelfOutput(config, config.hidden_size)

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        return self.output(self.attention(x, queries))


class ASTIntermediate(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = get_activation(config.hidden_act)
        self.fused_gelu = config.hidden_act == "gelu"  # exact GELU can be applied inside the matmul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dense(x, self.dense, gelu=True) if self.fused_gelu else self.act(dense(x, self.dense))


class ASTLayer(nn.Module):
    """Pre-norm: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.attention = ASTAttention(config)
        self.intermediate = ASTIntermediate(config)
        self.output = ASTSelfOutput(config, config.intermediate_size)  # the checkpoints' `output.*` after the MLP
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """`queries`: compute only the first rows (a head that reads only [CLS] and the distillation token)."""
        h = self.attention(self.layernorm_before(x), queries)
        x = (x if queries is None else x[:, :queries]) + h
        x = x + self.output(self.intermediate(self.layernorm_after(x)))
        return self.hidden_state(x)


class ASTEncoder(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the embeddings: hidden_states[0]
        self.layer = nn.ModuleList(ASTLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, last_rows: int | None = None) -> torch.Tensor:
        """`last_rows`: the last layer computes only that many leading rows (None: all)."""
        x = self.hidden_state(x)
        for i, layer in enumerate(self.layer):
            x = layer(x, last_rows if i == len(self.layer) - 1 else None)
        return x


# -- the base model ---------------------------------------------------------------------------------------
class ASTPreTrainedModel(PreTrainedModel):
    config_class = ASTConfig
    base_model_prefix = "audio_spectrogram_transformer"
    main_input_name = "input_values"
    attention_kinds = {"attn_probs": "patches"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Conv2d):
            module.weight.normal_(0.0, self.config.initializer_range)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, ASTEmbeddings):  # the reference starts the learned tokens and positions at zero
            module.cls_token.zero_()
            module.distillation_token.zero_()
            module.position_embeddings.zero_()


class ASTModel(ASTPreTrainedModel):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__(config)
        self.embeddings = ASTEmbeddings(config)
        self.encoder = ASTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def _hook_points(self) -> list[HookPoint]:
        points = self.__dict__.get("_points")
        if points is None:
            points = self.__dict__["_points"] = list(hook_points(self).values())
        return points

    def forward(self, input_values: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False, *, pooled_only: bool = False) -> BaseModelOutput:
        """input_values (B, max_length, num_mel_bins) -> last_hidden_state (B, 2 + F' * T', C) and pooler_output
        (B, C), the mean of the [CLS] and distillation tokens. `pooled_only`: the caller reads only pooler_output,
        so the last layer computes only those two rows (every patch is still attended to), and last_hidden_state
        holds just them; ignored while anything watches a hook point."""
        watched = output_attentions or output_hidden_states or any(p.active for p in self._hook_points())
        rows = NUM_EXTRA_TOKENS if pooled_only and not watched else None
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = self.encoder(self.embeddings(input_values.to(self.dtype)), rows)
        x = self.layernorm(x)
        return BaseModelOutput(
            last_hidden_state=x,
            pooler_output=(x[:, 0] + x[:, 1]) / 2,
            hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
            attentions=as_tuple(internals["attentions"], output_attentions),
        )


# -- task heads -------------------------------------------------------------------------------------------
class ASTMLPHead(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(x))


class ASTForAudioClassification(ASTPreTrainedModel):
    """Clip-level labels (AudioSet's 527 sound classes, speech commands, ...) from the pooled tokens."""

    def __init__(self, config: ASTConfig) -> None:
        super().__init__(config)
        self.audio_spectrogram_transformer = ASTModel(config)
        self.classifier = ASTMLPHead(config)

    def forward(self, input_values: torch.Tensor, labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        out = self.audio_spectrogram_transformer(input_values, output_attentions=output_attentions,
                                                 output_hidden_states=output_hidden_states, pooled_only=True)
        logits = self.classifier(out.pooler_output)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


CONFIG = ASTConfig
HEADS = {"base": ASTModel, "audio-classification": ASTForAudioClassification}
