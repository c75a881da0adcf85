"""SegFormer: a Mix Transformer encoder (four stages of overlapping patches and efficient self-attention) and an
all-MLP decoder that fuses the four feature maps into per-pixel class scores.

Module paths equal the keys of hub checkpoints (`segformer.encoder.block.0.0.attention.self.query.weight`,
`decode_head.linear_c.0.proj.weight`), which the reference library also writes. Each stage's attention keys are
the stage's feature map shrunk by `sr_ratios[i]` (a strided convolution), so the probabilities recorded through
the hook points are (queries = the stage's grid, keys = the reduced grid): kind "cross" in `inspect` terms.

Read top to bottom: config, the encoder's blocks (overlapping patch embeddings, efficient self-attention, the
Mix-FFN with its depthwise convolution), the encoder, the base model, the classification and segmentation heads.
At inference the decoder's fuse convolution is folded into the per-stage projections (linear maps commute with
bilinear upsampling), so it runs at each stage's own resolution instead of on four stacked full-size maps.
"""

from __future__ import annotations

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
from ..nn.onednn import Linear
from ..outputs import BaseModelOutput, ImageClassifierOutput, SemanticSegmenterOutput
from .modeling import PreTrainedModel, as_tuple, collect_internals

PER_STAGE = ("depths", "sr_ratios", "hidden_sizes", "patch_sizes", "strides", "num_attention_heads", "mlp_ratios")


@config_dataclass
class SegformerConfig(PretrainedConfig):
    model_type = "segformer"
    attribute_map = {"num_hidden_layers": "num_encoder_blocks"}
    positive_fields = ("num_channels", "num_encoder_blocks", "decoder_hidden_size")

    num_channels: int = 3
    num_encoder_blocks: int = 4
    depths: list[int] = (2, 2, 2, 2)
    sr_ratios: list[int] = (8, 4, 2, 1)
    hidden_sizes: list[int] = (32, 64, 160, 256)
    patch_sizes: list[int] = (7, 3, 3, 3)
    strides: list[int] = (4, 2, 2, 2)
    num_attention_heads: list[int] = (1, 2, 5, 8)
    mlp_ratios: list[int] = (4, 4, 4, 4)
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    drop_path_rate: float = 0.1
    layer_norm_eps: float = 1e-6
    decoder_hidden_size: int = 256
    semantic_loss_ignore_index: int = 255
    reshape_last_stage: bool = True

    def validate(self) -> None:
        super().validate()
        for key in PER_STAGE:
            values = list(getattr(self, key))
            if len(values) != self.num_encoder_blocks:
                raise ConfigError(f"SegformerConfig.{key} has {len(values)} entries for num_encoder_blocks = "
                                  f"{self.num_encoder_blocks}; give one value per stage.")
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 1 for v in values):
                raise ConfigError(f"SegformerConfig.{key} = {values}: every entry must be at least 1.")
        for i, (size, heads) in enumerate(zip(self.hidden_sizes, self.num_attention_heads)):
            if size % heads:
                raise ConfigError(f"SegformerConfig.hidden_sizes[{i}] = {size} is not divisible by "
                                  f"num_attention_heads[{i}] = {heads}.")


# -- encoder blocks ---------------------------------------------------------------------------------
class SegformerOverlapPatchEmbeddings(nn.Module):
    """A strided convolution whose kernel overlaps its neighbours (padding k // 2), then LayerNorm."""

    def __init__(self, patch_size: int, stride: int, num_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(num_channels, hidden_size, kernel_size=patch_size, stride=stride, padding=patch_size // 2)
        self.layer_norm = nn.LayerNorm(hidden_size)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(pixels)
        _, _, h, w = x.shape
        return self.layer_norm(x.flatten(2).transpose(1, 2)), h, w  # (B, h*w, C)


class SegformerEfficientSelfAttention(nn.Module):
    """Queries from every cell; keys and values from the map shrunk `sr_ratio` times per side (`sr` + LayerNorm)."""

    def __init__(self, config: SegformerConfig, hidden_size: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.query = Linear(hidden_size, hidden_size)
        self.key = Linear(hidden_size, hidden_size)
        self.value = Linear(hidden_size, hidden_size)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(hidden_size, hidden_size, kernel_size=sr_ratio, stride=sr_ratio)
            self.layer_norm = nn.LayerNorm(hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        B, T, C = x.shape
        if self.sr_ratio > 1:
            reduced = self.sr(x.transpose(1, 2).reshape(B, C, h, w)).flatten(2).transpose(1, 2)  # (B, T', C)
            reduced = self.layer_norm(reduced)
            q = self.query(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
            kv = F.linear(reduced, torch.cat([self.key.weight, self.value.weight]),
                          torch.cat([self.key.bias, self.value.bias]))
            k, v = kv.view(B, -1, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 2 x (B, H, T', D)
        else:
            q, k, v = fused_qkv(x, self.query, self.key, self.value).view(B, T, 3, self.num_heads, self.head_dim) \
                .permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, D)
        y = attend(q, k, v, None, dropout_p=self.dropout_p if self.training else 0.0, probs_hook=self.attn_probs)
        return y.transpose(1, 2).reshape(B, T, C)


class SegformerSelfOutput(nn.Module):
    def __init__(self, config: SegformerConfig, hidden_size: int) -> None:
        super().__init__()
        self.dense = Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(x))


class SegformerAttention(nn.Module):
    def __init__(self, config: SegformerConfig, hidden_size: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.self = SegformerEfficientSelfAttention(config, hidden_size, num_heads, sr_ratio)
        self.output = SegformerSelfOutput(config, hidden_size)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.output(self.self(x, h, w))


class SegformerDWConv(nn.Module):
    """A 3x3 depthwise convolution over the token grid: the Mix-FFN's only sense of position."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        B, T, C = x.shape
        return self.dwconv(x.transpose(1, 2).reshape(B, C, h, w)).flatten(2).transpose(1, 2)


class SegformerMixFFN(nn.Module):
    def __init__(self, config: SegformerConfig, dim: int, hidden: int) -> None:
        super().__init__()
        self.dense1 = Linear(dim, hidden)
        self.dwconv = SegformerDWConv(hidden)
        self.act = get_activation(config.hidden_act)
        self.dense2 = Linear(hidden, dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.dropout(self.act(self.dwconv(self.dense1(x), h, w)))
        return self.dropout(self.dense2(x))


class SegformerLayer(nn.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then + MixFFN(norm(.))."""

    def __init__(self, config: SegformerConfig, hidden_size: int, num_heads: int, drop_path: float, sr_ratio: int,
                 mlp_ratio: int) -> None:
        super().__init__()
        self.layer_norm_1 = nn.LayerNorm(hidden_size)
        self.attention = SegformerAttention(config, hidden_size, num_heads, sr_ratio)
        self.drop_path = drop_path
        self.layer_norm_2 = nn.LayerNorm(hidden_size)
        self.mlp = SegformerMixFFN(config, hidden_size, int(hidden_size * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + drop_path(self.attention(self.layer_norm_1(x), h, w), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.layer_norm_2(x), h, w), self.drop_path, self.training)


class SegformerEncoder(nn.Module):
    """Stage i: patch_embeddings[i] -> block[i] layers -> layer_norm[i] -> a (B, C_i, h_i, w_i) feature map."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__()
        self.config = config
        n = sum(config.depths)
        rates = [config.drop_path_rate * i / max(n - 1, 1) for i in range(n)]  # deeper layers drop more often
        ins = [config.num_channels, *config.hidden_sizes[:-1]]
        self.patch_embeddings = nn.ModuleList(
            SegformerOverlapPatchEmbeddings(config.patch_sizes[i], config.strides[i], ins[i], config.hidden_sizes[i])
            for i in range(config.num_encoder_blocks))
        blocks, start = [], 0
        for i, depth in enumerate(config.depths):
            blocks.append(nn.ModuleList(
                SegformerLayer(config, config.hidden_sizes[i], config.num_attention_heads[i], rates[start + j],
                               config.sr_ratios[i], config.mlp_ratios[i]) for j in range(depth)))
            start += depth
        self.block = nn.ModuleList(blocks)
        self.layer_norm = nn.ModuleList(nn.LayerNorm(c) for c in config.hidden_sizes)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        x, maps = pixels, []
        last = len(self.block) - 1
        for i, (embed, layers, norm) in enumerate(zip(self.patch_embeddings, self.block, self.layer_norm)):
            x, h, w = embed(x)
            for layer in layers:
                x = layer(x, h, w)
            x = norm(x)
            if i < last or self.config.reshape_last_stage:
                x = x.transpose(1, 2).reshape(x.shape[0], -1, h, w)  # (B, T, C) -> (B, C, h, w)
            maps.append(x)  # the stage outputs are the hidden states (and the decoder's inputs)
        return maps


# -- the base model ---------------------------------------------------------------------------------
class SegformerPreTrainedModel(PreTrainedModel):
    config_class = SegformerConfig
    base_model_prefix = "segformer"
    attention_kinds = {"attn_probs": "cross"}  # keys are the reduced grid

    def attention_layer_count(self, kind: str) -> int:
        return max(self.config.depths)


class SegformerModel(SegformerPreTrainedModel):
    def __init__(self, config: SegformerConfig) -> None:
        super().__init__(config)
        self.encoder = SegformerEncoder(config)

    def features(self, pixel_values: torch.Tensor, output_attentions: bool = False,
                 output_hidden_states: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Every stage's feature map (what the decoder reads) and the attentions asked for."""
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise InputError(f"pixel_values must be (batch, {self.config.num_channels}, height, width); got shape "
                             f"{tuple(pixel_values.shape)}. Prepare images with the checkpoint's image processor.")
        pixel_values = pixel_values.to(self.encoder.patch_embeddings[0].proj.weight.dtype)
        with collect_internals(self, output_attentions, False) as internals:
            maps = self.encoder(pixel_values)
        return maps, internals["attentions"]

    def forward(self, pixel_values: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BaseModelOutput:
        maps, attentions = self.features(pixel_values, output_attentions)
        return BaseModelOutput(last_hidden_state=maps[-1], hidden_states=as_tuple(maps, output_hidden_states),
                               attentions=as_tuple(attentions, output_attentions))


# -- task heads -------------------------------------------------------------------------------------
class SegformerForImageClassification(SegformerPreTrainedModel):
    def __init__(self, config: SegformerConfig) -> None:
        super().__init__(config)
        self.segformer = SegformerModel(config)
        self.classifier = Linear(config.hidden_sizes[-1], config.num_labels)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageClassifierOutput:
        out = self.segformer(pixel_values, output_attentions, output_hidden_states)
        x = out.last_hidden_state
        pooled = x.flatten(2).mean(-1) if x.dim() == 4 else x.mean(1)  # global average over the last grid
        logits = self.classifier(pooled)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class SegformerMLP(nn.Module):
    """One stage's channels -> decoder_hidden_size, per cell."""

    def __init__(self, input_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = Linear(input_dim, dim)


class SegformerDecodeHead(nn.Module):
    """Project every stage to `decoder_hidden_size`, upsample to stage 0's grid, stack (last stage first), fuse
    (1x1 conv), batch norm, ReLU, classify."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__()
        d, n = config.decoder_hidden_size, config.num_encoder_blocks
        self.linear_c = nn.ModuleList(SegformerMLP(c, d) for c in config.hidden_sizes)
        self.linear_fuse = nn.Conv2d(d * n, d, kernel_size=1, bias=False)
        self.batch_norm = nn.BatchNorm2d(d)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Conv2d(d, config.num_labels, kernel_size=1)

    @staticmethod
    def as_map(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return x
        b, t, c = x.shape  # reshape_last_stage=False leaves the last stage as tokens on a square grid
        side = int(round(t ** 0.5))
        return x.transpose(1, 2).reshape(b, c, side, side)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        maps = [self.as_map(m) for m in maps]
        size = maps[0].shape[-2:]
        if not self.training and not torch.is_grad_enabled():
            fused = self.fused(maps, size)
        else:
            ups = []
            for m, mlp in zip(maps, self.linear_c):
                b, _, h, w = m.shape
                y = mlp.proj(m.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)
                ups.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
            fused = self.batch_norm(self.linear_fuse(torch.cat(ups[::-1], dim=1)))
        return self.classifier(self.dropout(F.relu(fused)))

    def fused(self, maps: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
        """Inference: fuse conv, projections and batch norm folded into one matrix per stage, applied at the stage's
        own resolution before upsampling (bilinear upsampling is linear with weights summing to 1: it commutes)."""
        bn = self.batch_norm
        scale = bn.weight * (bn.running_var + bn.eps).rsqrt()  # (D,)
        d, n = self.linear_fuse.out_channels, len(maps)
        fuse = self.linear_fuse.weight.view(d, n, -1)  # (D, n, D): input blocks are the stages, last stage first
        total = None
        for i, (m, mlp) in enumerate(zip(maps, self.linear_c)):
            w_i = fuse[:, n - 1 - i] @ mlp.proj.weight * scale[:, None]  # (D, C_i)
            b_i = (fuse[:, n - 1 - i] @ mlp.proj.bias) * scale
            y = F.conv2d(m, w_i[:, :, None, None], b_i)  # (B, D, h_i, w_i)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            total = y if total is None else total + y
        return total + (bn.bias - bn.running_mean * scale)[None, :, None, None]


class SegformerForSemanticSegmentation(SegformerPreTrainedModel):
    def __init__(self, config: SegformerConfig) -> None:
        super().__init__(config)
        self.segformer = SegformerModel(config)
        self.decode_head = SegformerDecodeHead(config)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SemanticSegmenterOutput:
        maps, attentions = self.segformer.features(pixel_values, output_attentions)
        logits = self.decode_head(maps)  # (B, num_labels, H/4, W/4)
        loss = None
        if labels is not None:
            up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
            if self.config.num_labels > 1:
                loss = F.cross_entropy(up, labels, ignore_index=self.config.semantic_loss_ignore_index)
            else:
                valid = ((labels >= 0) & (labels != self.config.semantic_loss_ignore_index)).float()
                loss = (F.binary_cross_entropy_with_logits(up.squeeze(1), labels.float(), reduction="none") * valid).mean()
        return SemanticSegmenterOutput(loss, logits, as_tuple(maps, output_hidden_states),
                                       as_tuple(attentions, output_attentions))


CONFIG = SegformerConfig
HEADS = {
    "base": SegformerModel,
    "image-classification": SegformerForImageClassification,
    "semantic-segmentation": SegformerForSemanticSegmentation,
}
