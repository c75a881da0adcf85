"""What `Compare` does per task: one `CompareRule` per task in `RULES`, built from a few kinds of answer.

A task adds itself to Compare with one entry here: how a pipeline answers one input (`call`), the kind of
its answer (a ranking, labels, entity spans, words, boxes: which decides the diff and the drawing), and,
for kinds that need it, how to read the answer out of the result. For example a question-answering task:

    "question-answering": words(lambda pipe, qa, o: pipe(**qa), text_of=lambda r: r["answer"], input="qa"),
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _diff as D
from ._render import compare as R


@dataclass(frozen=True)
class CompareRule:
    input: str  # what the panel asks for: "text", "qa" (question + context), "image" or "audio"
    call: Callable[[Any, Any, dict[str, Any]], Any]  # (pipeline, input, options) -> the pipeline's result
    answer: Callable[[Any], str]  # the short answer: compared across models, listed in the batch table
    diff: Callable[[Any, Any], dict[str, Any]]  # (reference result, result) -> marks with "agrees" and "note"
    render: Callable[[Any, Any, dict[str, Any] | None, Any], str]  # (input, result, marks | None, ref result) -> HTML
    score: Callable[[Any, Any], float] | None = None  # (result, label) -> the example's metric value
    metric: str | None = None  # the batch metric's name ("accuracy", "WER")


# -- kinds of answer ---------------------------------------------------------------------------------
def _groups(result: Any) -> list[list[dict[str, Any]]]:
    return result if result and isinstance(result[0], list) else [result]


def ranking(call: Callable[..., Any], key: Callable[[dict[str, Any]], str]) -> CompareRule:
    """Ranked candidates (fill-mask): rank moves against the reference; right when the first equals the label."""
    def diff(ref: Any, res: Any) -> dict[str, Any]:
        groups = [D.rank_changes(r, o, key) for r, o in zip(_groups(ref), _groups(res))]
        return {"agrees": all(g["agrees"] for g in groups), "note": "; ".join(g["note"] for g in groups),
                "groups": groups}

    def answer(res: Any) -> str:
        return " | ".join(key(g[0]) for g in _groups(res) if g)

    return CompareRule("text", call, answer, diff,
                       lambda value, res, marks, ref: R.ranking_html(_groups(res), marks and marks["groups"], key),
                       score=lambda res, label: float(answer(res).strip().lower() == str(label).strip().lower()),
                       metric="accuracy")


def labels(call: Callable[..., Any], input: str = "text") -> CompareRule:
    """Scored labels (classification): label flips and score deltas; right when the top label is the label."""
    def answer(res: Any) -> str:
        return str(max(res, key=lambda d: d["score"])["label"]) if res else ""

    return CompareRule(input, call, answer, D.label_changes,
                       lambda value, res, marks, ref: R.labels_html(res, marks),
                       score=lambda res, label: float(answer(res) == str(label)), metric="accuracy")


def spans(call: Callable[..., Any]) -> CompareRule:
    """Entity spans in the text (token classification): same, type changed, other boundaries, extra, missing."""
    def answer(res: Any) -> str:
        return "; ".join(f"{e.get('word', '')} ({D.entity_kind(e)})" for e in sorted(res, key=lambda e: e["start"]))

    return CompareRule("text", call, answer, D.entity_changes,
                       lambda value, res, marks, ref: R.spans_html(value, res, marks))


def words(call: Callable[..., Any], text_of: Callable[[Any], str], input: str = "text",
          metric: str | None = "WER", score_of: Callable[[Any], float | None] | None = None) -> CompareRule:
    """A text answer (transcripts, generated text, answers): a word-level diff; the batch metric is the word
    error rate against the label text (lower is better). `score_of(result)`: the model's own score of its
    answer where it has one (seq2seq: the best beam's log-probability per token), shown under the text and,
    against the reference, as a difference in the note."""
    def diff(ref: Any, res: Any) -> dict[str, Any]:
        marks = D.word_diff(text_of(ref), text_of(res))
        mine, theirs = (score_of(res), score_of(ref)) if score_of else (None, None)
        if mine is not None and theirs is not None:
            marks["score_delta"] = mine - theirs
            marks["note"] += f"; score {mine - theirs:+.3f} vs reference"
        return marks

    def render(value: Any, res: Any, marks: dict[str, Any] | None, ref: Any) -> str:
        return R.words_html(text_of(res), marks, score_of(res) if score_of else None)

    return CompareRule(input, call, lambda res: text_of(res), diff, render,
                       score=(lambda res, label: D.wer(str(label), text_of(res))) if metric else None, metric=metric)


def boxes(call: Callable[..., Any], threshold: float = 0.5) -> CompareRule:
    """Boxes on a photo (object detection): matched to the reference's boxes by IoU (at least `threshold`)."""
    def answer(res: Any) -> str:
        return ", ".join(sorted(str(d["label"]) for d in res))

    def render(value: Any, res: Any, marks: dict[str, Any] | None, ref: Any) -> str:
        from workbench.processors.image import to_rgb

        return R.boxes_html(to_rgb(value), res, marks, ref or [])

    return CompareRule("image", call, answer, lambda ref, res: D.match_boxes(ref, res, threshold), render)


def _generated(res: Any) -> str:
    return res[0]["generated_text"] if isinstance(res, list) else res["generated_text"]


SEQ2SEQ_OPTIONS = ("max_length", "max_new_tokens", "min_length", "num_beams", "length_penalty", "no_repeat_ngram_size")


def _seq2seq(pipe: Any, text: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """A summarisation / translation / text2text answer in the pipeline's format, with the best output's score
    (beam search's log-probability per token) from `explain` (one extra forward pass recording one layer),
    or the plain call for a pipeline that cannot explain itself."""
    kw = {k: v for k, v in options.items() if k in SEQ2SEQ_OPTIONS}
    if not hasattr(pipe, "explain"):
        return pipe(text, **kw)
    found = pipe.explain(text, layers=[0], **kw)
    return [{f"{pipe.return_name}_text": found.output_text, "score": found.alternatives[0]["score"]}]


def seq2seq(key: str) -> CompareRule:
    """Text to text (summaries, translations): a word-level diff of the outputs and each model's own score."""
    return words(_seq2seq, text_of=lambda res: res[0][key], score_of=lambda res: res[0].get("score"))


# -- the table: task -> rule ------------------------------------------------------------------------
RULES: dict[str, CompareRule] = {
    "fill-mask": ranking(lambda pipe, text, o: pipe(text, top_k=o.get("top_k", 5)),
                         key=lambda item: item["token_str"].strip() or item["token_str"]),
    "text-classification": labels(lambda pipe, text, o: pipe(text, top_k=None)),
    "token-classification": spans(lambda pipe, text, o: pipe(text, aggregation_strategy=o.get("aggregation_strategy",
                                                                                               "simple"))),
    "question-answering": words(lambda pipe, qa, o: pipe(question=qa["question"], context=qa["context"]),
                                text_of=lambda res: res["answer"], input="qa"),
    "automatic-speech-recognition": words(lambda pipe, audio, o: pipe(audio), text_of=lambda res: res["text"],
                                          input="audio"),
    "text-generation": words(lambda pipe, prompt, o: pipe(prompt, max_new_tokens=o.get("max_new_tokens", 24),
                                                          do_sample=False, return_full_text=False),
                             text_of=_generated, metric=None),
    "audio-classification": labels(lambda pipe, audio, o: pipe(audio, top_k=o.get("top_k", 5)), input="audio"),
    "image-classification": labels(lambda pipe, image, o: pipe(image, top_k=o.get("top_k", 5)), input="image"),
    "summarization": seq2seq("summary_text"),
    "translation": seq2seq("translation_text"),
    "text2text-generation": seq2seq("generated_text"),
    "object-detection": boxes(lambda pipe, image, o: pipe(image, threshold=o.get("threshold", 0.5))),
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification",
           "asr": "automatic-speech-recognition"}


def rule_for(task: str) -> CompareRule:
    task = ALIASES.get(task, task)
    if re.fullmatch(r"translation_[A-Za-z-]+_to_[A-Za-z-]+", task):  # a language pair: the translation rule
        task = "translation"
    if task not in RULES:
        raise ValueError(f"Compare has no rule for task {task!r}; it compares: {', '.join(sorted(RULES))} "
                         "(a task adds itself with one entry in widgets/_compare_rules.py RULES).")
    return RULES[task]
