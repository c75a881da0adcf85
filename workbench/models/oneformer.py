"""OneFormer: one model for semantic, instance and panoptic segmentation, told which by a task token.

Mask2Former's body (`workbench.models.mask2former`, reused: the Swin backbone, the pixel decoder with multi-scale
deformable attention, the masked-attention layers' attention modules, the prediction MLP) with three changes:

- **the task token**: the text "the task is {semantic|instance|panoptic}", tokenized (CLIP) and padded to
  `task_seq_len`, is read as a vector of token ids (floats) by a 2-layer MLP (`task_encoder.task_mlp`) -> (B, d);
- **queries made from the task**: instead of learned query features, a small DETR-style decoder (the "query
  transformer") starts Q-1 queries from the (normed) task token and lets them attend to the mask features; the task
  token itself is appended as the last query. The learned `queries_embedder` are the Q queries' positions;
- the class and mask heads live inside the decoder (`transformer_module.decoder.class_embed`, `.mask_embed`).

The text mapper (a CLIP-like text encoder for the contrastive training loss, built by the reference only with
`is_training`) is not built: its checkpoint keys are skipped on load; inference never uses it. The training loss is
not implemented; `criterion` holds the buffers hub checkpoints carry.

Module paths equal the reference's keys (`model.task_encoder.task_mlp.layers.0.0.weight`,
`model.transformer_module.decoder.query_transformer.decoder.layers.0.self_attn.in_proj_weight`,
`model.transformer_module.decoder.layers.0.cross_attn.multihead_attn.in_proj_weight`,
`model.transformer_module.decoder.layers.0.self_attn.self_attn.q_proj.weight`, `...layers.0.ffn.linear1.weight`,
`model.transformer_module.decoder.mask_embed.layers.0.0.weight`, `criterion.logit_scale`).

Read top to bottom: config, the task encoder, the query transformer, the masked-attention decoder, the transformer
module, the models.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError, UnsupportedModelError
from ..nn.hooks import HookPoint
from ..nn.onednn import Linear, linear_act
from ..outputs import OneFormerForUniversalSegmentationOutput, OneFormerModelOutput
from .mask2former import (
    LEVELS,
    Mask2FormerAttention,
    Mask2FormerConfig,
    Mask2FormerMaskedAttention,
    Mask2FormerMLPPredictionHead,
    Mask2FormerPixelLevelModule,
    Mask2FormerPreTrainedModel,
    masked_attention,
    positions,
)
from .modeling import collect_internals

# The reference's backbone when config.json names none: Swin-T's stages (SwinConfig's defaults), all four maps out.
DEFAULT_BACKBONE = dict(model_type="swin", depths=[2, 2, 6, 2], drop_path_rate=0.3,
                        out_features=["stage1", "stage2", "stage3", "stage4"])
TASKS = ("semantic", "instance", "panoptic")


@config_dataclass
class OneFormerConfig(PretrainedConfig):
    model_type = "oneformer"
    attribute_map = {"hidden_size": "hidden_dim", "num_hidden_layers": "decoder_layers"}
    positive_fields = ("conv_dim", "mask_dim", "hidden_dim", "encoder_feedforward_dim", "encoder_layers",
                       "decoder_layers", "num_attention_heads", "dim_feedforward", "common_stride", "num_queries",
                       "task_seq_len", "query_dec_layers")
    divisible_fields = (("conv_dim", "num_attention_heads"), ("hidden_dim", "num_attention_heads"))

    backbone_config: dict[str, Any] | None = None
    backbone: str | None = None
    ignore_value: int = 255
    num_queries: int = 150
    no_object_weight: float = 0.1
    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    contrastive_weight: float = 0.5
    contrastive_temperature: float | None = 0.07
    train_num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    init_std: float = 0.02
    init_xavier_std: float = 1.0
    layer_norm_eps: float = 1e-5
    is_training: bool = False
    use_auxiliary_loss: bool = True
    output_auxiliary_logits: bool = True
    strides: list[int] = (4, 8, 16, 32)
    task_seq_len: int = 77
    text_encoder_width: int = 256
    text_encoder_context_length: int = 77
    text_encoder_num_layers: int = 6
    text_encoder_vocab_size: int = 49408
    text_encoder_proj_layers: int = 2
    text_encoder_n_ctx: int = 16
    conv_dim: int = 256
    mask_dim: int = 256
    hidden_dim: int = 256
    encoder_feedforward_dim: int = 1024
    norm: str = "GN"
    encoder_layers: int = 6
    decoder_layers: int = 10
    use_task_norm: bool = True
    num_attention_heads: int = 8
    dropout: float = 0.1
    dim_feedforward: int = 2048
    pre_norm: bool = False
    enforce_input_proj: bool = False
    query_dec_layers: int = 2
    common_stride: int = 4

    def validate(self) -> None:
        super().validate()
        if self.norm != "GN":
            raise ConfigError(f"OneFormerConfig.norm = {self.norm!r}: only group norm ('GN') is implemented, as in "
                              "every published OneFormer.")
        if self.conv_dim != self.hidden_dim or self.enforce_input_proj:
            raise ConfigError(f"OneFormerConfig: conv_dim {self.conv_dim} != hidden_dim {self.hidden_dim} (or "
                              "enforce_input_proj) needs input projections the reference keeps out of its checkpoints "
                              "(a plain list), so no checkpoint holds their weights; use conv_dim == hidden_dim.")
        if self.num_queries < 2:
            raise ConfigError("OneFormerConfig.num_queries must be at least 2: the last query is the task token.")
        if self.hidden_dim % 2:
            raise ConfigError(f"OneFormerConfig.hidden_dim = {self.hidden_dim}: the sine positions need it even.")
        self.pixel_decoder_config()  # the pixel decoder's own checks (group norms of 32, a Swin backbone)

    def pixel_decoder_config(self) -> Mask2FormerConfig:
        """The pixel decoder and backbone are Mask2Former's: its config under OneFormer's field names. Dropout there
        follows `is_training`, as the reference's (off at inference even in train mode)."""
        return Mask2FormerConfig(
            backbone_config={**DEFAULT_BACKBONE, **(self.backbone_config or {})}, backbone=self.backbone,
            feature_size=self.conv_dim, mask_feature_size=self.mask_dim, hidden_dim=self.hidden_dim,
            encoder_feedforward_dim=self.encoder_feedforward_dim, encoder_layers=self.encoder_layers,
            num_attention_heads=self.num_attention_heads, dropout=self.dropout if self.is_training else 0.0,
            common_stride=self.common_stride, feature_strides=list(self.strides))


class OneFormerMLPPredictionHead(nn.Module):
    """Mask2Former's MLP under a `layers` attribute (keys `<name>.layers.<i>.0.weight`)."""

    def __init__(self, cin: int, hidden: int, cout: int, num_layers: int = 3) -> None:
        super().__init__()
        self.layers = Mask2FormerMLPPredictionHead(cin, hidden, cout, num_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OneFormerTaskModel(nn.Module):
    """The task text's token ids (B, task_seq_len), as floats -> the task token (B, hidden_dim)."""

    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.task_mlp = OneFormerMLPPredictionHead(config.task_seq_len, config.hidden_dim, config.hidden_dim, 2)

    def forward(self, task_inputs: torch.Tensor) -> torch.Tensor:
        return self.task_mlp(task_inputs)


# -- the query transformer: queries made from the task token ------------------------------------------
class OneFormerTransformerDecoderQueryTransformerDecoderLayer(nn.Module):
    """A DETR decoder layer (self-attention, cross-attention to the mask features, MLP), post- or pre-norm; both
    attentions in torch's MultiheadAttention layout (`in_proj_weight`)."""

    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        d, heads, eps = config.hidden_dim, config.num_attention_heads, config.layer_norm_eps
        self.self_attn = Mask2FormerMaskedAttention(d, heads, config.dropout)
        self.multihead_attn = Mask2FormerMaskedAttention(d, heads, config.dropout)
        self.linear1 = Linear(d, config.dim_feedforward)
        self.linear2 = Linear(config.dim_feedforward, d)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d, eps=eps) for _ in range(3))
        self.dropout, self.pre_norm = config.dropout, config.pre_norm

    def forward(self, x: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        drop = lambda t: F.dropout(t, self.dropout, self.training)  # noqa: E731
        attend_self = lambda t: self.self_attn(t + query_pos, t + query_pos, t, None)  # noqa: E731
        attend_memory = lambda t: self.multihead_attn(t + query_pos, memory + pos, memory, None)  # noqa: E731
        mlp = lambda t: self.linear2(drop(linear_act(t, self.linear1, F.relu)))  # noqa: E731
        if self.pre_norm:
            x = x + drop(attend_self(self.norm1(x)))
            x = x + drop(attend_memory(self.norm2(x)))
            return x + drop(mlp(self.norm3(x)))
        x = self.norm1(x + drop(attend_self(x)))
        x = self.norm2(x + drop(attend_memory(x)))
        return self.norm3(x + drop(mlp(x)))


class OneFormerTransformerDecoderQueryTransformerDecoder(nn.Module):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(OneFormerTransformerDecoderQueryTransformerDecoderLayer(config)
                                    for _ in range(config.query_dec_layers))
        self.norm = nn.LayerNorm(config.hidden_dim, eps=config.layer_norm_eps)


class OneFormerTransformerDecoderQueryTransformer(nn.Module):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.decoder = OneFormerTransformerDecoderQueryTransformerDecoder(config)

    def forward(self, memory: torch.Tensor, pos: torch.Tensor, query_pos: torch.Tensor,
                task_token: torch.Tensor | None) -> torch.Tensor:
        """memory, pos (B, S, d); query_pos (Q', d); task_token (B, 1, d) or None (start from zeros) -> (B, Q', d).
        As the reference: the memory is the sine positions of the mask features' grid, `pos` the mask features
        projected."""
        B = memory.shape[0]
        query_pos = query_pos[None].expand(B, -1, -1)
        x = torch.zeros_like(query_pos) if task_token is None else task_token.expand_as(query_pos)
        for layer in self.decoder.layers:
            x = layer(x, memory, pos, query_pos)
        return self.decoder.norm(x)


# -- the masked-attention decoder -----------------------------------------------------------------------
class OneFormerTransformerDecoderCrossAttentionLayer(nn.Module):
    """Queries attend to one level's cells where their previous mask is on (Mask2Former's masked attention)."""

    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.multihead_attn = Mask2FormerMaskedAttention(config.hidden_dim, config.num_attention_heads, 0.0)
        self.norm = nn.LayerNorm(config.hidden_dim, eps=config.layer_norm_eps)
        self.pre_norm = config.pre_norm

    def forward(self, x: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, query_pos: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            return x + self.multihead_attn(self.norm(x) + query_pos, memory + pos, memory, mask)
        return self.norm(x + self.multihead_attn(x + query_pos, memory + pos, memory, mask))


class OneFormerTransformerDecoderSelfAttentionLayer(nn.Module):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.self_attn = Mask2FormerAttention(config.hidden_dim, config.num_attention_heads, 0.0)
        self.norm = nn.LayerNorm(config.hidden_dim, eps=config.layer_norm_eps)
        self.pre_norm = config.pre_norm

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            return x + self.self_attn(self.norm(x), query_pos)
        return self.norm(x + self.self_attn(x, query_pos))


class OneFormerTransformerDecoderFFNLayer(nn.Module):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.linear1 = Linear(config.hidden_dim, config.dim_feedforward)
        self.linear2 = Linear(config.dim_feedforward, config.hidden_dim)
        self.norm = nn.LayerNorm(config.hidden_dim, eps=config.layer_norm_eps)
        self.pre_norm = config.pre_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            return x + self.linear2(linear_act(self.norm(x), self.linear1, F.relu))
        return self.norm(x + self.linear2(linear_act(x, self.linear1, F.relu)))


class OneFormerTransformerDecoderLayer(nn.Module):
    """Masked cross-attention, self-attention, MLP (no dropout: the reference builds them with 0)."""

    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.cross_attn = OneFormerTransformerDecoderCrossAttentionLayer(config)
        self.self_attn = OneFormerTransformerDecoderSelfAttentionLayer(config)
        self.ffn = OneFormerTransformerDecoderFFNLayer(config)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        x = self.cross_attn(x, memory, memory_pos, query_pos, mask)
        return self.hidden_state(self.ffn(self.self_attn(x, query_pos)))


class OneFormerTransformerDecoder(nn.Module):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        d = config.hidden_dim
        self.num_heads = config.num_attention_heads
        self.query_transformer = OneFormerTransformerDecoderQueryTransformer(config)
        self.decoder_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(OneFormerTransformerDecoderLayer(config) for _ in range(config.decoder_layers - 1))
        self.query_input_projection = nn.Conv2d(config.conv_dim, d, kernel_size=1)
        self.class_embed = Linear(d, config.num_labels + 1)
        self.mask_embed = OneFormerMLPPredictionHead(d, d, config.mask_dim, 3)

    def predict(self, x: torch.Tensor, mask_features: torch.Tensor, size: tuple[int, int] | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Queries (B, Q, d) -> class logits (B, Q, C + 1), mask logits (B, Q, H, W), and the next masked attention's
        mask at a level of `size` (None: no next layer)."""
        normed = self.decoder_norm(x)
        B, Q, _ = normed.shape
        masks = torch.bmm(self.mask_embed(normed), mask_features.flatten(2)).view(B, Q, *mask_features.shape[-2:])
        attn = None if size is None else masked_attention(masks, size, self.num_heads)
        return self.class_embed(normed), masks, attn


class OneFormerTransformerModule(nn.Module):
    """Task token -> queries (the query transformer, then the token appended) -> the masked-attention decoder over the
    LEVELS maps, a class and a mask prediction before the first layer and after each."""

    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        self.use_task_norm = config.use_task_norm
        self.queries_embedder = nn.Embedding(config.num_queries, config.hidden_dim)  # the queries' positions
        self.decoder = OneFormerTransformerDecoder(config)
        self.level_embed = nn.Embedding(LEVELS, config.hidden_dim)

    def forward(self, maps: list[torch.Tensor], mask_features: torch.Tensor, task_token: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """-> (the last layer's queries (B, Q, d), the queries it started from, every step's class logits, every
        step's mask logits)."""
        dec = self.decoder
        d = self.queries_embedder.weight.shape[1]
        memory = [m.flatten(2).transpose(1, 2) + self.level_embed.weight[i] for i, m in enumerate(maps)]
        memory_pos = [positions(m, d // 2) for m in maps]
        sizes = [tuple(int(s) for s in m.shape[-2:]) for m in maps]
        B = mask_features.shape[0]
        token = task_token[:, None]  # (B, 1, d)
        if self.use_task_norm:
            token = dec.decoder_norm(token)
        grid = positions(mask_features, d // 2)  # the query transformer's memory: positions of the mask grid
        projected = dec.query_input_projection(mask_features).flatten(2).transpose(1, 2)
        objects = dec.query_transformer(grid, projected, self.queries_embedder.weight[:-1],
                                        token if self.use_task_norm else None)
        queries = torch.cat([objects, token], 1)  # (B, Q, d): the task token is the last query
        query_pos = self.queries_embedder.weight[None].expand(B, -1, -1)
        x = queries
        classes, masks, attn = dec.predict(x, mask_features, sizes[0])
        step_classes, step_masks = [classes], [masks]
        n = len(dec.layers)
        for i, layer in enumerate(dec.layers):
            level = i % LEVELS
            x = layer(x, query_pos, memory[level], memory_pos[level], attn)
            classes, masks, attn = dec.predict(x, mask_features, None if i == n - 1 else sizes[(i + 1) % LEVELS])
            step_classes.append(classes)
            step_masks.append(masks)
        return x, queries, step_classes, step_masks


# -- the models ---------------------------------------------------------------------------------------
class OneFormerLoss(nn.Module):
    """The training loss's weights hub checkpoints carry ("no object" down-weighted; the contrastive loss's learned
    temperature); the loss itself is not implemented here."""

    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__()
        weight = torch.ones(config.num_labels + 1)
        weight[-1] = config.no_object_weight
        self.register_buffer("empty_weight", weight)
        if config.contrastive_temperature is not None:
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.contrastive_temperature)))


class OneFormerPreTrainedModel(Mask2FormerPreTrainedModel):
    config_class = OneFormerConfig
    # the queries' self-attention in the masked-attention decoder (its masked attention is not exposed for inspection)
    attention_kinds = {"attn_probs": "self"}
    # Mask2Former's (window index buffers, the unused backbone norm) and the training-only text mapper
    ignore_on_load = (*Mask2FormerPreTrainedModel.ignore_on_load, r"(^|\.)text_mapper\.")

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, OneFormerLoss):
            module.empty_weight.fill_(1.0)
            module.empty_weight[-1] = self.config.no_object_weight
            if hasattr(module, "logit_scale"):
                module.logit_scale.fill_(math.log(1 / self.config.contrastive_temperature))

    def check_task_inputs(self, task_inputs: Any, batch: int) -> None:
        n = self.config.task_seq_len
        if not isinstance(task_inputs, torch.Tensor) or task_inputs.shape != (batch, n):
            got = tuple(task_inputs.shape) if isinstance(task_inputs, torch.Tensor) else type(task_inputs).__name__
            raise InputError(f"task_inputs must be a ({batch}, {n}) tensor of the task text's token ids; got {got}. "
                             "Make them with the checkpoint's processor: processor(images, task_inputs=['semantic']) "
                             "(or 'instance', 'panoptic').")


class OneFormerModel(OneFormerPreTrainedModel):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__(config)
        self.pixel_level_module = Mask2FormerPixelLevelModule(config.pixel_decoder_config())
        for m in self.pixel_level_module.decoder.modules():
            if isinstance(m, nn.LayerNorm):
                m.eps = config.layer_norm_eps
        self.transformer_module = OneFormerTransformerModule(config)
        self.task_encoder = OneFormerTaskModel(config)

    def forward(self, pixel_values: torch.Tensor, task_inputs: torch.Tensor, text_inputs: Any = None,
                pixel_mask: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> OneFormerModelOutput:
        """`task_inputs` (B, task_seq_len): the task text's token ids. `text_inputs` (training's class texts) and
        `pixel_mask` are accepted and unused, as by the reference at inference."""
        self.check_pixels(pixel_values)
        self.check_task_inputs(task_inputs, pixel_values.shape[0])
        body = self.pixel_level_module
        features, _ = body.encoder(pixel_values, output_hidden_states=False)
        mask_features, maps = body.decoder(features)
        task_token = self.task_encoder(task_inputs.to(pixel_values.dtype))
        layers = self.transformer_module.decoder.layers
        with collect_internals(layers, output_attentions, False) as selfs, \
                collect_internals(layers, output_attentions, False, "cross_attn_probs") as crosses:
            x, queries, classes, masks = self.transformer_module(maps, mask_features, task_token)
        steps = tuple({"class_queries_logits": c, "masks_queries_logits": m} for c, m in zip(classes[:-1], masks[:-1]))
        auxiliary = steps if self.config.use_auxiliary_loss else None
        attentions = None
        if output_attentions:  # the reference's per layer: (self (B, H, Q, Q), masked cross averaged over heads)
            attentions = tuple((s, c.mean(1)) for s, c in zip(selfs["attentions"], crosses["attentions"]))
        return OneFormerModelOutput(
            encoder_hidden_states=tuple(features) if output_hidden_states else None,
            pixel_decoder_hidden_states=(mask_features, *maps) if output_hidden_states else None,
            transformer_decoder_hidden_states=auxiliary if output_hidden_states else None,
            transformer_decoder_object_queries=x, transformer_decoder_contrastive_queries=queries,
            transformer_decoder_mask_predictions=masks[-1], transformer_decoder_class_predictions=classes[-1],
            transformer_decoder_auxiliary_predictions=auxiliary, task_token=task_token, attentions=attentions)


class OneFormerForUniversalSegmentation(OneFormerPreTrainedModel):
    def __init__(self, config: OneFormerConfig) -> None:
        super().__init__(config)
        self.model = OneFormerModel(config)
        self.criterion = OneFormerLoss(config)

    def forward(self, pixel_values: torch.Tensor, task_inputs: torch.Tensor, text_inputs: Any = None,
                mask_labels: Any = None, class_labels: Any = None, pixel_mask: torch.Tensor | None = None,
                output_auxiliary_logits: bool | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> OneFormerForUniversalSegmentationOutput:
        if mask_labels is not None or class_labels is not None:
            raise UnsupportedModelError("OneFormer's training loss (Hungarian matching, the contrastive text loss) is "
                                        "not implemented here; call the model without mask_labels / class_labels.")
        out = self.model(pixel_values, task_inputs, text_inputs, pixel_mask,
                         output_hidden_states or self.config.use_auxiliary_loss, output_attentions)
        aux = self.config.output_auxiliary_logits if output_auxiliary_logits is None else output_auxiliary_logits
        return OneFormerForUniversalSegmentationOutput(
            class_queries_logits=out.transformer_decoder_class_predictions,
            masks_queries_logits=out.transformer_decoder_mask_predictions,
            auxiliary_predictions=out.transformer_decoder_auxiliary_predictions if aux else None,
            **{k: getattr(out, k) for k in out.keys()})


CONFIG = OneFormerConfig
HEADS = {
    "base": OneFormerModel,
    "universal-segmentation": OneFormerForUniversalSegmentation,
}
