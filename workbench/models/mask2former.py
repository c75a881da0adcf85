"""Mask2Former: universal segmentation by mask classification. A Swin backbone gives maps at strides 4-32; the pixel
decoder refines the three coarsest with multi-scale deformable attention and adds an FPN level at stride 4 (the
mask features); a transformer decoder updates learned queries with masked attention (each query attends only
where its previous mask is on), one feature level per layer, round robin. Each query ends with a class
distribution (num_labels + "no object") and a mask (its embedding dotted with the mask features).

Module paths equal the keys of hub checkpoints (`model.pixel_level_module.encoder.encoder.layers.0.blocks.0.
attention.self.query.weight`, `model.pixel_level_module.decoder.encoder.layers.0.self_attn.sampling_offsets.weight`,
`model.pixel_level_module.decoder.adapter_1.0.weight`, `model.transformer_module.decoder.layers.0.cross_attn.
in_proj_weight`, `model.transformer_module.decoder.mask_predictor.mask_embedder.0.0.weight`, `class_predictor.weight`,
`criterion.empty_weight`). The deformable attention op is `workbench.nn.deformable` (plain PyTorch, reused by
OneFormer); the decoder's query self-attention is recorded through hook points as kind "self" (queries x queries),
its masked attention as "cross" (queries x one level's cells).

Read top to bottom: config, the pixel decoder (deformable encoder layer, FPN), the masked-attention decoder
(layer, mask predictor), the transformer module, the base model, the universal-segmentation head.
The training loss (Hungarian matching of queries to targets) is not implemented here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError, UnsupportedModelError
from ..nn.activations import get_activation
from ..nn.attention import attend
from ..nn.deformable import multi_scale_deformable_attention, reference_points
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, dense, linear_act
from ..nn.positions import sine_positions
from ..outputs import UniversalSegmentationModelOutput, UniversalSegmentationOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals
from .swin import SwinBackbone, SwinConfig, SwinSelfAttention, backbone_config

# The backbone a config without `backbone_config` gets (the reference's default: Swin with 18 blocks in stage 3).
DEFAULT_BACKBONE = dict(depths=[2, 2, 18, 2], drop_path_rate=0.3, out_features=["stage1", "stage2", "stage3", "stage4"])
LEVELS = 3  # feature levels the deformable encoder and the masked-attention decoder read (strides 32, 16, 8)
POINTS = 4  # sampling points per head and level in deformable attention


@config_dataclass
class Mask2FormerConfig(PretrainedConfig):
    model_type = "mask2former"
    attribute_map = {"hidden_size": "hidden_dim", "num_hidden_layers": "decoder_layers"}
    positive_fields = ("feature_size", "mask_feature_size", "hidden_dim", "encoder_feedforward_dim", "encoder_layers",
                       "decoder_layers", "num_attention_heads", "dim_feedforward", "common_stride", "num_queries")
    divisible_fields = (("feature_size", "num_attention_heads"), ("hidden_dim", "num_attention_heads"))

    backbone_config: dict[str, Any] | None = None
    backbone: str | None = None
    use_pretrained_backbone: bool = False
    use_timm_backbone: bool = False
    backbone_kwargs: dict[str, Any] | None = None
    feature_size: int = 256
    mask_feature_size: int = 256
    hidden_dim: int = 256
    encoder_feedforward_dim: int = 1024
    activation_function: str = "relu"
    encoder_layers: int = 6
    decoder_layers: int = 10
    num_attention_heads: int = 8
    dropout: float = 0.0
    dim_feedforward: int = 2048
    pre_norm: bool = False
    enforce_input_projection: bool = False
    common_stride: int = 4
    ignore_value: int = 255
    num_queries: int = 100
    no_object_weight: float = 0.1
    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    train_num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    init_std: float = 0.02
    init_xavier_std: float = 1.0
    use_auxiliary_loss: bool = True
    feature_strides: list[int] = (4, 8, 16, 32)
    output_auxiliary_logits: bool | None = None

    def validate(self) -> None:
        super().validate()
        if self.feature_size % 32:
            raise ConfigError(f"Mask2FormerConfig.feature_size = {self.feature_size}: the pixel decoder's group norms "
                              "have 32 groups, so it must be a multiple of 32.")
        if self.backbone is not None and self.backbone_config is None:
            raise UnsupportedModelError(f"backbone {self.backbone!r} (a timm or hub name) is not supported here; "
                                        "Mask2Former needs its backbone_config (Swin) in config.json.")
        if len(self.feature_strides) < LEVELS:
            raise ConfigError(f"Mask2FormerConfig.feature_strides = {list(self.feature_strides)}: the pixel decoder "
                              f"reads {LEVELS} levels and more.")

    def swin(self) -> SwinConfig:
        config = backbone_config(self.backbone_config, **DEFAULT_BACKBONE)
        if len(config.backbone_stages()) != len(self.feature_strides):
            raise ConfigError(f"the backbone returns {len(config.backbone_stages())} maps but feature_strides names "
                              f"{len(self.feature_strides)}; make out_features match.")
        return config


# -- the pixel decoder ------------------------------------------------------------------------------
class Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention(nn.Module):
    """Each cell (a query) reads POINTS points per head on each of the LEVELS maps, around its own position."""

    def __init__(self, dim: int, heads: int, levels: int = LEVELS, points: int = POINTS) -> None:
        super().__init__()
        self.n_heads, self.n_levels, self.n_points = heads, levels, points
        self.sampling_offsets = Linear(dim, heads * levels * points * 2)
        self.attention_weights = Linear(dim, heads * levels * points)
        self.value_proj = Linear(dim, dim)
        self.output_proj = Linear(dim, dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, points: torch.Tensor, shapes: list[tuple[int, int]],
                normalizer: torch.Tensor) -> torch.Tensor:
        """x, pos (B, S, C); points (S, 2) every cell's centre; normalizer (L, 2): each level's (w, h)."""
        B, S, C = x.shape
        H, L, P = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(x).view(B, S, H, C // H)
        q = x + pos
        offsets = self.sampling_offsets(q).view(B, S, H, L, P, 2)
        weights = self.attention_weights(q).view(B, S, H, L * P).softmax(-1).view(B, S, H, L, P)
        locations = points[None, :, None, None, None, :] + offsets / normalizer[None, None, None, :, None, :]
        return self.output_proj(multi_scale_deformable_attention(value, shapes, locations, weights))


class Mask2FormerPixelDecoderEncoderLayer(nn.Module):
    """Post-LayerNorm: norm(x + deformable attention), then norm(x + MLP)."""

    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        d = config.feature_size
        self.self_attn = Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention(d, config.num_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = Linear(d, config.encoder_feedforward_dim)
        self.fc2 = Linear(config.encoder_feedforward_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, pos: torch.Tensor, points: torch.Tensor, shapes: list[tuple[int, int]],
                normalizer: torch.Tensor) -> torch.Tensor:
        y = F.dropout(self.self_attn(x, pos, points, shapes, normalizer), self.dropout, self.training)
        x = self.self_attn_layer_norm(x + y)
        y = F.dropout(linear_act(x, self.fc1, F.relu), self.dropout, self.training)
        y = F.dropout(self.fc2(y), self.dropout, self.training)
        return self.final_layer_norm(x + y)


class Mask2FormerPixelDecoderEncoderOnly(nn.Module):
    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Mask2FormerPixelDecoderEncoderLayer(config) for _ in range(config.encoder_layers))


def conv_norm(cin: int, cout: int, kernel: int, bias: bool, relu: bool = False) -> nn.Sequential:
    """Conv2d (padding keeps the size) then GroupNorm(32) (+ ReLU): keys `.0.weight`, `.1.weight`."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel_size=kernel, padding=kernel // 2, bias=bias),
                               nn.GroupNorm(32, cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Mask2FormerPixelDecoder(nn.Module):
    """The LEVELS coarsest backbone maps -> 1x1 projections + group norm -> deformable encoder over all their cells
    together -> back to maps; then FPN levels down to `common_stride` (lateral 1x1 + the coarser map upsampled,
    a 3x3 conv); the finest map projected is the mask features."""

    def __init__(self, config: Mask2FormerConfig, channels: list[int]) -> None:
        super().__init__()
        d = config.feature_size
        self.input_projections = nn.ModuleList(conv_norm(c, d, 1, True) for c in channels[-LEVELS:][::-1])
        self.level_embed = nn.Parameter(torch.zeros(LEVELS, d))
        self.encoder = Mask2FormerPixelDecoderEncoderOnly(config)
        self.mask_projection = nn.Conv2d(d, config.mask_feature_size, kernel_size=1)
        stride = min(config.feature_strides[-LEVELS:])
        self.num_fpn_levels = int(math.log2(stride) - math.log2(config.common_stride))
        for i, c in enumerate(channels[:self.num_fpn_levels]):
            self.add_module(f"adapter_{i + 1}", conv_norm(c, d, 1, False))
            self.add_module(f"layer_{i + 1}", conv_norm(d, d, 3, False, relu=True))

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Backbone maps, finest first -> (mask features (B, mask_dim, H/4, W/4), the LEVELS maps coarsest first)."""
        coarse = features[::-1][:LEVELS]  # strides 32, 16, 8
        maps = [proj(x) for proj, x in zip(self.input_projections, coarse)]
        shapes = [(int(m.shape[2]), int(m.shape[3])) for m in maps]
        B, d = maps[0].shape[:2]
        x = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)  # (B, S, d): every level's cells
        pos = torch.cat([positions(m, d // 2) + self.level_embed[i] for i, m in enumerate(maps)], 1)
        points = reference_points(shapes, x.device, x.dtype)
        normalizer = torch.tensor([[w, h] for h, w in shapes], device=x.device, dtype=x.dtype)
        for layer in self.encoder.layers:
            x = layer(x, pos, points, shapes, normalizer)
        outs = [t.transpose(1, 2).reshape(B, d, h, w) for t, (h, w) in zip(x.split([h * w for h, w in shapes], 1), shapes)]
        for i, feature in enumerate(features[:self.num_fpn_levels][::-1]):
            lateral = getattr(self, f"adapter_{self.num_fpn_levels - i}")(feature)
            up = F.interpolate(outs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(getattr(self, f"layer_{self.num_fpn_levels - i}")(lateral + up))
        return self.mask_projection(outs[-1]), outs[:LEVELS]


def positions(x: torch.Tensor, num_features: int) -> torch.Tensor:
    """(B, C, h, w) map -> (B, h*w, 2 * num_features): the normalised sine embedding of its cells (no padding)."""
    ones = torch.ones(x.shape[0], x.shape[2], x.shape[3], dtype=torch.bool, device=x.device)
    return sine_positions(ones, num_features, x.dtype)


class Mask2FormerPixelLevelModule(nn.Module):
    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        self.encoder = SwinBackbone(config.swin())
        self.decoder = Mask2FormerPixelDecoder(config, self.encoder.channels)


# -- the masked-attention decoder ---------------------------------------------------------------------
class Mask2FormerAttention(nn.Module):
    """The queries' self-attention: positions added to queries and keys, not values."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.k_proj = Linear(dim, dim)
        self.v_proj = Linear(dim, dim)
        self.q_proj = Linear(dim, dim)
        self.out_proj = Linear(dim, dim)
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        qk = x + pos
        q, k = dense(qk, self.q_proj, self.k_proj).view(B, T, 2, self.heads, self.head_dim) \
            .permute(2, 0, 3, 1, 4)  # 2 x (B, H, T, D)
        v = self.v_proj(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
        y = attend(q, k, v, None, dropout_p=self.dropout if self.training else 0.0, probs_hook=self.attn_probs)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))


class Mask2FormerMaskedAttention(nn.Module):
    """Queries attend to one level's cells, only where their previous mask is on (torch's MultiheadAttention
    layout: one packed `in_proj_weight`, so hub keys are `cross_attn.in_proj_weight` / `out_proj`)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = Linear(dim, dim)
        self.cross_attn_probs = HookPoint()

    def forward(self, q_in: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """q_in (B, Q, C); k_in, v_in (B, S, C); mask (B, H, Q, S) additive."""
        B, Q, C = q_in.shape
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q = F.linear(q_in, wq, bq).view(B, Q, self.heads, self.head_dim).transpose(1, 2)
        k = F.linear(k_in, wk, bk).view(B, -1, self.heads, self.head_dim).transpose(1, 2)
        v = F.linear(v_in, wv, bv).view(B, -1, self.heads, self.head_dim).transpose(1, 2)
        y = attend(q, k, v, mask, dropout_p=self.dropout if self.training else 0.0, probs_hook=self.cross_attn_probs)
        return self.out_proj(y.transpose(1, 2).reshape(B, Q, C))


class Mask2FormerMaskedAttentionDecoderLayer(nn.Module):
    """Masked cross-attention first, then self-attention, then the MLP; post- or pre-LayerNorm (`pre_norm`)."""

    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        d, heads = config.hidden_dim, config.num_attention_heads
        self.pre_norm = config.pre_norm
        self.self_attn = Mask2FormerAttention(d, heads, config.dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.cross_attn = Mask2FormerMaskedAttention(d, heads, config.dropout)
        self.cross_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = Linear(d, config.dim_feedforward)
        self.act = get_activation(config.activation_function)
        self.fc2 = Linear(config.dim_feedforward, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = config.dropout
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        drop = lambda t: F.dropout(t, self.dropout, self.training)  # noqa: E731
        cross = lambda t: self.cross_attn(t + query_pos, memory + memory_pos, memory, mask)  # noqa: E731
        mlp = lambda t: self.fc2(drop(linear_act(t, self.fc1, self.act)))  # noqa: E731
        if self.pre_norm:
            x = x + drop(cross(self.cross_attn_layer_norm(x)))
            x = x + drop(self.self_attn(self.self_attn_layer_norm(x), query_pos))
            x = x + drop(mlp(self.final_layer_norm(x)))
        else:
            x = self.cross_attn_layer_norm(x + drop(cross(x)))
            x = self.self_attn_layer_norm(x + drop(self.self_attn(x, query_pos)))
            x = self.final_layer_norm(x + drop(mlp(x)))
        return self.hidden_state(x)


class Mask2FormerPredictionBlock(nn.Module):
    """Linear then an activation, as keys `<i>.0.weight` (the activation holds no weights)."""

    def __init__(self, cin: int, cout: int, activation: nn.Module) -> None:
        super().__init__()
        self.add_module("0", Linear(cin, cout))
        self.add_module("1", activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, "1")(getattr(self, "0")(x))


class Mask2FormerMLPPredictionHead(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, num_layers: int = 3) -> None:
        super().__init__()
        ins = [cin] + [hidden] * (num_layers - 1)
        outs = [hidden] * (num_layers - 1) + [cout]
        for i, (a, b) in enumerate(zip(ins, outs)):
            self.add_module(str(i), Mask2FormerPredictionBlock(a, b, nn.ReLU() if i < num_layers - 1 else nn.Identity()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.children():
            x = block(x)
        return x


class Mask2FormerMaskPredictor(nn.Module):
    """Normed queries -> mask embeddings -> masks (dot with the mask features, per pixel); and for the next layer's
    masked attention, where each mask is on at the next level's size (the mask logits resized, sigmoid >= 0.5)."""

    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.mask_embedder = Mask2FormerMLPPredictionHead(config.hidden_dim, config.hidden_dim, config.mask_feature_size)

    def forward(self, queries: torch.Tensor, pixels: torch.Tensor,
                size: tuple[int, int] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """queries (B, Q, C), pixels (B, C', H, W) -> (mask logits (B, Q, H, W), additive mask (B, heads, Q, h*w) or
        None when `size` is None: the last layer's masks guide no one)."""
        B, Q, _ = queries.shape
        masks = torch.bmm(self.mask_embedder(queries), pixels.flatten(2)).view(B, Q, *pixels.shape[-2:])
        return masks, None if size is None else masked_attention(masks, size, self.num_heads)


def masked_attention(masks: torch.Tensor, size: tuple[int, int], heads: int) -> torch.Tensor:
    """Mask logits (B, Q, H, W) -> the additive mask (B, heads, Q, h*w) of the next masked attention: each query
    sees the cells of a level of `size` where its mask (resized) is on (sigmoid >= 0.5). Shared with OneFormer."""
    B, Q = masks.shape[:2]
    small = F.interpolate(masks, size=size, mode="bilinear", align_corners=False).flatten(2)
    blocked = small.sigmoid() < 0.5  # (B, Q, h*w) where the query's mask is off
    blocked &= ~blocked.all(-1, keepdim=True)  # a query whose mask is off everywhere attends everywhere
    additive = torch.zeros(blocked.shape, dtype=masks.dtype, device=masks.device)
    additive = additive.masked_fill(blocked, float("-inf"))
    return additive[:, None].expand(B, heads, Q, additive.shape[-1])


class Mask2FormerMaskedAttentionDecoder(nn.Module):
    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Mask2FormerMaskedAttentionDecoderLayer(config)
                                    for _ in range(config.decoder_layers - 1))
        self.layernorm = nn.LayerNorm(config.hidden_dim)
        self.mask_predictor = Mask2FormerMaskPredictor(config)
        self.hidden_state = HookPoint()  # the queries entering the first layer


class Mask2FormerTransformerModule(nn.Module):
    """Learned queries (features + positions) through the masked-attention decoder over the LEVELS maps."""

    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        d = config.hidden_dim
        self.queries_embedder = nn.Embedding(config.num_queries, d)  # the queries' positions
        self.queries_features = nn.Embedding(config.num_queries, d)  # their initial content
        project = config.feature_size != d or config.enforce_input_projection
        self.input_projections = nn.ModuleList(
            nn.Conv2d(config.feature_size, d, kernel_size=1) if project else nn.Sequential() for _ in range(LEVELS))
        self.decoder = Mask2FormerMaskedAttentionDecoder(config)
        self.level_embed = nn.Embedding(LEVELS, d)

    def forward(self, maps: list[torch.Tensor], mask_features: torch.Tensor, keep_steps: bool
                ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """-> (the last layer's queries (B, Q, d); every step's normed queries; every step's mask logits); with
        `keep_steps` False only the last step's are kept."""
        d = self.queries_features.weight.shape[1]
        memory = [proj(m).flatten(2).transpose(1, 2) + self.level_embed.weight[i] for i, (proj, m)
                  in enumerate(zip(self.input_projections, maps))]  # (B, h*w, d) per level
        memory_pos = [positions(m, d // 2) for m in maps]
        sizes = [tuple(int(s) for s in m.shape[-2:]) for m in maps]
        B = mask_features.shape[0]
        query_pos = self.queries_embedder.weight[None].expand(B, -1, -1)
        x = self.decoder.hidden_state(self.queries_features.weight[None].expand(B, -1, -1))
        dec = self.decoder
        n = len(dec.layers)
        normed = dec.layernorm(x)
        masks, attn = dec.mask_predictor(normed, mask_features, sizes[0])
        steps, step_masks = [normed], [masks]
        for i, layer in enumerate(dec.layers):
            level = i % LEVELS
            x = layer(x, query_pos, memory[level], memory_pos[level], attn)
            normed = dec.layernorm(x)
            last = i == n - 1
            masks, attn = dec.mask_predictor(normed, mask_features, None if last and not keep_steps
                                             else sizes[(i + 1) % LEVELS])
            if not keep_steps:
                steps, step_masks = [], []
            steps.append(normed)
            step_masks.append(masks)
        return x, steps, step_masks


# -- the base model ---------------------------------------------------------------------------------
class Mask2FormerLoss(nn.Module):
    """Holds the class weights of the training loss (the "no object" class down-weighted), a buffer hub checkpoints
    carry; the loss itself (Hungarian matching) is not implemented here."""

    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__()
        weight = torch.ones(config.num_labels + 1)
        weight[-1] = config.no_object_weight
        self.register_buffer("empty_weight", weight)


class Mask2FormerPreTrainedModel(PreTrainedModel):
    config_class = Mask2FormerConfig
    base_model_prefix = "model"
    # the queries' self-attention and their masked attention to a level's cells, in the transformer decoder
    attention_kinds = {"attn_probs": "self", "cross_attn_probs": "cross"}
    # old checkpoints' window index buffers (rebuilt from the window size); the reference 5.x's unused backbone norm
    ignore_on_load = (*PreTrainedModel.ignore_on_load, r"(^|\.)relative_position_index$",
                      r"pixel_level_module\.encoder\.(swin\.)?layernorm\.")

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention):
            module.sampling_offsets.weight.zero_()  # start by sampling on rings around each cell, one direction a head
            angles = torch.arange(module.n_heads, dtype=torch.float32) * (2.0 * math.pi / module.n_heads)
            grid = torch.stack([angles.cos(), angles.sin()], -1)
            grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(module.n_heads, 1, 1, 2)
            grid = grid.repeat(1, module.n_levels, module.n_points, 1) * torch.arange(1, module.n_points + 1)[:, None]
            module.sampling_offsets.bias.copy_(grid.flatten())
            module.attention_weights.weight.zero_()
            module.attention_weights.bias.zero_()
        elif isinstance(module, Mask2FormerMaskedAttention):
            nn.init.xavier_uniform_(module.in_proj_weight)
            module.in_proj_bias.zero_()
        elif isinstance(module, Mask2FormerPixelDecoder):
            module.level_embed.normal_(0.0, 1.0)
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(0.0, 1.0)
        elif isinstance(module, Mask2FormerLoss):
            module.empty_weight.fill_(1.0)
            module.empty_weight[-1] = self.config.no_object_weight
        elif isinstance(module, SwinSelfAttention):
            module.relative_position_bias_table.zero_()

    @property
    def swin_config(self) -> SwinConfig:
        return self.model.pixel_level_module.encoder.config if hasattr(self, "model") \
            else self.pixel_level_module.encoder.config

    def check_pixels(self, pixel_values: torch.Tensor) -> None:
        channels = self.swin_config.num_channels
        if pixel_values.dim() != 4 or pixel_values.shape[1] != channels:
            raise InputError(f"pixel_values must be (batch, {channels}, height, width); got shape "
                             f"{tuple(pixel_values.shape)}. Prepare images with the checkpoint's image processor.")

    def attention_layer_count(self, kind: str) -> int:
        return self.config.decoder_layers - 1


class Mask2FormerModel(Mask2FormerPreTrainedModel):
    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__(config)
        self.pixel_level_module = Mask2FormerPixelLevelModule(config)
        self.transformer_module = Mask2FormerTransformerModule(config)

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False,
                keep_steps: bool = True) -> UniversalSegmentationModelOutput:
        """`pixel_mask` is accepted and unused, as by the reference (padding is at the bottom/right and the model
        sees it as image). `keep_steps`: every decoder step's normed queries and masks (False: the last only)."""
        self.check_pixels(pixel_values)
        body = self.pixel_level_module
        features, backbone_out = body.encoder(pixel_values, output_hidden_states=False)
        mask_features, maps = body.decoder(features)
        with collect_internals(self.transformer_module, output_attentions, output_hidden_states) as internals:
            x, steps, step_masks = self.transformer_module(maps, mask_features, keep_steps or output_hidden_states)
        seq_first = lambda ts: tuple(t.transpose(0, 1) for t in ts)  # noqa: E731  the reference's (Q, B, C)
        return UniversalSegmentationModelOutput(
            encoder_last_hidden_state=features[-1], pixel_decoder_last_hidden_state=mask_features,
            transformer_decoder_last_hidden_state=x,
            encoder_hidden_states=tuple(features) if output_hidden_states else None,
            pixel_decoder_hidden_states=tuple(maps) if output_hidden_states else None,
            transformer_decoder_hidden_states=seq_first(internals["hidden_states"]) if output_hidden_states else None,
            transformer_decoder_intermediate_states=seq_first(steps), masks_queries_logits=tuple(step_masks),
            attentions=as_tuple(internals["attentions"], output_attentions))  # the queries' self-attention


class Mask2FormerForUniversalSegmentation(Mask2FormerPreTrainedModel):
    def __init__(self, config: Mask2FormerConfig) -> None:
        super().__init__(config)
        self.model = Mask2FormerModel(config)
        self.class_predictor = Linear(config.hidden_dim, config.num_labels + 1)
        self.criterion = Mask2FormerLoss(config)

    def forward(self, pixel_values: torch.Tensor, mask_labels: Any = None, class_labels: Any = None,
                pixel_mask: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_auxiliary_logits: bool | None = None, output_attentions: bool = False
                ) -> UniversalSegmentationOutput:
        if mask_labels is not None or class_labels is not None:
            raise UnsupportedModelError("Mask2Former's training loss (Hungarian matching of queries to targets) is not "
                                        "implemented here; call the model without mask_labels / class_labels.")
        aux = self.config.output_auxiliary_logits if output_auxiliary_logits is None else output_auxiliary_logits
        out = self.model(pixel_values, pixel_mask, output_hidden_states, output_attentions, keep_steps=bool(aux))
        classes = [self.class_predictor(s.transpose(0, 1)) for s in out.transformer_decoder_intermediate_states]
        masks = out.masks_queries_logits
        auxiliary = [{"masks_queries_logits": m, "class_queries_logits": c} for m, c in zip(masks[:-1], classes[:-1])]
        return UniversalSegmentationOutput(
            class_queries_logits=classes[-1], masks_queries_logits=masks[-1], auxiliary_logits=auxiliary if aux else None,
            encoder_last_hidden_state=out.encoder_last_hidden_state,
            pixel_decoder_last_hidden_state=out.pixel_decoder_last_hidden_state,
            transformer_decoder_last_hidden_state=out.transformer_decoder_last_hidden_state,
            encoder_hidden_states=out.encoder_hidden_states, pixel_decoder_hidden_states=out.pixel_decoder_hidden_states,
            transformer_decoder_hidden_states=out.transformer_decoder_hidden_states, attentions=out.attentions)


CONFIG = Mask2FormerConfig
HEADS = {
    "base": Mask2FormerModel,
    "universal-segmentation": Mask2FormerForUniversalSegmentation,
}
