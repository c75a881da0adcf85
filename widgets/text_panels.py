"""Notebook panels for the text pipelines: FillMask, TextClassifier, NER, QuestionAnswering, Similarity.

Each panel is `Panel(model=<hub id | folder | pipeline>, **options)`. Inputs are synced traitlets
(`text`, `question`, ...) bound to the controls, results are traitlets (`result`, `html`), so code
and tests drive a panel by setting an input and waiting for `result`/`runs` to change. A change
starts a debounced update (`debounce_ms`; 0 = run at once, in the caller's thread): a newer request
replaces a waiting one, and a result that arrives after a newer request started is dropped
(`dropped` counts both): that machinery is `widgets._live.LivePanel`. Rendering is
`widgets._render.text`; errors show inside the panel.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import traitlets as T

from ._render import text as R
from ._base import Panel
from ._live import LivePanel


def _link(widget: W.Widget, panel: Panel, name: str) -> None:
    T.link((widget, "value"), (panel, name))


STRATEGIES = ["none", "simple", "first", "average", "max"]  # the token-classification pipeline's aggregations


class FillMask(LivePanel):
    """Type a text with the mask token; the top-k tokens appear as bars with the completed sentences."""

    task = "fill-mask"
    text = T.Unicode("").tag(sync=True)
    top_k = T.Int(5).tag(sync=True)
    result = T.List()

    def __init__(self, model: Any = None, *, text: str = "", top_k: int = 5, debounce_ms: int = 150,
                 tokenizer: Any = None) -> None:
        self._input = W.Textarea(placeholder="Type a sentence with the mask token", continuous_update=True,
                                 layout=W.Layout(width="100%"))
        self._input.add_class("wb-fill-input")
        self._slider = W.IntSlider(value=top_k, min=1, max=20, description="top k")
        super().__init__(model, tokenizer=tokenizer, debounce_ms=debounce_ms, controls=[self._input, self._slider])
        self.add_class("wb-fill-mask-panel")
        if self.pipe is not None:
            self._input.placeholder = f"Type a sentence with {self.pipe.tokenizer.mask_token}"
        _link(self._input, self, "text")
        _link(self._slider, self, "top_k")
        self.top_k = top_k
        self.observe(self.request, names=["text", "top_k"])
        if text:
            self.text = text

    @T.validate("top_k")
    def _valid_top_k(self, proposal: dict[str, Any]) -> int:
        return self.checked(proposal, self.in_range(proposal["value"], 1, self._slider.max))

    def compute(self) -> Any:
        if not self.text.strip():
            return None
        return self.pipe(self.text, top_k=self.top_k)

    def render(self, result: Any) -> str:
        return R.fill_mask_html(result)

    def set_result(self, result: Any) -> None:
        self.result = [] if result is None else result


class TextClassifier(LivePanel):
    """Label bars for a text; a second text makes an NLI pair; labels in the box switch to zero-shot."""

    task = "text-classification"
    text = T.Unicode("").tag(sync=True)
    text_pair = T.Unicode("").tag(sync=True)
    candidate_labels = T.Unicode("").tag(sync=True)  # comma-separated: zero-shot when not empty
    multi_label = T.Bool(False).tag(sync=True)
    result = T.List()  # [{label, score}] best first

    def __init__(self, model: Any = None, *, text: str = "", text_pair: str = "", candidate_labels: str = "",
                 multi_label: bool = False, debounce_ms: int = 150, tokenizer: Any = None) -> None:
        self._text = W.Textarea(placeholder="Text to classify", layout=W.Layout(width="100%"))
        self._pair = W.Text(placeholder="Second text (optional: NLI / sentence pair)", layout=W.Layout(width="100%"))
        self._labels = W.Text(placeholder="Candidate labels, comma separated (optional: zero-shot)",
                              layout=W.Layout(width="100%"))
        self._multi = W.Checkbox(description="multi-label (zero-shot)")
        super().__init__(model, tokenizer=tokenizer, debounce_ms=debounce_ms,
                         controls=[self._text, self._pair, self._labels, self._multi])
        for widget, name in ((self._text, "text"), (self._pair, "text_pair"), (self._labels, "candidate_labels"),
                             (self._multi, "multi_label")):
            _link(widget, self, name)
        self.add_class("wb-text-classifier-panel")
        self._zero_shot = None
        self.observe(self.request, names=["text", "text_pair", "candidate_labels", "multi_label"])
        self.set_trait("text_pair", text_pair)
        self.set_trait("candidate_labels", candidate_labels)
        self.set_trait("multi_label", multi_label)
        if text:
            self.text = text
        elif text_pair or candidate_labels:
            self.request()

    def zero_shot(self) -> Any:
        if self._zero_shot is None:
            from workbench.pipelines.zero_shot import ZeroShotClassificationPipeline

            self._zero_shot = ZeroShotClassificationPipeline(self.pipe.model, self.pipe.tokenizer)
        return self._zero_shot

    def compute(self) -> Any:
        if not self.text.strip():
            return None
        if self.candidate_labels.strip():
            out = self.zero_shot()(self.text, candidate_labels=self.candidate_labels, multi_label=self.multi_label)
            return [{"label": l, "score": s} for l, s in zip(out["labels"], out["scores"])]
        item = {"text": self.text, "text_pair": self.text_pair} if self.text_pair.strip() else self.text
        return self.pipe(item, top_k=None)

    def render(self, result: Any) -> str:
        return R.labels_html(result)

    def set_result(self, result: Any) -> None:
        self.result = [] if result is None else result


class NER(LivePanel):
    """The text with entities highlighted by type (hover: score), a legend, an aggregation selector."""

    task = "token-classification"
    text = T.Unicode("").tag(sync=True)
    aggregation_strategy = T.Unicode("simple").tag(sync=True)
    result = T.List()

    def __init__(self, model: Any = None, *, text: str = "", aggregation_strategy: str = "simple",
                 debounce_ms: int = 150, tokenizer: Any = None) -> None:
        self._text = W.Textarea(placeholder="Text", layout=W.Layout(width="100%"))
        self._strategy = W.Dropdown(options=STRATEGIES, value=aggregation_strategy if aggregation_strategy in STRATEGIES else "simple",
                                    description="aggregation")
        super().__init__(model, tokenizer=tokenizer, debounce_ms=debounce_ms, controls=[self._text, self._strategy])
        self.add_class("wb-ner-panel")
        _link(self._text, self, "text")
        _link(self._strategy, self, "aggregation_strategy")
        self.observe(self.request, names=["text", "aggregation_strategy"])
        self.set_trait("aggregation_strategy", aggregation_strategy)
        if text:
            self.text = text

    @T.validate("aggregation_strategy")
    def _valid_strategy(self, proposal: dict[str, Any]) -> str:
        ok = proposal["value"] in STRATEGIES
        return self.checked(proposal, None if ok else f"use one of {STRATEGIES}.")

    def compute(self) -> Any:
        if not self.text.strip():
            return None
        return self.pipe(self.text, aggregation_strategy=self.aggregation_strategy)

    def render(self, result: Any) -> str:
        return R.entities_html(self.text, result)

    def set_result(self, result: Any) -> None:
        self.result = [] if result is None else result


class QuestionAnswering(LivePanel):
    """Context + question: the answer highlighted in the context with its score, and the top-k alternatives."""

    task = "question-answering"
    question = T.Unicode("").tag(sync=True)
    context = T.Unicode("").tag(sync=True)
    top_k = T.Int(3).tag(sync=True)
    result = T.List()  # answers, best first

    def __init__(self, model: Any = None, *, question: str = "", context: str = "", top_k: int = 3,
                 debounce_ms: int = 150, tokenizer: Any = None) -> None:
        self._context = W.Textarea(placeholder="Context", layout=W.Layout(width="100%", height="8em"))
        self._question = W.Text(placeholder="Question", layout=W.Layout(width="100%"))
        self._k = W.IntSlider(value=top_k, min=1, max=10, description="top k")
        super().__init__(model, tokenizer=tokenizer, debounce_ms=debounce_ms,
                         controls=[self._context, self._question, self._k])
        self.add_class("wb-qa-panel")
        for widget, name in ((self._context, "context"), (self._question, "question"), (self._k, "top_k")):
            _link(widget, self, name)
        self.observe(self.request, names=["question", "context", "top_k"])
        self.set_trait("top_k", top_k)
        self.set_trait("context", context)
        if question:
            self.question = question

    @T.validate("top_k")
    def _valid_top_k(self, proposal: dict[str, Any]) -> int:
        return self.checked(proposal, self.in_range(proposal["value"], 1, self._k.max))

    def compute(self) -> Any:
        if not self.question.strip() or not self.context.strip():
            return None
        out = self.pipe(question=self.question, context=self.context, top_k=self.top_k)
        return out if isinstance(out, list) else [out]

    def attention_inputs(self) -> tuple[str, str | None]:
        return self.question, self.context or None  # the model reads them as a pair

    def render(self, result: Any) -> str:
        return R.qa_html(self.context, result)

    def set_result(self, result: Any) -> None:
        self.result = [] if result is None else result


class Similarity(LivePanel):
    """Sentences (one per line) -> cosine-similarity heatmap and each sentence's nearest neighbour."""

    task = "sentence-similarity"
    sentences = T.List(T.Unicode()).tag(sync=True)
    neighbours = T.Int(1).tag(sync=True)
    result = T.List()  # the similarity matrix (nested lists)
    png = T.Bytes(b"")

    def __init__(self, model: Any = None, *, sentences: list[str] | None = None, neighbours: int = 1,
                 debounce_ms: int = 300, tokenizer: Any = None) -> None:
        self._text = W.Textarea(placeholder="One sentence per line", layout=W.Layout(width="100%", height="8em"))
        self._image = W.HTML()  # an <img> with alt text (W.Image has no alt; its tooltip breaks its view)
        super().__init__(model if model is not None else "sentence-transformers/all-MiniLM-L6-v2",
                         tokenizer=tokenizer, debounce_ms=debounce_ms, controls=[self._text])
        badge, text, *rest = self.children  # the badge, then the controls (the text box) ...
        self.children = (badge, text, self._image, *rest)  # ... with the heatmap under the text box
        self.add_class("wb-similarity-panel")
        self._syncing = False
        self._text.observe(self._from_box, names="value")
        self.observe(self._to_box, names="sentences")
        self.observe(self.request, names=["sentences", "neighbours"])
        self.set_trait("neighbours", neighbours)
        if sentences:
            self.sentences = list(sentences)

    def _from_box(self, change: Any) -> None:
        if not self._syncing:
            self._syncing = True
            try:
                self.sentences = [s.strip() for s in change["new"].splitlines() if s.strip()]
            finally:
                self._syncing = False

    def _to_box(self, change: Any) -> None:
        if not self._syncing:
            self._syncing = True
            try:
                self._text.value = "\n".join(change["new"])
            finally:
                self._syncing = False

    def compute(self) -> Any:
        if len(self.sentences) < 2:
            return None
        return self.pipe(list(self.sentences))

    def attention_inputs(self) -> tuple[str, str | None]:
        # A bi-encoder reads each sentence alone: show the first one.
        return (self.sentences[0] if self.sentences else ""), None

    def render(self, result: Any) -> str:
        self._png = R.similarity_png(self.sentences, result)
        return R.neighbours_html(self.sentences, result, self.neighbours)

    def set_result(self, result: Any) -> None:
        self.result = [] if result is None else result
        self.png = self._png if result is not None else b""
        self._image.value = R.heatmap_html(self.png, self.sentences, alt="cosine similarity heatmap") if self.png else ""
        if result is not None:
            self.static_html = R.heatmap_html(self.png, self.sentences, alt="similarity heatmap") + self.html
