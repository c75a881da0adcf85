"""Swin Transformer: self-attention inside local windows that shift by half a window every other block, and patch
merging between stages (a feature pyramid at strides 4, 8, 16, 32). Used on its own (classification) and as the
backbone of Mask2Former (and OneFormer): `SwinBackbone` returns the chosen stages' maps, each layer-normed.

Module paths equal the keys of hub checkpoints (`embeddings.patch_embeddings.projection.weight`,
`encoder.layers.0.blocks.1.attention.self.relative_position_bias_table`, `...attention.output.dense.weight`,
`...intermediate.dense.weight`, `encoder.layers.0.downsample.reduction.weight`, the backbone's
`hidden_states_norms.stage1.weight`), the layout the reference library writes as well. Old checkpoints also hold
each block's `relative_position_index` buffer: it is derived from the window size, so it is rebuilt, not loaded.

Read top to bottom: config, windows (partition, shift mask), embeddings, window attention, block, patch merging,
stage, encoder, the base model, the backbone, the classification head. Window attention is recorded through hook
points as kind "self" (one map per window: B * windows rows, tokens row by row inside the window).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError
from ..nn.activations import get_activation
from ..nn.attention import attend, fused_qkv
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..nn.layers import drop_path
from ..nn.losses import sequence_classification_loss
from ..outputs import BaseModelOutput, ImageClassifierOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals, sub_config


@config_dataclass
class SwinConfig(PretrainedConfig):
    model_type = "swin"
    positive_fields = ("patch_size", "num_channels", "embed_dim", "window_size")

    image_size: int = 224
    patch_size: int = 4
    num_channels: int = 3
    embed_dim: int = 96
    depths: list[int] = (2, 2, 6, 2)
    num_heads: list[int] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    drop_path_rate: float = 0.1
    hidden_act: str = "gelu"
    use_absolute_embeddings: bool = False
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    encoder_stride: int = 32
    out_features: list[str] | None = None  # as a backbone: "stem" (the embeddings) or "stage<i>" (stage i's output)
    out_indices: list[int] | None = None

    def validate(self) -> None:
        super().validate()
        if len(self.depths) != len(self.num_heads):
            raise ConfigError(f"SwinConfig: {len(self.depths)} depths but {len(self.num_heads)} num_heads; give one "
                              "per stage.")
        for i, heads in enumerate(self.num_heads):
            if self.stage_channels(i + 1) % heads:
                raise ConfigError(f"SwinConfig: stage {i + 1} has {self.stage_channels(i + 1)} channels, not divisible "
                                  f"by num_heads[{i}] = {heads}.")
        for i in self.backbone_stages():
            if not 0 <= i <= len(self.depths):
                raise ConfigError(f"SwinConfig: out_indices/out_features name stage {i}, but there are "
                                  f"{len(self.depths)} stages (0 = the embeddings).")

    def final_channels(self) -> int:
        """Channels after the last stage (what the classifier reads; config.json's `hidden_size` says the same)."""
        return self.stage_channels(len(self.depths))

    def stage_channels(self, stage: int) -> int:
        """Channels of stage `stage` (0 = the embeddings; each stage after the first doubles them)."""
        return int(self.embed_dim * 2 ** max(stage - 1, 0))

    def backbone_stages(self) -> list[int]:
        """The maps a backbone returns: 0 = the embeddings ("stem"), i = stage i (before its patch merging)."""
        if self.out_indices:
            n = len(self.depths) + 1
            return [i if i >= 0 else n + i for i in self.out_indices]
        if self.out_features:
            return [0 if f == "stem" else int(str(f).removeprefix("stage")) for f in self.out_features]
        return [len(self.depths)]


# -- windows ----------------------------------------------------------------------------------------
def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/ws * W/ws, ws * ws, C): windows row by row, tokens row by row inside each."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).transpose(2, 3)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """The inverse of `window_partition`: (B * windows, ws * ws, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c).transpose(2, 3)
    return x.reshape(-1, h, w, c)


def shift_mask(h: int, w: int, ws: int, shift: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(windows, ws*ws, ws*ws) additive mask of a shifted layout: after the cyclic roll, a window may hold cells from
    up to 3x3 regions of the unrolled map that were not neighbours; tokens attend only inside their own region."""
    def regions(n: int) -> torch.Tensor:
        i = torch.arange(n, device=device)
        return (i >= n - ws).long() + (i >= n - shift).long()

    label = (regions(h)[:, None] * 3 + regions(w)[None, :]).to(dtype)  # (H, W) region ids
    cells = window_partition(label[None, :, :, None], ws)[..., 0]  # (windows, ws*ws)
    differ = cells[:, None, :] != cells[:, :, None]
    return torch.zeros(differ.shape, device=device, dtype=dtype).masked_fill(differ, -100.0)


@functools.lru_cache(maxsize=8)
def relative_position_index(ws: int, device: torch.device) -> torch.Tensor:
    """(ws*ws * ws*ws,): for each pair of cells of a window, the row of the bias table for their offset (derived from
    the window size, so not a weight: old checkpoints' saved copies are ignored)."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # (2, N)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)  # (N, N, 2), each in [0, 2ws-2]
    return (rel[..., 0] * (2 * ws - 1) + rel[..., 1]).flatten().to(device)


# -- embeddings -------------------------------------------------------------------------------------
class SwinPatchEmbeddings(nn.Module):
    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        p = config.patch_size
        self.patch_size = p
        self.projection = nn.Conv2d(config.num_channels, config.embed_dim, kernel_size=p, stride=p)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        p = self.patch_size
        h, w = pixel_values.shape[-2:]
        pixel_values = F.pad(pixel_values, (0, (-w) % p, 0, (-h) % p))  # sizes not divisible by the patch: zeros
        x = self.projection(pixel_values)
        return x.flatten(2).transpose(1, 2), (x.shape[2], x.shape[3])  # (B, h*w, C), (h, w)


class SwinEmbeddings(nn.Module):
    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        self.patch_embeddings = SwinPatchEmbeddings(config)
        if config.use_absolute_embeddings:
            side = config.image_size // config.patch_size
            self.position_embeddings = nn.Parameter(torch.zeros(1, side * side, config.embed_dim))
        else:
            self.position_embeddings = None
        self.norm = nn.LayerNorm(config.embed_dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x, size = self.patch_embeddings(pixel_values)
        x = self.norm(x)
        if self.position_embeddings is not None:
            if self.position_embeddings.shape[1] != x.shape[1]:
                raise InputError(f"this Swin has absolute position embeddings for {self.position_embeddings.shape[1]} "
                                 f"patches, the image gives {x.shape[1]}; resize images to the model's image_size.")
            x = x + self.position_embeddings
        return self.dropout(x), size


# -- attention inside windows -------------------------------------------------------------------------
class SwinSelfAttention(nn.Module):
    def __init__(self, config: SwinConfig, dim: int, heads: int) -> None:
        super().__init__()
        ws = config.window_size
        self.window_size = ws
        self.num_heads, self.head_dim = heads, dim // heads
        self.query = Linear(dim, dim, bias=config.qkv_bias)
        self.key = Linear(dim, dim, bias=config.qkv_bias)
        self.value = Linear(dim, dim, bias=config.qkv_bias)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        self.dropout_p = config.attention_probs_dropout_prob
        self.attn_probs = HookPoint()

    def bias(self) -> torch.Tensor:
        """(H, N, N) the learned bias of each pair of cells' offset inside a window."""
        table = self.relative_position_bias_table
        n = self.window_size ** 2
        return table[relative_position_index(self.window_size, table.device)].view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        """x (B * windows, N, C); shift: (windows, N, N) additive mask of a shifted layout, or None."""
        Bw, N, C = x.shape
        q, k, v = fused_qkv(x, self.query, self.key, self.value).view(Bw, N, 3, self.num_heads, self.head_dim) \
            .permute(2, 0, 3, 1, 4)  # 3 x (B * windows, H, N, D)
        mask = self.bias()[None]  # (1, H, N, N)
        if shift is not None:
            windows = shift.shape[0]
            mask = (mask + shift[:, None]).expand(Bw // windows, -1, -1, -1, -1).reshape(Bw, self.num_heads, N, N)
        y = attend(q, k, v, mask.to(q.dtype), dropout_p=self.dropout_p if self.training else 0.0,
                   probs_hook=self.attn_probs)
        return y.transpose(1, 2).reshape(Bw, N, C)


class SwinSelfOutput(nn.Module):
    def __init__(self, config: SwinConfig, dim: int) -> None:
        super().__init__()
        self.dense = Linear(dim, dim)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)


class SwinAttention(nn.Module):
    def __init__(self, config: SwinConfig, dim: int, heads: int) -> None:
        super().__init__()
        self.self = SwinSelfAttention(config, dim, heads)
        self.output = SwinSelfOutput(config, dim)

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        return self.output.dropout(self.output.dense(self.self(x, shift)))


class SwinIntermediate(nn.Module):
    def __init__(self, config: SwinConfig, dim: int) -> None:
        super().__init__()
        self.dense = Linear(dim, int(config.mlp_ratio * dim))
        self.act = get_activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_act(x, self.dense, self.act)


class SwinOutput(nn.Module):
    def __init__(self, config: SwinConfig, dim: int) -> None:
        super().__init__()
        self.dense = Linear(int(config.mlp_ratio * dim), dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(x))


class SwinLayer(nn.Module):
    """Pre-LayerNorm block: attention inside (shifted) windows over the map padded to whole windows, then the MLP."""

    def __init__(self, config: SwinConfig, dim: int, heads: int, shift: int, drop_path: float) -> None:
        super().__init__()
        self.window_size, self.shift_size = config.window_size, shift
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attention = SwinAttention(config, dim, heads)
        self.layernorm_after = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.intermediate = SwinIntermediate(config, dim)
        self.output = SwinOutput(config, dim)
        self.drop_path = drop_path

    def layout(self, h: int, w: int, always_partition: bool) -> tuple[int, int]:
        """(window, shift) for a map this size: the classification model shrinks the window to a map smaller than
        it (no shift then); the backbone keeps windows and shifts whatever the size (the reference's rules)."""
        if not always_partition and min(h, w) <= self.window_size:
            return min(h, w), 0
        return self.window_size, self.shift_size

    def forward(self, x: torch.Tensor, size: tuple[int, int], always_partition: bool,
                masks: dict[tuple[int, ...], torch.Tensor]) -> torch.Tensor:
        h, w = size
        B, _, C = x.shape
        ws, shift = self.layout(h, w, always_partition)
        y = self.layernorm_before(x).view(B, h, w, C)
        if h % ws or w % ws:
            y = F.pad(y, (0, 0, 0, (-w) % ws, 0, (-h) % ws))  # whole windows: zeros at the right and bottom
        hp, wp = y.shape[1:3]
        mask = None
        if shift > 0:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
            key = (hp, wp, ws, shift)
            if key not in masks:  # one mask per layout, shared by every shifted block of the forward pass
                masks[key] = shift_mask(hp, wp, ws, shift, y.device, y.dtype)
            mask = masks[key]
        y = self.attention(window_partition(y, ws), mask)
        y = window_reverse(y, ws, hp, wp)
        if shift > 0:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        y = y[:, :h, :w].reshape(B, h * w, C)
        x = x + drop_path(y, self.drop_path, self.training)
        return x + drop_path(self.output(self.intermediate(self.layernorm_after(x))), self.drop_path, self.training)


class SwinPatchMerging(nn.Module):
    """Each 2x2 group of cells -> one cell with their channels concatenated (4C), normed, projected to 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        B, _, C = x.shape
        x = F.pad(x.view(B, h, w, C), (0, 0, 0, w % 2, 0, h % 2))
        # the reference's order: (row 0, col 0), (row 1, col 0), (row 0, col 1), (row 1, col 1)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(B, -1, 4 * C)))


class SwinStage(nn.Module):
    def __init__(self, config: SwinConfig, dim: int, depth: int, heads: int, rates: list[float], merge: bool) -> None:
        super().__init__()
        half = config.window_size // 2
        self.blocks = nn.ModuleList(SwinLayer(config, dim, heads, 0 if i % 2 == 0 else half, rates[i])
                                    for i in range(depth))
        self.downsample = SwinPatchMerging(dim) if merge else None
        self.hidden_state = HookPoint()  # the stage's output (after patch merging): a hidden state

    def forward(self, x: torch.Tensor, size: tuple[int, int], always_partition: bool,
                masks: dict[tuple[int, ...], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (the output, merged when the stage merges; the output before merging: the backbone's map)"""
        for block in self.blocks:
            x = block(x, size, always_partition, masks)
        before = x
        if self.downsample is not None:
            x = self.downsample(x, size)
        return self.hidden_state(x), before


class SwinEncoder(nn.Module):
    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        n = sum(config.depths)
        rates = [config.drop_path_rate * i / max(n - 1, 1) for i in range(n)]  # deeper blocks drop more often
        stages, start = [], 0
        for i, depth in enumerate(config.depths):
            stages.append(SwinStage(config, config.stage_channels(i + 1), depth, config.num_heads[i],
                                    rates[start:start + depth], merge=i < len(config.depths) - 1))
            start += depth
        self.layers = nn.ModuleList(stages)
        self.hidden_state = HookPoint()  # the encoder's input (the embeddings): hidden_states[0]

    def forward(self, x: torch.Tensor, size: tuple[int, int], always_partition: bool = False
                ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, tuple[int, int]]]]:
        """-> (the last output; each stage's map before merging with its (h, w))"""
        x = self.hidden_state(x)
        masks: dict[tuple[int, ...], torch.Tensor] = {}
        maps = []
        for stage in self.layers:
            x, before = stage(x, size, always_partition, masks)
            maps.append((before, size))
            if stage.downsample is not None:
                size = ((size[0] + 1) // 2, (size[1] + 1) // 2)
        return x, maps


# -- the base model ---------------------------------------------------------------------------------
class SwinPreTrainedModel(PreTrainedModel):
    config_class = SwinConfig
    base_model_prefix = "swin"
    attention_kinds = {"attn_probs": "self"}  # inside one window: B * windows maps of ws*ws tokens
    ignore_on_load = (*PreTrainedModel.ignore_on_load, r"(^|\.)relative_position_index$")

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, SwinSelfAttention):
            module.relative_position_bias_table.zero_()
        elif isinstance(module, SwinEmbeddings) and module.position_embeddings is not None:
            module.position_embeddings.zero_()

    def check_pixels(self, pixel_values: torch.Tensor) -> None:
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise InputError(f"pixel_values must be (batch, {self.config.num_channels}, height, width); got shape "
                             f"{tuple(pixel_values.shape)}. Prepare images with the checkpoint's image processor.")

    def last_blocks(self) -> list[int]:
        """Indexes (over all blocks) of each stage's last block: the attentions the reference returns."""
        ends, total = [], 0
        for depth in self.config.depths:
            total += depth
            ends.append(total - 1)
        return ends


class SwinModel(SwinPreTrainedModel):
    def __init__(self, config: SwinConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = SwinEmbeddings(config)
        self.encoder = SwinEncoder(config)
        self.layernorm = nn.LayerNorm(config.final_channels(), eps=config.layer_norm_eps)
        self.add_pooling_layer = add_pooling_layer

    def forward(self, pixel_values: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutput:
        self.check_pixels(pixel_values)
        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x, _ = self.encoder(*self.embeddings(pixel_values))
        x = self.layernorm(x)
        pooled = x.mean(1) if self.add_pooling_layer else None
        attentions = [internals["attentions"][i] for i in self.last_blocks()] if output_attentions else []
        return BaseModelOutput(last_hidden_state=x, pooler_output=pooled,
                               hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
                               attentions=as_tuple(attentions, output_attentions))


class SwinBackbone(SwinPreTrainedModel):
    """The chosen stages' maps (`config.backbone_stages()`), each before its patch merging and layer-normed by its
    own `hidden_states_norms` entry: (B, C_i, h_i, w_i) at strides 4, 8, 16, 32 (what dense heads read). Windows
    stay windows whatever the image size (the reference's `always_partition`)."""

    # the reference 5.x builds its backbone around a whole SwinModel and saves that model's final norm, never used
    ignore_on_load = (*SwinPreTrainedModel.ignore_on_load, r"^(swin\.)?layernorm\.")

    def __init__(self, config: SwinConfig) -> None:
        super().__init__(config)
        self.embeddings = SwinEmbeddings(config)
        self.encoder = SwinEncoder(config)
        self.hidden_states_norms = nn.ModuleDict(
            {self.stage_name(i): nn.LayerNorm(config.stage_channels(i)) for i in config.backbone_stages()})

    @staticmethod
    def stage_name(i: int) -> str:
        return "stem" if i == 0 else f"stage{i}"

    @property
    def channels(self) -> list[int]:
        return [self.config.stage_channels(i) for i in self.config.backbone_stages()]

    def forward(self, pixel_values: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False) -> tuple[list[torch.Tensor], BaseModelOutput]:
        """-> (the feature maps; the stem and every stage's map before merging as hidden states, (B, C, h, w))"""
        self.check_pixels(pixel_values)
        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
        with collect_internals(self, output_attentions, False) as internals:
            x, size = self.embeddings(pixel_values)
            _, stages = self.encoder(x, size, always_partition=True)
        maps = [(x, size), *stages]  # stage 0 is the stem (the embeddings)
        features = []
        for i in self.config.backbone_stages():
            t, (h, w) = maps[i]
            t = self.hidden_states_norms[self.stage_name(i)](t)
            features.append(t.transpose(1, 2).reshape(t.shape[0], -1, h, w))  # (B, h*w, C) -> (B, C, h, w)
        hidden = [t.transpose(1, 2).reshape(t.shape[0], -1, h, w) for t, (h, w) in maps] if output_hidden_states else []
        attentions = [internals["attentions"][i] for i in self.last_blocks()] if output_attentions else []
        return features, BaseModelOutput(hidden_states=as_tuple(hidden, output_hidden_states),
                                         attentions=as_tuple(attentions, output_attentions))


# -- task heads -------------------------------------------------------------------------------------
class SwinForImageClassification(SwinPreTrainedModel):
    def __init__(self, config: SwinConfig) -> None:
        super().__init__(config)
        self.swin = SwinModel(config)
        self.classifier = Linear(config.final_channels(), config.num_labels)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageClassifierOutput:
        out = self.swin(pixel_values, output_attentions, output_hidden_states)
        logits = self.classifier(out.pooler_output)  # the mean over the last stage's cells
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions)


def backbone_config(data: dict[str, Any] | None, **defaults: Any) -> SwinConfig:
    """A Swin backbone config from the dict a dense model's config.json holds (`backbone_config`)."""
    return sub_config(SwinConfig, data, **defaults)


CONFIG = SwinConfig
HEADS = {
    "base": SwinModel,
    "backbone": SwinBackbone,
    "image-classification": SwinForImageClassification,
}
