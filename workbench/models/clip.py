"""CLIP: a text transformer and a vision transformer trained to agree, compared in one embedding space.

Module paths equal the keys of hub checkpoints (`text_model.encoder.layers.0.self_attn.q_proj.weight`,
`vision_model.pre_layrnorm.weight` - the checkpoints' spelling -, `visual_projection.weight`, `logit_scale`).
The towers here are also the backbones of SigLIP, OWLv2 and CLIPSeg (same block names, other pooling and
masks), which import them from this file.

Attention is recorded through hook points: the text tower's causal self-attention ("causal") and the vision
tower's attention over [CLS] and the patch grid ("patches", `CLIPModel.grid(pixel_values)`).

Read top to bottom: configs (the text and vision parts are nested dicts in config.json), embeddings,
attention, the encoder, the two towers, the dual-encoder model (`logits_per_image` = scaled cosine similarity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import InputError
from ..nn.activations import get_activation
from ..nn.attention import additive_mask, attend, causal_mask, fused_qkv
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..outputs import BaseModelOutput, ModelOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals


# -- configs ------------------------------------------------------------------------------------------
@config_dataclass
class CLIPTextConfig(PretrainedConfig):
    model_type = "clip_text_model"
    positive_fields = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                       "max_position_embeddings")
    divisible_fields = (("hidden_size", "num_attention_heads"),)

    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    projection_dim: int | None = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    initializer_factor: float = 1.0
    pad_token_id: int | None = 1
    bos_token_id: int | None = 49406
    eos_token_id: int | None = 49407


@config_dataclass
class CLIPVisionConfig(PretrainedConfig):
    model_type = "clip_vision_model"
    positive_fields = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_channels",
                       "image_size", "patch_size")
    divisible_fields = (("hidden_size", "num_attention_heads"), ("image_size", "patch_size"))

    hidden_size: int = 768
    intermediate_size: int = 3072
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: int = 224
    patch_size: int = 32
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    initializer_factor: float = 1.0


def sub_config(cls: type[PretrainedConfig], data: dict[str, Any] | None,
               legacy: dict[str, Any] | None = None) -> PretrainedConfig:
    """A nested part of config.json (`text_config`) as its typed config; `legacy` (`text_config_dict`, in
    configs written by old versions) wins over it, as in the reference."""
    values = {**(data or {}), **(legacy or {})}
    return cls(**{k: v for k, v in values.items() if k != "model_type"})


@config_dataclass
class CLIPConfig(PretrainedConfig):
    """The text and vision towers' configs are nested dicts (`text_config`, `vision_config`), read as
    `config.text` and `config.vision` (typed, validated); the dicts are written back as they came."""

    model_type = "clip"
    text_config_class = CLIPTextConfig
    vision_config_class = CLIPVisionConfig

    text_config: dict[str, Any] | None = None
    vision_config: dict[str, Any] | None = None
    projection_dim: int = 512
    logit_scale_init_value: float = 2.6592
    initializer_factor: float = 1.0

    def validate(self) -> None:
        super().validate()
        legacy = self.__dict__
        self._text = sub_config(self.text_config_class, self.text_config, legacy.get("text_config_dict"))
        self._vision = sub_config(self.vision_config_class, self.vision_config, legacy.get("vision_config_dict"))

    @property
    def text(self) -> Any:
        return self._text

    @property
    def vision(self) -> Any:
        return self._vision


# -- embeddings -----------------------------------------------------------------------------------------
class CLIPTextEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        t = input_ids.shape[-1]
        limit = self.position_embedding.num_embeddings
        if t > limit:
            raise InputError(f"the text is {t} tokens long but this model reads at most {limit}; shorten it or "
                             "tokenize with truncation=True.")
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device)[None]
        return self.token_embedding(input_ids) + self.position_embedding(position_ids)


def interpolate_positions(table: torch.Tensor, rows: int, cols: int, extra: int) -> torch.Tensor:
    """A square position table (extra leading tokens, then side x side patches) for a (rows, cols) grid:
    the patch part resized bicubically, as the reference."""
    side = int((table.shape[0] - extra) ** 0.5)
    if (rows, cols) == (side, side):
        return table[None]
    dim = table.shape[-1]
    grid = table[extra:].reshape(1, side, side, dim).permute(0, 3, 1, 2)  # (1, C, side, side)
    grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False)
    return torch.cat([table[None, :extra], grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)], dim=1)


class CLIPVisionEmbeddings(nn.Module):
    """[CLS] (`class_embedding`), then the patches row by row, plus a learned position table."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.image_size, self.patch_size = config.image_size, config.patch_size
        self.num_channels = config.num_channels
        self.class_embedding = nn.Parameter(torch.zeros(config.hidden_size))
        self.patch_embedding = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=config.patch_size,
                                         stride=config.patch_size, bias=False)
        side = config.image_size // config.patch_size
        self.position_embedding = nn.Embedding(side * side + 1, config.hidden_size)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        b, c, h, w = pixel_values.shape
        check_pixels(pixel_values, self.num_channels, self.image_size, interpolate_pos_encoding)
        x = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)  # (B, N, C)
        x = torch.cat([self.class_embedding.expand(b, 1, -1), x], dim=1)  # (B, 1 + N, C)
        table = self.position_embedding.weight
        if interpolate_pos_encoding:
            return x + interpolate_positions(table, h // self.patch_size, w // self.patch_size, extra=1)
        return x + table[None]


def check_pixels(pixel_values: torch.Tensor, channels: int, size: int, interpolate: bool) -> None:
    _, c, h, w = pixel_values.shape
    if c != channels:
        raise InputError(f"pixel_values have {c} channels but this model takes {channels}; prepare images with the "
                         "checkpoint's image processor.")
    if not interpolate and (h, w) != (size, size):
        raise InputError(f"input images are {h}x{w} but this model was trained on {size}x{size}; resize them with the "
                         "checkpoint's image processor, or pass interpolate_pos_encoding=True.")


# -- the encoder ------------------------------------------------------------------------------------------
class CLIPAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.q_proj = Linear(config.hidden_size, config.hidden_size)
        self.k_proj = Linear(config.hidden_size, config.hidden_size)
        self.v_proj = Linear(config.hidden_size, config.hidden_size)
        self.out_proj = Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_dropout
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        B, T, C = x.shape
        # (B, T, 3C) -> 3 x (B, H, T, D)
        q, k, v = fused_qkv(x, self.q_proj, self.k_proj, self.v_proj).view(B, T, 3, self.num_heads, self.head_dim) \
            .permute(2, 0, 3, 1, 4)
        y = attend(q, k, v, mask, is_causal=is_causal, dropout_p=self.dropout_p if self.training else 0.0,
                   probs_hook=self.attn_probs)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))


class CLIPMLP(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.fc1 = Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = Linear(config.intermediate_size, config.hidden_size)
        self.act = get_activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(linear_act(x, self.fc1, self.act))


class CLIPEncoderLayer(nn.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then + MLP(norm(.))."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.self_attn = CLIPAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CLIPMLP(config)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask, is_causal)
        return self.hidden_state(x + self.mlp(self.layer_norm2(x)))


class CLIPEncoder(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the encoder's input: hidden_states[0]
        self.layers = nn.ModuleList(CLIPEncoderLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False,
                keep: int | None = None) -> torch.Tensor:
        """`keep`: stop after that many layers (CLIPSeg reads intermediate layers only)."""
        x = self.hidden_state(x)
        for layer in self.layers[:keep]:
            x = layer(x, mask, is_causal)
        return x


# -- the towers ---------------------------------------------------------------------------------------------
def text_attention_mask(x: torch.Tensor, attention_mask: torch.Tensor | None,
                        causal: bool) -> tuple[torch.Tensor | None, bool]:
    """(additive mask, is_causal) for a text tower: causal (CLIP) or bidirectional (SigLIP), padding masked."""
    if causal:
        return causal_mask(attention_mask, 0, x.shape[1], x.dtype, x.device)
    return additive_mask(attention_mask, x.dtype), False


class CLIPTextTransformer(nn.Module):
    """Tokens -> causal transformer -> final LayerNorm; the pooled state is the end-of-text token's.

    `pooling`: "eos" (the first end-of-text id; "argmax" for configs with the old eos id 2, whose end token is
    the vocabulary's largest id), "argmax" (OWLv2), "last" (SigLIP, whose text is padded to a fixed length)."""

    def __init__(self, config: PretrainedConfig, *, causal: bool = True, pooling: str = "eos") -> None:
        super().__init__()
        self.config = config
        self.causal = causal
        self.pooling = "argmax" if pooling == "eos" and config.eos_token_id == 2 else pooling
        self.embeddings = CLIPTextEmbeddings(config)
        self.encoder = CLIPEncoder(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def pool(self, x: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        if self.pooling == "last":
            return x[:, -1]
        if self.pooling == "argmax":
            index = input_ids.to(torch.int).argmax(-1)
        else:
            index = (input_ids == self.config.eos_token_id).int().argmax(-1)
        return x[torch.arange(x.shape[0], device=x.device), index.to(x.device)]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutput:
        if input_ids is None:
            raise InputError("pass input_ids (tokenize the text with the checkpoint's tokenizer).")
        input_ids = input_ids.reshape(-1, input_ids.shape[-1])
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = self.embeddings(input_ids, position_ids)
            mask, is_causal = text_attention_mask(x, attention_mask, self.causal)
            x = self.encoder(x, mask, is_causal)
        x = self.final_layer_norm(x)
        return BaseModelOutput(last_hidden_state=x, pooler_output=self.pool(x, input_ids),
                               hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
                               attentions=as_tuple(internals["attentions"], output_attentions))


class CLIPVisionTransformer(nn.Module):
    """Patches -> pre-LayerNorm -> transformer; the pooled state is [CLS] after `post_layernorm`.
    `pre_norm`: the name of the pre-LayerNorm in the family's checkpoints (CLIP: "pre_layrnorm")."""

    def __init__(self, config: PretrainedConfig, *, pre_norm: str = "pre_layrnorm") -> None:
        super().__init__()
        self.config = config
        self.embeddings = CLIPVisionEmbeddings(config)
        self.pre_norm_name = pre_norm
        self.add_module(pre_norm, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps))
        self.encoder = CLIPEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                output_attentions: bool = False, output_hidden_states: bool = False,
                keep_layers: int | None = None) -> BaseModelOutput:
        if pixel_values is None:
            raise InputError("pass pixel_values (prepare images with the checkpoint's image processor).")
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = getattr(self, self.pre_norm_name)(self.embeddings(pixel_values, interpolate_pos_encoding))
            x = self.encoder(x, keep=keep_layers)
        return BaseModelOutput(last_hidden_state=x, pooler_output=self.post_layernorm(x[:, 0]),
                               hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
                               attentions=as_tuple(internals["attentions"], output_attentions))


# -- the dual encoder -----------------------------------------------------------------------------------------
@dataclass
class ImageTextOutput(ModelOutput):
    """A dual encoder's result: the image-text logits both ways, the embeddings (normalised), both towers' outputs."""

    loss: torch.Tensor | None = None
    logits_per_image: torch.Tensor | None = None  # (images, texts)
    logits_per_text: torch.Tensor | None = None  # (texts, images)
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    text_model_output: BaseModelOutput | None = None
    vision_model_output: BaseModelOutput | None = None


def normalized(x: torch.Tensor) -> torch.Tensor:
    return x / x.pow(2).sum(-1, keepdim=True).sqrt()


def contrastive_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric cross-entropy: text i belongs to image i."""
    target = torch.arange(len(logits_per_text), device=logits_per_text.device)
    return (F.cross_entropy(logits_per_text, target) + F.cross_entropy(logits_per_text.t(), target)) / 2


class CLIPPreTrainedModel(PreTrainedModel):
    config_class = CLIPConfig
    base_model_prefix = "clip"
    attention_kinds = {"text_model.*attn_probs": "causal", "vision_model.*attn_probs": "patches"}

    def attention_layer_count(self, kind: str) -> int:
        return (self.config.text if kind == "causal" else self.config.vision).num_hidden_layers

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The (rows, cols) patch grid of images this size; vision tokens are [CLS] then the patches row by row."""
        p = self.config.vision.patch_size
        return int(pixel_values.shape[-2]) // p, int(pixel_values.shape[-1]) // p

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, CLIPVisionEmbeddings):
            module.class_embedding.normal_(0.0, module.class_embedding.shape[0] ** -0.5)
        elif isinstance(module, CLIPModel):
            module.logit_scale.fill_(self.config.logit_scale_init_value)


class CLIPModel(CLIPPreTrainedModel):
    """`logits_per_image[i, j]` = exp(logit_scale) * cos(image i, text j); also the zero-shot image classifier."""

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__(config)
        self.text_model = CLIPTextTransformer(config.text)
        self.vision_model = CLIPVisionTransformer(config.vision)
        self.visual_projection = Linear(config.vision.hidden_size, config.projection_dim, bias=False)
        self.text_projection = Linear(config.text.hidden_size, config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init_value))

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                          position_ids: torch.Tensor | None = None, **options: bool) -> BaseModelOutput:
        """The text tower's output with `pooler_output` projected into the shared space (not normalised)."""
        out = self.text_model(input_ids, attention_mask, position_ids, **options)
        out.pooler_output = self.text_projection(out.pooler_output)
        return out

    def get_image_features(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                           **options: bool) -> BaseModelOutput:
        """The vision tower's output with `pooler_output` projected into the shared space (not normalised)."""
        out = self.vision_model(pixel_values, interpolate_pos_encoding, **options)
        out.pooler_output = self.visual_projection(out.pooler_output)
        return out

    def similarity_logits(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """(images, texts) logits from projected embeddings: scaled cosine similarity."""
        return normalized(image_embeds) @ normalized(text_embeds).t() * self.logit_scale.exp()

    def forward(self, input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                return_loss: bool = False, interpolate_pos_encoding: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageTextOutput:
        options = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        vision = self.get_image_features(pixel_values, interpolate_pos_encoding, **options)
        text = self.get_text_features(input_ids, attention_mask, position_ids, **options)
        image_embeds, text_embeds = normalized(vision.pooler_output), normalized(text.pooler_output)
        logits_per_text = text_embeds @ image_embeds.t() * self.logit_scale.exp()  # (texts, images)
        return ImageTextOutput(loss=contrastive_loss(logits_per_text) if return_loss else None,
                               logits_per_image=logits_per_text.t(), logits_per_text=logits_per_text,
                               text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text,
                               vision_model_output=vision)


CONFIG = CLIPConfig
HEADS = {
    "base": CLIPModel,
    "zero-shot-image-classification": CLIPModel,
}
