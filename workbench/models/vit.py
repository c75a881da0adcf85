"""ViT: image patches -> pre-LayerNorm transformer encoder -> [CLS] classifier.

Module paths equal the keys of hub checkpoints (`vit.embeddings.patch_embeddings.projection.weight`,
`vit.encoder.layer.0.attention.attention.query.weight`), which the reference library also writes.
The patch self-attention is recorded through hook points as kind "patches": one [CLS] token,
then the patches row by row on a (rows, cols) grid (`ViTModel.grid(pixel_values)`).

Read top to bottom: config, embeddings (patches, [CLS], position table, interpolated for other
image sizes), attention, layer, encoder, the base model, the classification head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import InputError
from ..nn.activations import get_activation
from ..nn.attention import attend, fused_qkv
from ..nn.hooks import HookPoint
from ..nn.losses import sequence_classification_loss
from ..nn.onednn import Linear, linear_act
from ..outputs import BaseModelOutput, ImageClassifierOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals, hooks_active


@config_dataclass
class ViTConfig(PretrainedConfig):
    model_type = "vit"
    positive_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size",
                       "patch_size", "num_channels")
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
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    qkv_bias: bool = True
    encoder_stride: int = 16
    pooler_output_size: int | None = None
    pooler_act: str = "tanh"


# -- blocks ---------------------------------------------------------------------------------------
class ViTPatchEmbeddings(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.num_channels = config.num_channels
        p = config.patch_size
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=p, stride=p)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.shape[1] != self.num_channels:
            raise InputError(f"pixel_values have {pixel_values.shape[1]} channels but this model takes "
                             f"{self.num_channels}; prepare images with the checkpoint's image processor.")
        return self.projection(pixel_values).flatten(2).transpose(1, 2)  # (B, C, rows, cols) -> (B, N, C)


class ViTEmbeddings(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embeddings = ViTPatchEmbeddings(config)
        grid = config.image_size // config.patch_size
        self.position_embeddings = nn.Parameter(torch.zeros(1, grid * grid + 1, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def interpolated_positions(self, rows: int, cols: int) -> torch.Tensor:
        """The position table for a (rows, cols) patch grid: the trained square table resized bicubically."""
        table = self.position_embeddings
        side = self.config.image_size // self.config.patch_size
        if (rows, cols) == (side, side):
            return table
        cls_pos, patch_pos = table[:, :1], table[:, 1:]
        dim = table.shape[-1]
        grid = patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2)  # (1, C, side, side)
        grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)], dim=1)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        b, _, h, w = pixel_values.shape
        size = self.config.image_size
        if not interpolate_pos_encoding and (h, w) != (size, size):
            raise InputError(f"input images are {h}x{w} but this model was trained on {size}x{size}; resize them with "
                             "the checkpoint's image processor, or pass interpolate_pos_encoding=True.")
        x = self.patch_embeddings(pixel_values)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)  # (B, 1 + N, C)
        p = self.config.patch_size
        x = x + self.interpolated_positions(h // p, w // p)
        return self.dropout(x)


class ViTSelfAttention(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.key = Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.value = Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.dropout_p = config.attention_probs_dropout_prob
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """`queries`: compute only the first `queries` rows' outputs (keys and values still use every token)."""
        B, T, C = x.shape
        if queries is None:
            # (B, T, 3C) -> 3 x (B, H, T, D)
            q, k, v = fused_qkv(x, self.query, self.key, self.value).view(B, T, 3, self.num_heads, self.head_dim) \
                .permute(2, 0, 3, 1, 4)
        else:
            k, v = F.linear(x, torch.cat([self.key.weight, self.value.weight]),
                            None if self.key.bias is None else torch.cat([self.key.bias, self.value.bias])) \
                .view(B, T, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q = self.query(x[:, :queries]).view(B, queries, self.num_heads, self.head_dim).transpose(1, 2)
        y = attend(q, k, v, None, dropout_p=self.dropout_p if self.training else 0.0, probs_hook=self.attn_probs)
        return y.transpose(1, 2).reshape(B, q.shape[2], C)


class ViTSelfOutput(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(x))


class ViTAttention(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.attention = ViTSelfAttention(config)
        self.output = ViTSelfOutput(config)

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        return self.output(self.attention(x, queries))


class ViTIntermediate(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.act = get_activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_act(x, self.dense, self.act)


class ViTOutput(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(h)) + residual


class ViTLayer(nn.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then + MLP(norm(.))."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.attention = ViTAttention(config)
        self.intermediate = ViTIntermediate(config)
        self.output = ViTOutput(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        a = self.attention(self.layernorm_before(x), queries)
        x = a + (x if queries is None else x[:, :queries])
        return self.hidden_state(self.output(self.intermediate(self.layernorm_after(x)), x))


class ViTEncoder(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the encoder's input: hidden_states[0]
        self.layer = nn.ModuleList(ViTLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, last_queries: int | None = None) -> torch.Tensor:
        """`last_queries`: the last layer computes only the first rows (a classifier reads [CLS] alone)."""
        x = self.hidden_state(x)
        for i, layer in enumerate(self.layer):
            x = layer(x, last_queries if i == len(self.layer) - 1 else None)
        return x


class ViTPooler(nn.Module):
    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.pooler_output_size or config.hidden_size)
        self.act = get_activation(config.pooler_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x[:, 0]))


# -- the base model ---------------------------------------------------------------------------------
class ViTPreTrainedModel(PreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    attention_kinds = {"attn_probs": "patches"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ViTEmbeddings):
            module.cls_token.normal_(0.0, self.config.initializer_range)
            module.position_embeddings.normal_(0.0, self.config.initializer_range)

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The (rows, cols) patch grid of images this size; tokens are [CLS] then the patches row by row."""
        p = self.config.patch_size
        return int(pixel_values.shape[-2]) // p, int(pixel_values.shape[-1]) // p


class ViTModel(ViTPreTrainedModel):
    def __init__(self, config: ViTConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = ViTEmbeddings(config)
        self.encoder = ViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTPooler(config) if add_pooling_layer else None

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                output_attentions: bool = False, output_hidden_states: bool = False,
                last_queries: int | None = None) -> BaseModelOutput:
        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = self.encoder(self.embeddings(pixel_values, interpolate_pos_encoding), last_queries)
        x = self.layernorm(x)
        return BaseModelOutput(
            last_hidden_state=x,
            pooler_output=self.pooler(x) if self.pooler is not None else None,
            hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
            attentions=as_tuple(internals["attentions"], output_attentions),
        )


# -- task heads -------------------------------------------------------------------------------------
class ViTForImageClassification(ViTPreTrainedModel):
    ignore_on_load = PreTrainedModel.NO_POOLER

    def __init__(self, config: ViTConfig) -> None:
        super().__init__(config)
        self.vit = ViTModel(config, add_pooling_layer=False)
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                interpolate_pos_encoding: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageClassifierOutput:
        # The head reads [CLS] alone, so the last layer computes only that row, unless every row is asked for.
        cls_only = not (output_attentions or output_hidden_states or hooks_active(self))
        out = self.vit(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                       last_queries=1 if cls_only else None)
        logits = self.classifier(out.last_hidden_state[:, 0])
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions)


CONFIG = ViTConfig
HEADS = {
    "base": ViTModel,
    "image-classification": ViTForImageClassification,
}
