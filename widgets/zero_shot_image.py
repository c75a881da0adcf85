"""`ZeroShotImageClassifier(model=...)`: type labels, see how well each fits the photo; compare several photos.

A photo comes from the offline gallery, an upload, a path or a URL; its embedding is computed once. Labels are typed
comma separated ("a cat, a remote control"): each change re-scores the photo (debounced, stale results dropped, as
every live panel), and only labels not seen before go through the text tower (the pipeline keeps recent text
embeddings). The bars are the pipeline's scores (softmax over the labels for CLIP, a sigmoid each for SigLIP).
Below, the image x label matrix for the photos ticked under "compare" (their embeddings are kept as well).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np
import traitlets as T

from workbench.pipelines.zero_shot import check_template, parse_labels
from workbench.pipelines.zero_shot_image_classification import DEFAULT_TEMPLATE

from ._base import guarded
from ._gallery import available, sample_path
from ._image_input import ImageSource
from ._live import LivePanel
from ._render.vision_text import label_bars_html, similarity_table_html, thumbnail_uri


class ZeroShotImageClassifier(LivePanel):
    """Score a photo against labels typed comma separated; `compare` photos side by side in a score matrix."""

    task = "zero-shot-image-classification"
    attention_button_shown = False
    candidate_labels = T.Unicode("").tag(sync=True)
    hypothesis_template = T.Unicode(DEFAULT_TEMPLATE).tag(sync=True)
    compared = T.List(T.Unicode()).tag(sync=True)  # gallery photos in the matrix
    result = T.List()  # [{score, label}] best first, for the current photo
    matrix = T.Dict()  # {"images": names, "labels": [...], "scores": [[...]] (images x labels)}

    def __init__(self, model: Any = None, *, image: Any = None, candidate_labels: str = "",
                 hypothesis_template: str = DEFAULT_TEMPLATE, compare: list[str] | tuple[str, ...] = (),
                 debounce_ms: int = 150) -> None:
        self.source = ImageSource(self._set_image, lambda fn: self.guard(fn))
        self._labels_box = W.Text(placeholder="labels, comma separated: a cat, a dog, a remote control",
                              description="labels", continuous_update=True, layout=W.Layout(width="100%"))
        self._labels_box.add_class("wb-zsi-labels")
        self._template_box = W.Text(description="template", continuous_update=False, layout=W.Layout(width="420px"))
        self._compare_box = W.SelectMultiple(options=available(), description="compare", rows=min(6, len(available())),
                                         layout=W.Layout(width="260px"))
        super().__init__(model, debounce_ms=debounce_ms,
                         controls=[self.source, self._labels_box, W.HBox([self._template_box, self._compare_box])])
        self.add_class("wb-zsi-panel")
        self.rgb: np.ndarray | None = None
        self.name = ""
        self._image_embeds = None  # the current photo's embedding (1, dim)
        self._compared: dict[str, tuple[Any, str]] = {}  # gallery name -> (embedding, thumbnail), kept
        T.link((self._labels_box, "value"), (self, "candidate_labels"))
        T.link((self._template_box, "value"), (self, "hypothesis_template"))
        self._compare_box.observe(lambda c: setattr(self, "compared", list(c["new"])), names="value")
        self.observe(lambda c: self._compare_box.set_trait("value", tuple(c["new"])), names="compared")
        self.observe(self.request, names=["candidate_labels", "hypothesis_template", "compared"])
        self.hypothesis_template = hypothesis_template
        self.compared = list(compare)
        self.candidate_labels = candidate_labels
        if image is not None:
            self.guard(self.classify, image)

    @T.validate("hypothesis_template")
    def _valid_template(self, proposal: dict[str, Any]) -> str:
        v = proposal["value"]
        ok = isinstance(v, str) and v.format("x") != v
        return self.checked(proposal, None if ok else 'it needs {} where the label goes, e.g. "a photo of {}".')

    @T.validate("compared")
    def _valid_compared(self, proposal: dict[str, Any]) -> list[str]:
        bad = [n for n in proposal["value"] if n not in available()]
        return self.checked(proposal, f"no gallery photo {bad}; choose from {available()}." if bad else None)

    # -- inputs ----------------------------------------------------------------------------------
    @guarded
    def classify(self, image: Any, name: str = "") -> list[dict[str, Any]]:
        """Score any image input against the current labels; returns the pipeline's result for it."""
        return self.source.load(image, name=name)

    def _set_image(self, rgb: np.ndarray, name: str) -> list[dict[str, Any]]:
        if self.pipe is None:
            raise RuntimeError("no model is loaded (see the error above); create the panel again with model=...")
        self.rgb, self.name = rgb, name
        self._image_embeds = self.pipe.embed_images([rgb])
        self.update()
        if self.error:
            raise RuntimeError(self.error)
        return self.result

    def _embedded(self, name: str) -> tuple[Any, str]:
        if name not in self._compared:
            from workbench.processors.image import to_rgb

            rgb = to_rgb(str(sample_path(name)))
            self._compared[name] = (self.pipe.embed_images([rgb]), thumbnail_uri(rgb, 96))
        return self._compared[name]

    # -- LivePanel ---------------------------------------------------------------------------------
    def compute(self) -> Any:
        if not self.candidate_labels.strip() or (self._image_embeds is None and not self.compared):
            return None
        labels = parse_labels(self.candidate_labels, self.task)
        check_template(self.hypothesis_template, labels[0])
        text = self.pipe.embed_texts([self.hypothesis_template.format(label) for label in labels])
        out: dict[str, Any] = {"labels": labels, "result": [], "matrix": {}}
        if self._image_embeds is not None:
            out["result"] = self.pipe.postprocess(self.pipe.scores(self._image_embeds, text)[0], labels)
        if self.compared:
            import torch

            embeds, thumbs = zip(*(self._embedded(n) for n in self.compared))
            scores = self.pipe.scores(torch.cat(list(embeds)), text)
            out["matrix"] = {"images": list(self.compared), "labels": labels, "scores": scores.tolist(),
                             "thumbs": list(thumbs)}
        return out

    def render(self, out: Any) -> str:
        parts = []
        if out["result"]:
            parts.append(label_bars_html(out["result"], thumbnail_uri(self.rgb), self.name))
        m = out["matrix"]
        if m:
            kind = "sigmoid per label" if self.pipe.sigmoid else "softmax over the labels"
            parts.append(similarity_table_html(m["images"], m["thumbs"], m["labels"], np.asarray(m["scores"]),
                                               caption=f"score of each photo for each label ({kind})"))
        return "".join(parts)

    def set_result(self, out: Any) -> None:
        self.result = [] if out is None else out["result"]
        self.matrix = {} if out is None or not out["matrix"] else {k: v for k, v in out["matrix"].items()
                                                                    if k != "thumbs"}


__all__ = ["ZeroShotImageClassifier"]
