"""Logits processors and stopping criteria: plain callables, composed from a `GenerationConfig`.

A processor is `(input_ids (B, T), scores (B, V)) -> scores`; a stopping criterion is
`(input_ids (B, T)) -> done (B,) bool`. Each follows the reference library's processor of the
same job (same arithmetic, same order), so decoding the same weights gives the same ids.
Families add their own rules the same way (a plain callable, no import of this module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .config import GenerationConfig

LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StoppingCriterion = Callable[[torch.Tensor], torch.Tensor]
NEG_INF = float("-inf")


# -- processors (every strategy) ------------------------------------------------------------------
class RepetitionPenalty:
    """Tokens already in the sequence: positive logits divided by `penalty`, negative ones multiplied."""

    def __init__(self, penalty: float) -> None:
        self.penalty = penalty

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        score = scores.gather(1, input_ids)
        score = torch.where(score < 0, score * self.penalty, score / self.penalty)
        return scores.scatter(1, input_ids, score)


class NoRepeatNGram:
    """Forbid a token that would repeat an n-gram already in the sequence."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        if t + 1 < self.n:
            return scores
        scores = scores.clone()
        for row, seq in enumerate(input_ids.tolist()):
            prefix = tuple(seq[t + 1 - self.n :]) if self.n > 1 else ()
            banned = [seq[i + self.n - 1] for i in range(t - self.n + 1) if tuple(seq[i : i + self.n - 1]) == prefix]
            if banned:
                scores[row, banned] = NEG_INF
        return scores


class MinLength:
    """No end-of-sequence before `min_length` tokens in all (prompt included) or `min_new` new ones."""

    def __init__(self, eos_ids: Sequence[int], min_length: int) -> None:
        self.eos = torch.tensor(list(eos_ids), dtype=torch.long)
        self.min_length = min_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] >= self.min_length:
            return scores
        return scores.index_fill(1, self.eos.to(scores.device), NEG_INF)


class ForcedToken:
    """Force `token` at one position (BART's first token; the last allowed one as end-of-sequence)."""

    def __init__(self, token: int | Sequence[int], at_length: int) -> None:
        self.tokens = [token] if isinstance(token, int) else list(token)
        self.at_length = at_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] != self.at_length:
            return scores
        out = torch.full_like(scores, NEG_INF)
        out[:, self.tokens] = 0.0
        return out


class SuppressTokens:
    """Never emit these ids."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = torch.tensor(sorted({int(i) for i in ids}), dtype=torch.long)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ids = self.ids[self.ids < scores.shape[-1]].to(scores.device)
        return scores.index_fill(1, ids, NEG_INF)


class SuppressAtBegin:
    """Forbid these ids as the first generated token."""

    def __init__(self, ids: Sequence[int], begin_index: int) -> None:
        self.suppress = SuppressTokens(ids)
        self.begin_index = begin_index

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return self.suppress(input_ids, scores) if input_ids.shape[1] == self.begin_index else scores


# -- warpers (sampling only) -------------------------------------------------------------------------
class Temperature:
    def __init__(self, temperature: float) -> None:
        self.temperature = temperature

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperature


class TopK:
    def __init__(self, k: int, keep: int = 1) -> None:
        self.k = max(k, keep)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        k = min(self.k, scores.shape[-1])
        return scores.masked_fill(scores < torch.topk(scores, k)[0][..., -1, None], NEG_INF)


class TopP:
    """Nucleus: the smallest set of tokens whose probabilities add up to at least `p`."""

    def __init__(self, p: float, keep: int = 1) -> None:
        self.p, self.keep = p, keep

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - self.p)
        remove[..., -self.keep :] = False
        return scores.masked_fill(remove.scatter(1, sorted_idx, remove), NEG_INF)


class MinP:
    """Drop tokens less likely than `p` times the most likely one."""

    def __init__(self, p: float, keep: int = 1) -> None:
        self.p, self.keep = p, keep

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores, dim=-1)
        remove = probs < self.p * probs.amax(dim=-1, keepdim=True)
        remove.scatter_(-1, torch.topk(probs, min(self.keep, probs.shape[-1]), dim=-1).indices, False)
        return scores.masked_fill(remove, NEG_INF)


def apply(processors: Sequence[LogitsProcessor], input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    for p in processors:
        scores = p(input_ids, scores)
    return scores


def build_processors(config: GenerationConfig, prompt_length: int, *, temperature: float | None = None,
                     encoder_decoder: bool = False) -> list[LogitsProcessor]:
    """The processors `config` asks for, in the reference's order (warpers last, only when sampling)."""
    procs: list[LogitsProcessor] = []
    eos = config.eos_ids()
    if config.repetition_penalty != 1.0:
        procs.append(RepetitionPenalty(config.repetition_penalty))
    if config.no_repeat_ngram_size > 0:
        procs.append(NoRepeatNGram(config.no_repeat_ngram_size))
    if eos and config.min_length > 0:
        procs.append(MinLength(eos, config.min_length))
    if eos and config.min_new_tokens:
        procs.append(MinLength(eos, prompt_length + config.min_new_tokens))
    if config.forced_bos_token_id is not None:
        procs.append(ForcedToken(config.forced_bos_token_id, 1))
    if config.forced_eos_token_id is not None:
        procs.append(ForcedToken(config.forced_eos_token_id, prompt_length + config.new_tokens_limit(prompt_length) - 1))
    if config.suppress_tokens:
        procs.append(SuppressTokens(config.suppress_tokens))
    if config.begin_suppress_tokens:
        procs.append(SuppressAtBegin(config.begin_suppress_tokens, prompt_length))
    t = config.temperature if temperature is None else temperature
    if config.do_sample:
        keep = max(2, 1 + len(eos)) if config.num_beams > 1 else 1
        if t is not None and t != 1.0:
            procs.append(Temperature(t))
        if config.top_k:
            procs.append(TopK(config.top_k, keep))
        if config.top_p is not None and config.top_p < 1.0:
            procs.append(TopP(config.top_p, keep))
        if config.min_p is not None:
            procs.append(MinP(config.min_p, keep))
    return procs


# -- stopping --------------------------------------------------------------------------------------------
class StopStrings:
    """Stop a row once its decoded new text contains one of `strings` (the text is cut there afterwards)."""

    def __init__(self, strings: str | Sequence[str], decode: Callable[[list[int]], str], prompt_length: int) -> None:
        self.strings = [strings] if isinstance(strings, str) else list(strings)
        self.decode, self.prompt_length = decode, prompt_length
        self.window = 8 + max(len(s) for s in self.strings)  # tokens: enough to hold any stop string

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        done = []
        for row in input_ids[:, self.prompt_length :].tolist():
            tail = self.decode(row[-self.window :])
            done.append(any(s in tail for s in self.strings))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def stopped(criteria: Sequence[StoppingCriterion], input_ids: torch.Tensor) -> torch.Tensor:
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    for c in criteria:
        done |= c(input_ids)
    return done


__all__ = [
    "ForcedToken", "LogitsProcessor", "MinLength", "MinP", "NoRepeatNGram", "RepetitionPenalty", "StopStrings",
    "StoppingCriterion", "SuppressAtBegin", "SuppressTokens", "Temperature", "TopK", "TopP", "apply",
    "build_processors", "stopped",
]
