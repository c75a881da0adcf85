"""Whisper's decoding rules, run by the generic loops of `workbench/generation/` through the model's hooks.

- the start-of-transcript prompt: [<|startofprev|> previous...] <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>]
- language detection from the first decoder step (multilingual checkpoints)
- the timestamp grammar (`TimestampRules`, a plain logits processor)
- the temperature-fallback criteria (repetitive or unlikely output is decoded again, hotter)

Token ids come from the generation config under the reference's key names
(`decoder_start_token_id`, `no_timestamps_token_id`, `lang_to_id`, `task_to_id`, ...);
`generation_keys_from_vocab` derives them from a tokenizer's vocabulary where a checkpoint
lacks a generation_config.json (CTranslate2 folders).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ...errors import InputError

NUM_TIMESTAMPS = 1501  # 0.00 .. 30.00 s in steps of 20 ms: the last 1501 ids of every Whisper vocabulary


def generation_keys_from_vocab(vocab: Mapping[str, int], vocab_size: int) -> dict[str, Any]:
    """The reference's Whisper generation-config keys, read from a tokenizer's vocabulary."""
    def tid(tok: str) -> int | None:
        i = vocab.get(tok)
        return None if i is None else int(i)

    langs = {tok: int(i) for tok, i in vocab.items()
             if tok.startswith("<|") and tok.endswith("|>") and 2 <= len(tok) - 4 <= 3 and tok[2:-2].isalpha()
             and tok[2:-2].islower()}
    eot = tid("<|endoftext|>")
    out: dict[str, Any] = {
        "eos_token_id": eot, "pad_token_id": eot, "bos_token_id": eot,
        "decoder_start_token_id": tid("<|startoftranscript|>"),
        "no_timestamps_token_id": tid("<|notimestamps|>"),
        "prev_sot_token_id": tid("<|startofprev|>"),
        "lang_to_id": langs,
        "task_to_id": {t: i for t in ("transcribe", "translate") if (i := tid(f"<|{t}|>")) is not None},
        "is_multilingual": vocab_size >= 51865,
    }
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class WhisperTokens:
    """The special ids of a Whisper vocabulary; timestamps are its last 1501 ids (0.00 .. 30.00 s)."""

    eot: int
    sot: int
    no_timestamps: int
    timestamp_begin: int
    transcribe: int | None = None
    translate: int | None = None
    sot_prev: int | None = None
    languages: dict[str, int] = field(default_factory=dict)  # "en" -> id of <|en|>
    multilingual: bool = False

    @classmethod
    def from_config(cls, config: Any, vocab_size: int) -> "WhisperTokens":
        """From a generation config (`config.get(key)`), as `generation_keys_from_vocab` writes it."""
        get = config.get
        eos = get("eos_token_id")
        eot = eos[0] if isinstance(eos, (list, tuple)) else eos
        no_ts = get("no_timestamps_token_id")
        if eot is None or no_ts is None or get("decoder_start_token_id") is None:
            raise InputError(
                "this Whisper checkpoint's generation config lacks its special token ids (eos_token_id, "
                "decoder_start_token_id, no_timestamps_token_id); load it with its tokenizer, e.g. through "
                "pipeline('automatic-speech-recognition', model=...), which reads them from the vocabulary."
            )
        tasks = get("task_to_id") or {}
        langs = {k.strip("<|>"): int(v) for k, v in (get("lang_to_id") or {}).items()}
        return cls(eot=int(eot), sot=int(get("decoder_start_token_id")), no_timestamps=int(no_ts),
                   timestamp_begin=vocab_size - NUM_TIMESTAMPS, transcribe=tasks.get("transcribe"),
                   translate=tasks.get("translate"), sot_prev=get("prev_sot_token_id"), languages=langs,
                   multilingual=bool(get("is_multilingual", vocab_size >= 51865)))


def prompt_ids(tokens: WhisperTokens, *, language: str | None, task: str | None, timestamps: bool,
               previous: Sequence[int] = ()) -> list[int]:
    """The start-of-transcript sequence for one window."""
    prompt: list[int] = []
    if previous and tokens.sot_prev is not None:
        prompt += [tokens.sot_prev, *list(previous)[-223:]]  # at most half the context, as the reference
    prompt.append(tokens.sot)
    if tokens.multilingual:
        lang = (language or "en").lower().strip("<|>")
        if lang not in tokens.languages:
            raise InputError(f"unknown language {language!r}; use a code such as {', '.join(sorted(tokens.languages)[:12])} ...")
        prompt.append(tokens.languages[lang])
        if task not in (None, "transcribe", "translate"):
            raise InputError(f"task must be 'transcribe' or 'translate', got {task!r}.")
        task_id = tokens.translate if task == "translate" else tokens.transcribe
        if task_id is not None:
            prompt.append(task_id)
    elif language not in (None, "en", "english") or task == "translate":
        raise InputError("this is an English-only (.en) checkpoint: it has no language or translate tokens; "
                         "use a multilingual Whisper checkpoint for other languages.")
    if not timestamps:
        prompt.append(tokens.no_timestamps)
    return prompt


class TimestampRules:
    """Whisper's timestamp grammar, as the reference's WhisperTimeStampLogitsProcessor (vectorised over rows).

    Timestamps come in pairs (end, start) except right before end-of-text, never decrease,
    the first token is a timestamp no later than `max_initial_timestamp_index`, and when the
    timestamps' total probability beats every text token a timestamp is forced.
    """

    def __init__(self, tokens: WhisperTokens, begin_index: int, max_initial_timestamp_index: int | None = 50) -> None:
        self.ts, self.no_ts, self.eot = tokens.timestamp_begin, tokens.no_timestamps, tokens.eot
        self.begin_index, self.max_initial = begin_index, max_initial_timestamp_index

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ts = self.ts
        out = scores.clone()
        out[:, self.no_ts] = float("-inf")
        seq = input_ids[:, self.begin_index :]  # (B, L) generated so far
        vocab = torch.arange(out.shape[-1], device=out.device)
        if seq.shape[1] >= 1:
            is_ts = seq >= ts
            last = is_ts[:, -1]
            penultimate = is_ts[:, -2] if seq.shape[1] >= 2 else torch.ones_like(last)
            # a pair just closed: text must follow; an opening timestamp: another timestamp or the end
            out.masked_fill_((last & penultimate)[:, None] & (vocab >= ts), float("-inf"))
            out.masked_fill_((last & ~penultimate)[:, None] & (vocab < self.eot), float("-inf"))
            # never go back in time (timestamps only grow, so the last one is the largest)
            latest = torch.where(is_ts, seq, torch.full_like(seq, ts - 1)).amax(dim=1)
            floor = torch.where(last & ~penultimate, latest, latest + 1)
            floor = torch.where(is_ts.any(dim=1), floor, torch.full_like(floor, ts))
            out.masked_fill_((vocab >= ts) & (vocab < floor[:, None]), float("-inf"))
        else:
            out[:, :ts] = float("-inf")
            if self.max_initial is not None:
                out[:, ts + self.max_initial + 1 :] = float("-inf")
        logprobs = F.log_softmax(out.float(), dim=-1)
        ts_mass = logprobs[:, ts:].logsumexp(dim=-1)
        force = ~torch.isnan(ts_mass) & (ts_mass > logprobs[:, :ts].amax(dim=-1))
        out.masked_fill_(force[:, None] & (vocab < ts), float("-inf"))
        return out


def compression_ratio(tokens: Sequence[int], vocab_size: int) -> float:
    """Repetitive (hallucinated) output compresses well; as the reference, over the tokens' bytes."""
    width = int(math.log2(vocab_size) / 8) + 1
    raw = b"".join(int(t).to_bytes(width, "little") for t in tokens)
    return len(raw) / max(1, len(zlib.compress(raw)))


def needs_retry(tokens: Sequence[int], avg_logprob: float, config: Any, vocab_size: int) -> bool:
    """Temperature fallback: decode again when the output is too repetitive or too unlikely."""
    cr_limit = config.get("compression_ratio_threshold", 2.4)
    lp_limit = config.get("logprob_threshold", -1.0)
    if cr_limit is not None and tokens and compression_ratio(tokens, vocab_size) > cr_limit:
        return True
    return lp_limit is not None and avg_logprob < lp_limit


@torch.no_grad()
def first_step(model: Any, encoder_outputs: torch.Tensor, tokens: WhisperTokens) -> torch.Tensor:
    """The next-token logits right after <|startoftranscript|>, per row (B, V): language and no-speech live here."""
    sot = torch.full((encoder_outputs.shape[0], 1), tokens.sot, device=encoder_outputs.device)
    return model.decode_step(sot, model.init_cache(encoder_outputs.shape[0]), encoder_outputs=encoder_outputs)


def no_speech_probability(model: Any, encoder_outputs: torch.Tensor, tokens: WhisperTokens) -> torch.Tensor:
    """P(<|nospeech|>) after <|startoftranscript|>, per row (B,), as the original Whisper and the reference read it
    (the no-speech token is the id just before <|notimestamps|>)."""
    logits = first_step(model, encoder_outputs, tokens).float()
    return logits.softmax(dim=-1)[:, tokens.no_timestamps - 1]


def is_silence(no_speech_prob: float, avg_logprob: float, config: Any) -> bool:
    """A window to skip: the model says 'no speech' and what it decoded is unlikely (both, as the reference)."""
    threshold = config.get("no_speech_threshold")
    lp_limit = config.get("logprob_threshold", -1.0)
    return threshold is not None and lp_limit is not None and no_speech_prob > threshold and avg_logprob < lp_limit


@torch.no_grad()
def detect_language(model: Any, encoder_outputs: torch.Tensor, tokens: WhisperTokens) -> list[str]:
    """The most likely language token after <|startoftranscript|>, per row (multilingual checkpoints)."""
    logits = first_step(model, encoder_outputs, tokens)
    codes = list(tokens.languages)
    ids = torch.tensor([tokens.languages[c] for c in codes], device=logits.device)
    best = logits.index_select(1, ids).argmax(dim=-1)
    return [codes[int(i)] for i in best]


def prepare_generation(model: Any, config: Any, batch_size: int, encoder_outputs: torch.Tensor) -> tuple[torch.Tensor, list]:
    """The decoder prompt per row and Whisper's own logits processors (the generation protocol's hook)."""
    tokens = WhisperTokens.from_config(config, model.config.vocab_size)
    timestamps = bool(config.get("return_timestamps", False))
    language, task = config.get("language"), config.get("task")
    previous = config.get("prompt_ids") or ()
    if tokens.multilingual and language is None and tokens.languages:
        languages = detect_language(model, encoder_outputs, tokens)
    else:
        languages = [language] * batch_size
    rows = [prompt_ids(tokens, language=lang, task=task, timestamps=timestamps, previous=previous) for lang in languages]
    prompt = torch.tensor(rows, dtype=torch.long)
    procs = []
    if timestamps:
        procs.append(TimestampRules(tokens, prompt.shape[1], config.get("max_initial_timestamp_index", 50)))
    return prompt, procs


# -- words -----------------------------------------------------------------------------------------------
PREPEND_PUNCTUATION = "\"'“¡¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def word_groups(tokens: Sequence[int], decode: Any) -> list[tuple[str, list[int]]]:
    """Text tokens -> words as (text, token indices), by the reference's rules: tokens join until they decode
    to whole characters; a piece starting with a space (or punctuation) opens a word; opening punctuation
    joins the next word and closing punctuation the previous one."""
    pieces: list[tuple[str, list[int]]] = []  # whole-character pieces
    full = decode(list(tokens))
    offset, current = 0, []
    for i in range(len(tokens)):
        current.append(i)
        text = decode([tokens[j] for j in current])
        if "\ufffd" not in text or full[offset + text.index("\ufffd")] == "\ufffd":
            pieces.append((text, current))
            offset += len(text)
            current = []
    words: list[list[Any]] = []
    for text, idx in pieces:
        if text.startswith(" ") or text.strip() in _PUNCTUATION or not words:
            words.append([text, list(idx)])
        else:
            words[-1][0] += text
            words[-1][1].extend(idx)
    i, j = len(words) - 2, len(words) - 1  # opening punctuation joins the word after it
    while i >= 0:
        if words[i][0].startswith(" ") and words[i][0].strip() in PREPEND_PUNCTUATION:
            words[j] = [words[i][0] + words[j][0], words[i][1] + words[j][1]]
            words[i] = ["", []]
        else:
            j = i
        i -= 1
    i, j = 0, 1  # closing punctuation joins the word before it
    while j < len(words):
        if not words[i][0].endswith(" ") and words[j][0] in APPEND_PUNCTUATION:
            words[i] = [words[i][0] + words[j][0], words[i][1] + words[j][1]]
            words[j] = ["", []]
        else:
            i = j
        j += 1
    return [(text, idx) for text, idx in words if text]


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment of rows (tokens) to columns (frames) minimising the summed cost; (text_idx, time_idx)."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    trace = np.full((n + 1, m + 1), -1, dtype=np.int8)
    acc[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            acc[i, j] = cost[i - 1, j - 1] + c
            trace[i, j] = t
    i, j = n, m
    trace[0, :] = 2
    trace[:, 0] = 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    arr = np.array(path[::-1])
    return arr[:, 0], arr[:, 1]


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """Median over the last axis in windows of `width`, edges reflected (as the reference smooths attention)."""
    pad = width // 2
    if width <= 1 or x.shape[-1] <= pad:
        return x
    x = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    return x.unfold(-1, width, 1).sort()[0][..., pad]


def token_times(weights: torch.Tensor, frames: int, width: int) -> list[float]:
    """Cross-attention of the alignment heads (A, rows, S) -> one time (s) per row, by DTW, as the reference:
    normalised over the rows, median-smoothed over time, averaged over heads, cropped to `frames` // 2."""
    w = weights[..., : max(1, frames // 2)].float()
    std, mean = torch.std_mean(w, dim=-2, keepdim=True, unbiased=False)
    w = median_filter((w - mean) / std, width).mean(dim=0)
    text_idx, time_idx = dtw(-w.double().cpu().numpy())
    jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
    return (time_idx[jumps] * 0.02).tolist()
