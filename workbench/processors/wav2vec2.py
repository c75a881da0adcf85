"""Wav2Vec2's two halves: raw audio -> normalised samples, and CTC frame ids -> characters with their times.

`Wav2Vec2FeatureExtractor` (`preprocessor_config.json`): the samples as they are, each clip scaled to
zero mean and unit variance (`do_normalize`), padded with zeros in a batch.

`Wav2Vec2CTCTokenizer` (`vocab.json`, `tokenizer_config.json`): one id per character. Decoding follows
CTC's rules as the reference tokenizer does: runs of the same id collapse into one, the padding token
is CTC's blank and disappears, the word delimiter (`|`) becomes a space. With offsets, each kept
character (and each word) carries the output frames it spans; a frame is `inputs_to_logits_ratio`
samples (20 ms at 16 kHz for the usual conv stack).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointNotFoundError, InputError
from ..files import checkpoint_file, read_json_object
from .audio import load_audio
from .preprocessor_config import settings, write

VOCAB_FILE = "vocab.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"


# -- audio -> input_values ------------------------------------------------------------------------------------
class Wav2Vec2FeatureExtractor:
    """Clips (16 kHz mono) -> {"input_values": (B, samples)} (+ "attention_mask"), as the reference."""

    def __init__(self, feature_size: int = 1, sampling_rate: int = 16000, padding_value: float = 0.0,
                 return_attention_mask: bool = False, do_normalize: bool = True) -> None:
        if sampling_rate < 1:
            raise InputError(f"Wav2Vec2FeatureExtractor.sampling_rate must be positive, got {sampling_rate}.")
        self.feature_size, self.sampling_rate, self.padding_value = feature_size, sampling_rate, padding_value
        self.return_attention_mask, self.do_normalize = return_attention_mask, do_normalize

    @staticmethod
    def normalize(x: np.ndarray) -> np.ndarray:
        """Zero mean, unit variance (float32, the reference's arithmetic)."""
        return (x - x.mean()) / np.sqrt(x.var() + 1e-7)

    def __call__(self, audio: Sequence[np.ndarray] | np.ndarray, *, sampling_rate: int | None = None,
                 padding: bool | str = True, return_attention_mask: bool | None = None,
                 return_tensors: str | None = "pt", device: Any = None) -> dict[str, torch.Tensor]:
        """One array or a list; a batch is padded to its longest clip. Without an attention mask the
        reference normalises each padded row as a whole (zeros included); with one, the real samples only."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise InputError(f"features need {self.sampling_rate} Hz audio, got {sampling_rate} Hz; load it with "
                             "workbench.processors.load_audio, which resamples.")
        arrays = [audio] if isinstance(audio, np.ndarray) and audio.ndim == 1 else list(audio)
        arrays = [np.asarray(a, dtype=np.float32).reshape(-1) for a in arrays]
        lengths = [len(a) for a in arrays]
        longest = max(lengths)
        if not padding and len(set(lengths)) > 1:
            raise InputError("clips of different lengths need padding=True to form one batch.")
        with_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        padded = any(n < longest for n in lengths)
        rows = np.full((len(arrays), longest), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(arrays), longest), dtype=np.int32)
        for i, a in enumerate(arrays):
            mask[i, : len(a)] = 1
            if not self.do_normalize:
                rows[i, : len(a)] = a
            elif with_mask or not padded:
                rows[i, : len(a)] = self.normalize(a)
            else:
                rows[i] = self.normalize(np.concatenate([a, rows[i, len(a):]]))
        out = {"input_values": torch.from_numpy(rows)}
        if with_mask:
            out["attention_mask"] = torch.from_numpy(mask)
        if device is not None:
            out = {k: v.to(device) for k, v in out.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Wav2Vec2FeatureExtractor":
        types = {"feature_size": int, "sampling_rate": int, "padding_value": float, "return_attention_mask": bool,
                 "do_normalize": bool}
        return cls(**settings(data, types, "Wav2Vec2 feature"))

    def to_dict(self) -> dict[str, Any]:
        return {"feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": self.feature_size,
                "sampling_rate": self.sampling_rate, "padding_value": self.padding_value,
                "return_attention_mask": self.return_attention_mask, "do_normalize": self.do_normalize,
                "padding_side": "right"}

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        write(folder, self.to_dict())


# -- frame ids <-> text ----------------------------------------------------------------------------------------
class Wav2Vec2CTCTokenizer:
    """A character vocabulary with CTC decoding (see the module docstring)."""

    def __init__(self, vocab: dict[str, int], *, bos_token: str = "<s>", eos_token: str = "</s>", unk_token: str = "<unk>",
                 pad_token: str = "<pad>", word_delimiter_token: str = "|", replace_word_delimiter_char: str = " ",
                 do_lower_case: bool = False, clean_up_tokenization_spaces: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        if not vocab:
            raise InputError("the CTC vocabulary (vocab.json) is empty; re-download or re-save the checkpoint.")
        self.encoder = {str(k): int(v) for k, v in vocab.items()}
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.bos_token, self.eos_token, self.unk_token, self.pad_token = bos_token, eos_token, unk_token, pad_token
        self.word_delimiter_token, self.replace_word_delimiter_char = word_delimiter_token, replace_word_delimiter_char
        self.do_lower_case, self.clean_up_tokenization_spaces = do_lower_case, clean_up_tokenization_spaces
        self.extra = dict(extra or {})  # other tokenizer_config.json keys, written back on save
        # tokens longer than one character ("<s>", "<unk>") are matched whole when encoding text
        multi = sorted((t for t in self.encoder if len(t) > 1), key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, multi)) + ")") if multi else None

    # -- loading -------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "Wav2Vec2CTCTokenizer":
        vocab_path = checkpoint_file(folder, VOCAB_FILE)
        if vocab_path is None:
            raise CheckpointNotFoundError(f"{folder} has no {VOCAB_FILE}; a CTC checkpoint needs its character vocabulary.")
        vocab = read_json_object(vocab_path)
        config_path = checkpoint_file(folder, TOKENIZER_CONFIG)
        config = read_json_object(config_path) if config_path else {}
        special_path = checkpoint_file(folder, SPECIAL_TOKENS_MAP)
        special = read_json_object(special_path) if special_path else {}
        target = config.get("target_lang")
        if target is not None or all(isinstance(v, dict) for v in vocab.values()):
            if target not in vocab:
                raise InputError(f"{vocab_path} holds one vocabulary per language ({', '.join(sorted(vocab)[:8])}, ...); "
                                 "set target_lang in tokenizer_config.json to one of them.")
            vocab = vocab[target]

        def token(name: str, default: str) -> str:
            value = config.get(name, special.get(name, default))
            return value.get("content", default) if isinstance(value, dict) else (default if value is None else str(value))

        known = {"bos_token", "eos_token", "unk_token", "pad_token", "word_delimiter_token",
                 "replace_word_delimiter_char", "do_lower_case", "clean_up_tokenization_spaces"}
        return cls(vocab, bos_token=token("bos_token", "<s>"), eos_token=token("eos_token", "</s>"),
                   unk_token=token("unk_token", "<unk>"), pad_token=token("pad_token", "<pad>"),
                   word_delimiter_token=token("word_delimiter_token", "|"),
                   replace_word_delimiter_char=str(config.get("replace_word_delimiter_char", " ")),
                   do_lower_case=bool(config.get("do_lower_case", False)),
                   clean_up_tokenization_spaces=bool(config.get("clean_up_tokenization_spaces", False)),
                   extra={k: v for k, v in config.items() if k not in known and k != "added_tokens_decoder"})

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(json.dumps(self.encoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        special = {"bos_token": self.bos_token, "eos_token": self.eos_token, "unk_token": self.unk_token,
                   "pad_token": self.pad_token}
        config = {**self.extra, **special, "word_delimiter_token": self.word_delimiter_token,
                  "replace_word_delimiter_char": self.replace_word_delimiter_char, "do_lower_case": self.do_lower_case,
                  "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
                  "tokenizer_class": "Wav2Vec2CTCTokenizer"}
        (folder / TOKENIZER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (folder / SPECIAL_TOKENS_MAP).write_text(json.dumps(special, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    # -- vocabulary ------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.decoder)

    def __len__(self) -> int:
        return len(self.encoder)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.encoder)

    @property
    def all_special_tokens(self) -> list[str]:
        return [self.bos_token, self.eos_token, self.unk_token, self.pad_token]

    @property
    def pad_token_id(self) -> int | None:
        return self.encoder.get(self.pad_token)

    @property
    def word_delimiter_token_id(self) -> int | None:
        return self.encoder.get(self.word_delimiter_token)

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> str | list[str]:
        if isinstance(ids, (int, np.integer)):
            return self.decoder.get(int(ids), self.unk_token)
        return [self.decoder.get(int(i), self.unk_token) for i in ids]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        unk = self.encoder.get(self.unk_token)
        if isinstance(tokens, str):
            return self.encoder.get(tokens, unk)
        return [self.encoder.get(t, unk) for t in tokens]

    # -- text -> ids (labels for training) --------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Characters, spaces as the word delimiter; whole-vocabulary tokens ("<unk>") swallow the spaces around them."""
        pieces = self._split.split(text) if self._split else [text]
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if i % 2:  # a multi-character token (the split's captured group)
                out.append(piece)
                continue
            if i > 0:
                piece = piece.lstrip()
            if i < len(pieces) - 1:
                piece = piece.rstrip()
            if self.do_lower_case:  # the vocabulary is upper case; whole tokens keep their spelling
                piece = piece.upper()
            out.extend(piece.replace(" ", self.word_delimiter_token))
        return out

    def __call__(self, text: str | Sequence[str], *, return_tensors: str | None = None) -> dict[str, Any]:
        """Text -> {"input_ids"} (CTC labels; a batch is padded with -100, which the loss ignores)."""
        texts = [text] if isinstance(text, str) else list(text)
        ids = [self.convert_tokens_to_ids(self.tokenize(t)) for t in texts]
        if return_tensors != "pt":
            return {"input_ids": ids[0] if isinstance(text, str) else ids}
        longest = max(len(i) for i in ids)
        return {"input_ids": torch.tensor([i + [-100] * (longest - len(i)) for i in ids], dtype=torch.long)}

    # -- ids -> text ------------------------------------------------------------------------------------------
    def decode(self, ids: Any, *, skip_special_tokens: bool = False, group_tokens: bool = True,
               output_char_offsets: bool = False, output_word_offsets: bool = False) -> Any:
        """Frame ids (1-D) -> text; with offsets, {"text", "char_offsets", "word_offsets"} in output frames."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        tokens = self.convert_ids_to_tokens([int(i) for i in np.asarray(ids).reshape(-1)])
        if skip_special_tokens:
            specials = set(self.all_special_tokens) - {self.word_delimiter_token}
            tokens = [t for t in tokens if t not in specials]
        text, chars = self._collapse(tokens, group_tokens)
        if not (output_char_offsets or output_word_offsets):
            return text
        return {"text": text, "char_offsets": chars if output_char_offsets else None,
                "word_offsets": word_offsets(chars, self.replace_word_delimiter_char) if output_word_offsets else None}

    def batch_decode(self, sequences: Any, **options: Any) -> list[Any]:
        return [self.decode(row, **options) for row in sequences]

    def _collapse(self, tokens: list[str], group: bool) -> tuple[str, list[dict[str, Any]]]:
        """CTC: merge runs, drop blanks, delimiter -> space; (text, [{"char", "start_offset", "end_offset"}])."""
        runs = [(t, len(list(g))) for t, g in groupby(tokens)] if group else [(t, 1) for t in tokens]
        chars: list[dict[str, Any]] = []
        start = 0
        for token, n in runs:
            if token != self.pad_token:
                char = self.replace_word_delimiter_char if token == self.word_delimiter_token else token
                chars.append({"char": char, "start_offset": start, "end_offset": start + n})
            start += n
        text = "".join(c["char"] for c in chars).strip()
        if self.do_lower_case:
            text = text.lower()
        if self.clean_up_tokenization_spaces:
            from ..tokenizer import _clean_up_tokenization

            text = _clean_up_tokenization(text)
        return text, chars


def word_offsets(chars: list[dict[str, Any]], delimiter: str = " ") -> list[dict[str, Any]]:
    """Characters with offsets -> words with offsets: a word runs from its first to its last character."""
    words: list[dict[str, Any]] = []
    for is_space, group in groupby(chars, key=lambda c: c["char"] == delimiter):
        if not is_space:
            group = list(group)
            words.append({"word": "".join(c["char"] for c in group), "start_offset": group[0]["start_offset"],
                          "end_offset": group[-1]["end_offset"]})
    return words


# -- both halves ------------------------------------------------------------------------------------------------
class Wav2Vec2Processor:
    """Audio -> `input_values` through the feature extractor; ids <-> text through the CTC tokenizer."""

    def __init__(self, feature_extractor: Wav2Vec2FeatureExtractor, tokenizer: Wav2Vec2CTCTokenizer) -> None:
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer

    def __call__(self, audio: Any = None, *, sampling_rate: int | None = None, text: Any = None,
                 device: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if audio is not None:
            items = audio if isinstance(audio, (list, tuple)) else [audio]
            rate = self.feature_extractor.sampling_rate
            arrays = [load_audio(a, sampling_rate, target_sr=rate).array for a in items]
            out.update(self.feature_extractor(arrays, device=device))
        if text is not None:
            out["labels"] = self.tokenizer(text, return_tensors="pt")["input_ids"]
        if not out:
            raise InputError("pass audio=... (and/or text=...) to the Wav2Vec2 processor.")
        return out

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.decode(*args, **kwargs)

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[Any]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        write(folder, {**self.feature_extractor.to_dict(), "processor_class": "Wav2Vec2Processor"})
        self.tokenizer.save_pretrained(folder)
