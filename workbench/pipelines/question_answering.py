"""question-answering: the span of `context` that answers `question` (extractive QA).

Behaves as the reference library's 4.57 pipeline (5.x dropped it): a context too long for the
model is split into windows of `max_seq_len` tokens overlapping by `doc_stride`; each window's
start/end logits become probabilities over the context tokens; spans up to `max_answer_len`
tokens are scored start*end, aligned to whole words, merged across windows (same text: scores
add up) and ranked. Output `{score, start, end, answer}` (a list when `top_k` > 1), with
character offsets into the context. `handle_impossible_answer=True` adds the empty answer,
scored by the [CLS] span.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..auto import AutoModelForQuestionAnswering
from ..errors import InputError
from .text_common import TextPipeline, check_text, with_attentions


def decode_spans(start: np.ndarray, end: np.ndarray, topk: int, max_answer_len: int,
                 allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `topk` best (start, end) token pairs with start <= end < start + max_answer_len.

    start/end: (1, T) probabilities; allowed: (1, T), 1 where a token may be part of an answer.
    """
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))  # (1, T, T)
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if topk == 1:
        order = [np.argmax(flat)]
    elif len(flat) < topk:
        order = np.argsort(-flat)
    else:
        idx = np.argpartition(-flat, topk)[0:topk]
        order = idx[np.argsort(-flat[idx])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # As in the reference: `allowed.nonzero()` is a (rows, cols) tuple, so index 0 also passes.
    keep = np.isin(starts, allowed.nonzero()) & np.isin(ends, allowed.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def select_spans(start: np.ndarray, end: np.ndarray, p_mask: np.ndarray, attention_mask: np.ndarray,
                 min_null_score: float, top_k: int, handle_impossible_answer: bool,
                 max_answer_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Logits (1, T) -> candidate spans and their probabilities; tracks the best empty-answer score."""
    allowed = np.abs(p_mask - 1) & attention_mask
    blocked = allowed == 0
    start = np.where(blocked, -10000.0, start)
    end = np.where(blocked, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, float(start[0, 0] * end[0, 0]))
    start[0, 0] = end[0, 0] = 0.0
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, allowed)
    return starts, ends, scores, min_null_score


class QuestionAnsweringPipeline(TextPipeline):
    task = "question-answering"
    default_model = "distilbert/distilbert-base-cased-distilled-squad"
    auto_model = AutoModelForQuestionAnswering

    @staticmethod
    def examples(inputs: Any, question: Any, context: Any) -> Any:
        """Normalise the accepted forms to one {question, context} dict or a list of them."""
        if inputs is not None:
            if question is not None or context is not None:
                raise InputError("pass either inputs ({'question':..., 'context':...}) or question=/context=, not both.")
            return inputs
        if question is None or context is None:
            raise InputError("the 'question-answering' pipeline expects a question and a context: pass question=..., "
                             "context=... (or {'question': ..., 'context': ...} dicts).")
        if not isinstance(question, (list, tuple)) and not isinstance(context, (list, tuple)):
            return {"question": question, "context": context}  # types are checked with the other inputs
        questions = list(question) if isinstance(question, (list, tuple)) else [question]
        contexts = list(context) if isinstance(context, (list, tuple)) else [context] * len(questions)
        if len(questions) != len(contexts):
            raise InputError(f"got {len(questions)} questions and {len(contexts)} contexts; pass as many of each "
                             "(or one context for all questions).")
        return [{"question": q, "context": c} for q, c in zip(questions, contexts)]

    def _check_type(self, item: Any, index: int) -> None:
        if not isinstance(item, dict) or set(item) != {"question", "context"}:
            raise InputError(
                f"the {self.task!r} pipeline expects {{'question': str, 'context': str}} dicts (or question=..., "
                f"context=...); input {index} is {item!r:.80}."
            )
        check_text(item["question"], index, self.task, "question")
        check_text(item["context"], index, self.task, "context")

    def __call__(self, inputs: Any = None, *, question: Any = None, context: Any = None, batch_size: int | None = None,
                 top_k: int = 1, doc_stride: int | None = None, max_answer_len: int = 15, max_seq_len: int | None = None,
                 handle_impossible_answer: bool = False, align_to_words: bool = True,
                 return_attentions: bool = False) -> Any:
        if not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k should be an int >= 1 (got {top_k!r}).")
        if not isinstance(max_answer_len, int) or max_answer_len < 1:
            raise InputError(f"max_answer_len should be an int >= 1 (got {max_answer_len!r}).")
        examples = self.examples(inputs, question, context)
        if isinstance(examples, (list, tuple)) and len(examples) == 1:
            examples = examples[0]  # as the reference: a one-item list gives one result
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise InputError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}).")
        return super().__call__(examples, batch_size=batch_size, top_k=top_k, doc_stride=doc_stride,
                                max_answer_len=max_answer_len, max_seq_len=max_seq_len,
                                handle_impossible_answer=handle_impossible_answer, align_to_words=align_to_words,
                                return_attentions=return_attentions)

    def _check_fits(self, question: str, max_seq_len: int, doc_stride: int, index: int) -> None:
        n_question = len(self.tokenizer.tokenize(question))
        room = max_seq_len - n_question - self.tokenizer.num_special_tokens_to_add(pair=True)
        if room <= 0:
            raise InputError(
                f"question {index} is {n_question} tokens long, which leaves no room for the context in "
                f"max_seq_len={max_seq_len} tokens (the model takes {self.tokenizer.model_max_length}); "
                "shorten the question."
            )
        if doc_stride >= room:
            raise InputError(
                f"doc_stride={doc_stride} must be smaller than the {room} context tokens that fit next to "
                f"question {index}; pass a smaller doc_stride."
            )

    def _run_batch(self, items: list[dict[str, str]], *, top_k: int, doc_stride: int, max_answer_len: int,
                   max_seq_len: int, handle_impossible_answer: bool, align_to_words: bool,
                   return_attentions: bool) -> list[Any]:
        question_first = self.tokenizer.padding_side == "right"
        for i, item in enumerate(items):
            self._check_fits(item["question"], max_seq_len, doc_stride, i)
        firsts = [x["question"] if question_first else x["context"] for x in items]
        seconds = [x["context"] if question_first else x["question"] for x in items]
        encoding = self.tokenizer(
            firsts, seconds, padding=True, truncation="only_second" if question_first else "only_first",
            max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True, return_overflowing_tokens=True,
            return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt",
        )
        out, attentions = self.forward(encoding, return_attentions)
        starts_all = out.start_logits.float().cpu().numpy()
        ends_all = out.end_logits.float().cpu().numpy()
        windows: dict[int, list[int]] = {}
        for row, sample in enumerate(encoding["overflow_to_sample_mapping"]):
            windows.setdefault(int(sample), []).append(row)
        results = []
        for sample, item in enumerate(items):
            result = self.postprocess(item["context"], encoding, windows[sample], starts_all, ends_all, top_k,
                                      handle_impossible_answer, max_answer_len, align_to_words, question_first)
            results.append(with_attentions(result, attentions[windows[sample][0]]) if attentions else result)
        return results

    def postprocess(self, context: str, encoding: Any, rows: list[int], start_logits: np.ndarray,
                    end_logits: np.ndarray, top_k: int, handle_impossible_answer: bool, max_answer_len: int,
                    align_to_words: bool, question_first: bool) -> Any:
        min_null_score = 1000000.0
        answers: list[dict[str, Any]] = []
        pre_topk = top_k * 2 + 10 if align_to_words else top_k  # word alignment merges some candidates
        sequence_index = 1 if question_first else 0
        for row in rows:
            mask = encoding["attention_mask"][row].numpy().astype(bool)
            real = np.nonzero(mask)[0]  # each window on its own, without the batch padding
            ids = encoding["input_ids"][row].numpy()[real]
            enc = encoding.encodings[row]
            seq_ids = enc.sequence_ids
            pad_offset = int(real[0])  # > 0 only with left padding
            p_mask = np.array([int(seq_ids[pad_offset + t] != 1) if question_first else 0 for t in range(len(real))])
            if self.tokenizer.cls_token_id is not None:
                p_mask[ids == self.tokenizer.cls_token_id] = 0
            starts, ends, scores, min_null_score = select_spans(
                start_logits[row][real][None], end_logits[row][real][None], p_mask[None],
                np.ones((1, len(real)), dtype=np.int64), min_null_score, pre_topk, handle_impossible_answer,
                max_answer_len,
            )
            for s, e, score in zip(starts, ends, scores):
                start_index, end_index = self.char_span(enc, int(s) + pad_offset, int(e) + pad_offset,
                                                        sequence_index, align_to_words)
                text = context[start_index:end_index]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += float(score)
                else:
                    answers.append({"score": float(score), "start": start_index, "end": end_index, "answer": text})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    @staticmethod
    def char_span(enc: Any, s: int, e: int, sequence_index: int, align_to_words: bool) -> tuple[int, int]:
        """Token span -> character span in the context, widened to whole words when asked."""
        if align_to_words:
            try:
                start_word, end_word = enc.token_to_word(s), enc.token_to_word(e)
                return (enc.word_to_chars(start_word, sequence_index=sequence_index)[0],
                        enc.word_to_chars(end_word, sequence_index=sequence_index)[1])
            except Exception:  # noqa: BLE001, S110 - a special token has no word: token offsets, as the reference
                pass
        return enc.offsets[s][0], enc.offsets[e][1]
