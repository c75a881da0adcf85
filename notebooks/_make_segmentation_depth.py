"""Writes notebooks/10_segmentation_depth.ipynb (run: python notebooks/_make_segmentation_depth.py). Outputs are left empty."""

from pathlib import Path

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

cells = [
    md(
        "# Pixels: segmentation and depth\n\n"
        "Semantic segmentation with SegFormer (`nvidia/segformer-b0-finetuned-ade-512-512`, 150 ADE20K classes), "
        "panoptic segmentation with Mask2Former (`facebook/mask2former-swin-tiny-coco-panoptic`), all three tasks "
        "from one task-conditioned model with OneFormer (`shi-labs/oneformer_ade20k_swin_tiny`) and "
        "relative depth with Depth Anything V2 Small (`depth-anything/Depth-Anything-V2-Small-hf`, a DINOv2 backbone "
        "and a DPT head). When the real checkpoints are cached (the classroom pack prefetches them: "
        "`python -m workbench.prefetch --only 10_segmentation_depth`), they are used; offline without them, the panels "
        "run on tiny models with **random weights** and say so with their badge. The photos ship offline with "
        "scikit-image and matplotlib."
    ),
    code(
        "from workbench import pipeline\n"
        "from workbench.classroom import real_or_tiny, tiny_vision_model\n"
        "from widgets import Depth, Segment\n"
        "from widgets._gallery import sample_path\n"
        "\n"
        "def vision_pipeline(task, hub_id):\n"
        "    source, real = real_or_tiny(hub_id, lambda: tiny_vision_model(task))\n"
        "    if real:\n"
        "        return pipeline(task, model=source)\n"
        "    model, processor = source\n"
        "    return pipeline(task, model=model, processor=processor)\n"
        "\n"
        "segmenter = vision_pipeline(\"image-segmentation\", \"nvidia/segformer-b0-finetuned-ade-512-512\")"
    ),
    md(
        "## Segment\n\n"
        "The label map goes to the browser once; the legend (click a class to hide it), the opacity and the "
        "highlighting happen there without asking the kernel. Hover a segment for its label, score and share of the "
        "photo; click it to isolate it, click again to show all."
    ),
    code(
        "segment = Segment(model=segmenter)\n"
        "segment.source.load_sample(\"coffee\")\n"
        "segment"
    ),
    md("The same segments as plain data, in the reference library's format (one black-and-white mask per class):"),
    code(
        "for s in segmenter(str(sample_path(\"chelsea\"))):\n"
        "    mask = s[\"mask\"]\n"
        "    share = sum(mask.histogram()[255:]) / (mask.width * mask.height)\n"
        "    print(f\"{s['label']:>12}  {share:6.1%} of the photo\")"
    ),
    md(
        "## Panoptic segmentation with Mask2Former\n\n"
        "Mask2Former (`facebook/mask2former-swin-tiny-coco-panoptic`, 133 COCO classes) classifies *masks*: 100 "
        "learned queries each propose a mask and a class. One forward pass serves three subtasks: **panoptic** (each "
        "pixel to one segment, things counted one by one, stuff merged), **instance** (the confident objects, which "
        "may overlap) and **semantic** (a class per pixel). The panel's subtask switch re-runs the post-processing."
    ),
    code(
        "source, real = real_or_tiny(\"facebook/mask2former-swin-tiny-coco-panoptic\",\n"
        "                            lambda: tiny_vision_model(\"universal-segmentation\"))\n"
        "panoptic = (pipeline(\"image-segmentation\", model=source) if real\n"
        "            else pipeline(\"image-segmentation\", model=source[0], processor=source[1]))\n"
        "print(\"subtasks:\", panoptic.subtasks)\n"
        "universal = Segment(model=panoptic)\n"
        "universal.source.load_sample(\"coffee\")\n"
        "universal"
    ),
    md("Panoptic segments as plain data: each has its own id, so two cups are two segments with one label:"),
    code(
        "for s in panoptic(str(sample_path(\"coffee\")), subtask=\"panoptic\"):\n"
        "    print(f\"{s['label']:>12}  score {s['score']:.3f}\")"
    ),
    md(
        "## One model, three tasks: OneFormer\n\n"
        "OneFormer (`shi-labs/oneformer_ade20k_swin_tiny`, 150 ADE20K classes) is Mask2Former told *which* task to "
        "do: the text \"the task is semantic\" (or instance, panoptic) is tokenized and turned into a task token that "
        "seeds its queries. So the subtask switch here reruns the model itself with the new task token, and the "
        "class scores and masks change, not only how they are read."
    ),
    code(
        "source, real = real_or_tiny(\"shi-labs/oneformer_ade20k_swin_tiny\",\n"
        "                            lambda: tiny_vision_model(\"task-conditioned-segmentation\"))\n"
        "oneformer = (pipeline(\"image-segmentation\", model=source) if real\n"
        "             else pipeline(\"image-segmentation\", model=source[0], processor=source[1]))\n"
        "one = Segment(model=oneformer, subtask=\"semantic\")\n"
        "one.source.load_sample(\"coffee\")\n"
        "one"
    ),
    md("The same photo under each task token, as plain data:"),
    code(
        "for subtask in oneformer.subtasks:\n"
        "    found = oneformer(str(sample_path(\"coffee\")), subtask=subtask)\n"
        "    print(f\"{subtask:>9}: {len(found)} segments, {sorted({s['label'] for s in found})}\")"
    ),
    md(
        "## Depth\n\n"
        "Depth Anything predicts *relative* depth: larger is nearer, and only the order of the values means "
        "something. The motorcycle photo is the left view of a Middlebury stereo pair, which comes with a measured "
        "disparity map (larger is nearer too), so the prediction can be scored: Spearman's rank correlation between "
        "the two maps (1: the same near-to-far order everywhere). Drag the blend slider, hover to read the depth, or "
        "switch to the 3-D point cloud and drag to rotate it."
    ),
    code(
        "import skimage.data\n"
        "\n"
        "estimator = vision_pipeline(\"depth-estimation\", \"depth-anything/Depth-Anything-V2-Small-hf\")\n"
        "left, right, disparity = skimage.data.stereo_motorcycle()\n"
        "depth = Depth(model=estimator)\n"
        "depth.estimate(left, name=\"motorcycle (left view)\")\n"
        "rho = depth.compare(disparity, name=\"measured disparity\")\n"
        "print(f\"rank correlation with the measured disparity: {rho:.3f}\")\n"
        "depth"
    ),
    md("As plain data: `predicted_depth` (a tensor at the photo's size) and `depth` (a greyscale picture, 0 to 255):"),
    code(
        "out = estimator(str(sample_path(\"astronaut\")))\n"
        "print(tuple(out[\"predicted_depth\"].shape), out[\"depth\"].mode, out[\"depth\"].size)"
    ),
]

nb = nbf.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
})
nbf.write(nb, Path(__file__).with_name("10_segmentation_depth.ipynb"))
