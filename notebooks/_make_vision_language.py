"""Writes notebooks/12_vision_language.ipynb (run: python notebooks/_make_vision_language.py). Outputs are left empty."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# Vision meets language

Models that read a photo **and** text: zero-shot image classification with CLIP (`openai/clip-vit-base-patch32`) and SigLIP (`google/siglip-base-patch16-224`): labels you type, no training. Open-vocabulary detection with OWLv2 (`google/owlv2-base-patch16-ensemble`): boxes for whatever you name, or for things like an example you point at. CLIPSeg (`CIDAS/clipseg-rd64-refined`) goes further: a heat map of *where* each typed phrase is in the photo. And a model prompted by clicks instead of words: SAM segments whatever you point at.

When the real checkpoints are cached (the classroom pack prefetches them: `python -m workbench.prefetch`), they are used; offline without them, the panels run on tiny models with **random weights** and say so with their badge (their scores mean nothing). The photos ship offline with scikit-image and matplotlib."""),
    new_code_cell("""from workbench import pipeline
from workbench.classroom import real_or_tiny, tiny_vision_model
import numpy as np
from PIL import Image
from widgets._gallery import sample_path

def vl_pipeline(task, hub_id, tiny=None):
    \"\"\"The task's pipeline on the real checkpoint when it is here, else on a tiny random model (said in the output;
    `tiny`: which tiny model, when the task alone does not say).\"\"\"
    source, real = real_or_tiny(hub_id, lambda: tiny_vision_model(tiny or task))
    if real:
        return pipeline(task, model=source), True
    model, processor = source
    return pipeline(task, model=model, processor=processor), False

clip, real_clip = vl_pipeline("zero-shot-image-classification", "openai/clip-vit-base-patch32")"""),
    new_markdown_cell("""## Zero-shot image classification

Each label becomes a sentence ("This is a photo of a cat."); the image and every sentence are embedded in one space and compared. CLIP spreads one unit of probability over the labels (a softmax); SigLIP scores each label on its own (a sigmoid), so its scores need not add up to 1. The result has the reference library's format:"""),
    new_code_cell("""clip(str(sample_path("chelsea")), candidate_labels=["a cat", "a dog", "a remote control", "a cup of coffee"])"""),
    new_markdown_cell("""### The panel

Type labels, comma separated: the bars follow as you type (the photo is embedded once, and only labels not seen before go through the text tower). Tick photos under **compare** for the image × label matrix: which label wins for which photo."""),
    new_code_cell("""from widgets import ZeroShotImageClassifier

zsc = ZeroShotImageClassifier(model=clip, candidate_labels="a cat, a cup of coffee, a rocket, an astronaut, a motorcycle",
                              compare=["chelsea", "coffee", "rocket", "astronaut"])
zsc.source.load_sample("chelsea")
zsc"""),
    new_markdown_cell("""SigLIP, when it is here (its sigmoid scores are independent: several labels can be likely at once, or none):"""),
    new_code_cell("""siglip_source, real_siglip = real_or_tiny("google/siglip-base-patch16-224", lambda: None)
if real_siglip:
    siglip = pipeline("zero-shot-image-classification", model=siglip_source)
    print(siglip(str(sample_path("astronaut")), candidate_labels=["an astronaut", "a flag", "a rocket", "a cat"]))
else:
    print("(the tiny stand-in above is a CLIP; SigLIP runs here when its checkpoint is cached)")"""),
    new_markdown_cell("""## Open-vocabulary detection: OWLv2 (`google/owlv2-base-patch16-ensemble`)

OWLv2 is CLIP turned into a detector: every patch of the photo (a 60 × 60 grid at 960 × 960 pixels) predicts a box, and its embedding is compared with the embedding of each text query, so the classes are whatever you type. The photo is padded to a square first, so boxes are measured on that square and come back in the photo's own pixels. The result has the reference library's format (scores are sigmoids, one per box and query; OWLv2's are low, hence the default threshold of 0.1):"""),
    new_code_cell("""owl, real_owl = vl_pipeline("zero-shot-object-detection", "google/owlv2-base-patch16-ensemble")
owl(str(sample_path("astronaut")), candidate_labels=["a rocket", "a flag", "a human face"], top_k=5)"""),
    new_markdown_cell("""### The panel

Type what to find, comma separated (Enter runs it): every box is tagged with its query, and hovering a box shows where on the photo that query matches (its score map). The photo's features are computed once; new queries run only the text tower and the small heads. The threshold and opacity sliders and the class chips work in the browser. **find similar**: drag a box around an example on the photo, and OWLv2 looks for objects like it (image-guided detection: the example's most object-like patch becomes the query)."""),
    new_code_cell("""from widgets import Detect

owl_panel = Detect(model=owl, queries="a cat, a remote control")
owl_panel.source.load_sample("chelsea")
owl_panel"""),
    new_markdown_cell("""The same from code: `find_similar(box)` takes the example's box in the photo's pixels (here the cat's head) and returns the panel's detections at its threshold."""),
    new_code_cell("""similar = owl_panel.find_similar((90, 30, 250, 190))
print(len(similar), "boxes like the example; the best:", similar[:2])"""),
    new_markdown_cell("""## Text-prompted segmentation: CLIPSeg (`CIDAS/clipseg-rd64-refined`)

CLIPSeg keeps CLIP's two towers frozen and adds a light decoder: the photo's states from three layers of the vision tower, scaled and shifted by a prompt's embedding (FiLM), become a heat map of *where* that prompt is. The image runs through the vision tower once for all prompts. The reference library has no pipeline for it; here `image-segmentation` takes `prompts=` and returns, per prompt, the highest probability (`score`) and a mask where the probability is at least `threshold` (0.5); `.explain()` adds the heat maps at the photo's size."""),
    new_code_cell('''clipseg, real_clipseg = vl_pipeline("image-segmentation", "CIDAS/clipseg-rd64-refined",
                                     tiny="zero-shot-image-segmentation")
coffee = Image.open(sample_path("coffee")).convert("RGB")
prompts = ["a cup", "a spoon", "a saucer"]
for found in clipseg(coffee, prompts=prompts):
    print(f"{found['label']:<10} highest probability {found['score']:.3f}; the mask covers "
          f"{np.asarray(found['mask']).astype(bool).mean():.1%} of the photo")
heat = clipseg.explain(coffee, prompts=prompts)["heatmaps"]  # (prompts, H, W) probabilities
print("heat maps:", heat.shape, heat.dtype)'''),
    new_markdown_cell("""### The panel

`Segment` takes CLIPSeg: type prompts, comma separated, then Enter. One heat map per prompt over the photo; click a prompt in the legend to hide it, move the **threshold** slider to keep only what is at least that likely (each prompt's share of the photo above it follows), hover to read every prompt's probability under the pointer. All of that happens in the browser: only new prompts or another photo go back to the model."""),
    new_code_cell('''from widgets import Segment

seg = Segment(model=clipseg, prompts="a cup, a spoon, a saucer", threshold=0.3)
seg.source.load_sample("coffee")
seg'''),
    new_markdown_cell("""## Click to segment: SAM (`facebook/sam-vit-base`)

SAM splits the work: the **image encoder** (a ViT, the slow part) runs once per photo; each prompt (a click inside the object, a click outside it, a box) then runs only the small **prompt encoder** and **mask decoder** on that cached embedding. `embed()` is the first step, `segment()` the second. Points are (x, y) in the photo's pixels, with label 1 (this is the object) or 0 (this is not). SAM answers with three candidate masks (a part, the object, a larger whole) and the IoU it predicts for each."""),
    new_code_cell('''sam, real_sam = vl_pipeline("mask-generation", "facebook/sam-vit-base")
cat = Image.open(sample_path("chelsea")).convert("RGB")
embedded = sam.embed(cat)  # the image encoder, once for every prompt below
click = sam.segment(embedded, points=[(190, 140)], labels=[1])  # one click on the cat: three candidates
box = sam.segment(embedded, box=(60, 20, 420, 300), multimask_output=False)  # a box around it: one mask
print("a click's candidates, predicted IoU:", [round(s, 3) for s in click["scores"]])
print("the box's mask, predicted IoU:", round(box["scores"][0], 3))

def overlay(image, masks, colors=((255, 40, 160), (40, 200, 255), (255, 200, 0), (120, 255, 80))):
    """The photo with each boolean (H, W) mask tinted in a colour of its own."""
    rgb = np.asarray(image).astype(float)
    for i, mask in enumerate(masks):
        rgb[mask] = 0.45 * rgb[mask] + 0.55 * np.array(colors[i % len(colors)])
    return Image.fromarray(rgb.astype(np.uint8))

overlay(cat, [click["masks"][int(np.argmax(click["scores"]))]])'''),
    new_markdown_cell("""### The panel

Click the object (shift-click or right-click: a point that is *not* the object), or drag a box. Each prompt runs only the prompt encoder and mask decoder on the cached embedding (the time is shown under the photo); pick one of the three candidates by its predicted IoU. **Segment everything** runs the automatic grid below with a progress bar."""),
    new_code_cell('''from widgets import SegmentAnything

sa = SegmentAnything(model=sam)
sa.source.load_sample("chelsea")
sa.prompt([[190, 140, 1]])  # the same click from code: the panel shows its masks
sa'''),
    new_markdown_cell("""**Segment everything**: the pipeline's automatic mode prompts SAM with a grid of points (`points_per_crop` per side; the reference's default is 32, i.e. 1,024 prompts), keeps the masks whose predicted IoU and stability pass `pred_iou_thresh` and `stability_score_thresh`, and drops duplicates by box overlap. The result has the reference library's format: `{"masks": [...], "scores": [...]}`, best first. (With random weights nothing passes the real thresholds, so the tiny stand-in runs with loose ones.)"""),
    new_code_cell('''options = dict(points_per_crop=8) if real_sam else dict(points_per_crop=4, pred_iou_thresh=0.0,
                                                           stability_score_thresh=0.5, stability_score_offset=0.3)
everything = sam(cat, **options)
print(len(everything["masks"]), "masks; scores:", [round(s, 3) for s in everything["scores"][:8]])
overlay(cat, everything["masks"][:8])'''),
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                         "name": "python3"}, "language_info": {"name": "python"}})
Path(__file__).with_name("12_vision_language.ipynb").write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
