"""Depth Anything (v1 and v2): a DINOv2 backbone, the DPT neck (reassemble four layers' tokens into maps at four
scales, fuse them coarse to fine) and a small convolutional head that predicts relative depth per pixel.

Module paths equal the keys of hub checkpoints (`backbone.encoder.layer.0.attention.attention.query.weight`,
`neck.reassemble_stage.layers.0.projection.weight`, `neck.fusion_stage.layers.0.residual_layer1.convolution1.weight`,
`head.conv1.weight`). The backbone's attention is recorded as kind "patches" ([CLS] then the patch grid).

Read top to bottom: config, the neck (reassemble, fusion), the head, the model. Relative depth is
"inverse depth"-like: larger is nearer (a ReLU output); metric checkpoints end in a sigmoid times `max_depth`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, UnsupportedModelError
from ..outputs import DepthEstimatorOutput
from .dinov2 import Dinov2Backbone, Dinov2Config, Dinov2Embeddings, Dinov2LayerScale, backbone_config
from .modeling import PreTrainedModel

# The backbone a config without `backbone_config` gets (the reference's default: DINOv2-small's last four layers).
DEFAULT_BACKBONE = dict(image_size=518, hidden_size=384, num_attention_heads=6, out_indices=[9, 10, 11, 12],
                        reshape_hidden_states=False)


@config_dataclass
class DepthAnythingConfig(PretrainedConfig):
    model_type = "depth_anything"
    positive_fields = ("patch_size", "reassemble_hidden_size", "fusion_hidden_size", "head_hidden_size")

    backbone_config: dict[str, Any] | None = None
    backbone: str | None = None
    use_pretrained_backbone: bool = False
    use_timm_backbone: bool = False
    backbone_kwargs: dict[str, Any] | None = None
    patch_size: int = 14
    initializer_range: float = 0.02
    reassemble_hidden_size: int = 384
    reassemble_factors: list[float] = (4, 2, 1, 0.5)
    neck_hidden_sizes: list[int] = (48, 96, 192, 384)
    fusion_hidden_size: int = 64
    head_in_index: int = -1
    head_hidden_size: int = 32
    depth_estimation_type: str = "relative"
    max_depth: float | None = 1

    def validate(self) -> None:
        super().validate()
        if self.depth_estimation_type not in ("relative", "metric"):
            raise ConfigError(f"DepthAnythingConfig.depth_estimation_type = {self.depth_estimation_type!r}; use "
                              "'relative' or 'metric'.")
        if len(self.reassemble_factors) != len(self.neck_hidden_sizes):
            raise ConfigError(f"DepthAnythingConfig: {len(self.reassemble_factors)} reassemble_factors for "
                              f"{len(self.neck_hidden_sizes)} neck_hidden_sizes; give one per backbone layer read.")
        if self.backbone is not None and self.backbone_config is None:
            raise UnsupportedModelError(f"backbone {self.backbone!r} (a timm or hub name) is not supported here; "
                                        "Depth Anything needs its backbone_config (DINOv2) in config.json.")

    def dinov2(self) -> Dinov2Config:
        config = backbone_config(self.backbone_config, **DEFAULT_BACKBONE)
        if len(config.backbone_layers()) != len(self.neck_hidden_sizes):
            raise ConfigError(f"the backbone returns {len(config.backbone_layers())} layers but the neck reads "
                              f"{len(self.neck_hidden_sizes)} (neck_hidden_sizes); make out_indices match.")
        return config


# -- the neck ---------------------------------------------------------------------------------------
class DepthAnythingReassembleLayer(nn.Module):
    """Token map -> `channels` (1x1 conv) -> resized by `factor`: a transposed conv up, a strided conv down."""

    def __init__(self, config: DepthAnythingConfig, channels: int, factor: float) -> None:
        super().__init__()
        self.projection = nn.Conv2d(config.reassemble_hidden_size, channels, kernel_size=1)
        if factor > 1:
            self.resize = nn.ConvTranspose2d(channels, channels, kernel_size=int(factor), stride=int(factor))
        elif factor < 1:
            self.resize = nn.Conv2d(channels, channels, kernel_size=3, stride=int(1 / factor), padding=1)
        else:
            self.resize = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resize(self.projection(x))


class DepthAnythingReassembleStage(nn.Module):
    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DepthAnythingReassembleLayer(config, c, f)
                                    for c, f in zip(config.neck_hidden_sizes, config.reassemble_factors))

    def forward(self, states: list[torch.Tensor], rows: int, cols: int) -> list[torch.Tensor]:
        out = []
        for x, layer in zip(states, self.layers):
            x = x[:, 1:]  # drop [CLS]
            out.append(layer(x.transpose(1, 2).reshape(x.shape[0], -1, rows, cols)))  # (B, C, rows, cols)
        return out


class DepthAnythingPreActResidualLayer(nn.Module):
    """x + conv(relu(conv(relu(x))))."""

    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        c = config.fusion_hidden_size
        self.convolution1 = nn.Conv2d(c, c, kernel_size=3, padding=1)
        self.convolution2 = nn.Conv2d(c, c, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.convolution2(F.relu(self.convolution1(F.relu(x))))


class DepthAnythingFeatureFusionLayer(nn.Module):
    """(coarser fused map, this scale's map) -> refined, upsampled to the next scale's size (or x2), projected."""

    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        c = config.fusion_hidden_size
        self.projection = nn.Conv2d(c, c, kernel_size=1)
        self.residual_layer1 = DepthAnythingPreActResidualLayer(config)
        self.residual_layer2 = DepthAnythingPreActResidualLayer(config)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None,
                size: tuple[int, int] | None = None) -> torch.Tensor:
        if residual is not None:
            if residual.shape != x.shape:
                residual = F.interpolate(residual, size=x.shape[-2:], mode="bilinear", align_corners=False)
            x = x + self.residual_layer1(residual)
        x = self.residual_layer2(x)
        x = F.interpolate(x, **({"scale_factor": 2} if size is None else {"size": size}), mode="bilinear",
                          align_corners=True)
        return self.projection(x)


class DepthAnythingFeatureFusionStage(nn.Module):
    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DepthAnythingFeatureFusionLayer(config) for _ in config.neck_hidden_sizes)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        maps = maps[::-1]  # coarsest first
        fused, out = None, []
        for i, (x, layer) in enumerate(zip(maps, self.layers)):
            size = tuple(maps[i + 1].shape[-2:]) if i + 1 < len(maps) else None
            fused = layer(x, size=size) if fused is None else layer(fused, x, size=size)
            out.append(fused)
        return out


class DepthAnythingNeck(nn.Module):
    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        self.reassemble_stage = DepthAnythingReassembleStage(config)
        self.convs = nn.ModuleList(nn.Conv2d(c, config.fusion_hidden_size, kernel_size=3, padding=1, bias=False)
                                   for c in config.neck_hidden_sizes)
        self.fusion_stage = DepthAnythingFeatureFusionStage(config)

    def forward(self, states: list[torch.Tensor], rows: int, cols: int) -> list[torch.Tensor]:
        maps = self.reassemble_stage(states, rows, cols)
        return self.fusion_stage([conv(m) for conv, m in zip(self.convs, maps)])


# -- the head ---------------------------------------------------------------------------------------
class DepthAnythingDepthEstimationHead(nn.Module):
    """conv (half the channels) -> bilinear to the input's size -> conv, ReLU -> 1 channel -> ReLU (relative) or
    sigmoid x max_depth (metric)."""

    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__()
        c = config.fusion_hidden_size
        self.head_in_index, self.patch_size = config.head_in_index, config.patch_size
        self.conv1 = nn.Conv2d(c, c // 2, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c // 2, config.head_hidden_size, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(config.head_hidden_size, 1, kernel_size=1)
        self.metric = config.depth_estimation_type == "metric"
        self.max_depth = 1.0 if config.max_depth is None else float(config.max_depth)

    def forward(self, maps: list[torch.Tensor], rows: int, cols: int) -> torch.Tensor:
        x = self.conv1(maps[self.head_in_index])
        x = F.interpolate(x, size=(rows * self.patch_size, cols * self.patch_size), mode="bilinear", align_corners=True)
        x = self.conv3(F.relu(self.conv2(x)))
        x = torch.sigmoid(x) if self.metric else F.relu(x)
        return (x * self.max_depth).squeeze(1)  # (B, H, W)


# -- the model --------------------------------------------------------------------------------------
class DepthAnythingPreTrainedModel(PreTrainedModel):
    config_class = DepthAnythingConfig
    base_model_prefix = "depth_anything"
    attention_kinds = {"attn_probs": "patches"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        dino = self.backbone.config
        if isinstance(module, Dinov2Embeddings):
            module.cls_token.normal_(0.0, dino.initializer_range)
            module.position_embeddings.normal_(0.0, dino.initializer_range)
            if getattr(module, "mask_token", None) is not None:
                module.mask_token.zero_()
        elif isinstance(module, Dinov2LayerScale):
            module.lambda1.fill_(dino.layerscale_value)

    def attention_layer_count(self, kind: str) -> int:
        return self.backbone.config.num_hidden_layers

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        p = self.config.patch_size
        return int(pixel_values.shape[-2]) // p, int(pixel_values.shape[-1]) // p


class DepthAnythingForDepthEstimation(DepthAnythingPreTrainedModel):
    def __init__(self, config: DepthAnythingConfig) -> None:
        super().__init__(config)
        self.backbone = Dinov2Backbone(config.dinov2())
        self.neck = DepthAnythingNeck(config)
        self.head = DepthAnythingDepthEstimationHead(config)

    def forward(self, pixel_values: torch.Tensor, labels: Any = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> DepthEstimatorOutput:
        if labels is not None:
            raise UnsupportedModelError("training Depth Anything is not implemented here (nor in the reference); call "
                                        "the model without labels for depth.")
        states, out = self.backbone(pixel_values, output_attentions, output_hidden_states)
        rows, cols = self.grid(pixel_values)
        depth = self.head(self.neck(states, rows, cols), rows, cols)
        return DepthEstimatorOutput(predicted_depth=depth, hidden_states=out.hidden_states, attentions=out.attentions)


CONFIG = DepthAnythingConfig
HEADS = {
    "depth-estimation": DepthAnythingForDepthEstimation,
}
