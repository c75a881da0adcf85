"""The decoding loops: greedy / sampling, and beam search. Model-agnostic.

A loop sees the model through two functions: `step(new_ids) -> logits (B, V)` advances the
model's cache by the new tokens and returns the next-token logits, and `reorder(index)` keeps
cache rows (beam search). `generate()` builds both from the decoder protocol.

Beam search follows the reference library's vectorised algorithm exactly (keep max(2, 1 + #eos)
* K candidates per step, end-of-sequence among the top K finishes a hypothesis scored
`sum_logprob / generated_len ** length_penalty`, the `early_stopping` heuristics), batched over
inputs x beams so a step costs about what a greedy step on B x K rows costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .logits import LogitsProcessor, StoppingCriterion, apply, stopped

StepFn = Callable[[torch.Tensor], torch.Tensor]  # new ids (B, t) -> next-token logits (B, V)
Streamer = Callable[[torch.Tensor], None]  # called with the chosen ids (B,) after each step


@dataclass
class SearchResult:
    sequences: torch.Tensor  # (B, T) prompt + generated, padded with the pad id
    sum_logprobs: torch.Tensor  # (B,) log-probability of the generated tokens (processed distribution)
    lengths: torch.Tensor  # (B,) generated tokens per row, end-of-sequence included
    scores: torch.Tensor | None = None  # (B,) beam search: length-normalised score of the returned hypothesis


def greedy_search(
    step: StepFn,
    prompt: torch.Tensor,
    *,
    eos_ids: Sequence[int],
    pad_id: int,
    max_new_tokens: int,
    processors: Sequence[LogitsProcessor] = (),
    stopping: Sequence[StoppingCriterion] = (),
    do_sample: bool = False,
    generator: torch.Generator | None = None,
    streamer: Streamer | None = None,
    first_logits: torch.Tensor | None = None,
) -> SearchResult:
    """Greedy (argmax) or sampling decoding; finished rows are padded with `pad_id`.

    `first_logits`: the next-token logits of the prompt when the caller already has them.
    """
    ids = prompt
    b = prompt.shape[0]
    eos = torch.tensor(list(eos_ids), dtype=torch.long, device=prompt.device)
    done = torch.zeros(b, dtype=torch.bool, device=prompt.device)
    sum_lp = torch.zeros(b, device=prompt.device)
    lengths = torch.zeros(b, dtype=torch.long, device=prompt.device)
    new = prompt
    for i in range(max_new_tokens):
        logits = (first_logits if i == 0 and first_logits is not None else step(new)).float()
        scores = apply(processors, ids, logits)
        if do_sample:
            token = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(1)
        else:
            token = scores.argmax(dim=-1)
        lp = F.log_softmax(scores, dim=-1).gather(1, token[:, None]).squeeze(1)
        sum_lp += torch.where(done, torch.zeros_like(lp), lp)
        lengths += (~done).long()
        token = torch.where(done, torch.full_like(token, pad_id), token)
        ids = torch.cat([ids, token[:, None]], dim=1)
        if streamer is not None:
            streamer(token)
        done |= torch.isin(token, eos) if eos.numel() else torch.zeros_like(done)
        if stopping:
            done |= stopped(stopping, ids)
        if bool(done.all()):
            break
        new = token[:, None]
    return SearchResult(ids, sum_lp, lengths)


def beam_search(
    step: StepFn,
    reorder: Callable[[torch.Tensor], None],
    prompt: torch.Tensor,
    *,
    num_beams: int,
    eos_ids: Sequence[int],
    pad_id: int,
    max_new_tokens: int,
    processors: Sequence[LogitsProcessor] = (),
    stopping: Sequence[StoppingCriterion] = (),
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    num_return_sequences: int = 1,
    do_sample: bool = False,
    generator: torch.Generator | None = None,
    streamer: Streamer | None = None,
) -> SearchResult:
    """Beam search as the reference. `prompt` is (B, T0); step() is first called with the prompt repeated
    K times per input (B * K rows) and the model's cache must take B * K rows. Returns the best
    `num_return_sequences` hypotheses per input (B * n rows, best first)."""
    b, t0 = prompt.shape
    k = num_beams
    device = prompt.device
    total = t0 + max_new_tokens
    eos = torch.tensor(list(eos_ids), dtype=torch.long, device=device)
    keep = max(2, 1 + len(eos_ids)) * k  # candidates kept per step: enough to continue K beams
    top_k_mask = torch.arange(keep, device=device) < k  # (keep,)
    running = prompt.repeat_interleave(k, dim=0).view(b, k, t0)
    running = torch.cat([running, running.new_full((b, k, max_new_tokens), pad_id)], dim=2)  # (B, K, T)
    running_scores = torch.zeros(b, k, device=device)
    running_scores[:, 1:] = -1e9  # all beams start equal: only the first one may expand at step 1
    finished = running.clone()
    finished_scores = torch.full((b, k), -1e9, device=device)
    finished_sum = torch.zeros(b, k, device=device)
    finished_len = torch.zeros(b, k, dtype=torch.long, device=device)
    finished_flag = torch.zeros(b, k, dtype=torch.bool, device=device)
    improvable = torch.ones(b, 1, dtype=torch.bool, device=device)
    batch_offset = torch.arange(b, device=device)[:, None] * k  # (B, 1)
    cur = t0
    new = running[:, :, :t0].reshape(b * k, t0)
    while cur < total:
        logits = step(new).float()
        logp = F.log_softmax(logits, dim=-1)
        logp = apply(processors, running[:, :, :cur].reshape(b * k, cur), logp)  # (B*K, V)
        vocab = logp.shape[-1]
        acc = (logp.view(b, k, vocab) + running_scores[:, :, None]).view(b, k * vocab)  # running score = sum of logprobs
        if do_sample:
            top_idx = torch.multinomial(F.softmax(acc, dim=-1), keep, generator=generator)
            top_lp = acc.gather(1, top_idx)
        else:
            top_lp, top_idx = acc.topk(keep, dim=1)  # (B, keep)
        src_beam = top_idx // vocab
        tokens = top_idx % vocab
        cand = running.gather(1, src_beam[:, :, None].expand(-1, -1, total)).clone()  # (B, keep, T)
        cand[:, :, cur] = tokens
        hits = torch.isin(tokens, eos) if eos.numel() else torch.zeros_like(tokens, dtype=torch.bool)
        hits |= cur + 1 >= total  # the length limit
        if stopping:
            hits |= stopped(stopping, cand[:, :, : cur + 1].reshape(b * keep, cur + 1)).view(b, keep)
        # Continue with the best K candidates that did not stop.
        keep_scores = top_lp + hits.float() * -1e9
        nxt = keep_scores.topk(k, dim=1).indices  # (B, K)
        running = cand.gather(1, nxt[:, :, None].expand(-1, -1, total))
        running_scores = keep_scores.gather(1, nxt)
        beam_src = src_beam.gather(1, nxt)  # (B, K) which old beam each new one extends
        # Stopped candidates among the top K join the finished set when they score better.
        just = hits & top_k_mask[None, :]
        gen_len = cur + 1 - t0
        norm = top_lp / (gen_len**length_penalty)
        full = finished_flag.all(dim=1, keepdim=True) & (early_stopping is True)
        norm = norm + full.float() * -1e9 + (~improvable).float() * -1e9 + (~just).float() * -1e9
        merged_scores = torch.cat([finished_scores, norm], dim=1)
        best = merged_scores.topk(k, dim=1).indices
        finished = torch.cat([finished, cand], dim=1).gather(1, best[:, :, None].expand(-1, -1, total))
        finished_scores = merged_scores.gather(1, best)
        finished_sum = torch.cat([finished_sum, top_lp], dim=1).gather(1, best)
        finished_len = torch.cat([finished_len, torch.full_like(tokens, gen_len)], dim=1).gather(1, best)
        finished_flag = torch.cat([finished_flag, just], dim=1).gather(1, best)
        if streamer is not None:
            streamer(running[:, 0, cur])
        cur += 1
        # Can a running beam still beat the worst finished one? (the reference's heuristics)
        hypothetical = (total - t0) if (early_stopping == "never" and length_penalty > 0.0) else (cur - t0)
        best_running = running_scores[:, :1] / (hypothetical**length_penalty)
        worst = torch.where(finished_flag, finished_scores.min(dim=1, keepdim=True).values, torch.full_like(finished_scores, -1e9))
        improvable = improvable & (best_running > worst).any(dim=-1, keepdim=True)
        all_full = bool(finished_flag.all()) and early_stopping is True
        if not bool(improvable.any()) or all_full or bool(hits.all()) or cur >= total:
            break
        reorder((beam_src + batch_offset).reshape(-1))
        new = running[:, :, cur - 1].reshape(b * k, 1)
    n = num_return_sequences
    seqs = finished[:, :n].reshape(b * n, total)
    lengths = finished_len[:, :n].reshape(-1)
    width = t0 + int(lengths.max()) if lengths.numel() else t0
    return SearchResult(seqs[:, :width], finished_sum[:, :n].reshape(-1), lengths, finished_scores[:, :n].reshape(-1))
