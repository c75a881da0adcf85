"""Generation: decoding loops that drive any decoder through one small protocol.

    from workbench.generation import generate
    ids = generate(model, input_ids, max_new_tokens=20, do_sample=True, top_p=0.9)

The protocol (models implement it; they never import this package):

    model.config.is_encoder_decoder                      bool
    model.encode(**inputs) -> encoder_outputs            encoder-decoder models only
    model.init_cache(batch_size, max_length=None) -> cache  with reorder(index) and crop(length)
    model.decode_step(input_ids, cache, *, encoder_outputs=None, attention_mask=None) -> logits (B, V)
        feeds the new tokens, appends them to the cache, returns the next-token logits;
        `attention_mask` (decoder-only) covers every position so far, 0 on left padding.
        For beam search, decoder rows are inputs x beams while encoder outputs keep one
        row per input (the model shares them across beams).

and, where a family has its own decoding rules, two optional hooks:

    model.prepare_generation(config, *, batch_size, encoder_outputs) -> (decoder prompt ids | None, [processors])
        (not called when the caller passes decoder_input_ids)
    model.generation_needs_retry(tokens, avg_logprob, config) -> bool   (temperature fallback)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch.nn import functional as F

from ..errors import InputError
from .config import GenerationConfig
from .logits import LogitsProcessor, StoppingCriterion, StopStrings, build_processors
from .search import SearchResult, beam_search, greedy_search
from .streamer import TextIteratorStreamer

_ENCODER_INPUTS = ("input_ids", "attention_mask", "input_features", "pixel_values", "inputs_embeds", "token_type_ids")


@dataclass
class GenerateOutput:
    sequences: torch.Tensor  # (B * n, T): prompt (decoder prompt for encoder-decoders) + generated, padded
    prompt_length: int
    sum_logprobs: torch.Tensor  # (B * n,) of the generated tokens under the processed distribution
    lengths: torch.Tensor  # (B * n,) generated tokens per row, end-of-sequence included
    scores: torch.Tensor | None = None  # beam search: the returned hypotheses' length-normalised scores
    temperatures: list[float] = field(default_factory=list)  # temperature fallback: the one each row kept
    encoder_outputs: Any = None

    def generated(self, row: int, eos_ids: Sequence[int] = ()) -> list[int]:
        """The new tokens of `row`, without padding and end-of-sequence."""
        ids = self.sequences[row, self.prompt_length : self.prompt_length + int(self.lengths[row])].tolist()
        return [t for t in ids if t not in set(eos_ids)]


@torch.no_grad()
def generate(
    model: Any,
    input_ids: torch.Tensor | None = None,
    *,
    generation_config: GenerationConfig | None = None,
    logits_processor: Sequence[LogitsProcessor] = (),
    stopping_criteria: Sequence[StoppingCriterion] = (),
    streamer: Any = None,
    tokenizer: Any = None,
    encoder_outputs: Any = None,
    decoder_input_ids: torch.Tensor | None = None,
    return_dict_in_generate: bool = False,
    **kwargs: Any,
) -> torch.Tensor | GenerateOutput:
    """Decode with `model`. Keyword options are `GenerationConfig` fields (max_new_tokens, do_sample,
    temperature, top_k, top_p, min_p, num_beams, repetition_penalty, ...) or model inputs
    (attention_mask, input_features, ...). Returns the sequences (prompt + new tokens), or a
    `GenerateOutput` with `return_dict_in_generate=True`."""
    options = {k: v for k, v in kwargs.items() if k not in _ENCODER_INPUTS}
    inputs = {k: v for k, v in kwargs.items() if k in _ENCODER_INPUTS and v is not None}
    if input_ids is not None:
        inputs["input_ids"] = input_ids
    config = (generation_config or GenerationConfig.from_model(model)).updated(**options)
    config.validate()
    encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    device = model.device

    if encoder_decoder:
        if encoder_outputs is None:
            if not inputs:
                raise InputError("an encoder-decoder model needs its encoder's inputs (e.g. input_ids=... or "
                                 "input_features=...) or encoder_outputs=...")
            encoder_outputs = model.encode(**{k: v.to(device) for k, v in inputs.items()})
        batch = _rows(encoder_outputs)
        attention_mask = None
        # A decoder prompt given by the caller is decoded plainly; otherwise the family's rules (if any) apply.
        prompt, family_procs = (decoder_input_ids, []) if decoder_input_ids is not None else \
            _prepare(model, config, batch, encoder_outputs)
        if prompt is None:
            if config.decoder_start_token_id is None:
                raise InputError("no decoder_start_token_id in the generation config; pass decoder_input_ids=...")
            prompt = torch.full((batch, 1), int(config.decoder_start_token_id), dtype=torch.long)
    else:
        if "input_ids" not in inputs:
            raise InputError("generate needs input_ids (the prompt's token ids), e.g. tokenizer(text, return_tensors='pt').")
        prompt = inputs["input_ids"]
        attention_mask = inputs.get("attention_mask")
        batch = prompt.shape[0]
        _, family_procs = _prepare(model, config, batch, None)
    prompt = torch.as_tensor(prompt, dtype=torch.long).to(device)
    if attention_mask is not None:
        attention_mask = attention_mask.to(device)

    temperatures = config.temperature if isinstance(config.temperature, tuple) else (config.temperature,)
    if len(temperatures) == 1:
        result = _decode(model, config, prompt, attention_mask, encoder_outputs, temperatures[0], config.do_sample,
                         [*family_procs, *logits_processor], stopping_criteria, streamer, tokenizer)
        kept = [float(temperatures[0])] * result.sequences.shape[0]
    else:
        result, kept = _decode_with_fallback(model, config, prompt, attention_mask, encoder_outputs, temperatures,
                                             [*family_procs, *logits_processor], stopping_criteria, tokenizer)
    if streamer is not None and hasattr(streamer, "end"):
        streamer.end()
    if not return_dict_in_generate:
        return result.sequences
    return GenerateOutput(result.sequences, prompt.shape[1], result.sum_logprobs, result.lengths, result.scores, kept,
                          encoder_outputs)


def _rows(encoder_outputs: Any) -> int:
    first = encoder_outputs if isinstance(encoder_outputs, torch.Tensor) else encoder_outputs[0]
    return int(first.shape[0])


def _prepare(model: Any, config: GenerationConfig, batch: int, encoder_outputs: Any) -> tuple[Any, list[LogitsProcessor]]:
    hook = getattr(model, "prepare_generation", None)
    if hook is None:
        return None, []
    prompt, procs = hook(config, batch_size=batch, encoder_outputs=encoder_outputs)
    return prompt, list(procs)


def _select(encoder_outputs: Any, rows: torch.Tensor) -> Any:
    if isinstance(encoder_outputs, torch.Tensor):
        return encoder_outputs.index_select(0, rows)
    return type(encoder_outputs)(t.index_select(0, rows) if isinstance(t, torch.Tensor) else t for t in encoder_outputs)


def _decode(model: Any, config: GenerationConfig, prompt: torch.Tensor, attention_mask: torch.Tensor | None,
            encoder_outputs: Any, temperature: float, do_sample: bool, extra: Sequence[LogitsProcessor],
            stopping: Sequence[StoppingCriterion], streamer: Any, tokenizer: Any) -> SearchResult:
    """One decoding run of every row at one temperature."""
    b, t0 = prompt.shape
    beams = config.num_beams if not (len(_temps(config)) > 1 and do_sample) else 1
    max_new = config.new_tokens_limit(t0)
    limit = _position_limit(model)
    if limit is not None and t0 + max_new > limit:
        max_new = max(0, limit - t0)
    eos = config.eos_ids()
    pad = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    procs = [*build_processors(config, t0, temperature=temperature if do_sample else None), *extra]
    stops = list(stopping)
    if config.stop_strings:
        if tokenizer is None:
            raise InputError("stop_strings need the tokenizer: pass tokenizer=... to generate().")
        stops.append(StopStrings(config.stop_strings, tokenizer.decode, t0))
    generator = None
    if do_sample and config.seed is not None:
        generator = torch.Generator(device=prompt.device).manual_seed(int(config.seed))
    n_return = config.num_return_sequences
    if beams == 1 and n_return > 1:  # several samples per input: repeat the inputs
        prompt = prompt.repeat_interleave(n_return, dim=0)
        attention_mask = None if attention_mask is None else attention_mask.repeat_interleave(n_return, dim=0)
        encoder_outputs = None if encoder_outputs is None else _select(
            encoder_outputs, torch.arange(b, device=prompt.device).repeat_interleave(n_return))
    rows = prompt.shape[0] * beams
    cache = model.init_cache(rows, t0 + max_new if config.cache_implementation == "static" else None)
    mask = None if attention_mask is None else attention_mask.repeat_interleave(beams, dim=0)

    def step(new_ids: torch.Tensor) -> torch.Tensor:
        nonlocal mask
        if mask is not None and cache.length > 0:
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], new_ids.shape[1])], dim=1)
        return model.decode_step(new_ids, cache, encoder_outputs=encoder_outputs, attention_mask=mask)

    common = dict(eos_ids=eos, pad_id=pad, max_new_tokens=max_new, processors=procs, stopping=stops,
                  do_sample=do_sample, generator=generator, streamer=streamer)
    if beams > 1:
        # The reference fills beam outputs with `pad_token_id or eos`: a pad id of 0 (T5) fills with the end token.
        common["pad_id"] = pad if pad or not eos else eos[0]
        return beam_search(step, cache.reorder, prompt, num_beams=beams, length_penalty=config.length_penalty,
                           early_stopping=config.early_stopping, num_return_sequences=n_return, **common)
    return greedy_search(step, prompt, **common)


def _temps(config: GenerationConfig) -> tuple[float, ...]:
    return config.temperature if isinstance(config.temperature, tuple) else (config.temperature,)


def _position_limit(model: Any) -> int | None:
    """The longest sequence the decoder's positions allow (None: no fixed limit)."""
    config = model.config
    for key in ("max_target_positions", "n_positions", "max_position_embeddings"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def _decode_with_fallback(model: Any, config: GenerationConfig, prompt: torch.Tensor, attention_mask: torch.Tensor | None,
                          encoder_outputs: Any, temperatures: Sequence[float], extra: Sequence[LogitsProcessor],
                          stopping: Sequence[StoppingCriterion], tokenizer: Any) -> tuple[SearchResult, list[float]]:
    """Temperature fallback: decode every row at the first temperature; rows the model rejects
    (`generation_needs_retry`: repetitive or unlikely output) are decoded again at the next one."""
    needs_retry = getattr(model, "generation_needs_retry", None)
    if needs_retry is None:
        raise InputError(f"{type(model).__name__} defines no retry rule, so a tuple of temperatures has no meaning; "
                         "pass one temperature.")
    if config.num_return_sequences != 1:
        raise InputError("temperature fallback returns one sequence per input; leave num_return_sequences at 1.")
    b, t0 = prompt.shape
    eos = config.eos_ids()
    best: list[tuple[torch.Tensor, float, int, float | None] | None] = [None] * b
    kept = [float(temperatures[0])] * b
    pending = torch.arange(b, device=prompt.device)
    for i, t in enumerate(temperatures):
        sample = t > 0
        res = _decode(model, config, prompt.index_select(0, pending),
                      None if attention_mask is None else attention_mask.index_select(0, pending),
                      None if encoder_outputs is None else _select(encoder_outputs, pending),
                      t, sample, extra, stopping, None, tokenizer)
        retry = []
        for j, row in enumerate(pending.tolist()):
            n = int(res.lengths[j])
            tokens = [x for x in res.sequences[j, t0 : t0 + n].tolist() if x not in eos]
            # The average log-probability (end-of-sequence included), or the beam's normalised score.
            avg = float(res.scores[j]) if res.scores is not None else float(res.sum_logprobs[j]) / max(1, n)
            best[row] = (res.sequences[j], float(res.sum_logprobs[j]), n, None if res.scores is None else float(res.scores[j]))
            kept[row] = float(t)
            if i + 1 < len(temperatures) and needs_retry(tokens, avg, config):
                retry.append(row)
        if not retry:
            break
        pending = torch.tensor(retry, device=prompt.device)
    width = max(s.numel() for s, *_ in best)  # type: ignore[misc]
    pad = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    seqs = torch.stack([F.pad(s, (0, width - s.numel()), value=pad) for s, *_ in best])  # type: ignore[misc]
    sums = torch.tensor([x[1] for x in best])  # type: ignore[index]
    lengths = torch.tensor([x[2] for x in best])  # type: ignore[index]
    scores = None if any(x[3] is None for x in best) else torch.tensor([x[3] for x in best])  # type: ignore[index]
    return SearchResult(seqs, sums, lengths, scores), kept


__all__ = ["GenerateOutput", "GenerationConfig", "TextIteratorStreamer", "generate"]
