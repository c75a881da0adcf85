"""SAM (Segment Anything): a ViT image encoder run once per image, then a light prompt encoder and mask decoder
run per prompt (points, boxes, a mask) on that cached embedding.

Module paths equal the keys of hub checkpoints (`vision_encoder.layers.0.attn.rel_pos_h`, `prompt_encoder.point_embed.1.weight`,
`mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight`). The prompt encoder's random-Fourier
position table is the image encoder's (`shared_image_embedding`, tied).

The image encoder attends within 14x14 windows in most layers and globally in a few (`global_attn_indexes`), with a
decomposed relative-position bias (one table per axis). The bias is folded into the attention itself: each query gains
its bias terms and each key a one-hot of its row and column, so q'.k' = scale q.k + bias(q, k) and the fused attention
kernel runs without a (tokens x tokens) bias in memory. Attention probabilities are recorded through hook points
(kind "patches", on the 64x64 grid for global layers, each window's grid for windowed ones).

Read top to bottom: configs, the image encoder (patches, windowed attention with relative positions, neck), the prompt
encoder (points, boxes, masks), the two-way mask decoder, the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError
from ..nn.activations import get_activation
from ..nn.attention import attend
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..outputs import ModelOutput, Tensors
from .clip import sub_config
from .modeling import PreTrainedModel, as_tuple, collect_internals


# -- configs --------------------------------------------------------------------------------------------
@config_dataclass
class SamVisionConfig(PretrainedConfig):
    model_type = "sam_vision_model"
    positive_fields = ("hidden_size", "output_channels", "num_hidden_layers", "num_attention_heads", "num_channels",
                       "image_size", "patch_size", "num_pos_feats")
    divisible_fields = (("hidden_size", "num_attention_heads"), ("image_size", "patch_size"))

    hidden_size: int = 768
    output_channels: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: int = 1024
    patch_size: int = 16
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-6
    attention_dropout: float = 0.0
    initializer_range: float = 1e-10
    qkv_bias: bool = True
    mlp_ratio: float = 4.0
    use_abs_pos: bool = True
    use_rel_pos: bool = True
    window_size: int = 14
    global_attn_indexes: list[int] | tuple[int, ...] = (2, 5, 8, 11)
    num_pos_feats: int = 128
    mlp_dim: int | None = None

    def validate(self) -> None:
        super().validate()
        if self.mlp_dim is None:
            self.mlp_dim = int(self.hidden_size * self.mlp_ratio)


@config_dataclass
class SamPromptEncoderConfig(PretrainedConfig):
    model_type = "sam_prompt_encoder"
    positive_fields = ("hidden_size", "image_size", "patch_size", "mask_input_channels", "num_point_embeddings")

    hidden_size: int = 256
    image_size: int = 1024
    patch_size: int = 16
    mask_input_channels: int = 16
    num_point_embeddings: int = 4
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-6
    image_embedding_size: int | None = None  # None: image_size // patch_size (the embedding grid's side)

    def validate(self) -> None:
        super().validate()
        if self.image_embedding_size is None:
            self.image_embedding_size = self.image_size // self.patch_size


@config_dataclass
class SamMaskDecoderConfig(PretrainedConfig):
    model_type = "sam_mask_decoder"
    positive_fields = ("hidden_size", "mlp_dim", "num_hidden_layers", "num_attention_heads", "attention_downsample_rate",
                       "num_multimask_outputs", "iou_head_depth", "iou_head_hidden_dim")

    hidden_size: int = 256
    hidden_act: str = "relu"
    mlp_dim: int = 2048
    num_hidden_layers: int = 2
    num_attention_heads: int = 8
    attention_downsample_rate: int = 2
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    layer_norm_eps: float = 1e-6


@config_dataclass
class SamConfig(PretrainedConfig):
    """Three nested parts (`vision_config`, `prompt_encoder_config`, `mask_decoder_config`), read as `config.vision`,
    `config.prompt`, `config.decoder`."""

    model_type = "sam"

    vision_config: dict[str, Any] | None = None
    prompt_encoder_config: dict[str, Any] | None = None
    mask_decoder_config: dict[str, Any] | None = None
    initializer_range: float = 0.02

    def validate(self) -> None:
        super().validate()
        self._vision = sub_config(SamVisionConfig, self.vision_config)
        self._prompt = sub_config(SamPromptEncoderConfig, self.prompt_encoder_config)
        self._decoder = sub_config(SamMaskDecoderConfig, self.mask_decoder_config)
        if self._vision.output_channels != self._prompt.hidden_size or self._prompt.hidden_size != self._decoder.hidden_size:
            raise ConfigError(f"SamConfig: the image embedding ({self._vision.output_channels} channels), the prompt "
                              f"encoder ({self._prompt.hidden_size}) and the mask decoder ({self._decoder.hidden_size}) "
                              "must have one width; fix vision_config.output_channels or the hidden sizes.")

    @property
    def vision(self) -> SamVisionConfig:
        return self._vision

    @property
    def prompt(self) -> SamPromptEncoderConfig:
        return self._prompt

    @property
    def decoder(self) -> SamMaskDecoderConfig:
        return self._decoder


# -- shared pieces --------------------------------------------------------------------------------------------
def channels_first_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the channels of a (B, C, H, W) map."""
    return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SamMLPBlock(nn.Module):
    def __init__(self, hidden_size: int, mlp_dim: int, act: str) -> None:
        super().__init__()
        self.lin1 = Linear(hidden_size, mlp_dim)
        self.lin2 = Linear(mlp_dim, hidden_size)
        self.act = get_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(linear_act(x, self.lin1, self.act))


class SamPositionalEmbedding(nn.Module):
    """Random Fourier features of (x, y) in [0, 1]: sin and cos of 2 pi [2x - 1, 2y - 1] @ table."""

    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(2, config.num_pos_feats))

    def forward(self, coords: torch.Tensor, input_shape: tuple[int, int] | None = None) -> torch.Tensor:
        if input_shape is not None:  # pixels -> [0, 1]
            coords = coords / coords.new_tensor([input_shape[1], input_shape[0]])
        coords = (2 * coords - 1).to(self.positional_embedding.dtype) @ self.positional_embedding
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)


# -- the image encoder --------------------------------------------------------------------------------------
class SamPatchEmbeddings(nn.Module):
    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.image_size, self.num_channels = config.image_size, config.num_channels
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=config.patch_size,
                                    stride=config.patch_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        _, c, h, w = pixel_values.shape
        if c != self.num_channels or (h, w) != (self.image_size, self.image_size):
            raise InputError(f"pixel_values are {c}x{h}x{w} but SAM takes {self.num_channels}x{self.image_size}x"
                             f"{self.image_size} (the image processor resizes the longest side and pads).")
        return self.projection(pixel_values).permute(0, 2, 3, 1)  # (B, rows, cols, C)


def relative_table(size: int, table: torch.Tensor) -> torch.Tensor:
    """(size, size, D): the table entry of each (query, key) offset along one axis (resized when trained on another size)."""
    length = 2 * size - 1
    if table.shape[0] != length:
        table = F.interpolate(table.t()[None], size=length, mode="linear")[0].t()
    offsets = torch.arange(size, device=table.device)[:, None] - torch.arange(size, device=table.device)[None] + size - 1
    return table[offsets]


QUERY_CHUNK = 256  # queries per attention call in the global layers (see SamVisionAttention.forward)


class SamVisionAttention(nn.Module):
    """Attention over one grid (a window or the whole image) with a decomposed relative-position bias."""

    def __init__(self, config: SamVisionConfig, window_size: int) -> None:
        super().__init__()
        side = window_size or config.image_size // config.patch_size
        self.num_heads = config.num_attention_heads
        head_dim = config.hidden_size // config.num_attention_heads
        self.scale = head_dim ** -0.5
        self.dropout_p = config.attention_dropout
        self.qkv = Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = Linear(config.hidden_size, config.hidden_size)
        self.use_rel_pos = config.use_rel_pos
        if self.use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * side - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * side - 1, head_dim))
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, h, w, C = x.shape
        # (B, h, w, 3C) -> 3 x (B, H, h*w, D)
        q, k, v = self.qkv(x).reshape(B, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        dropout_p = self.dropout_p if self.training else 0.0
        if not self.use_rel_pos:
            y = attend(q, k, v, None, scale=self.scale, dropout_p=dropout_p, probs_hook=self.attn_probs)
            return self.proj(y.transpose(1, 2).reshape(B, h, w, C))
        grid = q.reshape(B, self.num_heads, h, w, -1)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid, relative_table(h, self.rel_pos_h)).reshape(B, self.num_heads, h * w, h)
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid, relative_table(w, self.rel_pos_w)).reshape(B, self.num_heads, h * w, w)

        def bias(rows: slice) -> torch.Tensor:  # (B, H, rows, h*w): query's row offset to the key's row + column offset
            return (rel_h[:, :, rows, :, None] + rel_w[:, :, rows, None, :]).flatten(-2)

        if self.attn_probs.active or self.training or h * w <= QUERY_CHUNK:
            y = attend(q, k, v, bias(slice(None)), scale=self.scale, dropout_p=dropout_p, probs_hook=self.attn_probs)
        else:
            # The global layers' bias is (H, 4096, 4096) floats (800 MB at 1024 x 1024): built a slice of queries at
            # a time it stays in cache, and each slice still takes sdpa's fused path (twice as fast as one big mask).
            y = torch.empty_like(q)
            for start in range(0, h * w, QUERY_CHUNK):
                rows = slice(start, start + QUERY_CHUNK)
                y[:, :, rows] = attend(q[:, :, rows], k, v, bias(rows), scale=self.scale)
        return self.proj(y.transpose(1, 2).reshape(B, h, w, C))


def window_partition(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B * windows, size, size, C), padded at the bottom/right to whole windows."""
    B, H, W, C = x.shape
    ph, pw = (size - H % size) % size, (size - W % size) % size
    x = F.pad(x, (0, 0, 0, pw, 0, ph))
    Hp, Wp = H + ph, W + pw
    x = x.reshape(B, Hp // size, size, Wp // size, size, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, C), (Hp, Wp)


def window_unpartition(windows: torch.Tensor, size: int, padded: tuple[int, int], shape: tuple[int, int]) -> torch.Tensor:
    Hp, Wp = padded
    B = windows.shape[0] // (Hp * Wp // size // size)
    x = windows.reshape(B, Hp // size, Wp // size, size, size, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, -1)
    return x[:, : shape[0], : shape[1]]


class SamVisionLayer(nn.Module):
    def __init__(self, config: SamVisionConfig, window_size: int) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = SamVisionAttention(config, window_size)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = SamMLPBlock(config.hidden_size, config.mlp_dim, config.hidden_act)
        self.window_size = window_size
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer_norm1(x)
        if self.window_size > 0:
            shape = h.shape[1:3]
            h, padded = window_partition(h, self.window_size)
            h = window_unpartition(self.attn(h), self.window_size, padded, shape)
        else:
            h = self.attn(h)
        x = x + h
        return self.hidden_state(x + self.mlp(self.layer_norm2(x)))


class SamVisionNeck(nn.Module):
    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(config.hidden_size, config.output_channels, kernel_size=1, bias=False)
        self.layer_norm1 = nn.LayerNorm(config.output_channels, eps=1e-6)  # 1e-6 whatever the config says, as the reference
        self.conv2 = nn.Conv2d(config.output_channels, config.output_channels, kernel_size=3, padding=1, bias=False)
        self.layer_norm2 = nn.LayerNorm(config.output_channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = channels_first_norm(self.layer_norm1, self.conv1(x.permute(0, 3, 1, 2)))
        return channels_first_norm(self.layer_norm2, self.conv2(x))  # (B, C_out, rows, cols)


class SamVisionEncoder(nn.Module):
    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = SamPatchEmbeddings(config)
        side = config.image_size // config.patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, side, side, config.hidden_size)) if config.use_abs_pos else None
        self.hidden_state = HookPoint()  # the layers' input: hidden_states[0]
        self.layers = nn.ModuleList(
            SamVisionLayer(config, 0 if i in config.global_attn_indexes else config.window_size)
            for i in range(config.num_hidden_layers))
        self.neck = SamVisionNeck(config)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixel_values.to(self.patch_embed.projection.weight.dtype))
        if self.pos_embed is not None:
            x = x + self.pos_embed
        x = self.hidden_state(x)
        for layer in self.layers:
            x = layer(x)
        return self.neck(x)


# -- the prompt encoder --------------------------------------------------------------------------------------
class SamMaskEmbedding(nn.Module):
    """A (B, 1, 256, 256) mask prompt -> (B, C, 64, 64): two stride-2 convs, then a 1x1 to the width."""

    def __init__(self, config: SamPromptEncoderConfig) -> None:
        super().__init__()
        quarter = config.mask_input_channels // 4
        self.conv1 = nn.Conv2d(1, quarter, kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(quarter, config.mask_input_channels, kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(config.mask_input_channels, config.hidden_size, kernel_size=1)
        self.layer_norm1 = nn.LayerNorm(quarter, eps=config.layer_norm_eps)
        self.layer_norm2 = nn.LayerNorm(quarter * 4, eps=config.layer_norm_eps)
        self.act = get_activation(config.hidden_act)

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        x = self.act(channels_first_norm(self.layer_norm1, self.conv1(masks)))
        x = self.act(channels_first_norm(self.layer_norm2, self.conv2(x)))
        return self.conv3(x)


class SamPromptEncoder(nn.Module):
    """Points (label 1 foreground, 0 background, -1 "no point", -10 padding), box corners and a mask -> sparse
    tokens (B, prompts, n, C) and a dense (B, C, 64, 64) map."""

    def __init__(self, config: SamConfig) -> None:
        super().__init__()
        self.shared_embedding = SamPositionalEmbedding(config.vision)
        prompt = config.prompt
        self.mask_embed = SamMaskEmbedding(prompt)
        self.no_mask_embed = nn.Embedding(1, prompt.hidden_size)
        self.image_embedding_size = prompt.image_embedding_size
        self.input_image_size = prompt.image_size
        self.point_embed = nn.ModuleList(nn.Embedding(1, prompt.hidden_size) for _ in range(prompt.num_point_embeddings))
        self.not_a_point_embed = nn.Embedding(1, prompt.hidden_size)

    def embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        points = points + 0.5  # the centre of the pixel
        if pad:  # without a box, one "no point" token is appended (as SAM was trained)
            points = torch.cat([points, points.new_zeros(*points.shape[:2], 1, 2)], dim=2)
            labels = torch.cat([labels, -labels.new_ones(*labels.shape[:2], 1)], dim=2)
        size = self.input_image_size
        emb = self.shared_embedding(points, (size, size))
        labels = labels[..., None]
        emb = torch.where(labels == -1, self.not_a_point_embed.weight, emb)
        emb = torch.where(labels == -10, torch.zeros_like(emb), emb)
        emb = torch.where(labels == 0, emb + self.point_embed[0].weight, emb)
        return torch.where(labels == 1, emb + self.point_embed[1].weight, emb)

    def embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        size = self.input_image_size
        corners = self.shared_embedding((boxes + 0.5).reshape(*boxes.shape[:2], 2, 2), (size, size))
        return torch.stack([corners[:, :, 0] + self.point_embed[2].weight, corners[:, :, 1] + self.point_embed[3].weight],
                           dim=2)

    def forward(self, input_points: torch.Tensor | None, input_labels: torch.Tensor | None,
                input_boxes: torch.Tensor | None, input_masks: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        sparse, batch = None, 1
        if input_points is not None:
            if input_labels is None:
                raise InputError("points need labels (1 foreground, 0 background); pass input_labels.")
            batch = input_points.shape[0]
            sparse = self.embed_points(input_points, input_labels, pad=input_boxes is None)
        if input_boxes is not None:
            batch = input_boxes.shape[0]
            boxes = self.embed_boxes(input_boxes)
            sparse = boxes if sparse is None else torch.cat([sparse, boxes], dim=2)
        if input_masks is not None:
            dense = self.mask_embed(input_masks)
        else:
            side = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, side, side)
        return sparse, dense


# -- the mask decoder ------------------------------------------------------------------------------------------
class SamAttention(nn.Module):
    """Attention between token sets (B, prompts, n, C), projected down to C / downsample_rate inside."""

    def __init__(self, config: SamMaskDecoderConfig, downsample_rate: int | None = None) -> None:
        super().__init__()
        inner = config.hidden_size // (downsample_rate or config.attention_downsample_rate)
        if inner % config.num_attention_heads:
            raise ConfigError(f"mask_decoder_config: {inner} (hidden_size / downsample rate) is not divisible by "
                              f"num_attention_heads = {config.num_attention_heads}.")
        self.num_heads = config.num_attention_heads
        self.q_proj = Linear(config.hidden_size, inner)
        self.k_proj = Linear(config.hidden_size, inner)
        self.v_proj = Linear(config.hidden_size, inner)
        self.out_proj = Linear(inner, config.hidden_size)
        self.attn_probs = HookPoint()

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        b, p, n, c = x.shape  # (B, P, n, C) -> (B * P, H, n, C / H)
        return x.reshape(b * p, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        b, p, n = query.shape[:3]
        y = attend(self.heads(self.q_proj(query)), self.heads(self.k_proj(key)), self.heads(self.v_proj(value)), None,
                   probs_hook=self.attn_probs)
        return self.out_proj(y.transpose(1, 2).reshape(b, p, n, -1))


class SamTwoWayAttentionBlock(nn.Module):
    """Tokens attend to themselves and to the image; then the image attends to the tokens (each with its norm)."""

    def __init__(self, config: SamMaskDecoderConfig, skip_first_layer_pe: bool = False) -> None:
        super().__init__()
        c, eps = config.hidden_size, config.layer_norm_eps
        self.self_attn = SamAttention(config, downsample_rate=1)
        self.layer_norm1 = nn.LayerNorm(c, eps=eps)
        self.cross_attn_token_to_image = SamAttention(config)
        self.layer_norm2 = nn.LayerNorm(c, eps=eps)
        self.mlp = SamMLPBlock(c, config.mlp_dim, config.hidden_act)
        self.layer_norm3 = nn.LayerNorm(c, eps=eps)
        self.layer_norm4 = nn.LayerNorm(c, eps=eps)
        self.cross_attn_image_to_token = SamAttention(config)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor,
                key_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.layer_norm1(queries)
        k = keys + key_pe
        queries = self.layer_norm2(queries + self.cross_attn_token_to_image(queries + query_pe, k, keys))
        queries = self.layer_norm3(queries + self.mlp(queries))
        keys = self.layer_norm4(keys + self.cross_attn_image_to_token(k, queries + query_pe, queries))
        return queries, keys


class SamTwoWayTransformer(nn.Module):
    def __init__(self, config: SamMaskDecoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SamTwoWayAttentionBlock(config, skip_first_layer_pe=i == 0)
                                    for i in range(config.num_hidden_layers))
        self.final_attn_token_to_image = SamAttention(config)
        self.layer_norm_final_attn = nn.LayerNorm(config.hidden_size)  # the default eps, as the checkpoints' code

    def forward(self, tokens: torch.Tensor, image: torch.Tensor, image_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # (B * P, C, h, w) -> (B * P, 1, h * w, C), made contiguous once: every add, norm and projection of the
        # 4096 image tokens below would otherwise copy the transposed view again
        keys = image.flatten(2).transpose(1, 2).contiguous()[:, None]
        key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()[:, None]  # batch 1 broadcasts over the prompts
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        queries = queries + self.final_attn_token_to_image(queries + tokens, keys + key_pe, keys)
        return self.layer_norm_final_attn(queries), keys


class SamFeedForward(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        self.proj_in = Linear(input_dim, hidden_dim)
        self.layers = nn.ModuleList(Linear(hidden_dim, hidden_dim) for _ in range(num_layers - 2))
        self.proj_out = Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.proj_in(x))
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.proj_out(x)


def stride_tconv(x: torch.Tensor, conv: nn.ConvTranspose2d) -> torch.Tensor:
    """A ConvTranspose2d whose stride equals its kernel (k x k, no padding) on channels-last `x` (..., C_in):
    each input cell spreads into its own k x k block, so it is one matmul. Returns (..., k, k, C_out), the block's
    sub-pixels kept on their own axes (the caller reorders once, on the smallest tensor)."""
    k = conv.kernel_size[0]
    weight = conv.weight.permute(0, 2, 3, 1).reshape(conv.in_channels, -1)  # (C_in, k * k * C_out)
    y = F.linear(x, weight.T, conv.bias.repeat(k * k) if conv.bias is not None else None)
    return y.reshape(*x.shape[:-1], k, k, conv.out_channels)


class SamMaskDecoder(nn.Module):
    """Output tokens (an IoU token, one token per mask) + prompt tokens, through the two-way transformer; each mask
    token becomes weights over the 4x upsampled image embedding (a 256x256 mask); the IoU token scores the masks."""

    def __init__(self, config: SamMaskDecoderConfig) -> None:
        super().__init__()
        c = config.hidden_size
        self.num_mask_tokens = config.num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, c)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, c)
        self.transformer = SamTwoWayTransformer(config)
        self.upscale_conv1 = nn.ConvTranspose2d(c, c // 4, kernel_size=2, stride=2)
        self.upscale_conv2 = nn.ConvTranspose2d(c // 4, c // 8, kernel_size=2, stride=2)
        self.upscale_layer_norm = nn.LayerNorm(c // 4, eps=1e-6)
        self.output_hypernetworks_mlps = nn.ModuleList(SamFeedForward(c, c, c // 8, 3) for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = SamFeedForward(c, config.iou_head_hidden_dim, self.num_mask_tokens, config.iou_head_depth)

    def forward(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor | None,
                dense: torch.Tensor, multimask_output: bool) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, h, w = image_embeddings.shape
        P = sparse.shape[1] if sparse is not None else 1
        tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight]).repeat(B, P, 1, 1)  # (B, P, 1 + M, C)
        if sparse is not None:
            tokens = torch.cat([tokens, sparse.to(tokens.dtype)], dim=2)
        image = image_embeddings + dense
        if P > 1:
            image = image.repeat_interleave(P, 0)  # (B * P, C, h, w)
        if image_pe.shape[0] > 1 and P > 1:
            image_pe = image_pe.repeat_interleave(P, 0)
        tokens, keys = self.transformer(tokens, image, image_pe)
        iou_out, mask_out = tokens[:, :, 0], tokens[:, :, 1: 1 + self.num_mask_tokens]
        # The two stride-2 transposed convolutions, channels last, in sub-pixel order (see `stride_tconv`):
        # (B * P, h, w, 2, 2, 2, 2, C / 8) with pixel (4i + 2a + c, 4j + 2b + d) at [i, j, a, b, c, d]
        up = F.gelu(self.upscale_layer_norm(stride_tconv(keys.reshape(B * P, h, w, C), self.upscale_conv1)))
        up = F.gelu(stride_tconv(up, self.upscale_conv2)).reshape(B, P, 16 * h * w, C // 8)
        hyper = torch.stack([mlp(mask_out[:, :, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=2)
        masks = (hyper @ up.transpose(-1, -2)).reshape(B, P, -1, h, w, 2, 2, 2, 2)  # only M maps are reordered
        masks = masks.permute(0, 1, 2, 3, 5, 7, 4, 6, 8).reshape(B, P, -1, 4 * h, 4 * w)  # (B, P, M, 4h, 4w)
        iou = self.iou_prediction_head(iou_out)  # (B, P, M)
        keep = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, :, keep], iou[:, :, keep]


# -- the model -----------------------------------------------------------------------------------------------------
@dataclass
class SamImageSegmentationOutput(ModelOutput):
    iou_scores: torch.Tensor | None = None  # (B, prompts, masks)
    pred_masks: torch.Tensor | None = None  # (B, prompts, masks, 256, 256) logits
    vision_hidden_states: Tensors | None = None
    vision_attentions: Tensors | None = None


class SamPreTrainedModel(PreTrainedModel):
    config_class = SamConfig
    base_model_prefix = "sam"
    attention_kinds = {"vision_encoder.*attn_probs": "patches", "mask_decoder.*attn_probs": "cross"}

    def attention_layer_count(self, kind: str) -> int:
        return self.config.vision.num_hidden_layers if kind == "patches" else self.config.decoder.num_hidden_layers

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, SamPositionalEmbedding):
            module.positional_embedding.normal_(0.0, self.config.vision.hidden_size // 2)
        elif isinstance(module, nn.ConvTranspose2d):  # the decoder's upscaling: not among the shared layer kinds
            module.weight.normal_(0.0, self.config.initializer_range)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, SamVisionAttention) and getattr(module, "rel_pos_h", None) is not None:
            module.rel_pos_h.zero_()  # as the reference: relative positions start at zero
            module.rel_pos_w.zero_()
        elif isinstance(module, SamVisionEncoder) and module.pos_embed is not None:
            module.pos_embed.zero_()


class SamModel(SamPreTrainedModel):
    """`get_image_embeddings(pixel_values)` once per image; then `forward(image_embeddings=..., input_points=...)` per
    prompt (prompt encoder and mask decoder only)."""

    tied_weights = {"prompt_encoder.shared_embedding.positional_embedding": "shared_image_embedding.positional_embedding"}

    def __init__(self, config: SamConfig) -> None:
        super().__init__(config)
        self.shared_image_embedding = SamPositionalEmbedding(config.vision)
        self.vision_encoder = SamVisionEncoder(config.vision)
        self.prompt_encoder = SamPromptEncoder(config)
        self.mask_decoder = SamMaskDecoder(config.decoder)
        self._image_pe: tuple[Any, torch.Tensor] | None = None  # (the table's identity and version, the grid's features)

    def get_image_wide_positional_embeddings(self) -> torch.Tensor:
        """(1, C, 64, 64): the position features of every cell centre of the embedding grid (cached for inference)."""
        table = self.shared_image_embedding.positional_embedding
        key = (table.data_ptr(), table._version, table.device, table.dtype)
        if self._image_pe is not None and self._image_pe[0] == key and not torch.is_grad_enabled():
            return self._image_pe[1]
        size = self.config.prompt.image_embedding_size
        centres = (torch.arange(size, device=table.device, dtype=table.dtype) + 0.5) / size
        grid = torch.stack([centres[None, :].expand(size, size), centres[:, None].expand(size, size)], dim=-1)  # (x, y)
        pe = self.shared_image_embedding(grid).permute(2, 0, 1)[None]
        if not torch.is_grad_enabled():
            self._image_pe = (key, pe)
        return pe

    @torch.no_grad()
    def get_image_embeddings(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, 64, 64): the image encoder's output, to pass as `image_embeddings` for every prompt."""
        return self.vision_encoder(pixel_values)

    @torch.no_grad()
    def get_prompt_embeddings(self, input_points: torch.Tensor | None = None, input_labels: torch.Tensor | None = None,
                              input_boxes: torch.Tensor | None = None,
                              input_masks: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
        return self.prompt_encoder(input_points, input_labels, input_boxes, input_masks)

    def forward(self, pixel_values: torch.Tensor | None = None, input_points: torch.Tensor | None = None,
                input_labels: torch.Tensor | None = None, input_boxes: torch.Tensor | None = None,
                input_masks: torch.Tensor | None = None, image_embeddings: torch.Tensor | None = None,
                multimask_output: bool = True, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SamImageSegmentationOutput:
        """`input_points` (B, prompts, points, 2) and `input_boxes` (B, boxes, 4) in the 1024-pixel frame of the
        processed image; `input_labels` (B, prompts, points): 1 foreground, 0 background (all 1 when omitted)."""
        if (pixel_values is None) == (image_embeddings is None):
            raise InputError("pass pixel_values or image_embeddings (from get_image_embeddings), exactly one of them.")
        if input_points is not None and input_points.dim() != 4:
            raise InputError(f"input_points must be (batch, prompts, points, 2); got shape {tuple(input_points.shape)}.")
        if input_boxes is not None and input_boxes.dim() != 3:
            raise InputError(f"input_boxes must be (batch, boxes, 4); got shape {tuple(input_boxes.shape)}.")
        if input_points is not None and input_boxes is not None and input_points.shape[1] != input_boxes.shape[1]:
            raise InputError(f"{input_points.shape[1]} point prompts but {input_boxes.shape[1]} boxes: give each box "
                             "its points (as many prompts of each).")
        hidden = attentions = None
        if pixel_values is not None:
            with collect_internals(self.vision_encoder, output_attentions, output_hidden_states) as internals:
                image_embeddings = self.vision_encoder(pixel_values)
            hidden = as_tuple(internals["hidden_states"], output_hidden_states)
            attentions = as_tuple(internals["attentions"], output_attentions)
        if input_points is not None and input_labels is None:
            input_labels = torch.ones(input_points.shape[:3], dtype=torch.int, device=input_points.device)
        if input_points is not None and input_points.shape[0] != image_embeddings.shape[0]:
            raise InputError(f"{input_points.shape[0]} rows of points for {image_embeddings.shape[0]} images; several "
                             "prompts on one image go on the second axis: (batch, prompts, points, 2).")
        sparse, dense = self.prompt_encoder(input_points, input_labels, input_boxes, input_masks)
        pe = self.get_image_wide_positional_embeddings()  # (1, C, h, w): the same for every image and prompt
        masks, iou = self.mask_decoder(image_embeddings, pe, sparse, dense, multimask_output)
        return SamImageSegmentationOutput(iou_scores=iou, pred_masks=masks, vision_hidden_states=hidden,
                                          vision_attentions=attentions)


CONFIG = SamConfig
HEADS = {
    "base": SamModel,
    "mask-generation": SamModel,
}
