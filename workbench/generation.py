"""Decoding over a KV cache: greedy, sampling and beam search, logits processors, streaming.

The loops are model-agnostic: a `step(new_ids) -> logits (B, V)` function advances the model's
cache by the new tokens, and `reorder(index)` keeps cache rows (beam search). Whisper's
specifics (start-of-transcript prompt, suppressed tokens, timestamp rules, temperature fallback)
live in `generate_whisper` below, built from the same pieces; a decoder-only model (GPT-2)
plugs its own `step` into `greedy_search` / `beam_search`.

Beam search follows the reference library's algorithm exactly (2K candidates per step, EOS
among the top K finishes a hypothesis scored `sum_logprob / generated_len ** length_penalty`,
the "cur_len" early-stop heuristic), so the same weights give the same ids.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from .errors import InputError

LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (ids (B, T), scores (B, V)) -> scores
StepFn = Callable[[torch.Tensor], torch.Tensor]  # new ids (B, t) -> next-token logits (B, V)
Streamer = Callable[[torch.Tensor], None]  # called with the newly chosen ids (B,) after each step

NEG_INF = float("-inf")


# -- logits processors ----------------------------------------------------------------------------
class SuppressTokens:
    """Never emit these ids (Whisper: punctuation-like and special tokens from the config)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = torch.tensor(sorted({int(i) for i in ids}), dtype=torch.long)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ids = self.ids[self.ids < scores.shape[-1]].to(scores.device)
        return scores.index_fill(1, ids, NEG_INF)


class SuppressAtBegin:
    """Forbid these ids as the first generated token (Whisper: a blank and end-of-text)."""

    def __init__(self, ids: Sequence[int], begin_index: int) -> None:
        self.suppress = SuppressTokens(ids)
        self.begin_index = begin_index

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return self.suppress(input_ids, scores) if input_ids.shape[1] == self.begin_index else scores


class TimestampRules:
    """Whisper's timestamp grammar, as the reference's WhisperTimeStampLogitsProcessor.

    Timestamps come in pairs (end, start) except right before end-of-text, never decrease,
    the first token is a timestamp no later than `max_initial_timestamp_index`, and when the
    timestamps' total probability beats every text token a timestamp is forced.
    """

    def __init__(self, timestamp_begin: int, no_timestamps_id: int, eos_id: int, begin_index: int,
                 max_initial_timestamp_index: int | None = 50) -> None:
        self.timestamp_begin, self.no_timestamps_id, self.eos_id = timestamp_begin, no_timestamps_id, eos_id
        self.begin_index, self.max_initial = begin_index, max_initial_timestamp_index

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ts = self.timestamp_begin
        out = scores.clone()
        out[:, self.no_timestamps_id] = NEG_INF
        for k in range(input_ids.shape[0]):
            sampled = input_ids[k, self.begin_index :]
            seq = sampled.tolist()
            last_ts = len(seq) >= 1 and seq[-1] >= ts
            penultimate_ts = len(seq) < 2 or seq[-2] >= ts
            if last_ts:
                if penultimate_ts:
                    out[k, ts:] = NEG_INF  # a pair just closed: text must follow
                else:
                    out[k, : self.eos_id] = NEG_INF  # an opening timestamp: another timestamp or the end
            stamps = sampled[sampled >= ts]
            if stamps.numel() > 0:
                last = stamps[-1] if last_ts and not penultimate_ts else stamps[-1] + 1
                out[k, ts:last] = NEG_INF  # never go back in time
        if input_ids.shape[1] == self.begin_index:
            out[:, :ts] = NEG_INF
            if self.max_initial is not None:
                out[:, ts + self.max_initial + 1 :] = NEG_INF
        logprobs = F.log_softmax(out.float(), dim=-1)
        for k in range(input_ids.shape[0]):
            if logprobs[k, ts:].logsumexp(dim=-1) > logprobs[k, :ts].max():
                out[k, :ts] = NEG_INF
        return out


def apply_processors(processors: Sequence[LogitsProcessor], ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    for p in processors:
        scores = p(ids, scores)
    return scores


# -- loops ------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    sequences: torch.Tensor  # (B, T) prompt + generated, padded with `pad_id`
    sum_logprobs: torch.Tensor  # (B,) log-probability of the generated tokens (processed distribution)
    lengths: torch.Tensor  # (B,) generated tokens per row, EOS included


def greedy_search(
    step: StepFn,
    prompt: torch.Tensor,
    *,
    eos_id: int,
    pad_id: int,
    max_new_tokens: int,
    processors: Sequence[LogitsProcessor] = (),
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    streamer: Streamer | None = None,
) -> SearchResult:
    """Greedy (temperature 0) or sampling decoding; finished rows are padded with `pad_id`."""
    ids = prompt
    b = prompt.shape[0]
    done = torch.zeros(b, dtype=torch.bool, device=prompt.device)
    sum_lp = torch.zeros(b, device=prompt.device)
    lengths = torch.zeros(b, dtype=torch.long, device=prompt.device)
    new = prompt
    for _ in range(max_new_tokens):
        logits = step(new).float()
        scores = apply_processors(processors, ids, logits)
        if temperature > 0:
            probs = torch.softmax(scores / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            token = scores.argmax(dim=-1)
        lp = F.log_softmax(scores, dim=-1).gather(1, token[:, None]).squeeze(1)
        sum_lp += torch.where(done, torch.zeros_like(lp), lp)
        lengths += (~done).long()
        token = torch.where(done, torch.full_like(token, pad_id), token)
        ids = torch.cat([ids, token[:, None]], dim=1)
        if streamer is not None:
            streamer(token)
        done |= token == eos_id
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
    eos_id: int,
    pad_id: int,
    max_new_tokens: int,
    processors: Sequence[LogitsProcessor] = (),
    length_penalty: float = 1.0,
    streamer: Streamer | None = None,
) -> SearchResult:
    """Beam search as the reference (early_stopping=False). `prompt` is (B, T0); the model's cache must
    already hold B * num_beams rows (each batch row repeated num_beams times) when step() is first called."""
    b, t0 = prompt.shape
    k = num_beams
    device = prompt.device
    total = t0 + max_new_tokens
    running = prompt.repeat_interleave(k, dim=0).view(b, k, t0)
    running = torch.cat([running, running.new_full((b, k, max_new_tokens), pad_id)], dim=2)  # (B, K, T)
    running_scores = torch.zeros(b, k, device=device)
    running_scores[:, 1:] = -1e9
    finished = running.clone()
    finished_scores = torch.full((b, k), -1e9, device=device)
    finished_sum = torch.zeros(b, k, device=device)
    finished_flag = torch.zeros(b, k, dtype=torch.bool, device=device)
    improvable = torch.ones(b, 1, dtype=torch.bool, device=device)
    top_k_mask = torch.arange(2 * k, device=device) < k  # (2K,)
    cur = t0
    new = running[:, :, :t0].reshape(b * k, t0)
    while True:
        logits = step(new).float()
        logp = F.log_softmax(logits, dim=-1)
        logp = apply_processors(processors, running[:, :, :cur].reshape(b * k, cur), logp)
        vocab = logp.shape[-1]
        acc = (logp.view(b, k, vocab) + running_scores[:, :, None]).view(b, k * vocab)
        top_lp, top_idx = acc.topk(2 * k, dim=1)  # (B, 2K)
        src_beam = top_idx // vocab
        tokens = top_idx % vocab
        cand = running.gather(1, src_beam[:, :, None].expand(-1, -1, total)).clone()  # (B, 2K, T)
        cand[:, :, cur] = tokens
        hits = (tokens == eos_id) | (cur + 1 >= total)  # EOS, or the length limit reached
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
        norm = norm + (~improvable).float() * -1e9 + (~just).float() * -1e9
        merged = torch.cat([finished, cand], dim=1)
        merged_scores = torch.cat([finished_scores, norm], dim=1)
        merged_sum = torch.cat([finished_sum, top_lp], dim=1)
        merged_flag = torch.cat([finished_flag, just], dim=1)
        best = merged_scores.topk(k, dim=1).indices
        finished = merged.gather(1, best[:, :, None].expand(-1, -1, total))
        finished_scores = merged_scores.gather(1, best)
        finished_sum = merged_sum.gather(1, best)
        finished_flag = merged_flag.gather(1, best)
        if streamer is not None:
            streamer(running[:, 0, cur])
        cur += 1
        best_running = running_scores[:, :1] / ((cur - t0) ** length_penalty)
        worst = torch.where(finished_flag, finished_scores.min(dim=1, keepdim=True).values, torch.full_like(finished_scores, -1e9))
        improvable = improvable & (best_running > worst).any(dim=-1, keepdim=True)
        if not bool(improvable.any()) or bool(hits.all()) or cur >= total:
            break
        flat = (beam_src + torch.arange(b, device=device)[:, None] * k).reshape(-1)
        reorder(flat)
        new = running[:, :, cur - 1].reshape(b * k, 1)
    seqs = finished[:, 0]  # (B, T) best hypothesis
    lengths = torch.zeros(b, dtype=torch.long, device=device)
    for i in range(b):
        row = seqs[i, t0:]
        eos_at = (row == eos_id).nonzero()
        lengths[i] = int(eos_at[0]) + 1 if len(eos_at) else int((row != pad_id).sum())
        seqs[i, t0 + int(lengths[i]) :] = pad_id
    width = t0 + int(lengths.max())
    return SearchResult(seqs[:, :width], finished_sum[:, 0], lengths)


# -- Whisper ----------------------------------------------------------------------------------------
@dataclass
class WhisperTokens:
    """The special ids a Whisper vocabulary uses; timestamps are the last 1501 ids (0.00 .. 30.00 s)."""

    eot: int
    sot: int
    no_timestamps: int
    timestamp_begin: int
    transcribe: int | None
    translate: int | None
    sot_prev: int | None
    languages: dict[str, int] = field(default_factory=dict)  # "en" -> id of <|en|>

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, vocab_size: int) -> WhisperTokens:
        def tid(tok: str) -> int | None:
            i = tokenizer.convert_tokens_to_ids(tok) if tokenizer is not None else None
            return None if i is None or (tokenizer is not None and i == getattr(tokenizer, "unk_token_id", -7)) else int(i)

        ts = vocab_size - 1501
        eot = tid("<|endoftext|>") or 50256
        no_ts = tid("<|notimestamps|>") or ts - 1
        langs = {}
        if tokenizer is not None:
            for tok, i in tokenizer.get_vocab().items():
                inner = tok[2:-2]
                if tok.startswith("<|") and tok.endswith("|>") and 2 <= len(inner) <= 3 and inner.isalpha() and inner.islower():
                    langs[inner] = int(i)
        return cls(eot=eot, sot=tid("<|startoftranscript|>") or eot + 1, no_timestamps=no_ts, timestamp_begin=no_ts + 1,
                   transcribe=tid("<|transcribe|>"), translate=tid("<|translate|>"), sot_prev=tid("<|startofprev|>"),
                   languages=langs)


@dataclass
class WhisperGeneration:
    sequences: torch.Tensor  # (B, T) prompt + tokens, padded with EOT
    tokens: list[list[int]]  # generated ids per row, EOT removed
    avg_logprobs: list[float]
    temperatures: list[float]
    compression_ratios: list[float]
    prompt_length: int


def compression_ratio(text: str) -> float:
    """Repetitive (hallucinated) text compresses well; Whisper retries above 2.4."""
    raw = text.encode("utf-8")
    return len(raw) / max(1, len(gzip.compress(raw)))


def whisper_prompt(tokens: WhisperTokens, *, multilingual: bool, language: str | None, task: str | None,
                   timestamps: bool, previous: Sequence[int] = ()) -> list[int]:
    """The start-of-transcript sequence: [<|startofprev|> previous...] <|sot|> [<|lang|> <|task|>] [<|notimestamps|>]."""
    prompt: list[int] = []
    if previous and tokens.sot_prev is not None:
        prompt += [tokens.sot_prev, *list(previous)[-223:]]  # at most half the context, as the reference
    prompt.append(tokens.sot)
    if multilingual:
        lang = (language or "en").lower().strip("<|>")
        if lang not in tokens.languages:
            raise InputError(f"unknown language {language!r}; use a code such as {', '.join(sorted(tokens.languages)[:12])} ...")
        prompt.append(tokens.languages[lang])
        task_id = tokens.translate if task == "translate" else tokens.transcribe
        if task not in (None, "transcribe", "translate"):
            raise InputError(f"task must be 'transcribe' or 'translate', got {task!r}.")
        if task_id is not None:
            prompt.append(task_id)
    elif language not in (None, "en", "english") or task == "translate":
        raise InputError("this is an English-only (.en) checkpoint: it has no language or translate tokens; "
                         "use a multilingual Whisper checkpoint for other languages.")
    if not timestamps:
        prompt.append(tokens.no_timestamps)
    return prompt


@torch.no_grad()
def generate_whisper(
    model: Any,
    input_features: torch.Tensor | None = None,
    *,
    encoder_hidden_states: torch.Tensor | None = None,
    tokens: WhisperTokens | None = None,
    tokenizer: Any = None,
    language: str | None = None,
    task: str | None = None,
    return_timestamps: bool = False,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    max_new_tokens: int | None = None,
    temperature: float | Sequence[float] = 0.0,
    compression_ratio_threshold: float | None = 2.4,
    logprob_threshold: float | None = -1.0,
    previous_tokens: Sequence[int] = (),
    suppress_tokens: Sequence[int] | None = None,
    begin_suppress_tokens: Sequence[int] | None = None,
    max_initial_timestamp_index: int | None = 50,
    streamer: Streamer | None = None,
    seed: int = 0,
) -> WhisperGeneration:
    """Decode a batch of 30 s windows. A tuple of temperatures enables the reference's fallback: a row whose
    text compresses too well (repetition) or whose average log-probability is too low is decoded again,
    sampling at the next temperature."""
    from .models.whisper import WhisperCache

    config = model.config
    tokens = tokens or WhisperTokens.from_tokenizer(tokenizer, config.vocab_size)
    if encoder_hidden_states is None:
        if input_features is None:
            raise InputError("generate needs input_features (log-mel windows) or encoder_hidden_states.")
        encoder_hidden_states = model.get_encoder()(input_features.to(model.device, model.dtype))
    b = encoder_hidden_states.shape[0]
    if config.is_multilingual and language is None and tokens.languages:
        # No language given: detect it per row from the first decoder step, then decode each language group.
        found = detect_language(model, encoder_hidden_states, tokens)
        if len(set(found)) > 1:
            parts = {}
            for lang in sorted(set(found)):
                rows = torch.tensor([i for i, x in enumerate(found) if x == lang], device=encoder_hidden_states.device)
                parts[lang] = (rows.tolist(), generate_whisper(
                    model, encoder_hidden_states=encoder_hidden_states.index_select(0, rows), tokens=tokens,
                    tokenizer=tokenizer, language=lang, task=task, return_timestamps=return_timestamps,
                    num_beams=num_beams, length_penalty=length_penalty, max_new_tokens=max_new_tokens,
                    temperature=temperature, compression_ratio_threshold=compression_ratio_threshold,
                    logprob_threshold=logprob_threshold, previous_tokens=previous_tokens, suppress_tokens=suppress_tokens,
                    begin_suppress_tokens=begin_suppress_tokens, max_initial_timestamp_index=max_initial_timestamp_index,
                    streamer=None, seed=seed))
            return _merge_generations(parts, b, tokens.eot)
        language = found[0]
    prompt_list = whisper_prompt(tokens, multilingual=config.is_multilingual, language=language, task=task,
                                 timestamps=return_timestamps, previous=previous_tokens)
    limit = config.max_target_positions - len(prompt_list)
    max_new = min(max_new_tokens or limit, limit)
    begin = len(prompt_list)
    procs: list[LogitsProcessor] = []
    sup = config.suppress_tokens if suppress_tokens is None else suppress_tokens
    if sup:
        procs.append(SuppressTokens(sup))
    bsup = config.begin_suppress_tokens if begin_suppress_tokens is None else begin_suppress_tokens
    if bsup:
        procs.append(SuppressAtBegin(bsup, begin))
    if return_timestamps:
        procs.append(TimestampRules(tokens.timestamp_begin, tokens.no_timestamps, tokens.eot, begin,
                                    max_initial_timestamp_index))
    temps = [float(temperature)] if isinstance(temperature, (int, float)) else [float(t) for t in temperature]
    if num_beams < 1:
        raise InputError(f"num_beams must be >= 1, got {num_beams}.")
    decoder = model.model.decoder
    head = model.proj_out
    gen = torch.Generator(device=encoder_hidden_states.device).manual_seed(seed)

    def run(rows: torch.Tensor, temp: float) -> SearchResult:
        enc = encoder_hidden_states.index_select(0, rows)
        n = rows.numel()
        prompt = torch.tensor([prompt_list] * n, device=enc.device)
        beams = num_beams if temp == 0 else 1
        cache = WhisperCache(len(decoder.layers))
        enc_rows = enc.repeat_interleave(beams, dim=0) if beams > 1 else enc

        def step(new_ids: torch.Tensor) -> torch.Tensor:
            return head(decoder(new_ids, enc_rows, cache)[:, -1])

        if beams > 1:
            return beam_search(step, cache.reorder, prompt, num_beams=beams, eos_id=tokens.eot, pad_id=tokens.eot,
                               max_new_tokens=max_new, processors=procs, length_penalty=length_penalty, streamer=streamer)
        return greedy_search(step, prompt, eos_id=tokens.eot, pad_id=tokens.eot, max_new_tokens=max_new,
                             processors=procs, temperature=temp, generator=gen, streamer=streamer)

    out_tokens: list[list[int] | None] = [None] * b
    out_lp, out_t, out_cr = [0.0] * b, [0.0] * b, [0.0] * b
    seqs: list[torch.Tensor | None] = [None] * b
    pending = torch.arange(b, device=encoder_hidden_states.device)
    for ti, temp in enumerate(temps):
        res = run(pending, temp)
        retry = []
        for j, row in enumerate(pending.tolist()):
            gen_ids = res.sequences[j, begin:].tolist()
            toks = [t for t in gen_ids[: int(res.lengths[j])] if t != tokens.eot]
            avg = float(res.sum_logprobs[j]) / (len(toks) + 1)
            text = tokenizer.decode([t for t in toks if t < tokens.eot]) if tokenizer is not None else " ".join(map(str, toks))
            cr = compression_ratio(text)
            bad = (compression_ratio_threshold is not None and cr > compression_ratio_threshold) or (
                logprob_threshold is not None and avg < logprob_threshold)
            out_tokens[row], out_lp[row], out_t[row], out_cr[row] = toks, avg, temp, cr
            seqs[row] = res.sequences[j]
            if bad and ti + 1 < len(temps):
                retry.append(row)
        if not retry:
            break
        pending = torch.tensor(retry, device=encoder_hidden_states.device)
    width = max(s.numel() for s in seqs)
    sequences = torch.stack([F.pad(s, (0, width - s.numel()), value=tokens.eot) for s in seqs])
    return WhisperGeneration(sequences, out_tokens, out_lp, out_t, out_cr, begin)  # type: ignore[arg-type]


@torch.no_grad()
def detect_language(model: Any, encoder_hidden_states: torch.Tensor, tokens: WhisperTokens) -> list[str]:
    """The most likely language token after <|startoftranscript|>, per row (multilingual checkpoints)."""
    from .models.whisper import WhisperCache

    decoder = model.model.decoder
    sot = torch.full((encoder_hidden_states.shape[0], 1), tokens.sot, device=encoder_hidden_states.device)
    logits = model.proj_out(decoder(sot, encoder_hidden_states, WhisperCache(len(decoder.layers)))[:, -1])
    codes = list(tokens.languages)
    ids = torch.tensor([tokens.languages[c] for c in codes], device=logits.device)
    best = logits.index_select(1, ids).argmax(dim=-1)
    return [codes[int(i)] for i in best]


def _merge_generations(parts: dict[str, tuple[list[int], WhisperGeneration]], b: int, eot: int) -> WhisperGeneration:
    width = max(g.sequences.shape[1] for _, g in parts.values())
    rows: list[Any] = [None] * b
    for idx, g in parts.values():
        for j, i in enumerate(idx):
            rows[i] = (F.pad(g.sequences[j], (0, width - g.sequences.shape[1]), value=eot), g.tokens[j], g.avg_logprobs[j],
                       g.temperatures[j], g.compression_ratios[j])
    first = next(iter(parts.values()))[1]
    return WhisperGeneration(torch.stack([r[0] for r in rows]), [r[1] for r in rows], [r[2] for r in rows],
                             [r[3] for r in rows], [r[4] for r in rows], first.prompt_length)
