"""DINOv2: a self-supervised ViT (patch 14) with LayerScale, used on its own and as the backbone of Depth Anything.

Module paths equal the keys of hub checkpoints (`embeddings.patch_embeddings.projection.weight`,
`encoder.layer.0.attention.attention.query.weight`, `encoder.layer.0.layer_scale1.lambda1`; the SwiGLU MLP of the
giant models as `mlp.weights_in` / `mlp.weights_out`), which the reference library also writes. The patch
self-attention is recorded through hook points as kind "patches": one [CLS] token, then the patches row by row.

Read top to bottom: config, embeddings (the position table is resized bicubically for any image size), attention,
layer (LayerScale on both branches), encoder, the base model, `Dinov2Backbone` (chosen layers' outputs,
layer-normed: what dense heads read), the classification head.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError
from ..nn.activations import get_activation
from ..nn.attention import attend, fused_qkv
from ..nn.hooks import HookPoint
from ..nn.layers import drop_path
from ..nn.losses import sequence_classification_loss
from ..nn.onednn import Linear, linear_act
from ..outputs import BaseModelOutput, ImageClassifierOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals, sub_config


@config_dataclass
class Dinov2Config(PretrainedConfig):
    model_type = "dinov2"
    positive_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "image_size", "patch_size",
                       "num_channels")
    divisible_fields = (("hidden_size", "num_attention_heads"),)

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    mlp_ratio: int = 4
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-6
    image_size: int = 224
    patch_size: int = 14
    num_channels: int = 3
    qkv_bias: bool = True
    layerscale_value: float = 1.0
    drop_path_rate: float = 0.0
    use_swiglu_ffn: bool = False
    apply_layernorm: bool = True  # as a backbone: layer-norm the chosen layers' outputs
    reshape_hidden_states: bool = True  # as a backbone: (B, C, rows, cols) maps instead of token rows
    use_mask_token: bool = True
    out_features: list[str] | None = None  # as a backbone: "stem" (the embeddings) or "stage<i>" (layer i's output)
    out_indices: list[int] | None = None

    def validate(self) -> None:
        super().validate()
        for i in self.backbone_layers():
            if not 0 <= i <= self.num_hidden_layers:
                raise ConfigError(f"Dinov2Config: out_indices/out_features name layer {i}, but there are "
                                  f"{self.num_hidden_layers} layers (0 = the embeddings).")

    def backbone_layers(self) -> list[int]:
        """The hidden states a backbone returns: 0 = the embeddings, i = layer i's output."""
        if self.out_indices:
            return [i if i >= 0 else self.num_hidden_layers + 1 + i for i in self.out_indices]
        if self.out_features:
            return [0 if f == "stem" else int(str(f).removeprefix("stage")) for f in self.out_features]
        return [self.num_hidden_layers]


# -- blocks ---------------------------------------------------------------------------------------
class Dinov2PatchEmbeddings(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        p = config.patch_size
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=p, stride=p)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(pixel_values).flatten(2).transpose(1, 2)  # (B, C, rows, cols) -> (B, N, C)


class Dinov2Embeddings(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.config = config
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        if config.use_mask_token:
            self.mask_token = nn.Parameter(torch.zeros(1, config.hidden_size))
        self.patch_embeddings = Dinov2PatchEmbeddings(config)
        side = config.image_size // config.patch_size
        self.position_embeddings = nn.Parameter(torch.zeros(1, side * side + 1, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def positions(self, rows: int, cols: int) -> torch.Tensor:
        """The position table for a (rows, cols) grid: the trained square table resized bicubically in float32."""
        table = self.position_embeddings
        n = table.shape[1] - 1
        if rows * cols == n and rows == cols:
            return table
        side = int(round(n ** 0.5))
        dim = table.shape[-1]
        grid = table[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2).float()  # (1, C, side, side)
        grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False).to(table.dtype)
        return torch.cat([table[:, :1], grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)], dim=1)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = pixel_values.shape
        x = self.patch_embeddings(pixel_values.to(self.patch_embeddings.projection.weight.dtype))
        if bool_masked_pos is not None:
            m = bool_masked_pos.unsqueeze(-1).to(x.dtype)
            x = x * (1 - m) + self.mask_token.to(x.dtype)[None] * m
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)  # (B, 1 + N, C)
        p = self.config.patch_size
        return self.dropout(x + self.positions(h // p, w // p))


class Dinov2SelfAttention(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.key = Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.value = Linear(config.hidden_size, config.hidden_size, bias=config.qkv_bias)
        self.dropout_p = config.attention_probs_dropout_prob
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = fused_qkv(x, self.query, self.key, self.value).view(B, T, 3, self.num_heads, self.head_dim) \
            .permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, D)
        y = attend(q, k, v, None, dropout_p=self.dropout_p if self.training else 0.0, probs_hook=self.attn_probs)
        return y.transpose(1, 2).reshape(B, T, C)


class Dinov2SelfOutput(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)


class Dinov2Attention(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.attention = Dinov2SelfAttention(config)
        self.output = Dinov2SelfOutput(config)


class Dinov2LayerScale(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.lambda1 = nn.Parameter(torch.ones(config.hidden_size))


class Dinov2MLP(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        hidden = int(config.hidden_size * config.mlp_ratio)
        self.fc1 = Linear(config.hidden_size, hidden)
        self.act = get_activation(config.hidden_act)
        self.fc2 = Linear(hidden, config.hidden_size)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return linear_act(x, self.fc1, self.act)

    @property
    def out(self) -> nn.Linear:
        return self.fc2


class Dinov2SwiGLUFFN(nn.Module):
    """The giant models' MLP: one input projection split in two halves, silu(a) * b, the output projection."""

    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        hidden = int(config.hidden_size * config.mlp_ratio)
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.weights_in = Linear(config.hidden_size, 2 * hidden)
        self.weights_out = Linear(hidden, config.hidden_size)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.weights_in(x).chunk(2, dim=-1)
        return F.silu(a) * b

    @property
    def out(self) -> nn.Linear:
        return self.weights_out


def scaled_linear(x: torch.Tensor, layer: nn.Linear, scale: torch.Tensor) -> torch.Tensor:
    """LayerScale folded into the projection before it: scale * (W x + b) = (scale * W) x + scale * b."""
    return F.linear(x, layer.weight * scale[:, None], layer.bias * scale)


class Dinov2Layer(nn.Module):
    """Pre-LayerNorm, each branch scaled per channel (LayerScale) before the residual sum."""

    def __init__(self, config: Dinov2Config, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = Dinov2Attention(config)
        self.layer_scale1 = Dinov2LayerScale(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Dinov2SwiGLUFFN(config) if config.use_swiglu_ffn else Dinov2MLP(config)
        self.layer_scale2 = Dinov2LayerScale(config)
        self.drop_path = drop_path
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = scaled_linear(self.attention.attention(self.norm1(x)), self.attention.output.dense, self.layer_scale1.lambda1)
        x = x + drop_path(a, self.drop_path, self.training)
        m = scaled_linear(self.mlp.hidden(self.norm2(x)), self.mlp.out, self.layer_scale2.lambda1)
        return self.hidden_state(x + drop_path(m, self.drop_path, self.training))


class Dinov2Encoder(nn.Module):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the encoder's input: hidden_states[0]
        n = config.num_hidden_layers
        self.layer = nn.ModuleList(Dinov2Layer(config, config.drop_path_rate * i / max(n - 1, 1)) for i in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hidden_state(x)
        for layer in self.layer:
            x = layer(x)
        return x


# -- the base model ---------------------------------------------------------------------------------
class Dinov2PreTrainedModel(PreTrainedModel):
    config_class = Dinov2Config
    base_model_prefix = "dinov2"
    attention_kinds = {"attn_probs": "patches"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, Dinov2Embeddings):
            module.cls_token.normal_(0.0, self.config.initializer_range)
            module.position_embeddings.normal_(0.0, self.config.initializer_range)
            if getattr(module, "mask_token", None) is not None:
                module.mask_token.zero_()
        elif isinstance(module, Dinov2LayerScale):
            module.lambda1.fill_(self.config.layerscale_value)

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The (rows, cols) patch grid of images this size; tokens are [CLS] then the patches row by row."""
        p = self.config.patch_size
        return int(pixel_values.shape[-2]) // p, int(pixel_values.shape[-1]) // p

    def check_pixels(self, pixel_values: torch.Tensor) -> None:
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise InputError(f"pixel_values must be (batch, {self.config.num_channels}, height, width); got shape "
                             f"{tuple(pixel_values.shape)}. Prepare images with the checkpoint's image processor.")


class Dinov2Model(Dinov2PreTrainedModel):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__(config)
        self.embeddings = Dinov2Embeddings(config)
        self.encoder = Dinov2Encoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> BaseModelOutput:
        self.check_pixels(pixel_values)
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = self.encoder(self.embeddings(pixel_values, bool_masked_pos))
        x = self.layernorm(x)
        return BaseModelOutput(last_hidden_state=x, pooler_output=x[:, 0],
                               hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
                               attentions=as_tuple(internals["attentions"], output_attentions))


class Dinov2Backbone(Dinov2PreTrainedModel):
    """The chosen layers' outputs (`config.backbone_layers()`), layer-normed when `apply_layernorm`, as token rows
    (B, 1 + N, C) or, with `reshape_hidden_states`, maps (B, C, rows, cols) without [CLS]."""

    def __init__(self, config: Dinov2Config) -> None:
        super().__init__(config)
        self.embeddings = Dinov2Embeddings(config)
        self.encoder = Dinov2Encoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False) -> tuple[list[torch.Tensor], BaseModelOutput]:
        self.check_pixels(pixel_values)
        wanted = self.config.backbone_layers()
        with collect_internals(self, output_attentions, True) as internals:
            self.encoder(self.embeddings(pixel_values))
        states = internals["hidden_states"]  # embeddings, then every layer's output
        rows, cols = self.grid(pixel_values)
        maps = []
        for i in wanted:
            x = self.layernorm(states[i]) if self.config.apply_layernorm else states[i]
            if self.config.reshape_hidden_states:
                x = x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, rows, cols)
            maps.append(x)
        return maps, BaseModelOutput(hidden_states=as_tuple(states, output_hidden_states),
                                     attentions=as_tuple(internals["attentions"], output_attentions))


# -- task heads -------------------------------------------------------------------------------------
class Dinov2ForImageClassification(Dinov2PreTrainedModel):
    def __init__(self, config: Dinov2Config) -> None:
        super().__init__(config)
        self.dinov2 = Dinov2Model(config)
        self.classifier = Linear(config.hidden_size * 2, config.num_labels)  # [CLS] and the mean of the patches

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageClassifierOutput:
        out = self.dinov2(pixel_values, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        x = out.last_hidden_state
        logits = self.classifier(torch.cat([x[:, 0], x[:, 1:].mean(1)], dim=1))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions)


def backbone_config(data: dict[str, Any] | None, **defaults: Any) -> Dinov2Config:
    """A DINOv2 backbone config from the dict a dense model's config.json holds (`backbone_config`)."""
    return sub_config(Dinov2Config, data, **defaults)


CONFIG = Dinov2Config
HEADS = {
    "base": Dinov2Model,
    "backbone": Dinov2Backbone,
    "image-classification": Dinov2ForImageClassification,
}