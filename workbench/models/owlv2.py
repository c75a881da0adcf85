"""OWLv2: open-vocabulary object detection on CLIP's towers - every image patch predicts a box and is scored
against any text (or example-image) query.

Module paths equal the keys of hub checkpoints (`owlv2.text_model...`, `owlv2.vision_model.pre_layernorm`,
`class_head.dense0`, `box_head.dense2`, `objectness_head...`, `layer_norm`). The transformer blocks and towers are
CLIP's (`workbench.models.clip`, the same keys and math); what OWLv2 adds is here:

- the patch features: the vision tower's last states after `post_layernorm`, each patch multiplied by the [CLS]
  state, then `layer_norm` -> a (rows, cols) feature map;
- per patch, a box (`box_head`, an MLP, plus a bias that puts each box's centre on its patch and its size at one
  patch, through a sigmoid: (cx, cy, w, h) relative to the padded square image), an objectness logit
  (`objectness_head`) and class logits (`class_head`: cosine similarity of the patch's class embedding with each
  query embedding, shifted and scaled per patch; read through a sigmoid, one score per query);
- image-guided detection: the query is the class embedding of the most object-like patch of an example image.

Attention is recorded as CLIP's: the text tower's causal self-attention ("causal"), the vision tower's attention
over [CLS] and the patch grid ("patches").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from ..config import config_dataclass
from ..errors import InputError
from ..nn.onednn import Linear, linear_act
from ..outputs import BaseModelOutput, ModelOutput
from .clip import (CLIPConfig, CLIPModel, CLIPPreTrainedModel, CLIPTextConfig, CLIPVisionConfig, ImageTextOutput,
                   contrastive_loss, normalized)


# -- configs ------------------------------------------------------------------------------------------
@config_dataclass
class Owlv2TextConfig(CLIPTextConfig):
    model_type = "owlv2_text_model"

    max_position_embeddings: int = 16
    pad_token_id: int | None = 0


@config_dataclass
class Owlv2VisionConfig(CLIPVisionConfig):
    model_type = "owlv2_vision_model"

    image_size: int = 768
    patch_size: int = 16


@config_dataclass
class Owlv2Config(CLIPConfig):
    model_type = "owlv2"
    text_config_class = Owlv2TextConfig
    vision_config_class = Owlv2VisionConfig


# -- the dual encoder -----------------------------------------------------------------------------------------
class Owlv2PreTrainedModel(CLIPPreTrainedModel):
    config_class = Owlv2Config
    base_model_prefix = "owlv2"


class Owlv2Model(Owlv2PreTrainedModel, CLIPModel):
    """CLIP with OWLv2's spelling (`pre_layernorm`) and pooling (the text's largest id: its end token). The towers'
    outputs keep their unprojected `pooler_output`, as the reference."""

    text_pooling = "argmax"
    vision_pre_norm = "pre_layernorm"

    def forward(self, input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, return_loss: bool = False,
                interpolate_pos_encoding: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> ImageTextOutput:
        options = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        vision = self.vision_model(pixel_values, interpolate_pos_encoding, **options)
        text = self.text_model(input_ids, attention_mask, **options)
        image_embeds = normalized(self.visual_projection(vision.pooler_output))
        text_embeds = normalized(self.text_projection(text.pooler_output))
        logits_per_text = text_embeds @ image_embeds.t() * self.logit_scale.exp()  # (texts, images)
        return ImageTextOutput(loss=contrastive_loss(logits_per_text) if return_loss else None,
                               logits_per_image=logits_per_text.t(), logits_per_text=logits_per_text,
                               text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text,
                               vision_model_output=vision)


# -- the heads ------------------------------------------------------------------------------------------------
class Owlv2BoxPredictionHead(nn.Module):
    """An MLP per patch: box offsets (4) or objectness (1)."""

    def __init__(self, width: int, out_dim: int = 4) -> None:
        super().__init__()
        self.dense0 = Linear(width, width)
        self.dense1 = Linear(width, width)
        self.dense2 = Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense2(linear_act(linear_act(x, self.dense0, F.gelu), self.dense1, F.gelu))


class Owlv2ClassPredictionHead(nn.Module):
    """Patch class embeddings (`dense0`, into the text space) scored against query embeddings: cosine similarity,
    then a per-patch shift and a positive per-patch scale (elu + 1)."""

    def __init__(self, config: Owlv2Config) -> None:
        super().__init__()
        width = config.vision.hidden_size
        self.dense0 = Linear(width, config.text.hidden_size)
        self.logit_shift = Linear(width, 1)
        self.logit_scale = Linear(width, 1)

    def embed(self, image_feats: torch.Tensor) -> torch.Tensor:
        """(B, P, C) patch features -> (B, P, D) class embeddings (not normalised): what image queries are made of."""
        return self.dense0(image_feats)

    def forward(self, image_feats: torch.Tensor, query_embeds: torch.Tensor,
                query_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P, C) features, (B, Q, D) queries, (B, Q) mask of real queries -> (B, P, Q) logits (padded queries
        at the dtype's minimum) and the (B, P, D) normalised class embeddings."""
        eps = 1e-6  # the reference's guard on the norms
        patches = self.embed(image_feats)
        patches = patches / (torch.linalg.norm(patches, dim=-1, keepdim=True) + eps)
        queries = query_embeds / (torch.linalg.norm(query_embeds, dim=-1, keepdim=True) + eps)
        logits = patches @ queries.transpose(-1, -2)  # (B, P, Q)
        logits = (logits + self.logit_shift(image_feats)) * (F.elu(self.logit_scale(image_feats)) + 1)
        if query_mask is not None:
            mask = query_mask[..., None, :] if query_mask.dim() > 1 else query_mask
            logits = torch.where(mask == 0, torch.finfo(logits.dtype).min, logits).float()
        return logits, patches


@lru_cache(maxsize=8)
def box_bias(rows: int, cols: int) -> torch.Tensor:
    """(rows * cols, 4) logits that put each patch's box centre on the patch's bottom-right corner, as the
    reference, and its size at one patch (inverse sigmoid of the relative coordinates, with its 1e-4 guards)."""
    x = torch.arange(1, cols + 1, dtype=torch.float32) / cols
    y = torch.arange(1, rows + 1, dtype=torch.float32) / rows
    xx, yy = torch.meshgrid(x, y, indexing="xy")  # (rows, cols) each
    centres = torch.stack([xx, yy], dim=-1).reshape(-1, 2).clip(0.0, 1.0)
    sizes = torch.tensor([1.0 / cols, 1.0 / rows]).expand_as(centres)

    def inverse_sigmoid(v: torch.Tensor) -> torch.Tensor:
        return torch.log(v + 1e-4) - torch.log1p(-v + 1e-4)

    return torch.cat([inverse_sigmoid(centres), inverse_sigmoid(sizes)], dim=-1)


@dataclass
class Owlv2ObjectDetectionOutput(ModelOutput):
    """Per patch: `logits` (B, P, Q) against each query (sigmoid -> score), `objectness_logits` (B, P),
    `pred_boxes` (B, P, 4) (cx, cy, w, h) relative to the padded square image; `image_embeds` the (B, rows, cols, C)
    feature map, `text_embeds` (B, Q, D) the normalised queries, `class_embeds` (B, P, D) the patches'."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    objectness_logits: torch.Tensor | None = None
    pred_boxes: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    class_embeds: torch.Tensor | None = None
    text_model_output: BaseModelOutput | None = None
    vision_model_output: BaseModelOutput | None = None


@dataclass
class Owlv2ImageGuidedObjectDetectionOutput(ModelOutput):
    """`logits` (B, P, 1) of each target patch against its query image's best object; boxes of both images."""

    logits: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    query_image_embeds: torch.Tensor | None = None
    target_pred_boxes: torch.Tensor | None = None
    query_pred_boxes: torch.Tensor | None = None
    class_embeds: torch.Tensor | None = None
    text_model_output: BaseModelOutput | None = None
    vision_model_output: BaseModelOutput | None = None


class Owlv2ForObjectDetection(Owlv2PreTrainedModel):
    """Text-queried detection (`forward`: `input_ids` hold `queries` texts per image, images x queries rows) and
    image-guided detection (`image_guided_detection`). The steps are public so a pipeline can run the vision tower
    once per image and the text tower once per label set: `image_features`, `text_query_embeds`, `detect`."""

    def __init__(self, config: Owlv2Config) -> None:
        super().__init__(config)
        self.owlv2 = Owlv2Model(config)
        self.class_head = Owlv2ClassPredictionHead(config)
        self.box_head = Owlv2BoxPredictionHead(config.vision.hidden_size)
        self.objectness_head = Owlv2BoxPredictionHead(config.vision.hidden_size, out_dim=1)
        self.layer_norm = nn.LayerNorm(config.vision.hidden_size, eps=config.vision.layer_norm_eps)

    # -- the steps ----------------------------------------------------------------------------------------
    def image_features(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                       output_attentions: bool = False,
                       output_hidden_states: bool = False) -> tuple[torch.Tensor, BaseModelOutput]:
        """Images -> the (B, rows, cols, C) patch feature map (each patch times [CLS], normalised) and the vision
        tower's output."""
        tower = self.owlv2.vision_model
        vision = tower(pixel_values, interpolate_pos_encoding, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states)
        x = tower.post_layernorm(vision.last_hidden_state)
        x = self.layer_norm(x[:, 1:] * x[:, :1])  # (B, P, C)
        rows, cols = self.grid(pixel_values)
        return x.reshape(x.shape[0], rows, cols, x.shape[-1]), vision

    def text_query_embeds(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                          output_attentions: bool = False,
                          output_hidden_states: bool = False) -> tuple[torch.Tensor, BaseModelOutput]:
        """Texts -> their (texts, D) normalised projected embeddings (the queries) and the text tower's output."""
        text = self.owlv2.text_model(input_ids, attention_mask, output_attentions=output_attentions,
                                     output_hidden_states=output_hidden_states)
        return normalized(self.owlv2.text_projection(text.pooler_output)), text

    def predict_boxes(self, image_feats: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """(B, P, C) patch features -> (B, P, 4) boxes (cx, cy, w, h) relative to the (padded) image."""
        bias = box_bias(rows, cols).to(device=image_feats.device, dtype=image_feats.dtype)
        return torch.sigmoid(self.box_head(image_feats) + bias)

    def objectness(self, image_feats: torch.Tensor) -> torch.Tensor:
        """(B, P, C) -> (B, P) objectness logits (trained on detached features, as the reference)."""
        return self.objectness_head(image_feats.detach())[..., 0]

    def detect(self, feature_map: torch.Tensor, query_embeds: torch.Tensor,
               query_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """A (B, rows, cols, C) feature map and (B, Q, D) queries -> {"logits" (B, P, Q), "class_embeds",
        "objectness_logits" (B, P), "pred_boxes" (B, P, 4)}."""
        b, rows, cols, c = feature_map.shape
        feats = feature_map.reshape(b, rows * cols, c)
        logits, class_embeds = self.class_head(feats, query_embeds, query_mask)
        return {"logits": logits, "class_embeds": class_embeds, "objectness_logits": self.objectness(feats),
                "pred_boxes": self.predict_boxes(feats, rows, cols)}

    def grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        p = self.config.vision.patch_size
        return int(pixel_values.shape[-2]) // p, int(pixel_values.shape[-1]) // p

    # -- text-queried detection ------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, pixel_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                interpolate_pos_encoding: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False) -> Owlv2ObjectDetectionOutput:
        """`input_ids` (images * queries, T): each image's queries in turn; a query whose first id is 0 (padding,
        for images with fewer queries) scores the dtype's minimum."""
        if input_ids is None or pixel_values is None:
            raise InputError("pass input_ids (the text queries, tokenized) and pixel_values (the images).")
        options = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        feature_map, vision = self.image_features(pixel_values, interpolate_pos_encoding, **options)
        queries, text = self.text_query_embeds(input_ids, attention_mask, **options)
        b = feature_map.shape[0]
        if input_ids.shape[0] % b:
            raise InputError(f"{input_ids.shape[0]} text queries for {b} images: give every image the same number "
                             "of queries (pad short lists, as the processor does).")
        per_image = input_ids.shape[0] // b
        queries = queries.reshape(b, per_image, -1)  # (B, Q, D)
        query_mask = input_ids.reshape(b, per_image, -1)[..., 0] > 0
        found = self.detect(feature_map, queries, query_mask)
        return Owlv2ObjectDetectionOutput(**found, text_embeds=queries, image_embeds=feature_map,
                                          text_model_output=text, vision_model_output=vision)

    # -- image-guided detection ----------------------------------------------------------------------------
    def embed_image_query(self, query_feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A query image's feature map -> its most object-like patch's class embedding (B, 1, D), that patch's
        index (B, 1) and the query image's boxes (B, P, 4)."""
        b, rows, cols, c = query_feature_map.shape
        feats = query_feature_map.reshape(b, rows * cols, c)
        best = self.objectness(feats).argmax(dim=-1, keepdim=True)  # (B, 1)
        embeds = self.class_head.embed(feats)
        query = torch.gather(embeds, 1, best[..., None].expand(-1, -1, embeds.shape[-1]))
        return query, best, self.predict_boxes(feats, rows, cols)

    def image_guided_detection(self, pixel_values: torch.Tensor, query_pixel_values: torch.Tensor,
                               interpolate_pos_encoding: bool = False, output_attentions: bool = False,
                               output_hidden_states: bool = False) -> Owlv2ImageGuidedObjectDetectionOutput:
        """Find in each image what its query image (one per image) shows: the query is the query image's most
        object-like patch."""
        if query_pixel_values is None or len(query_pixel_values) != len(pixel_values):
            raise InputError("pass one query image (query_pixel_values) per target image (pixel_values).")
        query_map, _ = self.image_features(query_pixel_values, interpolate_pos_encoding)
        feature_map, vision = self.image_features(pixel_values, interpolate_pos_encoding,
                                                  output_attentions=output_attentions,
                                                  output_hidden_states=output_hidden_states)
        query, _, query_boxes = self.embed_image_query(query_map)
        b, rows, cols, c = feature_map.shape
        feats = feature_map.reshape(b, rows * cols, c)
        logits, class_embeds = self.class_head(feats, query)
        return Owlv2ImageGuidedObjectDetectionOutput(
            logits=logits, image_embeds=feature_map, query_image_embeds=query_map,
            target_pred_boxes=self.predict_boxes(feats, rows, cols), query_pred_boxes=query_boxes,
            class_embeds=class_embeds, vision_model_output=vision)


CONFIG = Owlv2Config
HEADS = {
    "base": Owlv2Model,
    "zero-shot-object-detection": Owlv2ForObjectDetection,
}
