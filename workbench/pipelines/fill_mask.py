"""fill-mask: the most likely tokens for each mask token in a text.

Output (reference format): per input a list of `{score, token, token_str, sequence}` sorted by
score; an input with several masks gives one such list per mask (and its sequences keep the
other masks, as the reference does).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..auto import AutoModelForMaskedLM
from ..errors import InputError
from .text_common import TextPipeline, check_text, with_attentions

logger = logging.getLogger(__name__)


class FillMaskPipeline(TextPipeline):
    task = "fill-mask"
    default_model = "distilbert/distilroberta-base"
    auto_model = AutoModelForMaskedLM

    @property
    def mask_token(self) -> str:
        token = self.tokenizer.mask_token
        if token is None:
            raise InputError("this tokenizer defines no mask token, so it cannot be used for fill-mask.")
        return token

    def _check_item(self, item: Any, index: int) -> None:
        check_text(item, index, self.task)
        if self.mask_token not in item:
            raise InputError(
                f"input {index} has no mask token {self.mask_token!r}: {item!r:.80}. "
                f"Put {self.mask_token} where the word to predict goes."
            )

    def target_ids(self, targets: str | list[str]) -> np.ndarray:
        """Vocabulary ids of `targets`; a word outside the vocabulary stands for its first token."""
        targets = [targets] if isinstance(targets, str) else list(targets)
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            id_ = vocab.get(target)
            if id_ is None:
                pieces = self.tokenizer(target, add_special_tokens=False, return_attention_mask=False,
                                        return_token_type_ids=False, max_length=1, truncation=True)["input_ids"]
                if not pieces:
                    logger.warning("target %r is not in the vocabulary and tokenizes to nothing; ignored", target)
                    continue
                id_ = pieces[0]
                logger.warning("target %r is not in the vocabulary; using %r instead",
                               target, self.tokenizer.convert_ids_to_tokens([id_])[0])
            ids.append(id_)
        ids = list(set(ids))  # the reference's order, so ties rank the same
        if not ids:
            raise InputError("targets= gave no usable token; pass words from the model's vocabulary.")
        return np.array(ids)

    def __call__(self, inputs: Any, *, batch_size: int | None = None, top_k: int = 5,
                 targets: str | list[str] | None = None, return_attentions: bool = False) -> Any:
        if not isinstance(top_k, int) or top_k < 1:
            raise InputError(f"top_k must be a positive int, got {top_k!r}.")
        target_ids = self.target_ids(targets) if targets is not None else None
        out = super().__call__(inputs, batch_size=batch_size, top_k=top_k, target_ids=target_ids,
                               return_attentions=return_attentions)
        if isinstance(inputs, list) and len(inputs) == 1:  # the reference unwraps a one-item list
            return out[0]
        return out

    def _run_batch(self, items: list[str], *, top_k: int, target_ids: np.ndarray | None,
                   return_attentions: bool) -> list[Any]:
        encoding = self.tokenize(items)
        ids = encoding["input_ids"]
        logits, attentions = self.forward(encoding, return_attentions, run=self.mask_logits)
        counts = (ids == self.tokenizer.mask_token_id).sum(-1).tolist()
        per_row = logits.float().cpu().split(counts)  # row r: (masks in r, V)
        results = []
        for row in range(len(items)):
            result = self.postprocess(ids[row], per_row[row], top_k, target_ids)
            results.append(with_attentions(result, attentions[row]) if attentions else result)
        return results

    def mask_logits(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Vocabulary logits at the mask positions only, (masks in the batch, V), in row order.

        The vocabulary projection is the costliest layer of a small model (384 x 30522 for MiniLM);
        only the masked positions need it.
        """
        where = inputs["input_ids"] == self.tokenizer.mask_token_id  # (B, T)
        return self.model(**inputs, logits_at=where).logits

    def postprocess(self, input_ids: torch.Tensor, mask_logits: torch.Tensor, top_k: int,
                    target_ids: np.ndarray | None) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """One row: its ids (T,) and the logits at its masks (masks, V), in position order."""
        if target_ids is not None:
            top_k = min(top_k, target_ids.shape[0])
        masked = torch.nonzero(input_ids == self.tokenizer.mask_token_id, as_tuple=False).squeeze(-1)
        probs = mask_logits.softmax(dim=-1)  # (masks, V)
        if target_ids is not None:
            probs = probs[..., torch.as_tensor(target_ids)]
        values, predictions = probs.topk(min(top_k, probs.shape[-1]))
        single_mask = values.shape[0] == 1
        pad_id = self.tokenizer.pad_token_id
        rows = []
        for i, (vals, preds) in enumerate(zip(values.tolist(), predictions.tolist())):
            row = []
            for v, p in zip(vals, preds):
                if target_ids is not None:
                    p = int(target_ids[p])
                tokens = input_ids.clone()
                tokens[masked[i]] = p
                tokens = tokens[tokens != pad_id] if pad_id is not None else tokens
                sequence = self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single_mask)
                row.append({"score": v, "token": p, "token_str": self.tokenizer.decode([p]), "sequence": sequence})
            rows.append(row)
        return rows[0] if single_mask else rows
