"""DETR: a ResNet backbone -> a transformer encoder over its feature map -> object queries decoded into boxes.

Module paths equal the keys of hub checkpoints. The backbone comes in the two layouts hub files use:
the timm layout of `facebook/detr-resnet-50` (`model.backbone.conv_encoder.model.layer1.0.conv1.weight`,
config `use_timm_backbone: true`, structure from the `backbone` name) and the reference's native ResNet
layout (`...model.encoder.stages.0.layers.0.layer.0.convolution.weight`, structure from `backbone_config`).
Both run the same convolutions; batch norms are frozen (running statistics and affine terms are buffers,
as in the reference; any `num_batches_tracked` in a file is ignored).

Attention is recorded through hook points: the encoder's self-attention over the feature map (kind
"patches", on the feature grid), the decoder's self-attention between object queries ("self"), and its
cross-attention from each query to the feature map ("cross", keys on the feature grid: `model.grid(...)`),
which is what a heat map of "where query q looked" draws.

Read top to bottom: config, backbone (frozen batch norm, ResNet blocks in both layouts), sine position
embeddings, attention, encoder and decoder layers, the base model, the detection head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError, UnsupportedModelError
from ..nn.activations import get_activation
from ..nn.attention import additive_mask, attend
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..nn.positions import sine_positions
from ..outputs import ModelOutput, Tensors
from .modeling import PreTrainedModel, as_tuple, collect_internals


@config_dataclass
class DetrConfig(PretrainedConfig):
    model_type = "detr"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "encoder_attention_heads",
                     "num_hidden_layers": "encoder_layers"}
    positive_fields = ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                       "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "num_queries", "num_channels")
    divisible_fields = (("d_model", "encoder_attention_heads"), ("d_model", "decoder_attention_heads"))

    use_timm_backbone: bool = True
    backbone: str | None = "resnet50"
    backbone_config: dict[str, Any] | None = None
    use_pretrained_backbone: bool = False
    backbone_kwargs: dict[str, Any] | None = None
    num_channels: int = 3
    num_queries: int = 100
    encoder_layers: int = 6
    encoder_ffn_dim: int = 2048
    encoder_attention_heads: int = 8
    decoder_layers: int = 6
    decoder_ffn_dim: int = 2048
    decoder_attention_heads: int = 8
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    is_encoder_decoder: bool = True
    activation_function: str = "relu"
    d_model: int = 256
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    init_xavier_std: float = 1.0
    auxiliary_loss: bool = False
    position_embedding_type: str = "sine"
    dilation: bool = False
    class_cost: float = 1
    bbox_cost: float = 5
    giou_cost: float = 2
    mask_loss_coefficient: float = 1
    dice_loss_coefficient: float = 1
    bbox_loss_coefficient: float = 5
    giou_loss_coefficient: float = 2
    eos_coefficient: float = 0.1

    def validate(self) -> None:
        super().validate()
        if self.d_model % 4:  # half the width per image axis, in sine/cosine pairs
            raise ConfigError(f"DetrConfig.d_model = {self.d_model} must be a multiple of 4 (sine position "
                              "embeddings give each image axis d_model/2 features in sin/cos pairs).")
        if self.position_embedding_type != "sine":
            raise UnsupportedModelError(f"position_embedding_type={self.position_embedding_type!r} is not supported; "
                                        "only 'sine' (every released DETR checkpoint) is.")


# -- backbone -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResNetSpec:
    """What builds the backbone: its key layout and its shape."""

    layout: str  # "timm" (conv1/bn1/layer1...) or "native" (embedder/encoder.stages...)
    embedding_size: int
    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    bottleneck: bool
    dilation: bool = False  # the last stage keeps stride 16 with dilated 3x3 convs (DETR "DC5")


# timm's ResNets by name: (depths, bottleneck); widths are timm's standard ones.
TIMM_RESNETS = {"resnet18": ((2, 2, 2, 2), False), "resnet34": ((3, 4, 6, 3), False),
                "resnet50": ((3, 4, 6, 3), True), "resnet101": ((3, 4, 23, 3), True),
                "resnet152": ((3, 8, 36, 3), True)}


def backbone_spec(config: DetrConfig) -> ResNetSpec:
    if config.backbone_config is None:
        if not config.use_timm_backbone:
            raise UnsupportedModelError("this DETR config names no backbone: set use_timm_backbone with a backbone "
                                        "name, or a backbone_config.")
        name = (config.backbone or "resnet50").split(".")[0].removeprefix("timm/")
        if name not in TIMM_RESNETS:
            raise UnsupportedModelError(f"timm backbone {config.backbone!r} is not supported; supported: "
                                        f"{', '.join(TIMM_RESNETS)}.")
        depths, bottleneck = TIMM_RESNETS[name]
        widths = (256, 512, 1024, 2048) if bottleneck else (64, 128, 256, 512)
        return ResNetSpec("timm", 64, widths, depths, bottleneck, config.dilation)
    bb = config.backbone_config
    if bb.get("model_type", "resnet") != "resnet":
        raise UnsupportedModelError(f"backbone model_type {bb.get('model_type')!r} is not supported; only 'resnet' is.")
    if bb.get("downsample_in_first_stage") or bb.get("downsample_in_bottleneck") or config.dilation:
        raise UnsupportedModelError("ResNet backbones with downsample_in_first_stage, downsample_in_bottleneck or "
                                    "dilation are not supported in the native layout.")
    out = bb.get("out_features") or ["stage4"]
    depths = tuple(bb.get("depths", (3, 4, 6, 3)))
    if out[-1] != f"stage{len(depths)}":
        raise UnsupportedModelError(f"DETR reads the backbone's last stage; this config asks for {out[-1]!r}.")
    return ResNetSpec("native", int(bb.get("embedding_size", 64)), tuple(bb.get("hidden_sizes", (256, 512, 1024, 2048))),
                      depths, bb.get("layer_type", "bottleneck") == "bottleneck")


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine terms (buffers: nothing here trains); eps 1e-5 as the reference."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift()
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation, bias=False)


def conv_bn(c: nn.Conv2d, bn: FrozenBatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """conv then frozen batch norm; at inference folded into one convolution (the same numbers, one pass less)."""
    if torch.is_grad_enabled():
        return bn(c(x))
    scale, shift = bn.scale_shift()
    return F.conv2d(x, c.weight * scale[:, None, None, None], shift, c.stride, c.padding, c.dilation)


class TimmBottleneck(nn.Module):
    """timm layout: conv1/bn1 (1x1), conv2/bn2 (3x3, the stride), conv3/bn3 (1x1), downsample.0/.1."""

    def __init__(self, cin: int, cout: int, stride: int, first_dilation: int, dilation: int, bottleneck: bool) -> None:
        super().__init__()
        self.bottleneck = bottleneck
        width = cout // 4 if bottleneck else cout
        if bottleneck:
            self.conv1, self.bn1 = conv(cin, width, 1), FrozenBatchNorm2d(width)
            self.conv2, self.bn2 = conv(width, width, 3, stride, first_dilation), FrozenBatchNorm2d(width)
            self.conv3, self.bn3 = conv(width, cout, 1), FrozenBatchNorm2d(cout)
        else:
            self.conv1, self.bn1 = conv(cin, cout, 3, stride, first_dilation), FrozenBatchNorm2d(cout)
            self.conv2, self.bn2 = conv(cout, cout, 3, 1, dilation), FrozenBatchNorm2d(cout)
        self.downsample = nn.Sequential(conv(cin, cout, 1, stride), FrozenBatchNorm2d(cout)) \
            if cin != cout or stride != 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(conv_bn(self.conv1, self.bn1, x))
        h = conv_bn(self.conv2, self.bn2, h)
        if self.bottleneck:
            h = conv_bn(self.conv3, self.bn3, F.relu(h))
        shortcut = x if self.downsample is None else conv_bn(self.downsample[0], self.downsample[1], x)
        return F.relu(h + shortcut)


class TimmResNet(nn.Module):
    """The feature extractor in timm's names: conv1, bn1, maxpool, layer1..layer4 (only the last map is read)."""

    def __init__(self, spec: ResNetSpec, num_channels: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv(num_channels, spec.embedding_size, 7, 2), FrozenBatchNorm2d(spec.embedding_size)
        cin, dilation = spec.embedding_size, 1
        for i, (cout, depth) in enumerate(zip(spec.hidden_sizes, spec.depths)):
            stride, first = (1 if i == 0 else 2), dilation
            if spec.dilation and i == len(spec.depths) - 1:  # output stride 16: dilate instead of striding
                stride, dilation = 1, dilation * 2
            blocks = [TimmBottleneck(cin, cout, stride, first, dilation, spec.bottleneck)]
            blocks += [TimmBottleneck(cout, cout, 1, dilation, dilation, spec.bottleneck) for _ in range(depth - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout
        self.num_stages = len(spec.depths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(conv_bn(self.conv1, self.bn1, x)), 3, 2, 1)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


class NativeConvLayer(nn.Module):
    """Native layout: `convolution` + `normalization`."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.convolution, self.normalization = conv(cin, cout, k, stride), FrozenBatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_bn(self.convolution, self.normalization, x)


class NativeEmbedder(nn.Module):
    def __init__(self, num_channels: int, size: int) -> None:
        super().__init__()
        self.embedder = NativeConvLayer(num_channels, size, 7, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.embedder(x)), 3, 2, 1)


class NativeBlock(nn.Module):
    """Native layout: `shortcut` (when the shape changes) and `layer.0..2` (bottleneck) or `layer.0..1` (basic)."""

    def __init__(self, cin: int, cout: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        self.shortcut = NativeConvLayer(cin, cout, 1, stride) if cin != cout or stride != 1 else None
        if bottleneck:
            mid = cout // 4
            convs = [NativeConvLayer(cin, mid, 1), NativeConvLayer(mid, mid, 3, stride), NativeConvLayer(mid, cout, 1)]
        else:
            convs = [NativeConvLayer(cin, cout, 3, stride), NativeConvLayer(cout, cout, 3)]
        self.layer = nn.Sequential(*convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, c in enumerate(self.layer):
            h = c(h) if i == len(self.layer) - 1 else F.relu(c(h))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class NativeStage(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, depth: int, bottleneck: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(NativeBlock(cin, cout, stride, bottleneck),
                                    *[NativeBlock(cout, cout, 1, bottleneck) for _ in range(depth - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class NativeStages(nn.Module):
    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        ins = (spec.embedding_size, *spec.hidden_sizes[:-1])
        self.stages = nn.ModuleList(NativeStage(cin, cout, 1 if i == 0 else 2, depth, spec.bottleneck)
                                    for i, (cin, cout, depth) in enumerate(zip(ins, spec.hidden_sizes, spec.depths)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x


class NativeResNet(nn.Module):
    """The feature extractor in the reference's ResNet names: embedder, encoder.stages (the last map is read)."""

    def __init__(self, spec: ResNetSpec, num_channels: int) -> None:
        super().__init__()
        self.embedder = NativeEmbedder(num_channels, spec.embedding_size)
        self.encoder = NativeStages(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embedder(x))


class DetrConvEncoder(nn.Module):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.spec = backbone_spec(config)
        resnet = TimmResNet if self.spec.layout == "timm" else NativeResNet
        self.model = resnet(self.spec, config.num_channels)

    @property
    def channels(self) -> int:
        return self.spec.hidden_sizes[-1]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.device.type == "cpu":
            # oneDNN's convolutions run ~1.4x faster on channels-last images (one reorder here, none per layer)
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        return self.model(pixel_values)


class DetrBackbone(nn.Module):
    """`model.backbone.conv_encoder.*` in hub files."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.conv_encoder = DetrConvEncoder(config)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.conv_encoder(pixel_values)


# -- transformer ----------------------------------------------------------------------------------
class DetrAttention(nn.Module):
    """Multi-head attention; positions are added to queries and keys (not values) by the caller's inputs."""

    def __init__(self, dim: int, heads: int, dropout: float, hook_name: str = "attn_probs") -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.k_proj = Linear(dim, dim)
        self.v_proj = Linear(dim, dim)
        self.q_proj = Linear(dim, dim)
        self.out_proj = Linear(dim, dim)
        self.hook_name = hook_name
        setattr(self, hook_name, HookPoint())

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def forward(self, q_in: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if q_in is k_in:  # self-attention over the same inputs: one matmul for queries and keys
            q, k = F.linear(q_in, torch.cat([self.q_proj.weight, self.k_proj.weight]),
                            torch.cat([self.q_proj.bias, self.k_proj.bias])).chunk(2, dim=-1)
        else:
            q, k = self.q_proj(q_in), self.k_proj(k_in)
        y = attend(self.split(q), self.split(k), self.split(self.v_proj(v_in)), mask,
                   dropout_p=self.dropout if self.training else 0.0, probs_hook=getattr(self, self.hook_name))
        b, _, t, _ = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(b, t, -1))  # (B, T, C)


class DetrEncoderLayer(nn.Module):
    """Post-LayerNorm: x = norm(x + attn(x + pos, x + pos, x)); x = norm(x + ffn(x))."""

    def __init__(self, config: DetrConfig, heads: int | None = None, ffn_dim: int | None = None) -> None:
        super().__init__()
        d, heads, ffn_dim = config.d_model, heads or config.encoder_attention_heads, ffn_dim or config.encoder_ffn_dim
        self.self_attn = DetrAttention(d, heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = Linear(d, ffn_dim)
        self.fc2 = Linear(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(config.activation_function)
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout
        self.hidden_state = HookPoint()

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(linear_act(x, self.fc1, self.act), self.activation_dropout, self.training)
        return F.dropout(self.fc2(h), self.dropout, self.training)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        qk = x + pos
        x = self.self_attn_layer_norm(x + F.dropout(self.self_attn(qk, qk, x, mask), self.dropout, self.training))
        return self.hidden_state(self.final_layer_norm(x + self.ffn(x)))


class DetrDecoderLayer(DetrEncoderLayer):
    """Self-attention between queries, cross-attention from queries to the feature map, feed-forward."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__(config, config.decoder_attention_heads, config.decoder_ffn_dim)
        self.encoder_attn = DetrAttention(config.d_model, config.decoder_attention_heads, config.attention_dropout,
                                          hook_name="cross_attn_probs")
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                memory_mask: torch.Tensor | None) -> torch.Tensor:
        qk = x + query_pos
        x = self.self_attn_layer_norm(x + F.dropout(self.self_attn(qk, qk, x, None), self.dropout, self.training))
        a = self.encoder_attn(x + query_pos, memory + memory_pos, memory, memory_mask)
        x = self.encoder_attn_layer_norm(x + F.dropout(a, self.dropout, self.training))
        return self.hidden_state(self.final_layer_norm(x + self.ffn(x)))


class DetrEncoder(nn.Module):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the encoder's input: encoder_hidden_states[0]
        self.layers = nn.ModuleList(DetrEncoderLayer(config) for _ in range(config.encoder_layers))
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.hidden_state(F.dropout(x, self.dropout, self.training))
        for layer in self.layers:
            x = layer(x, pos, mask)
        return x


class DetrDecoder(nn.Module):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.hidden_state = HookPoint()  # the decoder's input (zeros): decoder_hidden_states[0]
        self.layers = nn.ModuleList(DetrDecoderLayer(config) for _ in range(config.decoder_layers))
        self.layernorm = nn.LayerNorm(config.d_model)

    def forward(self, queries: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                memory_mask: torch.Tensor | None) -> torch.Tensor:
        x = self.hidden_state(queries)
        for layer in self.layers:
            x = layer(x, query_pos, memory, memory_pos, memory_mask)
        return self.layernorm(x)


# -- outputs ----------------------------------------------------------------------------------------
@dataclass
class DetrModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    decoder_hidden_states: Tensors | None = None
    decoder_attentions: Tensors | None = None
    cross_attentions: Tensors | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    encoder_attentions: Tensors | None = None


@dataclass
class DetrObjectDetectionOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, Q, num_labels + 1): the last class is "no object"
    pred_boxes: torch.Tensor | None = None  # (B, Q, 4): (cx, cy, w, h) relative to each image (padding excluded)
    last_hidden_state: torch.Tensor | None = None
    decoder_hidden_states: Tensors | None = None
    decoder_attentions: Tensors | None = None
    cross_attentions: Tensors | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Tensors | None = None
    encoder_attentions: Tensors | None = None


# -- the base model ---------------------------------------------------------------------------------
class DetrPreTrainedModel(PreTrainedModel):
    config_class = DetrConfig
    base_model_prefix = "model"
    ignore_on_load = (r"(^|\.)num_batches_tracked$",)  # batch norms are frozen: the counter means nothing here
    attention_kinds = {"encoder.layers.*.self_attn.attn_probs": "patches",
                       "decoder.layers.*.self_attn.attn_probs": "self",
                       "decoder.layers.*.encoder_attn.cross_attn_probs": "cross"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, FrozenBatchNorm2d):
            module.weight.fill_(1.0)
            module.bias.zero_()
            module.running_mean.zero_()
            module.running_var.fill_(1.0)

    def attention_layer_count(self, kind: str) -> int:
        return self.config.encoder_layers if kind == "patches" else self.config.decoder_layers

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The (rows, cols) of the backbone's last feature map for images this size (stride 32, or 16 dilated)."""
        h, w = int(pixel_values.shape[-2]), int(pixel_values.shape[-1])
        halvings = 5 - int(self.config.dilation)
        for _ in range(halvings):
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w


class DetrModel(DetrPreTrainedModel):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__(config)
        self.backbone = DetrBackbone(config)
        self.input_projection = nn.Conv2d(self.backbone.conv_encoder.channels, config.d_model, kernel_size=1)
        self.query_position_embeddings = nn.Embedding(config.num_queries, config.d_model)
        self.encoder = DetrEncoder(config)
        self.decoder = DetrDecoder(config)

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> DetrModelOutput:
        if pixel_values.dim() != 4:
            raise InputError(f"pixel_values must be (batch, channels, height, width); got shape {tuple(pixel_values.shape)}.")
        pixel_values = pixel_values.to(self.input_projection.weight.dtype)
        b, _, h, w = pixel_values.shape
        if pixel_mask is None:
            pixel_mask = torch.ones((b, h, w), dtype=torch.long, device=pixel_values.device)
        features = self.backbone(pixel_values)  # (B, C', h', w')
        mask = F.interpolate(pixel_mask[None].float(), size=features.shape[-2:])[0].bool()  # (B, h', w') real cells
        memory = self.input_projection(features).flatten(2).transpose(1, 2)  # (B, h'w', C)
        pos = sine_positions(mask, self.config.d_model // 2, memory.dtype)
        key_mask = additive_mask(mask.flatten(1).long(), memory.dtype)  # None when nothing is padded
        with collect_internals(self.encoder, output_attentions, output_hidden_states) as enc:
            memory = self.encoder(memory, pos, key_mask)
        query_pos = self.query_position_embeddings.weight[None].expand(b, -1, -1)
        with collect_internals(self.decoder, output_attentions, output_hidden_states) as dec, \
                collect_internals(self.decoder, output_attentions, False, attention_names="cross_attn_probs") as cross:
            hidden = self.decoder(torch.zeros_like(query_pos), query_pos, memory, pos, key_mask)
        out = DetrModelOutput(last_hidden_state=hidden, encoder_last_hidden_state=memory)
        if output_hidden_states:  # the decoder's last entry is after its final LayerNorm, as the reference
            out.encoder_hidden_states = as_tuple(enc["hidden_states"], True)
            out.decoder_hidden_states = (*dec["hidden_states"][:-1], hidden)
        if output_attentions:
            out.encoder_attentions = as_tuple(enc["attentions"], True)
            out.decoder_attentions = as_tuple(dec["attentions"], True)
            out.cross_attentions = as_tuple(cross["attentions"], True)
        return out


# -- the detection head ------------------------------------------------------------------------------
class DetrMLPPredictionHead(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int, num_layers: int) -> None:
        super().__init__()
        sizes = [hidden] * (num_layers - 1)
        self.layers = nn.ModuleList(Linear(a, b) for a, b in zip([dim] + sizes, sizes + [out]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class DetrForObjectDetection(DetrPreTrainedModel):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__(config)
        self.model = DetrModel(config)
        self.class_labels_classifier = Linear(config.d_model, config.num_labels + 1)  # + "no object"
        self.bbox_predictor = DetrMLPPredictionHead(config.d_model, config.d_model, 4, num_layers=3)

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor | None = None, labels: Any = None,
                output_attentions: bool = False, output_hidden_states: bool = False) -> DetrObjectDetectionOutput:
        if labels is not None:
            raise UnsupportedModelError("training DETR (its Hungarian-matched loss) is not implemented here; "
                                        "call the model without labels for detections.")
        out = self.model(pixel_values, pixel_mask, output_attentions, output_hidden_states)
        hidden = out.last_hidden_state
        return DetrObjectDetectionOutput(
            logits=self.class_labels_classifier(hidden),
            pred_boxes=self.bbox_predictor(hidden).sigmoid(),
            last_hidden_state=hidden,
            decoder_hidden_states=out.decoder_hidden_states, decoder_attentions=out.decoder_attentions,
            cross_attentions=out.cross_attentions, encoder_last_hidden_state=out.encoder_last_hidden_state,
            encoder_hidden_states=out.encoder_hidden_states, encoder_attentions=out.encoder_attentions,
        )


CONFIG = DetrConfig
HEADS = {
    "base": DetrModel,
    "object-detection": DetrForObjectDetection,
}
