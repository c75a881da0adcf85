"""feature-extraction and sentence-similarity: token features and sentence embeddings.

- `feature-extraction`: per text the encoder's last hidden state as nested lists, shape
  (1, T, H) - the reference format (`return_tensors=True` gives the tensor).
  `pipe.encode(texts)` gives sentence embeddings computed like sentence-transformers'
  all-MiniLM-L6-v2: the mean of the token vectors under the attention mask, then L2-normalised.
- `sentence-similarity`: `{"source_sentence": s, "sentences": [...]}` -> the cosine similarity
  of s to each sentence (the hub's sentence-similarity widget format); a plain list of sentences
  -> the full similarity matrix as nested lists.
Both default to all-MiniLM-L6-v2, which also ships as a pip package (used offline).
"""

from __future__ import annotations

from typing import Any

import torch

from ..auto import AutoModel
from ..errors import InputError
from .text_common import TextPipeline, check_text, with_attentions

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H), (B, T) -> (B, H): the mean over real tokens (padding excluded)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, p=2, dim=-1)


def cos_sim(a: Any, b: Any) -> torch.Tensor:
    """Cosine similarity of every row of `a` with every row of `b` -> (len(a), len(b))."""
    a = torch.as_tensor(a, dtype=torch.float32)
    b = torch.as_tensor(b, dtype=torch.float32)
    a = a.unsqueeze(0) if a.dim() == 1 else a
    b = b.unsqueeze(0) if b.dim() == 1 else b
    return normalize(a) @ normalize(b).T


class FeatureExtractionPipeline(TextPipeline):
    task = "feature-extraction"
    default_model = MINILM  # embedded offline; the reference's default is distilbert/distilbert-base-cased
    auto_model = AutoModel

    def _check_item(self, item: Any, index: int) -> None:
        check_text(item, index, self.task)

    def __call__(self, inputs: Any, *, batch_size: int | None = None, truncation: bool | None = None,
                 return_tensors: bool = False, return_attentions: bool = False) -> Any:
        return super().__call__(inputs, batch_size=batch_size, truncation=truncation,
                                return_tensors=return_tensors, return_attentions=return_attentions)

    def _run_batch(self, items: list[str], *, truncation: bool | None, return_tensors: bool,
                   return_attentions: bool) -> list[Any]:
        encoding = self.tokenize(items, truncation=truncation)
        out, attentions = self.forward(encoding, return_attentions)
        mask = encoding["attention_mask"].bool()
        results = []
        for row in range(len(items)):
            feats = out.last_hidden_state[row][mask[row]].unsqueeze(0).float().cpu()  # (1, T, H)
            result = feats if return_tensors else feats.tolist()
            results.append(with_attentions(result, attentions[row]) if attentions else result)
        return results

    def encode(self, sentences: str | list[str], *, batch_size: int | None = None, normalize_embeddings: bool = True,
               show_progress: bool = True) -> torch.Tensor:
        """Sentence embeddings (N, H): masked mean pooling, then L2 normalisation (all-MiniLM-L6-v2's recipe)."""
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not texts:
            raise InputError("encode() got no sentences; pass a string or a non-empty list of strings.")
        for i, t in enumerate(texts):
            check_text(t, i, self.task, "sentence")
        size = batch_size or self.batch_size
        starts = range(0, len(texts), size)
        if show_progress and len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="encode", unit="batch", leave=False)
        chunks = []
        with torch.inference_mode():
            for start in starts:
                encoding = self.tokenize(texts[start : start + size], truncation=True)
                inputs = self.model_inputs(encoding)
                hidden = self.model(**inputs).last_hidden_state
                pooled = mean_pool(hidden.float(), inputs["attention_mask"])
                chunks.append((normalize(pooled) if normalize_embeddings else pooled).cpu())
        emb = torch.cat(chunks)
        return emb[0] if single else emb


class SentenceSimilarityPipeline(FeatureExtractionPipeline):
    task = "sentence-similarity"

    def _is_single(self, inputs: Any) -> bool:
        return True  # a list of sentences is one input: the set to compare

    def _check_item(self, item: Any, index: int) -> None:
        if isinstance(item, dict):
            if "source_sentence" not in item or "sentences" not in item:
                raise InputError(
                    'sentence-similarity takes {"source_sentence": "...", "sentences": ["...", ...]} '
                    f"or a list of sentences; got a dict with keys {sorted(item)}."
                )
            check_text(item["source_sentence"], index, self.task, "source_sentence")
            if isinstance(item["sentences"], str) or not item["sentences"]:
                raise InputError('"sentences" must be a non-empty list of strings.')
            for i, s in enumerate(item["sentences"]):
                check_text(s, i, self.task, "sentence")
        elif isinstance(item, (list, tuple)):
            if not item:
                raise InputError("sentence-similarity got an empty list; pass at least one sentence.")
            for i, s in enumerate(item):
                check_text(s, i, self.task, "sentence")
        else:
            raise InputError(
                'sentence-similarity takes {"source_sentence": "...", "sentences": [...]} or a list of sentences; '
                f"got a {type(item).__name__}."
            )

    def __call__(self, inputs: Any, *, batch_size: int | None = None) -> Any:  # type: ignore[override]
        self._check_item(inputs, 0)
        if isinstance(inputs, dict):
            emb = self.encode([inputs["source_sentence"], *inputs["sentences"]], batch_size=batch_size)
            return cos_sim(emb[:1], emb[1:])[0].tolist()
        emb = self.encode(list(inputs), batch_size=batch_size)
        return cos_sim(emb, emb).tolist()
