"""image-segmentation: labelled masks for images, in the reference's format.

One image gives `[{"score", "label", "mask": PIL.Image (mode "L", 255 inside)}, ...]`, a list one such list per
image. `subtask` is "semantic" (one mask per class present, score None), "instance" or "panoptic" (one mask per
segment, with its score); by default the first the model can do of panoptic, instance, semantic (the
reference's order). `threshold` (0.9), `mask_threshold` (0.5) and `overlap_mask_area_threshold` (0.5) are the
reference's options for mask classifiers; `label_ids_to_fuse` merges every segment of those classes into one.

How each family segments is one entry of `SEGMENTERS` (model type -> the head it loads, the subtasks it offers,
and the function from pixels to `Segments`): a per-pixel classifier (SegFormer: semantic), a mask classifier
(Mask2Former: panoptic, instance and semantic from one forward pass; post-processing equal to the reference's) or a
task-conditioned one (OneFormer: the subtask is tokenized into its task input, one forward pass per subtask).
Another family adds its entry; nothing else here changes.

`.explain(image, subtask=...)` returns the label map and the segments as arrays (what the Segment panel draws):
{"size", "subtask", "subtasks", "labels", "segmentation" (H, W) int32 index into "segments" (-1: none),
"segments": [{"id", "label_id", "label", "score", "area"}]}.

Text-prompted segmenters (CLIPSeg) segment what they are told: `pipe(image, prompts=["a cat", "a remote"])` (a list,
or one comma-separated string). The reference has no pipeline for them; its documented way is its processor and
model, and a sigmoid of the logits, which is what this does, the logits resized (bilinear) to the image's size first.
Per prompt, in the prompts' order: `{"score": the highest probability, "label": the prompt, "mask": PIL "L" image,
255 where the probability is at least `threshold` (0.5 unless given)}`. The image runs through the vision tower
once for all its prompts. `.explain(image, prompts=...)` adds the heat maps: {"size", "subtask": "prompted",
"subtasks", "labels" (the prompts), "threshold", "heatmaps" (N, H, W) float32 probabilities at the image's size,
"segments": [{"label", "score", "area" (fraction of the image at or above the threshold)}]}.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..auto import _AutoModel
from ..errors import InputError, UnsupportedModelError
from ..models import family
from ..processors.segmentation import (
    MASK2FORMER_MASK_SIZE,
    Segments,
    semantic_from_logits,
    oneformer_instance,
    universal_instance,
    universal_panoptic,
    universal_semantic,
)
from .image_common import ImagePipeline
from .zero_shot import parse_labels

SUBTASKS = ("panoptic", "instance", "semantic")  # the reference's default order
PROMPTED = "prompted"  # the one subtask of text-prompted segmenters (CLIPSeg): a heat map per prompt
PROMPT_THRESHOLD = 0.5  # their default `threshold`: a pixel belongs to a prompt's mask at this probability


@dataclass(frozen=True)
class Options:
    """The post-processing options of one call."""

    subtask: str
    threshold: float = 0.9
    mask_threshold: float = 0.5
    overlap_mask_area_threshold: float = 0.5
    label_ids_to_fuse: Collection[int] = field(default_factory=frozenset)
    prompts: tuple[str, ...] = ()  # text-prompted segmenters only


# A family's runner: (pipeline, pixels (B, 3, H, W) of one size, each image's original size, options) -> Segments each.
Runner = Callable[["ImageSegmentationPipeline", Any, list[tuple[int, int]], Options], list[Segments]]


@dataclass(frozen=True)
class Segmenter:
    head: str  # the key of the family's HEADS that loads the model (an Auto task name)
    subtasks: tuple[str, ...]  # what it can do, in the default order
    run: Runner | None  # None: a text-prompted segmenter (heat maps per prompt: `ImageSegmentationPipeline.heatmaps`)


def per_pixel_classifier(pipe: "ImageSegmentationPipeline", pixels: Any, sizes: list[tuple[int, int]],
                         options: Options) -> list[Segments]:
    """Class logits per pixel (B, C, h, w) -> each image's classes (SegFormer)."""
    logits = pipe.model(pixel_values=pixels).logits
    return [semantic_from_logits(row, size) for row, size in zip(logits, sizes)]


def mask_classifier(mask_size: tuple[int, int] | None) -> Runner:
    """Queries with a class and a mask each (Mask2Former): semantic, instance or panoptic from one forward pass."""

    def run(pipe: "ImageSegmentationPipeline", pixels: Any, sizes: list[tuple[int, int]], options: Options) -> list[Segments]:
        out = pipe.model(pixel_values=pixels)
        found = []
        for cls, masks, size in zip(out.class_queries_logits, out.masks_queries_logits, sizes):
            if options.subtask == "semantic":
                found.append(universal_semantic(cls, masks, size, mask_size))
            elif options.subtask == "instance":
                found.append(universal_instance(cls, masks, options.threshold, size, mask_size))
            else:
                found.append(universal_panoptic(cls, masks, options.threshold, options.mask_threshold,
                                                options.overlap_mask_area_threshold, options.label_ids_to_fuse, size,
                                                mask_size))
        return found

    return run


def task_conditioned(pipe: "ImageSegmentationPipeline", pixels: Any, sizes: list[tuple[int, int]],
                     options: Options) -> list[Segments]:
    """OneFormer: the subtask is an input too (its task token), so each subtask is its own forward pass; the task
    text tokenized as the reference's pipeline does (the tokenizer's padding, `config.task_seq_len`)."""
    from ..processors.oneformer import task_token_ids

    tasks = task_token_ids(pipe.tokenizer, [options.subtask] * len(pixels), pipe.model.config.task_seq_len,
                           zero_padding=False)
    out = pipe.model(pixel_values=pixels, task_inputs=tasks.to(pixels.device))
    found = []
    for cls, masks, size in zip(out.class_queries_logits, out.masks_queries_logits, sizes):
        if options.subtask == "semantic":
            found.append(universal_semantic(cls, masks, size))
        elif options.subtask == "instance":
            found.append(oneformer_instance(cls, masks, options.threshold, options.mask_threshold,
                                            options.overlap_mask_area_threshold, size))
        else:
            found.append(universal_panoptic(cls, masks, options.threshold, options.mask_threshold,
                                            options.overlap_mask_area_threshold, options.label_ids_to_fuse, size,
                                            antialias=True))
    return found


# model_type -> how its models segment. One line per family.
SEGMENTERS: dict[str, Segmenter] = {
    "segformer": Segmenter("semantic-segmentation", ("semantic",), per_pixel_classifier),
    "mask2former": Segmenter("universal-segmentation", SUBTASKS, mask_classifier(MASK2FORMER_MASK_SIZE)),
    "oneformer": Segmenter("universal-segmentation", SUBTASKS, task_conditioned),
    "clipseg": Segmenter("image-segmentation", (PROMPTED,), None),
}


def segmenter_for(model_type: str | None) -> Segmenter:
    if model_type not in SEGMENTERS:
        raise UnsupportedModelError(f"{model_type!r} models do not segment images here; image-segmentation supports: "
                                    f"{', '.join(sorted(SEGMENTERS))}.")
    return SEGMENTERS[model_type]


class AutoModelForImageSegmentation(_AutoModel):
    """Loads whichever segmentation head a checkpoint's family has (its `SEGMENTERS` entry says which)."""

    @classmethod
    def model_class_for(cls, model_type: str | None) -> type:
        return family(model_type).HEADS[segmenter_for(model_type).head]


class ImageSegmentationPipeline(ImagePipeline):
    task = "image-segmentation"
    default_model = "nvidia/segformer-b0-finetuned-ade-512-512"
    auto_model = AutoModelForImageSegmentation

    def __init__(self, model: Any, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        self.segmenter = segmenter_for(getattr(self.model.config, "model_type", None))
        if self.prompted and self.tokenizer is self.processor:
            raise InputError(f"the {self.task!r} pipeline needs a text-prompted segmenter's tokenizer as well as its "
                             "image processor; pass a folder that has both (tokenizer.json or vocab.json + merges.txt, "
                             "preprocessor_config.json).")

    @property
    def subtasks(self) -> tuple[str, ...]:
        """The subtasks this model can do, the default first."""
        return self.segmenter.subtasks

    @property
    def prompted(self) -> bool:
        """Whether this model segments what prompts name (CLIPSeg) rather than classes of its own."""
        return self.segmenter.run is None

    def options(self, subtask: str | None, threshold: float | None, mask_threshold: float,
                overlap_mask_area_threshold: float, label_ids_to_fuse: Collection[int] | None,
                prompts: Any = None) -> Options:
        if subtask is None:
            subtask = self.subtasks[0]
        if subtask not in self.subtasks:
            raise InputError(f"subtask={subtask!r}: this {self.model.config.model_type} model does "
                             f"{', '.join(self.subtasks)}; pass one of those (or nothing for {self.subtasks[0]}).")
        if threshold is None:
            threshold = PROMPT_THRESHOLD if self.prompted else 0.9
        for name, value in (("threshold", threshold), ("mask_threshold", mask_threshold),
                            ("overlap_mask_area_threshold", overlap_mask_area_threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InputError(f"{name} must be a number from 0 to 1, got {value!r}.")
        if self.prompted:
            if prompts is None:
                raise InputError(f"this {self.model.config.model_type} model segments what you name: pass "
                                 "prompts=[...] (texts, or one comma-separated string), e.g. "
                                 'pipe(image, prompts=["a cat", "a remote control"]).')
            found = tuple(parse_labels(prompts, self.task, "prompts"))
            return Options(subtask, float(threshold), float(mask_threshold), prompts=found)
        if prompts is not None:
            raise InputError(f"prompts= is for text-prompted segmenters (CLIPSeg); this {self.model.config.model_type} "
                             "model finds the classes it was trained on: call it without prompts.")
        fuse = set(label_ids_to_fuse or ())
        bad = sorted(i for i in fuse if i not in self.model.config.id2label)
        if bad:
            raise InputError(f"label_ids_to_fuse {bad} are not label ids of this model (0..{self.model.config.num_labels - 1}).")
        return Options(subtask, float(threshold), float(mask_threshold), float(overlap_mask_area_threshold), frozenset(fuse))

    def __call__(self, inputs: Any = None, *, images: Any = None, prompts: Any = None, subtask: str | None = None,
                 threshold: float | None = None, mask_threshold: float = 0.5, overlap_mask_area_threshold: float = 0.5,
                 label_ids_to_fuse: Collection[int] | None = None, timeout: float | None = None,
                 batch_size: int | None = None) -> Any:
        """`threshold`: mask classifiers' segment score threshold (0.9); text-prompted segmenters' probability at
        which a pixel is in a prompt's mask (0.5). `prompts`: what a text-prompted segmenter looks for."""
        options = self.options(subtask, threshold, mask_threshold, overlap_mask_area_threshold, label_ids_to_fuse,
                               prompts)
        return super().__call__(self.inputs_from(inputs, images), batch_size=batch_size, options=options,
                                timeout=timeout)

    def segments(self, items: list[Any], options: Options, timeout: float | None) -> list[Segments]:
        """Each image's label map and segments (images of one processed size share a forward pass)."""
        import torch

        found: list[Any] = [None] * len(items)
        for rows, pixels, sizes in self.same_size_groups(self.read(items, timeout)):
            batch = torch.from_numpy(pixels).to(self.device)
            for i, seg in zip(rows, self.segmenter.run(self, batch, sizes, options)):
                found[i] = seg
        return found

    def _run_batch(self, items: list[Any], *, options: Options, timeout: float | None) -> list[Any]:
        if self.prompted:
            return [self.prompted_postprocess(maps, options) for maps in self.heatmaps(items, options.prompts, timeout)]
        return [self.postprocess(seg) for seg in self.segments(items, options, timeout)]

    def heatmaps(self, items: list[Any], prompts: Sequence[str], timeout: float | None) -> list[np.ndarray]:
        """Each image's (prompts, H, W) float32 probabilities at its own size: the model's logits resized
        (bilinear) and read through a sigmoid. The prompts are encoded once; each image runs the vision tower once."""
        import torch
        import torch.nn.functional as F

        text = self.tokenizer(list(prompts), padding=True, return_tensors="pt")
        text = {k: text[k].to(self.device) for k in ("input_ids", "attention_mask") if k in text}
        found = []
        with torch.inference_mode():
            condition = self.model.get_conditional_embeddings(input_ids=text["input_ids"],
                                                              attention_mask=text.get("attention_mask"))
            for rgb in self.read(items, timeout):
                logits = self.model(**self.pixels([rgb]), conditional_embeddings=condition).logits  # (N, h, w)
                size = rgb.shape[:2]
                logits = F.interpolate(logits[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
                found.append(logits.sigmoid().cpu().numpy())
        return found

    def prompted_postprocess(self, maps: np.ndarray, options: Options) -> list[dict[str, Any]]:
        from PIL import Image

        return [{"score": float(m.max()), "label": prompt,
                 "mask": Image.fromarray(np.where(m >= options.threshold, 255, 0).astype(np.uint8))}  # mode "L"
                for prompt, m in zip(options.prompts, maps)]

    def postprocess(self, seg: Segments) -> list[dict[str, Any]]:
        from PIL import Image

        labels = self.model.config.id2label
        ids = seg.segmentation.cpu().numpy()
        out = []
        for s in seg.segments:
            mask = np.where(ids == s["id"], 255, 0).astype(np.uint8)
            out.append({"score": s["score"], "label": labels[s["label_id"]], "mask": Image.fromarray(mask)})  # mode "L"
        return out

    # -- inspection --------------------------------------------------------------------------------
    def explain(self, image: Any, *, prompts: Any = None, subtask: str | None = None, threshold: float | None = None,
                mask_threshold: float = 0.5, overlap_mask_area_threshold: float = 0.5,
                label_ids_to_fuse: Collection[int] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """One image's segments as arrays: a label map of indexes into `segments` (-1 where no segment), each
        segment's label, score and area (fraction of the image), and every label name of the model. Text-prompted
        segmenters: the heat maps of the prompts instead of a label map (see the module's doc)."""
        import torch

        self._check_type(image, 0)
        options = self.options(subtask, threshold, mask_threshold, overlap_mask_area_threshold, label_ids_to_fuse,
                               prompts)
        if self.prompted:
            maps = self.heatmaps([image], options.prompts, timeout)[0]
            segments = [{"label": p, "score": float(m.max()), "area": float((m >= options.threshold).mean())}
                        for p, m in zip(options.prompts, maps)]
            return {"size": tuple(int(v) for v in maps.shape[1:]), "subtask": PROMPTED, "subtasks": [PROMPTED],
                    "labels": list(options.prompts), "threshold": options.threshold, "heatmaps": maps,
                    "segments": segments}
        with torch.inference_mode():
            seg = self.segments([image], options, timeout)[0]
        ids = seg.segmentation.cpu().numpy()
        index = np.full(ids.shape, -1, dtype=np.int32)
        first: dict[int, int] = {}
        for i, s in enumerate(seg.segments):
            first.setdefault(s["id"], i)  # a fused id listed twice: its pixels go to its first entry
        for sid, i in first.items():
            index[ids == sid] = i
        labels = self.model.config.id2label
        total = float(ids.size)
        segments = [{"id": int(s["id"]), "label_id": int(s["label_id"]), "label": labels[s["label_id"]],
                     "score": s["score"], "area": float((index == i).sum()) / total} for i, s in enumerate(seg.segments)]
        return {"size": tuple(int(v) for v in ids.shape), "subtask": options.subtask, "subtasks": list(self.subtasks),
                "labels": [labels[i] for i in range(len(labels))], "segmentation": index, "segments": segments}
