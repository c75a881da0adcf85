"""CLIPSeg: CLIP's frozen towers and a light transformer decoder that paints where a text (or an example image) is.

Module paths equal the keys of hub checkpoints (`CIDAS/clipseg-rd64-refined`): the dual encoder under `clip.`
(`clip.text_model...`, `clip.vision_model.pre_layrnorm.weight`, `clip.visual_projection.weight` - CLIP's keys, so
the towers are CLIP's own classes from `workbench.models.clip`), then `decoder.film_mul`, `decoder.film_add`,
`decoder.reduces.{i}`, `decoder.layers.{i}` and `decoder.transposed_convolution`.

How it segments: the image (352 x 352; the towers were trained at 224, so the position table is resized
bicubically to the larger grid) goes through the vision tower; the states after the layers `extract_layers`
(3, 6, 9) are reduced to `reduce_dim` channels and fed, deepest first, through one post-LayerNorm transformer
layer each, added up as they go. The condition - the projected text embedding of a prompt, or the projected
image embedding of an example image (`conditional_pixel_values`) - scales and shifts the first of them (FiLM:
`film_mul(c) * x + film_add(c)`). The patch tokens, back on their grid, are upsampled to pixels by a transposed
convolution: `logits` (B, H, W), one heat map per (image, prompt) pair; a sigmoid reads them as probabilities.

One image with N prompts runs the vision tower once (its activations are shared by the N prompts); the reference
needs the image repeated N times. Everything else equals the reference's `CLIPSegForImageSegmentation`.

Attention is recorded through hook points: the text tower's ("causal"), the vision tower's ("patches"); the
decoder's self-attention (over [CLS] and the grid, at `reduce_dim`) is captured by name (`decoder.layers.*attn_probs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from ..config import config_dataclass
from ..errors import ConfigError, InputError
from ..outputs import BaseModelOutput, ModelOutput
from .clip import (CLIPConfig, CLIPEncoderLayer, CLIPModel, CLIPPreTrainedModel, CLIPTextConfig, CLIPVisionConfig,
                   ImageTextOutput)
from .modeling import as_tuple, collect_internals


# -- configs ----------------------------------------------------------------------------------------------
@config_dataclass
class CLIPSegTextConfig(CLIPTextConfig):
    model_type = "clipseg_text_model"


@config_dataclass
class CLIPSegVisionConfig(CLIPVisionConfig):
    model_type = "clipseg_vision_model"


@config_dataclass
class CLIPSegConfig(CLIPConfig):
    """CLIP's config (nested text and vision parts) plus the decoder's fields."""

    model_type = "clipseg"
    text_config_class = CLIPSegTextConfig
    vision_config_class = CLIPSegVisionConfig
    positive_fields = ("projection_dim", "reduce_dim", "decoder_num_attention_heads", "decoder_intermediate_size")
    divisible_fields = (("reduce_dim", "decoder_num_attention_heads"),)

    extract_layers: list[int] | tuple[int, ...] = (3, 6, 9)
    reduce_dim: int = 64
    decoder_num_attention_heads: int = 4
    decoder_attention_dropout: float = 0.0
    decoder_hidden_act: str = "quick_gelu"  # kept for the file: the reference's decoder layers use ReLU
    decoder_intermediate_size: int = 2048
    conditional_layer: int = 0
    use_complex_transposed_convolution: bool = False

    def validate(self) -> None:
        super().validate()
        layers = self.vision.num_hidden_layers
        if not self.extract_layers or any(not 0 <= int(i) < layers for i in self.extract_layers):
            raise ConfigError(f"extract_layers = {list(self.extract_layers)} must name layers of the vision tower "
                             f"(0..{layers - 1}).")
        if self.use_complex_transposed_convolution and self.vision.patch_size % 4:
            raise ConfigError(f"use_complex_transposed_convolution upsamples twice by patch_size // 4; patch_size "
                             f"{self.vision.patch_size} is not a multiple of 4.")


# -- the dual encoder ---------------------------------------------------------------------------------------
class CLIPSegPreTrainedModel(CLIPPreTrainedModel):
    config_class = CLIPSegConfig


class CLIPSegModel(CLIPSegPreTrainedModel, CLIPModel):
    """CLIP's dual encoder with CLIPSeg's defaults: images of any size (`interpolate_pos_encoding=True`)."""

    def get_image_features(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = True,
                           **options: bool) -> BaseModelOutput:
        return super().get_image_features(pixel_values, interpolate_pos_encoding, **options)

    def forward(self, input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                return_loss: bool = False, interpolate_pos_encoding: bool = True, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageTextOutput:
        return super().forward(input_ids, pixel_values, attention_mask, position_ids, return_loss,
                               interpolate_pos_encoding, output_attentions, output_hidden_states)


# -- the decoder ----------------------------------------------------------------------------------------------
class CLIPSegDecoderLayer(CLIPEncoderLayer):
    """CLIP's block (its modules and keys) with the LayerNorms after: norm(x + attention(x)), then norm(. + MLP(.))."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        x = self.layer_norm1(x + self.self_attn(x, mask, is_causal))
        return self.hidden_state(self.layer_norm2(x + self.mlp(x)))


def decoder_block_config(config: CLIPSegConfig) -> SimpleNamespace:
    """The decoder layers' sizes: the vision tower's config at `reduce_dim` width, ReLU MLP (as the reference)."""
    v = config.vision
    return SimpleNamespace(hidden_size=config.reduce_dim, num_attention_heads=config.decoder_num_attention_heads,
                           intermediate_size=config.decoder_intermediate_size, hidden_act="relu",
                           attention_dropout=v.attention_dropout, layer_norm_eps=v.layer_norm_eps)


def upsampler(config: CLIPSegConfig) -> nn.Module:
    """Patch grid -> pixels: one transposed convolution by patch_size, or (the "refined" checkpoints) a 3x3
    convolution and two transposed convolutions by patch_size // 4 each."""
    r, p = config.reduce_dim, config.vision.patch_size
    if not config.use_complex_transposed_convolution:
        return nn.ConvTranspose2d(r, 1, p, stride=p)
    k = p // 4
    return nn.Sequential(nn.Conv2d(r, r, kernel_size=3, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(r, r // 2, kernel_size=k, stride=k), nn.ReLU(),
                         nn.ConvTranspose2d(r // 2, 1, kernel_size=k, stride=k))


@dataclass
class CLIPSegDecoderOutput(ModelOutput):
    logits: torch.Tensor | None = None  # (B, H, W)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class CLIPSegDecoder(nn.Module):
    def __init__(self, config: CLIPSegConfig) -> None:
        super().__init__()
        self.conditional_layer = config.conditional_layer
        self.film_mul = nn.Linear(config.projection_dim, config.reduce_dim)
        self.film_add = nn.Linear(config.projection_dim, config.reduce_dim)
        self.transposed_convolution = upsampler(config)
        depth = len(config.extract_layers)
        self.reduces = nn.ModuleList(nn.Linear(config.vision.hidden_size, config.reduce_dim) for _ in range(depth))
        block = decoder_block_config(config)
        self.layers = nn.ModuleList(CLIPSegDecoderLayer(block) for _ in range(depth))

    def forward(self, activations: list[torch.Tensor], conditional_embeddings: torch.Tensor, grid: tuple[int, int],
                output_attentions: bool = False, output_hidden_states: bool = False) -> CLIPSegDecoderOutput:
        """`activations`: the vision states after each extract layer, shallowest first, (B, 1 + rows * cols, C)
        (B may be 1 for any number of conditions: shared); `conditional_embeddings` (B', projection_dim)."""
        with collect_internals(self, output_attentions, output_hidden_states) as internals:
            x = None
            for i, (act, layer, reduce) in enumerate(zip(activations[::-1], self.layers, self.reduces)):
                x = reduce(act) if x is None else reduce(act) + x
                if i == self.conditional_layer:  # FiLM: the condition scales and shifts every token
                    c = conditional_embeddings[:, None]  # (B', 1, P)
                    x = self.film_mul(c) * x + self.film_add(c)  # (B', T, R)
                x = layer(x)
        b, rows, cols = x.shape[0], *grid
        x = x[:, 1:].transpose(1, 2).reshape(b, -1, rows, cols)  # drop [CLS]: (B', R, rows, cols)
        logits = self.transposed_convolution(x)[:, 0]  # (B', H, W)
        return CLIPSegDecoderOutput(logits=logits, hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
                                    attentions=as_tuple(internals["attentions"], output_attentions))


# -- the segmentation head ----------------------------------------------------------------------------------
@dataclass
class CLIPSegImageSegmentationOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, H, W): one heat map per (image, condition) pair; sigmoid -> probability
    conditional_embeddings: torch.Tensor | None = None  # (B, projection_dim)
    pooled_output: torch.Tensor | None = None  # the images' projected embeddings
    vision_model_output: BaseModelOutput | None = None
    decoder_output: CLIPSegDecoderOutput | None = None


class CLIPSegForImageSegmentation(CLIPSegPreTrainedModel):
    """Heat maps of where each prompt (text, or an example image) is in each image."""

    def __init__(self, config: CLIPSegConfig) -> None:
        super().__init__(config)
        self.clip = CLIPSegModel(config)
        self.extract_layers = [int(i) for i in config.extract_layers]
        self.decoder = CLIPSegDecoder(config)

    def get_conditional_embeddings(self, batch_size: int | None = None, input_ids: torch.Tensor | None = None,
                                   attention_mask: torch.Tensor | None = None,
                                   position_ids: torch.Tensor | None = None,
                                   conditional_pixel_values: torch.Tensor | None = None) -> torch.Tensor:
        """(conditions, projection_dim): the prompts' projected text embeddings, or the example images' projected
        image embeddings. `batch_size`: the number of images, which must equal the conditions' (or be 1)."""
        if input_ids is not None:
            what, n = "prompt texts", len(input_ids)
        elif conditional_pixel_values is not None:
            what, n = "prompt images", len(conditional_pixel_values)
        else:
            raise InputError("pass a condition: input_ids (prompt texts, tokenized), conditional_pixel_values "
                             "(example images) or conditional_embeddings.")
        if batch_size is not None and batch_size not in (1, n):
            raise InputError(f"{n} {what} for {batch_size} images: pass one per image (or a single image for all).")
        with torch.no_grad():  # the towers are frozen, as in the reference
            if input_ids is not None:
                return self.clip.get_text_features(input_ids, attention_mask, position_ids).pooler_output
            return self.clip.get_image_features(conditional_pixel_values).pooler_output

    def image_activations(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = True,
                          output_attentions: bool = False) -> tuple[BaseModelOutput, list[torch.Tensor]]:
        """The vision tower's output (projected pooler output) and the states after each extract layer."""
        with torch.no_grad():
            vision = self.clip.get_image_features(pixel_values, interpolate_pos_encoding,
                                                  output_attentions=output_attentions, output_hidden_states=True)
        return vision, [vision.hidden_states[i + 1] for i in self.extract_layers]  # [0] is the embeddings

    def forward(self, input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                conditional_pixel_values: torch.Tensor | None = None,
                conditional_embeddings: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                interpolate_pos_encoding: bool = True, output_attentions: bool = False,
                output_hidden_states: bool = False) -> CLIPSegImageSegmentationOutput:
        """One heat map per image and condition (pair i: image i, condition i). A single image with N conditions is
        segmented N times from one pass of the vision tower. `labels` (B, H, W) in 0..1: binary cross-entropy."""
        if pixel_values is None:
            raise InputError("pass pixel_values (prepare images with the checkpoint's processor, 352 x 352).")
        vision, activations = self.image_activations(pixel_values, interpolate_pos_encoding, output_attentions)
        images = pixel_values.shape[0]
        if conditional_embeddings is None:
            conditional_embeddings = self.get_conditional_embeddings(images, input_ids, attention_mask, position_ids,
                                                                     conditional_pixel_values)
        elif conditional_embeddings.dim() != 2 or conditional_embeddings.shape[1] != self.config.projection_dim \
                or images not in (1, len(conditional_embeddings)):
            raise InputError(f"conditional_embeddings {tuple(conditional_embeddings.shape)} for {images} images: pass "
                             f"(images, {self.config.projection_dim}), one per image (or a single image for all).")
        if images == 1 and len(conditional_embeddings) > 1:  # shared: a view, not N copies
            activations = [a.expand(len(conditional_embeddings), -1, -1) for a in activations]
        decoded = self.decoder(activations, conditional_embeddings, self.grid(pixel_values),
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(decoded.logits, labels.to(decoded.logits))
        if not output_hidden_states:
            vision.hidden_states = None
        return CLIPSegImageSegmentationOutput(loss=loss, logits=decoded.logits,
                                              conditional_embeddings=conditional_embeddings,
                                              pooled_output=vision.pooler_output, vision_model_output=vision,
                                              decoder_output=decoded)


CONFIG = CLIPSegConfig
HEADS = {
    "base": CLIPSegModel,
    "zero-shot-image-classification": CLIPSegModel,
    "image-segmentation": CLIPSegForImageSegmentation,
}
