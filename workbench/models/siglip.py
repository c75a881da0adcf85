"""SigLIP: CLIP's dual encoder trained with a sigmoid loss, so each image-text pair is scored on its own.

Module paths equal the keys of hub checkpoints (`vision_model.head.attention.in_proj_weight`, `text_model.head.weight`,
`logit_bias`). The transformer blocks are CLIP's (`workbench.models.clip`); what differs is here: the vision tower has
no [CLS] token and pools with an attention probe ("multihead attention pooling"), the text tower attends both ways and
pools its last position (texts are padded to a fixed 64 tokens by the tokenizer), and the logits carry a bias:
`logits_per_image = exp(logit_scale) * cos + logit_bias`, read as independent probabilities through a sigmoid.

Attention is recorded through hook points: the text tower's self-attention ("self"), the vision tower's attention
over the patch grid ("patches", no extra token), and the pooling probe's attention over the patches
(`probe_probs`, not a kind of its own: capture it by name).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..nn.attention import attend
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear
from ..outputs import BaseModelOutput
from .clip import (CLIPEncoder, CLIPMLP, CLIPTextConfig, CLIPTextTransformer, CLIPVisionConfig, ImageTextOutput,
                   check_pixels, interpolate_positions, normalized, sub_config)
from .modeling import PreTrainedModel, as_tuple, collect_internals


# -- configs ----------------------------------------------------------------------------------------------
@config_dataclass
class SiglipTextConfig(CLIPTextConfig):
    model_type = "siglip_text_model"

    vocab_size: int = 32000
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    max_position_embeddings: int = 64
    hidden_act: str = "gelu_pytorch_tanh"
    layer_norm_eps: float = 1e-6
    projection_size: int | None = None  # None: hidden_size

    def validate(self) -> None:
        super().validate()
        if self.projection_size is None:
            self.projection_size = self.hidden_size


@config_dataclass
class SiglipVisionConfig(CLIPVisionConfig):
    model_type = "siglip_vision_model"

    patch_size: int = 16
    hidden_act: str = "gelu_pytorch_tanh"
    layer_norm_eps: float = 1e-6
    vision_use_head: bool = True


@config_dataclass
class SiglipConfig(PretrainedConfig):
    model_type = "siglip"

    text_config: dict[str, Any] | None = None
    vision_config: dict[str, Any] | None = None
    initializer_factor: float = 1.0

    def validate(self) -> None:
        super().validate()
        self._text = sub_config(SiglipTextConfig, self.text_config)
        self._vision = sub_config(SiglipVisionConfig, self.vision_config)

    @property
    def text(self) -> SiglipTextConfig:
        return self._text

    @property
    def vision(self) -> SiglipVisionConfig:
        return self._vision


# -- the vision tower -------------------------------------------------------------------------------------
class SiglipVisionEmbeddings(nn.Module):
    """The patches row by row (no [CLS]) plus a learned position table."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.image_size, self.patch_size, self.num_channels = config.image_size, config.patch_size, config.num_channels
        self.patch_embedding = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=config.patch_size,
                                         stride=config.patch_size)
        side = config.image_size // config.patch_size
        self.position_embedding = nn.Embedding(side * side, config.hidden_size)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        _, _, h, w = pixel_values.shape
        check_pixels(pixel_values, self.num_channels, self.image_size, interpolate_pos_encoding)
        x = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)  # (B, N, C)
        table = self.position_embedding.weight
        if interpolate_pos_encoding:
            return x + interpolate_positions(table, h // self.patch_size, w // self.patch_size, extra=0)
        return x + table[None]


class SiglipProbeAttention(nn.Module):
    """torch's MultiheadAttention layout (`in_proj_weight` = q, k, v stacked; `out_proj`), one query: the probe."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        c = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * c, c))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * c))
        self.out_proj = Linear(c, c)
        self.probe_probs = HookPoint()

    def forward(self, query: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        wq, wkv = self.in_proj_weight.split([C, 2 * C])
        bq, bkv = self.in_proj_bias.split([C, 2 * C])
        d = C // self.num_heads
        q = F.linear(query, wq, bq).view(B, -1, self.num_heads, d).transpose(1, 2)  # (B, H, 1, D)
        k, v = F.linear(x, wkv, bkv).view(B, T, 2, self.num_heads, d).permute(2, 0, 3, 1, 4)  # 2 x (B, H, T, D)
        y = attend(q, k, v, None, probs_hook=self.probe_probs)
        return self.out_proj(y.transpose(1, 2).reshape(B, -1, C))


class SiglipMultiheadAttentionPoolingHead(nn.Module):
    """A learned probe attends over the patches; + MLP(norm(.)); its output is the image's pooled state."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.attention = SiglipProbeAttention(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CLIPMLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.attention(self.probe.expand(x.shape[0], -1, -1), x)
        return (h + self.mlp(self.layernorm(h)))[:, 0]


class SiglipVisionTransformer(nn.Module):
    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = SiglipVisionEmbeddings(config)
        self.encoder = CLIPEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.head = SiglipMultiheadAttentionPoolingHead(config) if config.vision_use_head else None

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                output_attentions: bool = False, output_hidden_states: bool = False) -> BaseModelOutput:
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = self.encoder(self.embeddings(pixel_values, interpolate_pos_encoding))
        x = self.post_layernorm(x)
        return BaseModelOutput(last_hidden_state=x, pooler_output=self.head(x) if self.head is not None else None,
                               hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
                               attentions=as_tuple(internals["attentions"], output_attentions))


class SiglipTextTransformer(CLIPTextTransformer):
    """CLIP's text tower attending both ways, pooled at the last position, then `head` (a linear projection)."""

    def __init__(self, config: SiglipTextConfig) -> None:
        super().__init__(config, causal=False, pooling="last")
        self.head = Linear(config.hidden_size, config.projection_size)

    def forward(self, *args: Any, **kwargs: Any) -> BaseModelOutput:
        out = super().forward(*args, **kwargs)
        out.pooler_output = self.head(out.pooler_output)
        return out


# -- the model ------------------------------------------------------------------------------------------------
class SiglipPreTrainedModel(PreTrainedModel):
    config_class = SiglipConfig
    base_model_prefix = "siglip"
    attention_kinds = {"text_model.*attn_probs": "self", "vision_model.*attn_probs": "patches"}

    def attention_layer_count(self, kind: str) -> int:
        return (self.config.text if kind == "self" else self.config.vision).num_hidden_layers

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The (rows, cols) patch grid of images this size; vision tokens are the patches row by row (no [CLS])."""
        p = self.config.vision.patch_size
        return int(pixel_values.shape[-2]) // p, int(pixel_values.shape[-1]) // p

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, SiglipProbeAttention):
            nn.init.xavier_uniform_(module.in_proj_weight)
        elif isinstance(module, SiglipMultiheadAttentionPoolingHead):
            nn.init.xavier_uniform_(module.probe)
        elif isinstance(module, SiglipModel):
            module.logit_scale.zero_()
            module.logit_bias.zero_()


def sigmoid_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """SigLIP's loss: each pair is a binary decision (matching on the diagonal), summed per text, averaged."""
    sign = 2 * torch.eye(len(logits_per_text), device=logits_per_text.device) - 1  # +1 on the diagonal, -1 elsewhere
    return -F.logsigmoid(sign * logits_per_text).sum(-1).mean()


class SiglipModel(SiglipPreTrainedModel):
    """`logits_per_image[i, j]` = exp(logit_scale) * cos(image i, text j) + logit_bias; sigmoid gives P(match)."""

    def __init__(self, config: SiglipConfig) -> None:
        super().__init__(config)
        self.text_model = SiglipTextTransformer(config.text)
        self.vision_model = SiglipVisionTransformer(config.vision)
        self.logit_scale = nn.Parameter(torch.zeros(1))
        self.logit_bias = nn.Parameter(torch.zeros(1))

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                          position_ids: torch.Tensor | None = None, **options: bool) -> BaseModelOutput:
        """The text tower's output; `pooler_output` is the text embedding (not normalised)."""
        return self.text_model(input_ids, attention_mask, position_ids, **options)

    def get_image_features(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                           **options: bool) -> BaseModelOutput:
        """The vision tower's output; `pooler_output` is the image embedding (not normalised)."""
        return self.vision_model(pixel_values, interpolate_pos_encoding, **options)

    def similarity_logits(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """(images, texts) logits from the embeddings: scaled cosine similarity plus the bias."""
        return normalized(image_embeds) @ normalized(text_embeds).t() * self.logit_scale.exp() + self.logit_bias

    def forward(self, input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                return_loss: bool = False, interpolate_pos_encoding: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageTextOutput:
        options = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        vision = self.get_image_features(pixel_values, interpolate_pos_encoding, **options)
        text = self.get_text_features(input_ids, attention_mask, position_ids, **options)
        image_embeds, text_embeds = normalized(vision.pooler_output), normalized(text.pooler_output)
        logits_per_text = text_embeds @ image_embeds.t() * self.logit_scale.exp() + self.logit_bias  # (texts, images)
        return ImageTextOutput(loss=sigmoid_loss(logits_per_text) if return_loss else None,
                               logits_per_image=logits_per_text.t(), logits_per_text=logits_per_text,
                               text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text,
                               vision_model_output=vision)


CONFIG = SiglipConfig
HEADS = {
    "base": SiglipModel,
    "zero-shot-image-classification": SiglipModel,
}
