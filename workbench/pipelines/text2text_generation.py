"""text2text-generation, summarization, translation: text in, generated text out (BART, T5).

Behaves as the reference library's 4.57 pipelines (5.x dropped them), whose outputs are the oracle:

- generation options, in the reference's order of precedence: the call's keywords, then the task's
  entry in the model config's `task_specific_params` (T5: lengths, beams and the task prefix such as
  "summarize: "), then the checkpoint's generation config (`generation_config.json`, or the older
  options kept in `config.json`), then the pipeline's defaults (256 new tokens, 4 beams); as in 4.57
  a checkpoint's own `max_length` replaces the 256-new-tokens default, while a `max_length` passed to
  the call does not (pass `max_new_tokens` to bound the output length then);
- outputs `[{"summary_text" | "translation_text" | "generated_text": ...}]` per input (a list of
  them with `num_return_sequences` > 1; `..._token_ids` with `return_tensors=True`);
- `translation_xx_to_yy` task names pick the config's task prefix; plain "translation" picks the
  config's first translation task; `src_lang` / `tgt_lang` are accepted (BART and T5 ignore them,
  as the reference does for tokenizers without language codes).

Deliberate difference: an input longer than the model takes is cut to its limit with a warning
(`truncation=None`, the default) instead of failing deep inside the model (BART's positions) or
running past the length it was trained on (T5). `truncation=True` cuts silently, `False` refuses.

`explain(text)` is what the alignment panels draw: the output, the beam alternatives with their
scores, the decoder's cross-attention over the source tokens and which part of the source fit.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from ..auto import AutoModelForSeq2SeqLM
from ..errors import InputError, user_stacklevel
from ..generation import GenerationConfig, generate
from ..inspect import AttentionRecord, attention_record
from .text_common import TextPipeline, check_text

DEFAULT_OPTIONS = {"max_new_tokens": 256, "num_beams": 4}  # the reference pipelines' own defaults
# Generation options the call may pass besides GenerationConfig fields.
_EXTRA_GENERATE = ("streamer", "logits_processor", "stopping_criteria")


@dataclass
class Explanation:
    """One input's generation, as the alignment panels draw it."""

    source_tokens: list[str]  # what the encoder read (prefix and special tokens included)
    source_offsets: list[tuple[int, int]]  # character span of each source token in `text` (prefix: (0, 0))
    text: str  # the caller's text (without the task prefix)
    kept_chars: int  # characters of `text` the model read: len(text) unless the input was truncated
    total_tokens: int  # source tokens before truncation
    output_tokens: list[str]  # the best output, one entry per generated token (end token included)
    output_ids: list[int]
    output_text: str
    cross_attention: np.ndarray  # (L, H, T_out, T_src): the decoder's attention while it produced each token
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # {"text", "score"} per returned beam, best first
    layers: list[int] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.kept_chars < len(self.text)

    def record(self, model_name: str = "") -> AttentionRecord:
        return AttentionRecord(self.cross_attention, self.output_tokens, self.source_tokens, kind="cross",
                               layers=self.layers, model_name=model_name)


class Text2TextGenerationPipeline(TextPipeline):
    task = "text2text-generation"
    default_model = "google-t5/t5-base"
    auto_model = AutoModelForSeq2SeqLM
    return_name: ClassVar[str] = "generated"  # the output key: f"{return_name}_text"

    def __init__(self, model: torch.nn.Module, processor: Any = None, *, device: Any = None, batch_size: int = 8,
                 task: str | None = None) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        if not getattr(self.model.config, "is_encoder_decoder", False) or not hasattr(self.model, "encode"):
            raise InputError(f"the {self.task!r} pipeline needs an encoder-decoder text model (BART, T5); "
                             f"{type(self.model).__name__} is not one.")
        self.task_name = self._task_name(task or self.task)
        self.prefix, self.generation_config = self._defaults()

    def _task_name(self, task: str) -> str:
        return task

    def _defaults(self) -> tuple[str, GenerationConfig]:
        """The pipeline's generation config and input prefix, built as the reference 4.57 builds them."""
        model_config = GenerationConfig.from_model(self.model)
        config = _with_model_defaults(GenerationConfig(**DEFAULT_OPTIONS), model_config)
        if config.max_new_tokens == DEFAULT_OPTIONS["max_new_tokens"] and config.max_length != GenerationConfig.max_length:
            config.max_new_tokens = None  # the checkpoint's own max_length wins over the pipeline's default
        prefix = getattr(self.model.config, "prefix", None) or ""
        params = dict((getattr(self.model.config, "task_specific_params", None) or {}).get(self.task_name) or {})
        prefix = params.pop("prefix", prefix)
        config = config.updated(**params)
        if config.pad_token_id is None and self.tokenizer.pad_token_id is not None:
            config.pad_token_id = self.tokenizer.pad_token_id
        return prefix, config

    # -- inputs ----------------------------------------------------------------------------------
    def _check_type(self, item: Any, index: int) -> None:
        check_text(item, index, self.task)

    def input_limit(self) -> int | None:
        """The most source tokens the model takes: its tokenizer's maximum length, and BART's position table."""
        limits = [n for n in (self.tokenizer.model_max_length, getattr(self.model.config, "max_position_embeddings", None))
                  if isinstance(n, int) and n < 10**9]
        return min(limits) if limits else None

    def tokenize_sources(self, texts: list[str], truncation: bool | None) -> Any:
        """Prefixed texts -> a padded batch; with truncation None, inputs over the limit are cut with a warning."""
        limit = self.input_limit()
        cut = truncation is not False and limit is not None
        encoding = self.tokenizer([self.prefix + t for t in texts], padding=True, truncation=True if cut else None,
                                  max_length=limit if cut else None, return_tensors="pt")
        if truncation is None and cut:
            long = [i for i, e in enumerate(encoding.encodings) if e.overflowing]
            if long:
                warnings.warn(f"{len(long)} input{'s' if len(long) > 1 else ''} longer than the {limit} tokens this model "
                              f"takes {'were' if len(long) > 1 else 'was'} cut to {limit} tokens (the rest is not read); "
                              "pass truncation=True to cut silently, or split the text.", stacklevel=user_stacklevel())
        return encoding

    # -- generation options ------------------------------------------------------------------------
    def generation_options(self, generation_config: GenerationConfig | None, options: dict[str, Any]) -> GenerationConfig:
        """The config one call decodes with: the pipeline's, the model's defaults where it kept the global ones
        (as the reference's generate does), then the call's keywords."""
        known = {f.name for f in dataclasses.fields(GenerationConfig)} - {"extra"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown generation option{'s' if len(unknown) > 1 else ''} {unknown} for the {self.task!r} "
                             "pipeline; use GenerationConfig's names (max_length, max_new_tokens, min_length, "
                             "num_beams, length_penalty, no_repeat_ngram_size, do_sample, ...).")
        base = generation_config if generation_config is not None else self.generation_config
        config = _with_model_defaults(base, GenerationConfig.from_model(self.model)).updated(**options)
        if isinstance(config.temperature, float) and config.temperature == 0.0:
            config.do_sample = False
        config.validate()
        return config

    # -- running ---------------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, batch_size: int | None = None, return_tensors: bool = False,
                 return_text: bool = True, clean_up_tokenization_spaces: bool = False, truncation: bool | None = None,
                 stop_sequence: str | None = None, generation_config: GenerationConfig | None = None,
                 src_lang: str | None = None, tgt_lang: str | None = None, **generate_kwargs: Any) -> Any:
        """Generate for one text or a list. Keywords are generation options (max_length, min_length, num_beams,
        num_return_sequences, ...), as in the reference. `return_tensors=True` gives the token ids instead of the
        text (`return_text` is accepted and, as in 4.57, has no effect)."""
        extras = {k: generate_kwargs.pop(k) for k in _EXTRA_GENERATE if k in generate_kwargs}
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if not ids:
                raise InputError(f"stop_sequence={stop_sequence!r} has no tokens; pass some text.")
            generate_kwargs["eos_token_id"] = ids[0]  # the reference stops on its first token
        config = self.generation_options(generation_config, generate_kwargs)
        results = super().__call__(inputs, batch_size=batch_size, config=config, extras=extras,
                                   return_tensors=return_tensors, clean_up=clean_up_tokenization_spaces,
                                   truncation=truncation)
        if isinstance(inputs, (list, tuple)) and all(len(r) == 1 for r in results):
            return [r[0] for r in results]  # one output per input: a flat list, as the reference
        return results

    def _run_batch(self, items: list[str], *, config: GenerationConfig, extras: dict[str, Any], return_tensors: bool,
                   clean_up: bool, truncation: bool | None) -> list[list[dict[str, Any]]]:
        encoding = self.tokenize_sources(items, truncation)
        out = generate(self.model, encoding["input_ids"].to(self.device),
                       attention_mask=encoding["attention_mask"].to(self.device), generation_config=config,
                       return_dict_in_generate=True, **extras)
        n = out.sequences.shape[0] // len(items)
        results = []
        for i in range(len(items)):
            rows = range(i * n, (i + 1) * n)
            width = out.prompt_length + max(int(out.lengths[r]) for r in rows)  # as if this input ran alone
            records = []
            for r in rows:
                ids = out.sequences[r, :width].tolist()
                if return_tensors:  # as the reference: the ids instead of the text
                    records.append({f"{self.return_name}_token_ids": ids})
                else:
                    records.append({f"{self.return_name}_text": self.tokenizer.decode(
                        ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up)})
            results.append(records)
        return results

    # -- what the panels draw ----------------------------------------------------------------------------
    def explain(self, text: str, *, truncation: bool | None = None, on_text: Callable[[str], None] | None = None,
                layers: list[int] | None = None, **generate_kwargs: Any) -> Explanation:
        """Generate for `text` and record how: every beam returned (num_return_sequences = num_beams, best first,
        with their scores), the cross-attention of the best output (one teacher-forced pass, captured through the
        hook points) and how much of the source the model read. `on_text(text)` is called after each step with
        the leading hypothesis's text so far (with beams, the leading beam of the moment: it may change)."""
        check_text(text, 0, self.task)
        config = self.generation_options(None, generate_kwargs)
        config.num_return_sequences = max(1, config.num_beams) if not config.do_sample else 1
        with warnings.catch_warnings(record=True):  # the panel shows what was cut instead
            encoding = self.tokenize_sources([text], truncation)
        enc = encoding.encodings[0]
        total = len(self.tokenizer.tokenize(self.prefix + text, add_special_tokens=True))
        ids = encoding["input_ids"].to(self.device)
        mask = encoding["attention_mask"].to(self.device)
        with torch.inference_mode():
            out = generate(self.model, ids, attention_mask=mask, generation_config=config,
                           streamer=None if on_text is None else _TextSoFar(self.tokenizer, on_text),
                           return_dict_in_generate=True)
        eos = set(config.eos_ids())
        alternatives = []
        for r in range(out.sequences.shape[0]):
            seq = out.sequences[r, : out.prompt_length + int(out.lengths[r])]
            score = float(out.scores[r]) if out.scores is not None else float(out.sum_logprobs[r]) / max(1, int(out.lengths[r]))
            alternatives.append({"text": self.tokenizer.decode(seq.tolist(), skip_special_tokens=True), "score": score,
                                 "length": int(out.lengths[r])})
        best = out.sequences[0, : out.prompt_length + int(out.lengths[0])]
        decoder_input = best[None, :-1]  # row i of the attention produced token i + 1
        produced = best[1:].tolist()
        record = attention_record(self.model, {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": decoder_input},
                                  query_tokens=[self._token(t, eos) for t in produced],
                                  key_tokens=self.tokenizer.convert_ids_to_tokens(ids[0].tolist()), kind="cross",
                                  layers=layers)
        offsets = self._source_offsets(enc, len(self.prefix))
        kept = max((e for _, e in offsets), default=0) if enc.overflowing else len(text)
        return Explanation(source_tokens=record.key_tokens, source_offsets=offsets, text=text, kept_chars=kept,
                           total_tokens=total, output_tokens=record.query_tokens, output_ids=produced,
                           output_text=alternatives[0]["text"], cross_attention=record.attentions,
                           alternatives=alternatives, layers=record.layers)

    def _token(self, token_id: int, eos: set[int]) -> str:
        """A generated token as the panel shows it: its text (spaces kept), special tokens by name."""
        if token_id in set(self.tokenizer.all_special_ids) or token_id in eos:
            return self.tokenizer.convert_ids_to_tokens(token_id) or ""
        return self.tokenizer.decode([token_id])

    @staticmethod
    def _source_offsets(enc: Any, prefix: int) -> list[tuple[int, int]]:
        """Character spans in the caller's text (the prefix removed); special and prefix tokens get (0, 0)."""
        spans = []
        for (start, end), special in zip(enc.offsets, enc.special_tokens_mask):
            spans.append((0, 0) if special or end <= prefix else (max(0, start - prefix), end - prefix))
        return spans

    def attention(self, text: str, text_pair: str | None = None, *, layers: list[int] | None = None,
                  **generate_kwargs: Any) -> AttentionRecord:
        """The decoder's cross-attention over `text` while it generated its output, as one `AttentionRecord`."""
        if text_pair is not None:
            raise InputError(f"the {self.task!r} pipeline reads one text; pass text_pair=None.")
        return self.explain(text, layers=layers, **generate_kwargs).record(str(self.model.config.name_or_path or ""))


class _TextSoFar:
    """A generation streamer that hands the decoded text of row 0 so far to a callback (panels), whole characters only."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str], None]) -> None:
        self.tokenizer, self.on_text, self.ids = tokenizer, on_text, []

    def __call__(self, token: torch.Tensor) -> None:
        self.ids.append(int(token.reshape(-1)[0]))
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # a multi-byte character is not complete yet
            self.on_text(text)


def _with_model_defaults(config: GenerationConfig, model_config: GenerationConfig) -> GenerationConfig:
    """Where `config` holds a global default and the model's generation config does not, take the model's."""
    globals_ = GenerationConfig().to_dict()
    updates = {k: v for k, v in model_config.to_dict().items()
               if config.get(k, globals_.get(k)) == globals_.get(k) and v != globals_.get(k)}
    return config.updated(**updates)


class SummarizationPipeline(Text2TextGenerationPipeline):
    task = "summarization"
    default_model = "sshleifer/distilbart-cnn-12-6"
    return_name = "summary"


class TranslationPipeline(Text2TextGenerationPipeline):
    task = "translation"
    default_model = "google-t5/t5-base"
    return_name = "translation"

    def translation_tasks(self) -> list[str]:
        """The language pairs the checkpoint's config names ("translation_en_to_de", ...), in its order."""
        params = getattr(self.model.config, "task_specific_params", None) or {}
        return [k for k in params if k.startswith("translation")]

    def with_task(self, task: str) -> "TranslationPipeline":
        """The same model and tokenizer for another language pair of its config (its prefix and options)."""
        if task not in self.translation_tasks():
            raise InputError(f"{task!r} is not a translation task of this model; it has: "
                             f"{', '.join(self.translation_tasks()) or 'none (pass the source text as it is)'}.")
        return type(self)(self.model, self.processor, batch_size=self.batch_size, task=task)

    def _task_name(self, task: str) -> str:
        if task == "translation":  # as the reference: the config's first translation task
            first = next(iter(self.translation_tasks()), None)
            if first is not None:
                warnings.warn(f'"translation" task was used, instead of "translation_XX_to_YY", defaulting to "{first}"',
                              UserWarning, stacklevel=user_stacklevel())
                return first
        return task


__all__ = ["Explanation", "SummarizationPipeline", "Text2TextGenerationPipeline", "TranslationPipeline"]
