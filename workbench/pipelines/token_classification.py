"""token-classification (alias ner): a label per token, or entities grouped over words.

`aggregation_strategy`:
- "none": one dict per token `{entity, score, index, word, start, end}`;
- "simple": adjacent tokens with the same tag (B-/I- prefixes) form one `{entity_group, ...}`;
- "first" / "average" / "max": tokens are first merged into words (the word's label from its
  first token / the mean of its tokens' scores / its highest-scoring token), then grouped.
`start`/`end` are character offsets into the original text. Labels in `ignore_labels`
(default ["O"]) are dropped. Long texts are truncated to the model's length, as in the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..auto import AutoModelForTokenClassification
from ..errors import InputError
from .text_common import TextPipeline, check_text, softmax, with_attentions

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(TextPipeline):
    task = "token-classification"
    default_model = "dbmdz/bert-large-cased-finetuned-conll03-english"
    auto_model = AutoModelForTokenClassification

    def _check_item(self, item: Any, index: int) -> None:
        check_text(item, index, self.task)

    def __call__(self, inputs: Any, *, batch_size: int | None = None, aggregation_strategy: str = "none",
                 ignore_labels: list[str] | None = None, return_attentions: bool = False) -> Any:
        strategy = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
        if strategy not in STRATEGIES:
            raise InputError(f"aggregation_strategy={aggregation_strategy!r}; use one of {', '.join(STRATEGIES)}.")
        ignore = ["O"] if ignore_labels is None else list(ignore_labels)
        return super().__call__(inputs, batch_size=batch_size, strategy=strategy, ignore=ignore,
                                return_attentions=return_attentions)

    def _run_batch(self, items: list[str], *, strategy: str, ignore: list[str], return_attentions: bool) -> list[Any]:
        truncate = bool(self.tokenizer.model_max_length and self.tokenizer.model_max_length > 0)
        encoding = self.tokenize(items, truncation=truncate, return_special_tokens_mask=True,
                                 return_offsets_mapping=True)
        out, attentions = self.forward(encoding, return_attentions)
        logits = out.logits.float().cpu().numpy()
        results = []
        for row, sentence in enumerate(items):
            keep = (encoding["special_tokens_mask"][row] == 0) & (encoding["attention_mask"][row] == 1)
            pre = self.gather(sentence, encoding["input_ids"][row].tolist(), softmax(logits[row]),
                              encoding["offset_mapping"][row].tolist(), keep.tolist(), strategy)
            entities = [
                e for e in self.aggregate(pre, strategy)
                if e.get("entity") not in ignore and e.get("entity_group") not in ignore
            ]
            results.append(with_attentions(entities, attentions[row]) if attentions else entities)
        return results

    def gather(self, sentence: str, ids: list[int], scores: np.ndarray, offsets: list[list[int]],
               keep: list[bool], strategy: str) -> list[dict[str, Any]]:
        """One record per real token: its piece, scores, character span and whether it continues a word."""
        has_prefix = getattr(self.tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None)
        pre = []
        for idx, token_scores in enumerate(scores):
            if not keep[idx]:
                continue
            word = self.tokenizer.convert_ids_to_tokens([ids[idx]])[0]
            start, end = offsets[idx]
            word_ref = sentence[start:end]
            if has_prefix:
                is_subword = len(word) != len(word_ref)
            else:  # no subword marker (byte-level BPE): a piece not preceded by a space continues a word
                is_subword = start > 0 and " " not in sentence[start - 1 : start + 1]
            if ids[idx] == self.tokenizer.unk_token_id:
                word, is_subword = word_ref, False
            pre.append({"word": word, "scores": token_scores, "start": start, "end": end, "index": idx,
                        "is_subword": is_subword})
        return pre

    def aggregate(self, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        labels = self.labels()
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                i = int(p["scores"].argmax())
                entities.append({"entity": labels[i], "score": float(p["scores"][i]), "index": p["index"],
                                 "word": p["word"], "start": p["start"], "end": p["end"]})
        else:
            entities = self.aggregate_words(pre, strategy)
        return entities if strategy == "none" else self.group_entities(entities)

    def aggregate_word(self, pieces: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
        labels = self.labels()
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda p: p["scores"].max())["scores"]
        else:  # average
            scores = np.nanmean(np.stack([p["scores"] for p in pieces]), axis=0)
        i = int(scores.argmax())
        return {"entity": labels[i], "score": float(scores[i]),
                "word": self.tokens_to_string([p["word"] for p in pieces]),
                "start": pieces[0]["start"], "end": pieces[-1]["end"]}

    def aggregate_words(self, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        words: list[dict[str, Any]] = []
        group: list[dict[str, Any]] = []
        for p in pre:
            if group and not p["is_subword"]:
                words.append(self.aggregate_word(group, strategy))
                group = []
            group.append(p)
        if group:
            words.append(self.aggregate_word(group, strategy))
        return words

    @staticmethod
    def split_tag(name: str) -> tuple[str, str]:
        if name.startswith(("B-", "I-")):
            return name[0], name[2:]
        return "I", name

    def group_entities(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = []
        current: list[dict[str, Any]] = []
        for e in entities:
            if current:
                bi, tag = self.split_tag(e["entity"])
                _, last_tag = self.split_tag(current[-1]["entity"])
                if not (tag == last_tag and bi != "B"):
                    groups.append(self.group(current))
                    current = []
            current.append(e)
        if current:
            groups.append(self.group(current))
        return groups

    def group(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "entity_group": entities[0]["entity"].split("-", 1)[-1],
            "score": float(np.nanmean([e["score"] for e in entities])),
            "word": self.tokens_to_string([e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }
