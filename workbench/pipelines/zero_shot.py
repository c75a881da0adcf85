"""zero-shot-classification: rank any labels with an NLI model.

Each (text, label) becomes the premise/hypothesis pair (text, hypothesis_template.format(label));
the entailment logit scores the label. The entailment index comes from the config's label2id (the
first label starting with "entail"); with `multi_label=True` (or one label) each label gets its
own softmax of [contradiction, entailment], else the entailment logits are softmaxed over labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..auto import AutoModelForSequenceClassification
from ..errors import InputError
from .text_common import TextPipeline, with_attentions


def parse_labels(labels: Any, task: str = "zero-shot-classification", name: str = "candidate_labels") -> list[str]:
    """`candidate_labels` (or another option `name`) as a list: a list of strings, or one comma-separated string
    ("sports, politics")."""
    if isinstance(labels, str):
        labels = [label.strip() for label in labels.split(",") if label.strip()]
    ok = isinstance(labels, (list, tuple)) and len(labels) > 0 and all(isinstance(x, str) and x.strip() for x in labels)
    if not ok:
        raise InputError(
            f"{task} needs {name}=[...] with at least one non-empty label "
            f'(a list of strings, or one comma-separated string such as "sports, politics"); got {labels!r:.80}.'
        )
    return list(labels)


def check_template(template: str, example: str) -> None:
    if not isinstance(template, str) or template.format(example) == template:
        raise InputError(f"hypothesis_template={template!r} has no {{}} where the label goes; use e.g. "
                         '"This example is {}." (or "{}" for labels that are whole sentences).')


class ZeroShotClassificationPipeline(TextPipeline):
    task = "zero-shot-classification"
    default_model = "facebook/bart-large-mnli"
    auto_model = AutoModelForSequenceClassification

    @property
    def entailment_id(self) -> int:
        for label, index in self.model.config.label2id.items():
            if label.lower().startswith("entail"):
                return int(index)
        return -1

    def __call__(self, sequences: Any = None, candidate_labels: Any = None, *, inputs: Any = None,
                 batch_size: int | None = None, hypothesis_template: str = "This example is {}.",
                 multi_label: bool = False, return_attentions: bool = False) -> Any:
        """`sequences` (the reference's name; `inputs=` works too): a text or a list of texts."""
        if sequences is not None and inputs is not None:
            raise InputError("pass the text(s) to classify once: classifier(sequences, candidate_labels=[...]).")
        inputs = sequences if inputs is None else inputs
        labels = parse_labels(candidate_labels)
        check_template(hypothesis_template, labels[0])
        if self.entailment_id == -1:
            raise InputError(
                "the model's config has no label starting with 'entail' in label2id, so it is not an NLI model "
                "zero-shot can use; pass an NLI checkpoint (e.g. FacebookAI/roberta-large-mnli)."
            )
        return super().__call__(inputs, batch_size=batch_size, labels=labels, template=hypothesis_template,
                                multi_label=multi_label, return_attentions=return_attentions)

    def _run_batch(self, items: list[str], *, labels: list[str], template: str, multi_label: bool,
                   return_attentions: bool) -> list[Any]:
        results = []
        hypotheses = [template.format(label) for label in labels]
        for text in items:  # one padded batch per text: its pairs with every label
            # only_first: the hypothesis (the label) is never cut.
            encoding = self.tokenize([text] * len(labels), hypotheses, truncation="only_first")
            out, attentions = self.forward(encoding, return_attentions)
            result = self.postprocess(text, labels, out.logits.float().cpu().numpy(), multi_label)
            if attentions:
                result = with_attentions(result, attentions[0]) | {"per_label_attentions": attentions}
            results.append(result)
        return results

    def postprocess(self, text: str, labels: list[str], logits: np.ndarray, multi_label: bool) -> dict[str, Any]:
        entail = self.entailment_id
        if multi_label or len(labels) == 1:
            contradiction = -1 if entail == 0 else 0
            pair = logits[:, [contradiction, entail]]
            scores = (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[:, 1]
        else:
            scores = np.exp(logits[:, entail]) / np.exp(logits[:, entail]).sum(-1, keepdims=True)
        order = list(reversed(scores.argsort()))
        return {"sequence": text, "labels": [labels[i] for i in order], "scores": scores[order].tolist()}
