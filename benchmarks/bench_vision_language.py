"""Vision-language speed on CPU: ours vs the reference on the real shapes of openai/clip-vit-base-patch32,
google/siglip-base-patch16-224, google/owlv2-base-patch16-ensemble, CIDAS/clipseg-rd64-refined and facebook/sam-vit-base
(random weights, built and saved by the reference, the same on both sides), and SAM's click-to-mask latency.

    python benchmarks/bench_vision_language.py [--quick] [--threads N]

Prints, per model, the median seconds of the image tower (CLIP/SigLIP image features of a batch of 8; SAM's image
encoder on one 1024 x 1024 input), of the text tower (8 labels) and their ratio (reference / ours: above 1, we are
faster); for CLIP and SigLIP also the zero-shot-image-classification pipeline end to end (one photo, 3 labels,
each library's pipeline on the same checkpoint); and SAM's click to mask: one point prompt on a cached embedding through the prompt encoder, the mask decoder
and the masks' resizing to the photo (ours: `pipe.segment`; the reference: `SamModel(image_embeddings=...)` +
`SamProcessor.post_process_masks`), the kernel side of a click in the SegmentAnything panel.
OWLv2 (960 x 960, 3600 patches): the preprocessing of one photo, the detector's forward (one image, 3 queries) and
the zero-shot-object-detection pipeline end to end (one photo, 3 queries; the reference runs its model per query).

CLIPSeg: one photo x 3 prompts, from the photo to heat maps and masks at its size. The reference has no pipeline for
it; its documented way is the processor on the photo repeated once per prompt, the model, a sigmoid of the logits
resized to the photo (timed here with the masks at 0.5 made as ours). Ours: `pipeline("image-segmentation")` with
`prompts=` (the photo through the vision tower once). Also the model alone on the same 3 x 3 tensors both sides.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import best_of  # noqa: E402


def report(name: str, ref_s: float, ours_s: float) -> None:
    print(f"{name:<38} reference {ref_s * 1000:9.1f} ms   ours {ours_s * 1000:9.1f} ms   ratio {ref_s / ours_s:5.2f}x")


def dual_encoder(kind: str, tmp: Path, repeats: int) -> None:
    import transformers

    from workbench import AutoModelForZeroShotImageClassification

    torch.manual_seed(0)
    if kind == "clip":  # the defaults are clip-vit-base-patch32's shapes
        ref = transformers.CLIPModel(transformers.CLIPConfig(attn_implementation="sdpa")).eval()
    else:  # siglip-base-patch16-224
        ref = transformers.SiglipModel(transformers.SiglipConfig(attn_implementation="sdpa")).eval()
    ref.save_pretrained(tmp / kind)
    ours = AutoModelForZeroShotImageClassification.from_pretrained(tmp / kind).eval()
    pixels = torch.randn(8, 3, 224, 224)
    ids = torch.randint(1, 1000, (8, 16 if kind == "clip" else 64))
    with torch.inference_mode():
        report(f"{kind}: image features (batch 8)", best_of(lambda: ref.get_image_features(pixel_values=pixels), repeats),
               best_of(lambda: ours.get_image_features(pixel_values=pixels), repeats))
        report(f"{kind}: text features (8 labels)", best_of(lambda: ref.get_text_features(input_ids=ids), repeats),
               best_of(lambda: ours.get_text_features(input_ids=ids), repeats))
    zero_shot_pipelines(kind, tmp / kind, repeats)


def zero_shot_pipelines(kind: str, folder: Path, repeats: int) -> None:
    """What a user times: `zero-shot-image-classification` on one photo and 3 labels, the whole call (decoding,
    preprocessing, both towers, post-processing), each library's pipeline on the same checkpoint."""
    import shutil

    import transformers
    from PIL import Image

    from tests.test_tokenizer_vision_text import clip_vocab
    from tests.vision_text import siglip_folder
    from widgets._gallery import sample_path
    from workbench import pipeline

    if kind == "clip":  # a small BPE vocabulary (ids inside the real one's range): the tokenizer is not what is timed
        vocab, merges = clip_vocab()
        transformers.CLIPTokenizer(vocab=vocab, merges=merges).save_pretrained(folder)
        processor = {"image_processor_type": "CLIPImageProcessor"}  # clip-vit-base-patch32's: 224, centre crop
    else:  # a small SentencePiece model trained by the tests' tiny SigLIP recipe
        spm = siglip_folder(folder.parent / "siglip-tokenizer")
        for name in ("spiece.model", "tokenizer_config.json", "special_tokens_map.json"):
            if (spm / name).exists():
                shutil.copy(spm / name, folder / name)
        processor = {"image_processor_type": "SiglipImageProcessor", "size": {"height": 224, "width": 224}}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    ref_pipe = transformers.pipeline("zero-shot-image-classification", model=str(folder))
    pipe = pipeline("zero-shot-image-classification", model=folder)
    photo = Image.open(sample_path("chelsea")).convert("RGB")
    labels = ["a cat", "a dog", "a sofa"]
    with torch.inference_mode():
        report(f"{kind}: pipeline, one photo, 3 labels", *alternating(
            lambda: ref_pipe(photo, candidate_labels=labels), lambda: pipe(photo, candidate_labels=labels), repeats))


def sam(tmp: Path, repeats: int) -> None:
    import json

    import transformers

    from widgets._gallery import sample_path
    from workbench import pipeline

    torch.manual_seed(0)
    ref = transformers.SamModel(transformers.SamConfig()).eval()  # the defaults are sam-vit-base's shapes
    ref.save_pretrained(tmp / "sam")
    (tmp / "sam" / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "SamImageProcessor"}))
    pipe = pipeline("mask-generation", model=tmp / "sam")
    processor = transformers.SamProcessor(transformers.SamImageProcessor.from_pretrained(tmp / "sam"))
    from PIL import Image

    photo = Image.open(sample_path("chelsea")).convert("RGB")
    pixels = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode():
        report("sam: image encoder (1024 x 1024)", best_of(lambda: ref.get_image_embeddings(pixels), max(2, repeats // 3), 1),
               best_of(lambda: pipe.model.get_image_embeddings(pixels), max(2, repeats // 3), 1))
        embedded = pipe.embed(photo)
        inputs = processor(images=photo, input_points=[[[[190.0, 140.0]]]], return_tensors="pt")
        emb = embedded.embeddings

        def reference_click() -> None:
            out = ref(image_embeddings=emb, input_points=inputs["input_points"])
            processor.post_process_masks(out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])

        clicks = repeats * 3
        ref_s = best_of(reference_click, clicks, 3)
        ours_s = best_of(lambda: pipe.segment(embedded, points=[(190.0, 140.0)], labels=[1]), clicks, 3)
        report("sam: click -> 3 masks at photo size", ref_s, ours_s)
        panel_s = best_of(lambda: pipe.segment(embedded, points=[(190.0, 140.0)], labels=[1], output_size=(300, 451)),
                          clicks, 3)
        print(f"sam: the panel's click (masks at display size): {panel_s * 1000:.1f} ms (goal: <= 150 ms)")


def owlv2(tmp: Path, repeats: int) -> None:
    import json

    import numpy as np
    import transformers
    from PIL import Image

    from tests.test_tokenizer_vision_text import clip_vocab  # a small BPE vocabulary: the tokenizer is not timed
    from widgets._gallery import sample_path
    from workbench import pipeline

    torch.manual_seed(0)
    config = transformers.Owlv2Config(vision_config={"image_size": 960}, attn_implementation="sdpa")  # the ensemble's
    transformers.Owlv2ForObjectDetection(config).eval().save_pretrained(tmp / "owlv2")
    vocab, merges = clip_vocab()
    transformers.CLIPTokenizer(vocab=vocab, merges=merges, pad_token="!").save_pretrained(tmp / "owlv2")
    (tmp / "owlv2" / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "Owlv2ImageProcessor"}))
    ref_pipe = transformers.pipeline("zero-shot-object-detection", model=str(tmp / "owlv2"))
    pipe = pipeline("zero-shot-object-detection", model=tmp / "owlv2")
    photo = Image.open(sample_path("chelsea")).convert("RGB")
    labels = ["a cat", "a remote control", "a sofa"]
    report("owlv2: preprocess one photo", best_of(lambda: ref_pipe.image_processor(photo, return_tensors="pt"), repeats),
           best_of(lambda: pipe.image_processor(np.asarray(photo)), repeats))
    pixels = pipe.image_processor(np.asarray(photo))["pixel_values"]
    ids = pipe.tokenizer(labels, return_tensors="pt", padding=True)
    inputs = dict(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], pixel_values=pixels)
    few = max(2, repeats // 3)
    with torch.inference_mode():
        report("owlv2: detector forward (3 queries)", best_of(lambda: ref_pipe.model(**inputs), few, 1),
               best_of(lambda: pipe.model(**inputs), few, 1))
    report("owlv2: pipeline, one photo, 3 queries", best_of(lambda: ref_pipe(photo, candidate_labels=labels), few, 1),
           best_of(lambda: pipe(photo, candidate_labels=labels), few, 1))


def alternating(ref_fn: Callable[[], object], ours_fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median seconds of each, their calls alternating (after one warm-up each), so a neighbour's load drifting over
    the minutes of a slow measurement hits both sides alike."""
    ref_fn(), ours_fn()
    ref_t, ours_t = [], []
    for _ in range(repeats):
        for fn, times in ((ref_fn, ref_t), (ours_fn, ours_t)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(ref_t), statistics.median(ours_t)


def clipseg(tmp: Path, repeats: int) -> None:
    import numpy as np
    import torch.nn.functional as F
    import transformers
    from PIL import Image

    from widgets._gallery import sample_path
    from workbench import pipeline
    from workbench.classroom import tiny_clip_tokenizer

    torch.manual_seed(0)
    config = transformers.CLIPSegConfig(  # clipseg-rd64-refined: CLIP ViT-B/16 towers, the refined upsampler
        vision_config={"patch_size": 16}, extract_layers=[3, 6, 9], reduce_dim=64,
        use_complex_transposed_convolution=True, attn_implementation="sdpa")
    ref = transformers.CLIPSegForImageSegmentation(config).eval()
    folder = tmp / "clipseg"
    ref.save_pretrained(folder)
    tiny_clip_tokenizer().save_pretrained(folder)  # the vocabulary's size changes no timing here
    image_processor = transformers.ViTImageProcessor(size={"height": 352, "width": 352},
                                                     image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    processor = transformers.CLIPSegProcessor(image_processor=image_processor,
                                              tokenizer=transformers.AutoTokenizer.from_pretrained(folder))
    processor.save_pretrained(folder)
    pipe = pipeline("image-segmentation", model=folder)
    photo = Image.open(sample_path("chelsea")).convert("RGB")
    prompts = ["a cat", "a remote control", "a blanket"]

    def reference() -> list[Image.Image]:
        inputs = processor(text=prompts, images=[photo] * len(prompts), padding=True, return_tensors="pt")
        logits = ref(**inputs).logits
        probs = F.interpolate(logits[:, None], size=(photo.height, photo.width), mode="bilinear",
                              align_corners=False)[:, 0].sigmoid().numpy()
        return [Image.fromarray(np.where(p >= 0.5, 255, 0).astype(np.uint8)) for p in probs]

    with torch.inference_mode():
        report("clipseg: photo x 3 prompts -> masks", *alternating(reference, lambda: pipe(photo, prompts=prompts),
                                                                  repeats))
        inputs = processor(text=prompts, images=[photo] * len(prompts), padding=True, return_tensors="pt")
        report("clipseg: model alone, same 3 x 3 inputs", *alternating(lambda: ref(**inputs),
                                                                     lambda: pipe.model(**inputs), repeats))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--only", choices=["clip", "siglip", "owlv2", "clipseg", "sam"], action="append")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 9
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.only or ["clip", "siglip", "owlv2", "clipseg", "sam"]:
            if kind == "sam":
                sam(Path(tmp), repeats)
            elif kind == "owlv2":
                owlv2(Path(tmp), repeats)
            elif kind == "clipseg":
                clipseg(Path(tmp), repeats)
            else:
                dual_encoder(kind, Path(tmp), repeats)


if __name__ == "__main__":
    main()
