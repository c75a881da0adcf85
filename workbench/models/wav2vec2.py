"""Wav2Vec2: raw 16 kHz audio -> convolutional feature encoder -> transformer -> keyword or character scores.

Module paths equal the hub checkpoint keys (`wav2vec2.feature_extractor.conv_layers.0.conv.weight`,
`wav2vec2.encoder.layers.0.attention.q_proj.weight`). The convolutional position embedding is
weight-normalised: hub files written before torch's parametrizations hold `weight_g` / `weight_v`,
newer ones (and the current reference) `parametrizations.weight.original0` / `original1`; both load
(`key_renames`), and we save the newer layout.

Two variants, chosen by the config:
- `feat_extract_norm`: "group" (base models: GroupNorm on the first conv layer only) or "layer"
  (large models: LayerNorm on every conv layer);
- `do_stable_layer_norm`: post-norm layers with a LayerNorm before the stack (base), or pre-norm
  layers with the LayerNorm after it (large, "stable").

Read top to bottom: config, feature encoder, projection, position embedding, attention, layers,
encoder, the base model, then the heads (`Wav2Vec2ForSequenceClassification` for keyword spotting,
`Wav2Vec2ForCTC` for character transcription), each with its whole forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig, config_dataclass
from ..errors import ConfigError, InputError, UnsupportedModelError
from ..nn.activations import get_activation
from ..nn.attention import additive_mask, attend
from ..nn.hooks import HookPoint
from ..nn.onednn import conv1d, dense, framed_conv1d
from ..nn.losses import ctc_loss
from ..outputs import ModelOutput, SequenceClassifierOutput, Tensors
from .modeling import PreTrainedModel, as_tuple, collect_internals


@config_dataclass
class Wav2Vec2Config(PretrainedConfig):
    model_type = "wav2vec2"
    positive_fields = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                       "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "classifier_proj_size")
    divisible_fields = (("hidden_size", "num_attention_heads"), ("hidden_size", "num_conv_pos_embedding_groups"))

    vocab_size: int | None = 32
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float = 0.1
    activation_dropout: float = 0.1
    attention_dropout: float = 0.1
    feat_proj_dropout: float = 0.0
    feat_quantizer_dropout: float = 0.0
    final_dropout: float = 0.1
    layerdrop: float = 0.1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: list[int] = (512, 512, 512, 512, 512, 512, 512)
    conv_stride: list[int] = (5, 2, 2, 2, 2, 2, 2)
    conv_kernel: list[int] = (10, 3, 3, 3, 3, 2, 2)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    ctc_loss_reduction: str = "sum"
    ctc_zero_infinity: bool = False
    use_weighted_layer_sum: bool = False
    classifier_proj_size: int = 256
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    add_adapter: bool = False
    adapter_attn_dim: int | None = None

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        lengths = {len(self.conv_dim), len(self.conv_stride), len(self.conv_kernel)}
        if len(lengths) != 1 or not self.conv_dim:
            raise ConfigError(f"{name}: conv_dim, conv_stride and conv_kernel must have the same (non-zero) length, got "
                              f"{len(self.conv_dim)}, {len(self.conv_stride)} and {len(self.conv_kernel)}.")
        for key in ("conv_dim", "conv_stride", "conv_kernel"):
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in getattr(self, key)):
                raise ConfigError(f"{name}.{key} = {list(getattr(self, key))}: every entry must be a whole number >= 1.")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ConfigError(f"{name}.feat_extract_norm = {self.feat_extract_norm!r}: it must be 'group' or 'layer'.")

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Audio samples per output frame (320 for the usual stack: 20 ms at 16 kHz)."""
        return math.prod(self.conv_stride)


def output_lengths(config: Wav2Vec2Config, input_lengths: torch.Tensor) -> torch.Tensor:
    """Frames the conv stack makes of `input_lengths` samples (each layer: (n - kernel) // stride + 1)."""
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        input_lengths = torch.div(input_lengths - kernel, stride, rounding_mode="floor") + 1
    return input_lengths


def frame_mask(config: Wav2Vec2Config, attention_mask: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B, samples) 1/0 padding mask -> (B, frames) bool: the frames computed from real samples."""
    lengths = output_lengths(config, attention_mask.sum(-1))
    return torch.arange(num_frames, device=attention_mask.device)[None, :] < lengths[:, None]


# -- the convolutional feature encoder --------------------------------------------------------------------
class Wav2Vec2ConvLayer(nn.Module):
    """conv -> optional norm -> activation. `norm`: "group" (per-channel over time), "layer" (over channels) or None."""

    def __init__(self, config: Wav2Vec2Config, index: int, norm: str | None) -> None:
        super().__init__()
        c_in = config.conv_dim[index - 1] if index > 0 else 1
        c_out = config.conv_dim[index]
        self.conv = nn.Conv1d(c_in, c_out, kernel_size=config.conv_kernel[index], stride=config.conv_stride[index],
                              bias=config.conv_bias)
        self.norm = norm
        self.fused_gelu = norm is None and config.feat_extract_activation == "gelu"  # GELU inside the conv
        if norm == "group":
            self.layer_norm = nn.GroupNorm(num_groups=c_out, num_channels=c_out, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, elementwise_affine=True)
        self.act = get_activation(config.feat_extract_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, T) -> (B, C, T'). Activations are kept time-major in memory (strides (C·T, 1, C): channels-last,
        which oneDNN's convolutions read and write without reordering); raw samples (C_in = 1) go through
        `framed_conv1d`, which makes that layout."""
        if self.fused_gelu:
            return conv1d(x, self.conv, gelu=True)  # (B, C, T)
        if self.norm == "group" and x.shape[1] == 1 and not (torch.is_grad_enabled() and self.conv.weight.requires_grad):
            return self._normalised_first_layer(x[:, 0])
        if x.shape[1] == 1:  # raw samples
            x = framed_conv1d(x[:, 0], self.conv).transpose(1, 2)  # (B, C, T), time-major
        else:
            x = conv1d(x, self.conv)  # (B, C, T)
        if self.norm == "group":
            # as (B, C, 1, T): GroupNorm reads a 4-D channels-last tensor as it is (a 3-D one it would copy first)
            x = self.layer_norm(x.unsqueeze(2)).squeeze(2)
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return self.act(x)

    def _normalised_first_layer(self, samples: torch.Tensor) -> torch.Tensor:
        """conv -> GroupNorm -> activation on raw samples (B, samples) in one matmul per clip (inference).

        The first conv is linear in the signal's frames f (its kernel: 10 samples), so each channel's mean and
        variance over time follow from the frames' mean m and 10 x 10 covariance S: mean_c = w_c . m, var_c =
        w_c' S w_c (the conv's bias cancels). GroupNorm then folds into a per-clip weight and bias: no pass over the
        512 x frames activations for the statistics or the normalisation (with GELU they took as long as the conv).
        The statistics are summed in float64."""
        conv, norm = self.conv, self.layer_norm
        frames = samples.unfold(1, conv.kernel_size[0], conv.stride[0])  # (B, T, kernel)
        wide = frames.double()
        mean = wide.mean(1)  # (B, kernel)
        centered = wide - mean[:, None]
        cov = centered.transpose(1, 2) @ centered / frames.shape[1]  # (B, kernel, kernel)
        w = conv.weight.reshape(conv.out_channels, -1).double()  # (C, kernel)
        var = torch.einsum("ck,bkl,cl->bc", w, cov, w)  # (B, C)
        scale = norm.weight.double() / torch.sqrt(var + norm.eps)  # (B, C)
        weights = (w[None] * scale[..., None]).to(samples.dtype)  # (B, C, kernel)
        biases = (norm.bias.double() - (mean @ w.T) * scale).to(samples.dtype)  # (B, C)
        # one batched matmul (MKL): oneDNN built a new kernel for each clip's own weight, ~1 s apiece
        y = torch.baddbmm(biases[:, None, :], frames, weights.transpose(1, 2))  # (B, T, C)
        return self.act(y).transpose(1, 2)  # (B, C, T), time-major


class Wav2Vec2FeatureEncoder(nn.Module):
    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        group = config.feat_extract_norm == "group"
        self.conv_layers = nn.ModuleList(
            Wav2Vec2ConvLayer(config, i, ("group" if i == 0 else None) if group else "layer")
            for i in range(len(config.conv_dim))
        )

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, C, frames)."""
        x = input_values[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class Wav2Vec2FeatureProjection(nn.Module):
    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, conv_dim) -> the projected states (B, T, C) and the normalised features (quantizer input)."""
        normed = self.layer_norm(features)
        return self.dropout(dense(normed, self.projection)), normed


class Wav2Vec2PositionalConvEmbedding(nn.Module):
    """A wide grouped convolution over time, weight-normalised over the kernel axis (dim 2)."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        k = config.num_conv_pos_embeddings
        conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=k, padding=k // 2,
                         groups=config.num_conv_pos_embedding_groups)
        # weight = g * v / ||v||: parameters `parametrizations.weight.original0` (g) and `.original1` (v)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.remove_last = k % 2 == 0  # an even kernel with padding k // 2 makes one frame too many
        self.act = get_activation(config.feat_extract_activation)
        self.fused_gelu = config.feat_extract_activation == "gelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # `self.conv.weight` is g * v / ||v||, recomputed from the two parameters at each access
        y = conv1d(x.transpose(1, 2), self.conv, weight=self.conv.weight, gelu=self.fused_gelu)  # (B, C, T [+1])
        if self.remove_last:
            y = y[:, :, :-1]
        return (y if self.fused_gelu else self.act(y)).transpose(1, 2)  # (B, T, C)


# -- the transformer --------------------------------------------------------------------------------------
class Wav2Vec2Attention(nn.Module):
    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        d = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = d // self.num_heads
        self.dropout = config.attention_dropout
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.q_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.attn_probs = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = x.shape
        qkv = dense(x, self.q_proj, self.k_proj, self.v_proj)  # (B, T, 3C): one matmul for the three projections
        q, k, v = qkv.view(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, D)
        y = attend(q, k, v, mask, dropout_p=self.dropout if self.training else 0.0, probs_hook=self.attn_probs)
        return dense(y.transpose(1, 2).reshape(B, T, C), self.out_proj)


class Wav2Vec2FeedForward(nn.Module):
    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = get_activation(config.hidden_act)
        self.fused_gelu = config.hidden_act == "gelu"  # exact GELU can be applied inside the matmul
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = dense(x, self.intermediate_dense, gelu=True) if self.fused_gelu else self.act(dense(x, self.intermediate_dense))
        return self.output_dropout(dense(self.intermediate_dropout(h), self.output_dense))


class Wav2Vec2EncoderLayer(nn.Module):
    """Post-norm (base models) or, with `stable`, pre-norm (large models); the same checkpoint keys."""

    def __init__(self, config: Wav2Vec2Config, stable: bool) -> None:
        super().__init__()
        self.stable = stable
        self.attention = Wav2Vec2Attention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = Wav2Vec2FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.hidden_state = HookPoint()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.stable:
            x = x + self.dropout(self.attention(self.layer_norm(x), mask))
            x = x + self.feed_forward(self.final_layer_norm(x))
        else:
            x = self.layer_norm(x + self.dropout(self.attention(x, mask)))
            x = self.final_layer_norm(x + self.feed_forward(x))
        return self.hidden_state(x)


class Wav2Vec2Encoder(nn.Module):
    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.config = config
        self.stable = config.do_stable_layer_norm
        self.pos_conv_embed = Wav2Vec2PositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.hidden_state = HookPoint()  # the first layer's input: hidden_states[0]
        self.layers = nn.ModuleList(Wav2Vec2EncoderLayer(config, self.stable) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, frames: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, C); `frames`: (B, T) bool, the real frames (None: all)."""
        if frames is not None:
            x = x.masked_fill(~frames[..., None], 0.0)  # padding frames enter the position conv as zeros
        mask = None if frames is None else additive_mask(frames.long(), x.dtype)
        x = x + self.pos_conv_embed(x)
        if not self.stable:
            x = self.layer_norm(x)
        x = self.hidden_state(self.dropout(x))
        for layer in self.layers:
            if self.training and self.config.layerdrop > 0 and torch.rand(()) < self.config.layerdrop:
                continue  # LayerDrop: skip whole layers while training
            x = layer(x, mask)
        return self.layer_norm(x) if self.stable else x


@dataclass
class Wav2Vec2BaseModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    extract_features: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


@dataclass
class CTCOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, frames, vocab)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None


# -- the base model ------------------------------------------------------------------------------------------
class Wav2Vec2PreTrainedModel(PreTrainedModel):
    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    main_input_name = "input_values"
    # Checkpoints from before torch's parametrizations name the weight-norm halves weight_g / weight_v.
    key_renames = (
        *PreTrainedModel.key_renames,
        (r"pos_conv_embed\.conv\.weight_g$", "pos_conv_embed.conv.parametrizations.weight.original0"),
        (r"pos_conv_embed\.conv\.weight_v$", "pos_conv_embed.conv.parametrizations.weight.original1"),
    )
    # Pre-training parts (quantizer, projections) and adapters of other heads carry nothing a task head uses.
    ignore_on_load = (r"(^|\.)position_ids$", r"^(quantizer|project_hid|project_q)\.")
    attention_kinds = {"attn_probs": "self"}

    def __init__(self, config: Wav2Vec2Config) -> None:
        if config.add_adapter or config.adapter_attn_dim is not None:
            raise UnsupportedModelError(
                "Wav2Vec2 checkpoints with adapters (add_adapter / adapter_attn_dim, e.g. MMS) are not supported here.")
        super().__init__(config)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference's initialisation: Kaiming for the feature convs, scaled normal for the position conv."""
        if isinstance(module, Wav2Vec2PositionalConvEmbedding):
            conv = module.conv
            v = conv.parametrizations.weight.original1
            v.normal_(0.0, 2 * math.sqrt(1 / (conv.kernel_size[0] * conv.in_channels)))
            conv.parametrizations.weight.original0.copy_(torch.linalg.vector_norm(v, dim=(0, 1), keepdim=True))
            conv.bias.zero_()
        elif isinstance(module, Wav2Vec2FeatureProjection):
            k = math.sqrt(1 / module.projection.in_features)
            module.projection.weight.uniform_(-k, k)
            module.projection.bias.uniform_(-k, k)
        elif isinstance(module, nn.Conv1d):
            if not nn.utils.parametrize.is_parametrized(module):
                nn.init.kaiming_normal_(module.weight)
                if module.bias is not None:
                    k = math.sqrt(module.groups / (module.in_channels * module.kernel_size[0]))
                    module.bias.uniform_(-k, k)
        elif isinstance(module, nn.GroupNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, Wav2Vec2Model) and module.masked_spec_embed is not None:
            module.masked_spec_embed.uniform_()
        elif isinstance(module, Wav2Vec2ForSequenceClassification) and module.layer_weights is not None:
            module.layer_weights.fill_(1.0 / module.layer_weights.numel())
        else:
            super()._init_weights(module)


class Wav2Vec2Model(Wav2Vec2PreTrainedModel):
    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.feature_extractor = Wav2Vec2FeatureEncoder(config)
        self.feature_projection = Wav2Vec2FeatureProjection(config)
        # the learned vector SpecAugment writes over masked frames (kept only when masking is configured)
        wants_mask = config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0
        self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size)) if wants_mask else None
        self.encoder = Wav2Vec2Encoder(config)

    def spec_augment(self, x: torch.Tensor, frames: torch.Tensor | None,
                     mask_time_indices: torch.Tensor | None) -> torch.Tensor:
        """SpecAugment: given time masks always; random time/feature spans only while training."""
        cfg = self.config
        if not cfg.apply_spec_augment:
            return x
        if mask_time_indices is None and self.training and cfg.mask_time_prob > 0:
            mask_time_indices = random_spans(x.shape[:2], cfg.mask_time_prob, cfg.mask_time_length,
                                             cfg.mask_time_min_masks, frames, x.device)
        if mask_time_indices is not None:
            x = torch.where(mask_time_indices.to(torch.bool)[..., None], self.masked_spec_embed.to(x.dtype), x)
        if self.training and cfg.mask_feature_prob > 0:
            feats = random_spans((x.shape[0], x.shape[2]), cfg.mask_feature_prob, cfg.mask_feature_length,
                                 cfg.mask_feature_min_masks, None, x.device)
            x = x.masked_fill(feats[:, None, :], 0.0)
        return x

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                mask_time_indices: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> Wav2Vec2BaseModelOutput:
        """input_values (B, samples): normalised 16 kHz audio (see `workbench.processors.Wav2Vec2FeatureExtractor`);
        attention_mask (B, samples): 1 for real samples, 0 for padding."""
        if input_values.dim() != 2:
            raise InputError(f"input_values must be (batch, samples) raw audio, got shape {tuple(input_values.shape)}; "
                             "make it with workbench.processors.Wav2Vec2FeatureExtractor.")
        minimum = self.min_samples()
        if input_values.shape[1] < minimum:
            raise InputError(f"the audio has {input_values.shape[1]} samples, but this model's convolutions need at least "
                             f"{minimum} ({minimum / 16000 * 1000:.0f} ms at 16 kHz); pass a longer clip.")
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            features = self.feature_extractor(input_values.to(self.dtype)).transpose(1, 2)  # (B, T, conv_dim)
            frames = None if attention_mask is None else frame_mask(self.config, attention_mask, features.shape[1])
            x, normed = self.feature_projection(features)
            x = self.spec_augment(x, frames, mask_time_indices)
            x = self.encoder(x, frames)
        return Wav2Vec2BaseModelOutput(
            last_hidden_state=x,
            extract_features=normed,
            hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
            attentions=as_tuple(internals["attentions"], output_attentions),
        )

    def min_samples(self) -> int:
        """The shortest input that leaves one frame after every conv layer."""
        n = 1
        for kernel, stride in reversed(list(zip(self.config.conv_kernel, self.config.conv_stride))):
            n = (n - 1) * stride + kernel
        return n


def random_spans(shape: tuple[int, int], prob: float, length: int, min_masks: int, frames: torch.Tensor | None,
                 device: torch.device) -> torch.Tensor:
    """(B, T) bool: random spans of `length` covering about `prob` of each row's real positions (SpecAugment)."""
    batch, size = shape
    out = torch.zeros(batch, size, dtype=torch.bool, device=device)
    lengths = frames.sum(-1).tolist() if frames is not None else [size] * batch
    for row, n in enumerate(lengths):
        spans = max(int(prob * n / length + torch.rand(()).item()), min_masks)
        starts_available = max(int(n) - length + 1, 0)
        spans = min(spans, starts_available)
        if spans == 0:
            continue
        starts = torch.randperm(starts_available, device=device)[:spans]
        idx = (starts[:, None] + torch.arange(length, device=device)[None, :]).reshape(-1).clamp(max=size - 1)
        out[row, idx] = True
    return out


# -- task heads ------------------------------------------------------------------------------------------------
class Wav2Vec2ForSequenceClassification(Wav2Vec2PreTrainedModel):
    """Keyword spotting and other clip-level labels: project every frame, mean over real frames, classify."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.wav2vec2 = Wav2Vec2Model(config)
        layers = config.num_hidden_layers + 1  # the stack's input + every layer
        # SUPERB-style heads learn a softmax-weighted sum of all layers instead of using the last one
        self.layer_weights = nn.Parameter(torch.empty(layers)) if config.use_weighted_layer_sum else None
        self.projector = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.classifier = nn.Linear(config.classifier_proj_size, config.num_labels)

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> SequenceClassifierOutput:
        weighted = self.layer_weights is not None
        out = self.wav2vec2(input_values, attention_mask, output_attentions=output_attentions,
                            output_hidden_states=output_hidden_states or weighted)
        if weighted:
            stacked = torch.stack(out.hidden_states, dim=1)  # (B, L + 1, T, C)
            weights = F.softmax(self.layer_weights, dim=-1)
            hidden = (stacked * weights.view(-1, 1, 1)).sum(dim=1)
        else:
            hidden = out.last_hidden_state
        h = self.projector(hidden)  # (B, T, P)
        if attention_mask is None:
            pooled = h.mean(dim=1)
        else:
            real = frame_mask(self.config, attention_mask, h.shape[1])
            pooled = h.masked_fill(~real[..., None], 0.0).sum(dim=1) / real.sum(dim=1, keepdim=True)
        logits = self.classifier(pooled)
        loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1)) if labels is not None else None
        return SequenceClassifierOutput(loss, logits, out.hidden_states if output_hidden_states else None, out.attentions)


class Wav2Vec2ForCTC(Wav2Vec2PreTrainedModel):
    """Character transcription: one score per vocabulary entry per 20 ms frame, decoded with CTC's rules."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        if not config.vocab_size:
            raise ConfigError("Wav2Vec2ForCTC needs config.vocab_size (the number of characters in vocab.json).")
        self.wav2vec2 = Wav2Vec2Model(config)
        self.dropout = nn.Dropout(config.final_dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> CTCOutput:
        """`labels` (B, U): character ids, padded with -100 (or the blank id)."""
        out = self.wav2vec2(input_values, attention_mask, output_attentions=output_attentions,
                            output_hidden_states=output_hidden_states)
        logits = self.lm_head(self.dropout(out.last_hidden_state))  # (B, T, vocab)
        loss = None
        if labels is not None:
            if int(labels.max()) >= self.config.vocab_size:
                raise InputError(f"label ids must be below vocab_size={self.config.vocab_size}; got {int(labels.max())}.")
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_values, dtype=torch.long)
            lengths = output_lengths(self.config, mask.sum(-1)).to(torch.long)
            loss = ctc_loss(logits, labels, lengths, blank=self.config.pad_token_id or 0,
                            reduction=self.config.ctc_loss_reduction, zero_infinity=self.config.ctc_zero_infinity)
        return CTCOutput(loss, logits, out.hidden_states, out.attentions)


CONFIG = Wav2Vec2Config
HEADS = {
    "base": Wav2Vec2Model,
    "audio-classification": Wav2Vec2ForSequenceClassification,
    "ctc": Wav2Vec2ForCTC,
}
