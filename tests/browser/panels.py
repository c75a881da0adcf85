"""One notebook with every panel, on tiny random models (the speech panel on the embedded Whisper tiny.en),
for the tests that render all of them in one go: JupyterLab (interactions, dark theme, axe-core), Notebook 7,
Voila, and the static views of the saved notebook.

Each panel is displayed once its first result exists, so its static picture (what a saved notebook shows)
is a real one. `PANELS` maps each panel variable to the CSS class of its root element.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SETUP = '''\
import tempfile, subprocess, pathlib, torch
import workbench as wb
from workbench import pipeline
from workbench.auto import AutoConfig, AutoModelForMaskedLM, AutoModelForSequenceClassification, \\
    AutoModelForTokenClassification, AutoModelForQuestionAnswering, AutoModel
from workbench.classroom import tiny_vision_model
from workbench.embedded import embedded_folder
import widgets
MINILM = embedded_folder("sentence-transformers/all-MiniLM-L6-v2")

def tiny(auto, labels=None, seed=0):
    """A 2-layer BERT with hidden size 32, random weights, the real MiniLM vocabulary."""
    torch.manual_seed(seed)
    fields = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=128)
    if labels:
        fields.update(id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    return auto.from_config(AutoConfig.for_model("bert", **fields)).eval()'''

FILL = '''\
fill = widgets.FillMask(pipeline("fill-mask", model=tiny(AutoModelForMaskedLM), tokenizer=MINILM),
                        text="Paris is the [MASK] of France.", debounce_ms=0)
fill'''

CLASSIFY = '''\
classify = widgets.TextClassifier(pipeline("text-classification", tokenizer=MINILM,
                                           model=tiny(AutoModelForSequenceClassification, ["NEGATIVE", "POSITIVE"])),
                                  text="We are very happy to show you the workbench.", debounce_ms=0)
classify'''

NER = '''\
ner = widgets.NER(pipeline("ner", tokenizer=MINILM, model=tiny(AutoModelForTokenClassification,
                  ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"], seed=3)),
                  text="My name is Wolfgang and I live in Berlin.", aggregation_strategy="none", debounce_ms=0)
ner'''

QA = '''\
qa = widgets.QuestionAnswering(pipeline("question-answering", model=tiny(AutoModelForQuestionAnswering), tokenizer=MINILM),
                               question="Where is Hugging Face based?", top_k=3, debounce_ms=0,
                               context="Hugging Face Inc. is a company based in New York City. Its headquarters are in DUMBO.")
qa'''

SIMILARITY = '''\
sim = widgets.Similarity(MINILM, debounce_ms=0, sentences=[
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a white horse on an enclosed ground, far away from the crowd.", "A monkey is playing drums."])
sim'''

ATTENTION = '''\
attn = widgets.AttentionView(model=tiny(AutoModel), tokenizer=MINILM, text="The cat sat on the mat because it was tired.")
attn'''

SPEECH = '''\
torch.set_num_threads(1)
clip = pathlib.Path(tempfile.mkdtemp()) / "hello.wav"
subprocess.run(["espeak-ng", "-w", str(clip), "Hello world, this is a test."], check=True)
speech = widgets.Transcribe()
speech.load(str(clip))
speech.transcribe()
speech'''

FINETUNE = f'''\
tok = wb.AutoTokenizer.from_pretrained(MINILM)
finetune = widgets.FineTune(model=tiny(AutoModelForSequenceClassification, ["negative", "positive"]), tokenizer=tok,
                            dataset={str(ROOT / "data/sentiment/train.csv")!r},
                            eval_dataset={str(ROOT / "data/sentiment/validation.csv")!r},
                            output_dir=tempfile.mkdtemp(), max_steps=6, eval_steps=3, logging_steps=1, batch_size=8,
                            learning_rate=1e-3, max_length=32)
finetune.start(wait=True)
finetune'''

DETECT = '''\
det_model, det_proc = tiny_vision_model("object-detection")
detect = widgets.Detect(model=pipeline("object-detection", model=det_model, processor=det_proc), threshold=0.0)
detect.source.load_sample("astronaut")
detect'''

IMAGE = '''\
cls_model, cls_proc = tiny_vision_model("image-classification")
image = widgets.ImageClassifier(model=pipeline("image-classification", model=cls_model, processor=cls_proc))
image.source.load_sample("chelsea")
image'''

DONE = '''\
_errors = {n: p.error for n, p in [("fill", fill), ("classify", classify), ("ner", ner), ("qa", qa), ("sim", sim),
           ("attn", attn), ("speech", speech), ("finetune", finetune), ("detect", detect), ("image", image)] if p.error}
print("PANELS-READY", _errors or "")'''

MARKER = "PANELS-READY"
CELLS = [SETUP, FILL, CLASSIFY, NER, QA, SIMILARITY, ATTENTION, SPEECH, FINETUNE, DETECT, IMAGE, DONE]

# panel variable -> a CSS selector of its root element in the page
PANELS = {
    "fill": ".wb-fill-mask-panel",
    "classify": ".wb-text-classifier-panel",
    "ner": ".wb-ner-panel",
    "qa": ".wb-qa-panel",
    "sim": ".wb-similarity-panel",
    "attn": ".wb-attn",
    "speech": ".wb-transcribe-panel",
    "finetune": ".wb-finetune",
    "detect": ".wb-detect-panel",
    "image": ".wb-image-classifier-panel",
}
