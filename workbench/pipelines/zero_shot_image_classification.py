"""zero-shot-image-classification: score images against any labels with an image-text dual encoder (CLIP, SigLIP).

Each label becomes a sentence (`hypothesis_template`, "This is a photo of {}." by default); the model scores every
image against every sentence. One image gives `[{"score", "label"}, ...]` best first (a softmax over the labels
for CLIP, an independent sigmoid per label for SigLIP, as the reference); a list gives one such list per image.

The two towers run apart: a batch of images goes through the vision tower once and the labels through the text
tower once (the reference encodes the labels again for every image), and the text embeddings of recent prompts
are kept, so panels re-scoring one image as labels are typed only encode the new ones. `similarity()` gives the
whole image x label matrix; `embed_images` / `embed_texts` / `scores` are the steps.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForZeroShotImageClassification
from ..errors import InputError
from ..inspect import AttentionRecord, attention_record
from .image_common import ImagePipeline, grid_tokens
from .zero_shot import check_template, parse_labels

DEFAULT_TEMPLATE = "This is a photo of {}."
TEXT_CACHE = 512  # prompts whose text embeddings are kept


class ZeroShotImageClassificationPipeline(ImagePipeline):
    task = "zero-shot-image-classification"
    default_model = "openai/clip-vit-base-patch32"
    auto_model = AutoModelForZeroShotImageClassification

    def __init__(self, model: Any, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        if self.tokenizer is self.processor:
            raise InputError(f"the {self.task!r} pipeline needs the checkpoint's tokenizer as well as its image "
                             "processor; pass a folder that has both (tokenizer.json or spiece.model, "
                             "preprocessor_config.json).")
        self._texts: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()

    @property
    def sigmoid(self) -> bool:
        """SigLIP scores each label on its own (sigmoid); CLIP spreads one unit over the labels (softmax)."""
        return "siglip" in str(self.model.config.model_type)

    def __call__(self, image: Any = None, candidate_labels: Any = None, *, images: Any = None,
                 hypothesis_template: str = DEFAULT_TEMPLATE, timeout: float | None = None,
                 tokenizer_kwargs: dict[str, Any] | None = None, batch_size: int | None = None) -> Any:
        """`image` (or `images=`): one image or a list; `candidate_labels`: a list of labels (or one
        comma-separated string)."""
        labels = parse_labels(candidate_labels, self.task)
        check_template(hypothesis_template, labels[0])
        prompts = [hypothesis_template.format(label) for label in labels]
        return super().__call__(self.inputs_from(image, images), batch_size=batch_size, labels=labels,
                                prompts=prompts, timeout=timeout, tokenizer_kwargs=dict(tokenizer_kwargs or {}))

    def _run_batch(self, items: list[Any], *, labels: list[str], prompts: list[str], timeout: float | None,
                   tokenizer_kwargs: dict[str, Any]) -> list[Any]:
        scores = self.scores(self.embed_images(self.read(items, timeout)), self.embed_texts(prompts, **tokenizer_kwargs))
        return [self.postprocess(row, labels) for row in scores]

    def postprocess(self, scores: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
        ranked = sorted(zip(scores.tolist(), labels), key=lambda pair: -pair[0])  # stable: ties keep label order
        return [{"score": s, "label": label} for s, label in ranked]

    # -- the steps ---------------------------------------------------------------------------------
    def embed_images(self, images: Sequence[Any]) -> torch.Tensor:
        """(images, dim) image embeddings (projected, not normalised) of images in any form `to_rgb` reads."""
        with torch.inference_mode():
            return self.model.get_image_features(**self.pixels(list(images))).pooler_output

    def text_inputs(self, prompts: Sequence[str], **tokenizer_kwargs: Any) -> dict[str, torch.Tensor]:
        options: dict[str, Any] = {"padding": True}
        if self.sigmoid:  # SigLIP was trained on texts padded to 64 tokens (the reference pads the same way)
            options.update(padding="max_length", max_length=64, truncation=True)
        encoding = self.tokenizer(list(prompts), return_tensors="pt", **{**options, **tokenizer_kwargs})
        return {k: encoding[k].to(self.device) for k in self.tokenizer.model_input_names if k in encoding}

    def embed_texts(self, prompts: Sequence[str], **tokenizer_kwargs: Any) -> torch.Tensor:
        """(prompts, dim) text embeddings (projected, not normalised); recent prompts come from a cache.
        Each prompt is encoded alone when cached prompts are reused, padded with the new ones otherwise (the same
        numbers: padding is masked)."""
        key = repr(sorted(tokenizer_kwargs.items()))
        missing = list(dict.fromkeys(p for p in prompts if (p, key) not in self._texts))
        if missing:
            with torch.inference_mode():
                found = self.model.get_text_features(**self.text_inputs(missing, **tokenizer_kwargs)).pooler_output
            for prompt, row in zip(missing, found):
                self._texts[(prompt, key)] = row
        for prompt in prompts:
            self._texts.move_to_end((prompt, key))
        rows = torch.stack([self._texts[(p, key)] for p in prompts])
        while len(self._texts) > TEXT_CACHE:
            self._texts.popitem(last=False)
        return rows

    def logits(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> np.ndarray:
        """(images, labels) logits, as the model's `logits_per_image`."""
        with torch.inference_mode():
            return self.model.similarity_logits(image_embeds, text_embeds).float().cpu().numpy()

    def scores(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> np.ndarray:
        """(images, labels) probabilities: a sigmoid per pair (SigLIP) or a softmax over the labels (CLIP)."""
        logits = torch.from_numpy(self.logits(image_embeds, text_embeds))
        return (logits.sigmoid() if self.sigmoid else logits.softmax(-1)).numpy()

    def similarity(self, images: Sequence[Any], candidate_labels: Any, *,
                   hypothesis_template: str = DEFAULT_TEMPLATE) -> dict[str, Any]:
        """Every image against every label: {"labels", "logits" (images, labels), "scores" (images, labels)} (numpy)."""
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        for i, image in enumerate(images):
            self._check_type(image, i)
        labels = parse_labels(candidate_labels, self.task)
        check_template(hypothesis_template, labels[0])
        image_embeds = self.embed_images(self.read(images, None))
        text_embeds = self.embed_texts([hypothesis_template.format(label) for label in labels])
        logits = self.logits(image_embeds, text_embeds)
        return {"labels": labels, "logits": logits, "scores": self.scores(image_embeds, text_embeds)}

    def attention(self, image: Any, *, layers: Sequence[int] | None = None, timeout: float | None = None) -> AttentionRecord:
        """The vision tower's self-attention on `image`: kind "patches" (CLIP: [CLS] then the grid; SigLIP: the grid)."""
        self._check_type(image, 0)
        pixels = self.pixels(self.read([image], timeout))["pixel_values"]
        rows, cols = self.model.grid(pixels)
        extra = ["[CLS]"] if self.model.config.model_type != "siglip" else []
        vision = self.model.vision_model
        return attention_record(_VisionOnly(vision), {"pixel_values": pixels}, query_tokens=extra + grid_tokens(rows, cols),
                                kind="patches", layers=layers, grid=(rows, cols))


class _VisionOnly(torch.nn.Module):
    """The vision tower alone, as a model `attention_record` runs (its hook points record "patches")."""

    attention_kinds = {"attn_probs": "patches"}

    def __init__(self, tower: torch.nn.Module) -> None:
        super().__init__()
        self.tower = tower
        self.config = tower.config

    def forward(self, pixel_values: torch.Tensor) -> Any:
        return self.tower(pixel_values)
