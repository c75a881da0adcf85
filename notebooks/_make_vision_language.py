"""Writes notebooks/12_vision_language.ipynb (run: python notebooks/_make_vision_language.py). Outputs are left empty."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# Vision meets language

Models that read a photo **and** text: zero-shot image classification with CLIP (`openai/clip-vit-base-patch32`) and SigLIP (`google/siglip-base-patch16-224`): labels you type, no training.

When the real checkpoints are cached (the classroom pack prefetches them: `python -m workbench.prefetch`), they are used; offline without them, the panels run on tiny models with **random weights** and say so with their badge (their scores mean nothing). The photos ship offline with scikit-image and matplotlib."""),
    new_code_cell("""from workbench import pipeline
from workbench.classroom import real_or_tiny, tiny_vision_model
from widgets._gallery import sample_path

def vl_pipeline(task, hub_id):
    \"\"\"The task's pipeline on the real checkpoint when it is here, else on a tiny random model (said in the output).\"\"\"
    source, real = real_or_tiny(hub_id, lambda: tiny_vision_model(task))
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
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                         "name": "python3"}, "language_info": {"name": "python"}})
Path(__file__).with_name("12_vision_language.ipynb").write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
