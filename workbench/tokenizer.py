"""Text -> token ids and back: a thin layer over the Rust `tokenizers.Tokenizer`.

The Rust library does the real work (normalising, splitting, the vocabulary model,
special-token templates, padding, truncation, offsets). This module adds what a model
checkpoint expects around it: named special tokens, the model's maximum length, and a
`BatchEncoding` shaped like the reference library's output, so code and notebooks written
against that library read the same here. Reading the hub file layout (`tokenizer.json`, or
the older `vocab.txt` / `vocab.json` + `merges.txt`) and the per-family tables live in
`workbench.tokenizer_files`; `BatchEncoding` lives in `workbench.batch_encoding`.

Deliberate difference from the reference: an input longer than the model can take,
with truncation off, raises `InputError` instead of logging a warning - a silent
overflow only shows up later as an index error deep inside the embedding layer.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tokenizers
from tokenizers import AddedToken, normalizers

from .batch_encoding import BatchEncoding, batch_inputs, describe, to_python
from .errors import InputError
from .tokenizer_files import (
    SPECIAL_TOKEN_NAMES,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
    TOKENIZER_FILES,
    default_input_names,
    family_options,
    gguf_tokenizer_files,
    post_processor,
    read_tokenizer_files,
    token_content,
)

__all__ = ["VERY_LARGE_INTEGER", "BatchEncoding", "Tokenizer"]

# The reference library's "no limit" value for model_max_length; kept so `min(...)` arithmetic
# written against it behaves the same.
VERY_LARGE_INTEGER = int(1e30)
_LARGE_INTEGER = int(1e20)

_PADDING_VALUES = {
    True: "longest",
    False: "do_not_pad",
    "longest": "longest",
    "max_length": "max_length",
    "do_not_pad": "do_not_pad",
}
_TRUNCATION_VALUES = {
    True: "longest_first",
    "longest_first": "longest_first",
    "only_first": "only_first",
    "only_second": "only_second",
    "do_not_truncate": "do_not_truncate",
}

# Config keys that point at files or describe the loading itself; never written back.
_UNSAVED_CONFIG_KEYS = {
    "name_or_path",
    "tokenizer_file",
    "vocab_file",
    "merges_file",
    "special_tokens_map_file",
    "added_tokens_decoder",
    "auto_map",
    "init_inputs",
    "extra_special_tokens",
    "is_local",
    "local_files_only",
}


# ----------------------------------------------------------------------------------------------
# Special-token attributes: `tok.pad_token`, `tok.pad_token_id`, settable like the reference's.
# ----------------------------------------------------------------------------------------------
class _SpecialToken:
    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Tokenizer | None, owner: type) -> Any:
        return self if obj is None else obj._special[self.name]

    def __set__(self, obj: Tokenizer, value: str | None) -> None:
        # Like the reference: naming a token does not add it to the vocabulary (a new id would be
        # past the end of the model's embedding matrix); an unknown token maps to the unk id.
        if value is not None and not isinstance(value, str):
            raise InputError(f"{self.name} must be a string or None, got {describe(value)}.")
        obj._special[self.name] = value


class _SpecialTokenId:
    def __set_name__(self, owner: type, name: str) -> None:
        self.token_name = name[: -len("_id")]

    def __get__(self, obj: Tokenizer | None, owner: type) -> Any:
        if obj is None:
            return self
        token = obj._special[self.token_name]
        return None if token is None else obj.convert_tokens_to_ids(token)

    def __set__(self, obj: Tokenizer, value: int | None) -> None:
        token = None if value is None else obj.convert_ids_to_tokens(int(value))
        if value is not None and token is None:
            raise InputError(f"{self.token_name}_id={value} is not an id of this vocabulary (size {len(obj)}).")
        obj._special[self.token_name] = token


# ----------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------
class Tokenizer:
    """A pretrained tokenizer: `tok("some text")` -> `BatchEncoding` ready for a model.

    Build it with `Tokenizer.from_pretrained(name_or_folder)`, or wrap any `tokenizers.Tokenizer`
    directly with the constructor.
    """

    bos_token = _SpecialToken()
    eos_token = _SpecialToken()
    unk_token = _SpecialToken()
    sep_token = _SpecialToken()
    pad_token = _SpecialToken()
    cls_token = _SpecialToken()
    mask_token = _SpecialToken()
    bos_token_id = _SpecialTokenId()
    eos_token_id = _SpecialTokenId()
    unk_token_id = _SpecialTokenId()
    sep_token_id = _SpecialTokenId()
    pad_token_id = _SpecialTokenId()
    cls_token_id = _SpecialTokenId()
    mask_token_id = _SpecialTokenId()

    def __init__(
        self,
        backend: tokenizers.Tokenizer,
        *,
        special_tokens: Mapping[str, Any] | None = None,
        extra_special_tokens: Sequence[Any] = (),
        model_max_length: int | None = None,
        padding_side: str = "right",
        truncation_side: str = "right",
        model_input_names: Sequence[str] | None = None,
        clean_up_tokenization_spaces: bool = False,
        pad_token_type_id: int = 0,
        name_or_path: str = "",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._backend = backend
        # The backend's padding/truncation are set per call; a baked-in setting from the file
        # (MiniLM's tokenizer.json pads everything to 128) must not leak into calls that ask for none.
        backend.no_padding()
        backend.no_truncation()
        # __call__ reconfigures the shared backend, so calls from two threads (a training thread and
        # the notebook) must not interleave.
        self._lock = threading.RLock()
        self._config = dict(config or {})
        self.name_or_path = str(name_or_path)
        self.model_max_length = int(model_max_length) if model_max_length is not None else VERY_LARGE_INTEGER
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.pad_token_type_id = int(pad_token_type_id)

        self._special: dict[str, str | None] = dict.fromkeys(SPECIAL_TOKEN_NAMES)
        options: dict[str, dict[str, Any]] = {}
        for name, value in (special_tokens or {}).items():
            if name not in self._special:
                raise InputError(f"Unknown special token name {name!r}; expected one of {SPECIAL_TOKEN_NAMES}.")
            content, opts = token_content(value)
            self._special[name] = content
            if content is not None:
                options[content] = opts
        self._extra_special: list[str] = []
        for value in extra_special_tokens:
            content, opts = token_content(value)
            if content is not None and content not in self._extra_special:
                self._extra_special.append(content)
                options[content] = opts
        self._register_special_tokens(options)

        if model_input_names is None:
            model_input_names = default_input_names(self._config.get("tokenizer_class"), backend)
        self.model_input_names = list(model_input_names)

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool | None = None,
        token: str | bool | None = None,
        gguf_file: str | None = None,
        **overrides: Any,
    ) -> Tokenizer:
        """Load the tokenizer of a hub model id or a local folder (`gguf_file`: from a `.gguf` file's metadata;
        a folder whose only checkpoint is one GGUF file needs no name).

        `overrides` replace entries of `tokenizer_config.json` (e.g. `model_max_length=256`,
        `padding_side="left"`, `pad_token="[PAD]"`, `add_prefix_space=True`).
        """
        from .files import inside
        from .formats import lone_gguf
        from .formats.gguf import open_gguf
        from .hub import resolve_model_folder

        folder = resolve_model_folder(
            name_or_path,
            revision=revision,
            allow_patterns=TOKENIZER_FILES + ([gguf_file] if gguf_file else []),
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
        gguf_name = gguf_file or lone_gguf(folder)
        if gguf_name is not None:
            path = inside(folder, gguf_name, what="gguf_file")
            files = gguf_tokenizer_files(open_gguf(path).metadata, overrides, path)
        else:
            files = read_tokenizer_files(folder, overrides)
        config = files.config
        tokenizer = cls(
            files.backend,
            special_tokens=files.special,
            extra_special_tokens=files.extras,
            model_max_length=config.get("model_max_length", config.get("max_len")),
            padding_side=config.get("padding_side") or files.padding.get("direction") or "right",
            truncation_side=config.get("truncation_side") or files.truncation.get("direction") or "right",
            model_input_names=config.get("model_input_names"),
            clean_up_tokenization_spaces=config.get("clean_up_tokenization_spaces", False),
            pad_token_type_id=files.padding.get("pad_type_id", 0),
            name_or_path=str(name_or_path),
            config=config,
        )
        if files.from_vocab_files:
            # The template names the special tokens' ids, known only once __init__ has registered them.
            tokenizer._backend.post_processor = post_processor(
                files.family, config, tokenizer._special, tokenizer.convert_tokens_to_ids
            )
        return tokenizer

    def _register_special_tokens(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        # Special tokens must be "added tokens" of the backend: then "[MASK]" in a text stays one
        # token instead of being split, and decode(skip_special_tokens=True) drops them.
        already = {t.content for t in self._backend.get_added_tokens_decoder().values()}
        new = [
            AddedToken(content, special=True, **{"normalized": False, **options.get(content, {})})
            for content in self.all_special_tokens
            if content not in already
        ]
        if new:
            self._backend.add_special_tokens(new)

    # The lock cannot be pickled; datasets.map(num_proc=...) and deepcopy need the rest.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- saving -----------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into a folder.

        The files follow the hub layout, so the reference library's `AutoTokenizer` loads them too.
        """
        folder = Path(save_directory)
        if folder.is_file():
            raise InputError(f"save_pretrained needs a folder, but {folder} is a file.")
        folder.mkdir(parents=True, exist_ok=True)

        # The backend may still hold the last call's padding/truncation; save it without them.
        state = json.loads(self._backend.to_str())
        state["padding"] = None
        state["truncation"] = None
        tokenizer_path = folder / TOKENIZER_FILE
        tokenizer_path.write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

        config = {k: v for k, v in self._config.items() if k not in _UNSAVED_CONFIG_KEYS}
        config.update(family_options(self._config.get("tokenizer_class"), state))
        config.update(self.special_tokens_map)
        if self._extra_special:
            config["additional_special_tokens"] = list(self._extra_special)
        config.setdefault("tokenizer_class", "PreTrainedTokenizerFast")
        config.update(
            model_input_names=list(self.model_input_names),
            padding_side=self.padding_side,
            truncation_side=self.truncation_side,
            clean_up_tokenization_spaces=self.clean_up_tokenization_spaces,
        )
        if self.model_max_length < _LARGE_INTEGER:
            config["model_max_length"] = self.model_max_length
        else:
            config.pop("model_max_length", None)
        config_path = folder / TOKENIZER_CONFIG_FILE
        config_path.write_text(
            json.dumps(config, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

        special_map: dict[str, Any] = dict(self.special_tokens_map)
        if self._extra_special:
            special_map["additional_special_tokens"] = list(self._extra_special)
        map_path = folder / SPECIAL_TOKENS_MAP_FILE
        map_path.write_text(json.dumps(special_map, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return (str(config_path), str(map_path), str(tokenizer_path))

    def push_to_hub(self, repo_id: str, *, commit_message: str | None = None, commit_description: str | None = None,
                    private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                    create_pr: bool = False) -> Any:
        """Upload what `save_pretrained` writes to the hub repo `repo_id` as one commit (see
        `PreTrainedModel.push_to_hub`); a model card is added when the repo has none."""
        from .sharing import object_card, push_to_hub

        def card(full_id: str) -> str:
            return object_card(full_id, "A tokenizer", "AutoTokenizer", "tokenizer")

        return push_to_hub(self.save_pretrained, repo_id, commit_message=commit_message or "Upload tokenizer",
                           commit_description=commit_description, private=private, token=token, revision=revision,
                           create_pr=create_pr, card=card)

    # -- vocabulary ---------------------------------------------------------------------------
    @property
    def backend_tokenizer(self) -> tokenizers.Tokenizer:
        """The wrapped Rust tokenizer (its padding/truncation are reset by every call)."""
        return self._backend

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary, without added tokens."""
        return self._backend.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self._backend.get_vocab(with_added_tokens=True)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return {name: value for name, value in self._special.items() if value is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        tokens = [value for value in self._special.values() if value is not None] + self._extra_special
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def do_lower_case(self) -> bool | None:
        """Whether text is lower-cased before lookup (None when the config does not say)."""
        if "do_lower_case" in self._config:
            return bool(self._config["do_lower_case"])
        normalizer = self._backend.normalizer
        return normalizer.lowercase if isinstance(normalizer, normalizers.BertNormalizer) else None

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | None | list[int | None]:
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(t) for t in tokens]

    def _token_to_id(self, token: str) -> int | None:
        index = self._backend.token_to_id(token)
        if index is None and self._special["unk_token"] is not None:
            return self._backend.token_to_id(self._special["unk_token"])
        return index

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | None | list[str | None]:
        ids = to_python(ids)
        if isinstance(ids, int):
            return self._backend.id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._backend.id_to_token(int(i)) for i in ids if int(i) not in skip]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many tokens the template adds around one text (or a pair): 2 / 3 for BERT."""
        return self._backend.num_special_tokens_to_add(pair)

    # -- encoding -----------------------------------------------------------------------------
    def __call__(
        self,
        text: str | Sequence[str] | Sequence[tuple[str, str]] | Sequence[Sequence[str]],
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
    ) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of texts/pairs into model inputs.

        A single (un-batched) input gives flat lists, a batch gives lists of lists, and
        `return_tensors="pt"`/`"np"` gives 2-D tensors - the reference library's shapes.
        `truncation=True` with `return_overflowing_tokens=True` and `stride=k` splits a long
        input into several windows overlapping by k tokens (the QA "doc stride").
        """
        inputs, is_batched = batch_inputs(text, text_pair, is_split_into_words)
        padding_strategy, truncation_strategy, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of
        )
        if return_tensors not in (None, "pt", "np"):
            raise InputError(f"return_tensors={return_tensors!r} is not supported; use 'pt', 'np' or None.")
        if padding_side not in (None, "right", "left"):
            raise InputError(f"padding_side={padding_side!r} is not supported; use 'right' or 'left'.")
        if not isinstance(stride, int) or stride < 0:
            raise InputError(f"stride must be a non-negative int, got {stride!r}.")

        with self._lock:
            self._configure(padding_strategy, truncation_strategy, max_length, stride, pad_to_multiple_of, padding_side)
            try:
                encodings = self._backend.encode_batch(
                    inputs, add_special_tokens=add_special_tokens, is_pretokenized=is_split_into_words
                )
            except Exception as err:  # Rust errors: e.g. a stride too large for max_length
                raise InputError(f"The tokenizer could not encode this input: {err}") from err

        if truncation_strategy == "do_not_truncate":
            self._check_length(encodings)

        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names

        data: dict[str, list] = {"input_ids": []}
        if return_token_type_ids:
            data["token_type_ids"] = []
        if return_attention_mask:
            data["attention_mask"] = []
        if return_special_tokens_mask:
            data["special_tokens_mask"] = []
        if return_offsets_mapping:
            data["offset_mapping"] = []
        if return_length:
            data["length"] = []
        rows: list[tokenizers.Encoding] = []
        sample_of_row: list[int] = []
        for sample, encoding in enumerate(encodings):
            # Overflow windows become extra rows, mapped back to their sample.
            windows = [encoding] + (list(encoding.overflowing) if return_overflowing_tokens else [])
            for e in windows:
                rows.append(e)
                sample_of_row.append(sample)
                data["input_ids"].append(e.ids)
                if return_token_type_ids:
                    data["token_type_ids"].append(e.type_ids)
                if return_attention_mask:
                    data["attention_mask"].append(e.attention_mask)
                if return_special_tokens_mask:
                    data["special_tokens_mask"].append(e.special_tokens_mask)
                if return_offsets_mapping:
                    data["offset_mapping"].append(e.offsets)
                if return_length:
                    data["length"].append(len(e.ids))
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row

        if not is_batched and return_tensors is None and not return_overflowing_tokens:
            # One text in -> flat lists out, as in the reference.
            data = {k: (v[0] if v and isinstance(v[0], list) else v) for k, v in data.items()}
        return BatchEncoding(data, rows, tensor_type=return_tensors)

    def _strategies(
        self, padding: Any, truncation: Any, max_length: int | None, pad_to_multiple_of: int | None
    ) -> tuple[str, str, int | None]:
        """Resolve the padding/truncation arguments exactly as the reference library does."""
        if max_length is not None and (not isinstance(max_length, int) or max_length <= 0):
            raise InputError(f"max_length must be a positive int, got {max_length!r}.")
        if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
            raise InputError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}.")
        # Reference behaviour: a bare max_length (no padding, no truncation argument) means truncate.
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"
        try:
            padding_strategy = _PADDING_VALUES[padding]
        except (KeyError, TypeError):
            raise InputError(
                f"padding={padding!r} is not one of True, False, 'longest', 'max_length', 'do_not_pad'."
            ) from None
        try:
            truncation_strategy = "do_not_truncate" if truncation in (None, False) else _TRUNCATION_VALUES[truncation]
        except (KeyError, TypeError):
            raise InputError(
                f"truncation={truncation!r} is not one of True, False, 'longest_first', 'only_first', "
                "'only_second', 'do_not_truncate'."
            ) from None

        if max_length is None:
            # No explicit length: use the model's, or do nothing when the model has no limit.
            unlimited = self.model_max_length > _LARGE_INTEGER
            if padding_strategy == "max_length":
                padding_strategy = "do_not_pad" if unlimited else padding_strategy
                max_length = None if unlimited else self.model_max_length
            if truncation_strategy != "do_not_truncate":
                truncation_strategy = "do_not_truncate" if unlimited else truncation_strategy
                max_length = None if unlimited else self.model_max_length

        if padding_strategy != "do_not_pad" and (self.pad_token is None or self.pad_token_id is None):
            raise InputError(
                f"Padding was requested, but the tokenizer of {self.name_or_path or 'this model'} has no pad token. "
                "Set one first, e.g. `tokenizer.pad_token = tokenizer.eos_token`, or call it with padding=False."
            )
        if (
            truncation_strategy != "do_not_truncate"
            and padding_strategy != "do_not_pad"
            and pad_to_multiple_of is not None
            and max_length is not None
            and max_length % pad_to_multiple_of != 0
        ):
            raise InputError(
                f"Truncation length max_length={max_length} is not a multiple of pad_to_multiple_of="
                f"{pad_to_multiple_of}; pick a max_length that is a multiple of it."
            )
        return padding_strategy, truncation_strategy, max_length

    def _configure(
        self,
        padding_strategy: str,
        truncation_strategy: str,
        max_length: int | None,
        stride: int,
        pad_to_multiple_of: int | None,
        padding_side: str | None,
    ) -> None:
        if truncation_strategy == "do_not_truncate":
            self._backend.no_truncation()
        else:
            self._backend.enable_truncation(
                max_length, stride=stride, strategy=truncation_strategy, direction=self.truncation_side
            )
        if padding_strategy == "do_not_pad":
            self._backend.no_padding()
        else:
            self._backend.enable_padding(
                direction=padding_side or self.padding_side,
                pad_id=self.pad_token_id,
                pad_type_id=self.pad_token_type_id,
                pad_token=self.pad_token,
                length=max_length if padding_strategy == "max_length" else None,
                pad_to_multiple_of=pad_to_multiple_of,
            )

    def _check_length(self, encodings: Sequence[tokenizers.Encoding]) -> None:
        if self.model_max_length > _LARGE_INTEGER:
            return
        model = self.name_or_path or "this model"
        for index, encoding in enumerate(encodings):
            length = sum(encoding.attention_mask)  # real tokens, padding excluded
            if length > self.model_max_length:
                where = f"Input {index} of the batch" if len(encodings) > 1 else "The input"
                raise InputError(
                    f"{where} is {length} tokens long, but {model} takes at most {self.model_max_length} tokens "
                    f"(its maximum length). Pass truncation=True to cut it to {self.model_max_length} tokens (add "
                    "return_overflowing_tokens=True and a stride to keep the rest as extra windows), "
                    "or shorten the text."
                )
        padded = max((len(e.ids) for e in encodings), default=0)
        if padded > self.model_max_length:
            raise InputError(
                f"Padding to {padded} tokens exceeds the maximum length of {model} ({self.model_max_length}); "
                f"pass max_length <= {self.model_max_length}."
            )

    def encode(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        return_tensors: str | None = None,
    ) -> Any:
        """Token ids of one text (a list of ints), like `tokenizer(text)["input_ids"]`."""
        return self(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            is_split_into_words=is_split_into_words,
            return_tensors=return_tensors,
            return_token_type_ids=False,
            return_attention_mask=False,
        )["input_ids"]

    def tokenize(self, text: str, pair: str | None = None, *, add_special_tokens: bool = False) -> list[str]:
        """The token strings of a text (no special tokens by default); never length-checked."""
        inputs, _ = batch_inputs(text, pair, False)
        with self._lock:
            self._configure("do_not_pad", "do_not_truncate", None, 0, None, None)
            return self._backend.encode_batch(inputs, add_special_tokens=add_special_tokens)[0].tokens

    def pad(
        self,
        encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Pad already tokenized rows (a list of feature dicts, or a dict of lists) to one length.

        This is the collate step of training: `input_ids` get the pad id, `token_type_ids` the pad
        type id, `attention_mask` zeros and `special_tokens_mask` ones; other keys are left as they are.
        """
        if isinstance(encoded_inputs, Sequence) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {key: [row[key] for row in encoded_inputs] for key in encoded_inputs[0]}
        if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
            raise InputError("pad() needs a dict with 'input_ids' or a list of such dicts.")
        batch = {key: to_python(value) for key, value in encoded_inputs.items()}
        single = bool(batch["input_ids"]) and not isinstance(batch["input_ids"][0], list)
        if single:
            batch = {key: [value] for key, value in batch.items()}
        padding_strategy, _, max_length = self._strategies(padding, False, max_length, pad_to_multiple_of)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        side = padding_side or self.padding_side
        lengths = [len(ids) for ids in batch["input_ids"]]
        if padding_strategy == "longest":
            target = max(lengths, default=0)
        elif padding_strategy == "max_length":
            target = max_length
        else:
            target = None
        if target is not None and pad_to_multiple_of is not None and target % pad_to_multiple_of:
            target = (target // pad_to_multiple_of + 1) * pad_to_multiple_of
        if return_attention_mask and "attention_mask" not in batch:
            batch["attention_mask"] = [[1] * n for n in lengths]
        fill = {
            "input_ids": self.pad_token_id,
            "token_type_ids": self.pad_token_type_id,
            "attention_mask": 0,
            "special_tokens_mask": 1,
        }
        for key, value in fill.items():
            if key not in batch:
                continue
            rows = []
            for row, n in zip(batch[key], lengths, strict=True):
                extra = [value] * max(0, (target or n) - n)
                rows.append(row + extra if side == "right" else extra + row)
            batch[key] = rows
        if single and return_tensors is None:
            batch = {key: value[0] for key, value in batch.items()}
        return BatchEncoding(batch, tensor_type=return_tensors)

    # -- decoding -----------------------------------------------------------------------------
    # -- chat -----------------------------------------------------------------------------------
    @property
    def chat_template(self) -> str | None:
        """The Jinja template that writes a conversation in the model's format (tokenizer_config.json or GGUF)."""
        return self._config.get("chat_template")

    def apply_chat_template(
        self,
        conversation: Sequence[Mapping[str, Any]],
        *,
        add_generation_prompt: bool = False,
        tokenize: bool = True,
        chat_template: str | None = None,
        **variables: Any,
    ) -> str | list[int]:
        """Write `conversation` (a list of {"role", "content"} messages) with the chat template, as the
        reference does (sandboxed Jinja, its helper functions); the ids of that text when `tokenize`."""
        template = chat_template or self.chat_template
        if not template:
            raise InputError(f"{self.name_or_path or 'this tokenizer'} has no chat template; pass chat_template=... or "
                             "give the model plain text instead of a list of messages.")
        text = render_chat_template(template, conversation, add_generation_prompt=add_generation_prompt,
                                    **self.special_tokens_map, **variables)
        return self.encode(text, add_special_tokens=False) if tokenize else text

    def decode(
        self,
        token_ids: int | Sequence[int] | Sequence[Sequence[int]] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str | list[str]:
        """Ids -> text. A batch (list of id lists, or a 2-D tensor) gives a list of texts."""
        token_ids = to_python(token_ids)
        if isinstance(token_ids, list) and token_ids and isinstance(token_ids[0], list):
            return [self._decode_one(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in token_ids]
        return self._decode_one(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[str]:
        result = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result

    def _decode_one(self, ids: Any, skip_special_tokens: bool, clean_up: bool | None) -> str:
        if isinstance(ids, int):
            ids = [ids]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InputError(f"decode() takes token ids (ints, a list of ints, or a tensor), got {ids!r:.80}.")
        # Ids past the vocabulary are skipped, as in the reference (models often pad their embedding
        # matrix beyond the tokenizer's size); negative ids cannot be token ids at all.
        negative = [i for i in ids if i < 0]
        if negative:
            raise InputError(
                f"Token id {negative[0]} is negative. Ids such as -100 mark ignored label positions; "
                "drop them (or replace them with tokenizer.pad_token_id) before decoding."
            )
        text = self._backend.decode(ids, skip_special_tokens=skip_special_tokens)
        clean_up = self.clean_up_tokenization_spaces if clean_up is None else clean_up
        # The reference skips this clean-up for BPE models: it would eat real spaces before punctuation.
        if clean_up and type(self._backend.model).__name__ != "BPE":
            text = _clean_up_tokenization(text)
        return text

    def __repr__(self) -> str:
        return (
            f"Tokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
            f"special_tokens={self.special_tokens_map})"
        )


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def _clean_up_tokenization(text: str) -> str:
    """Undo the spaces a WordPiece decode leaves before punctuation and English contractions."""
    for before, after in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(before, after)
    return text


def render_chat_template(template: str, messages: Sequence[Mapping[str, Any]], **variables: Any) -> str:
    """Render a hub chat template: Jinja in an immutable sandbox (templates come with checkpoints, so
    they are untrusted), with the filters and globals the reference's templates use."""
    import datetime
    from functools import lru_cache

    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    @lru_cache(maxsize=8)
    def compile_template(source: str) -> jinja2.Template:
        def raise_exception(message: str) -> None:
            raise jinja2.exceptions.TemplateError(message)

        def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
                   sort_keys: bool = False) -> str:  # Jinja's own filter escapes HTML, which prompts must not
            return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
        return env.from_string(source)

    try:
        return compile_template(template).render(messages=[dict(m) for m in messages], **variables)
    except jinja2.exceptions.TemplateError as err:
        raise InputError(f"the chat template could not render these messages: {err}") from err
