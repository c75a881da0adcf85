"""`GenerationConfig`: how to decode, read from `generation_config.json`, with the reference's field names and defaults.

Unknown keys are kept (a family reads its own, e.g. a speech model's timestamp options),
so a config loaded and saved loses nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import checkpoint_file, read_json_object

GENERATION_CONFIG = "generation_config.json"


@dataclass
class GenerationConfig:
    # length
    max_new_tokens: int | None = None
    max_length: int = 20  # prompt included, as the reference (used only when max_new_tokens is None)
    min_length: int = 0
    min_new_tokens: int | None = None
    # strategy
    do_sample: bool = False
    num_beams: int = 1
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False  # True: stop when num_beams are done; False: heuristic; "never"
    # logits
    temperature: float | tuple[float, ...] = 1.0  # a tuple: temperature fallback (retry rows a model rejects)
    top_k: int | None = 50
    top_p: float | None = 1.0
    min_p: float | None = None
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    suppress_tokens: list[int] | None = None
    begin_suppress_tokens: list[int] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = None
    # special tokens
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    # stopping and caching
    stop_strings: str | list[str] | None = None
    use_cache: bool = True
    cache_implementation: str | None = None  # None/"dynamic" or "static"
    seed: int | None = None  # sampling: a private generator with this seed (None: torch's global one, as the reference)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this class does not know (kept, written back)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationConfig":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        config = cls(**{k: copy.deepcopy(v) for k, v in data.items() if k in known})
        config.extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in known and k != "transformers_version"}
        if isinstance(config.temperature, list):
            config.temperature = tuple(config.temperature)
        return config

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "GenerationConfig":
        path = checkpoint_file(folder, GENERATION_CONFIG)
        if path is None:
            return cls()
        data = read_json_object(path, fix="fix or delete it")
        try:
            return cls.from_dict(data)
        except TypeError as err:
            raise InputError(f"{path} is not a valid generation config ({err}); fix or delete it.") from err

    @classmethod
    def from_model(cls, model: Any) -> "GenerationConfig":
        """Decoding fields found in the model's config.json (special tokens; older checkpoints keep beams,
        lengths and suppressed ids there too), then its checkpoint's generation_config.json on top, as the reference."""
        config = getattr(model, "config", None)
        fields = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        base = {k: getattr(config, k) for k in fields if getattr(config, k, None) is not None}
        return cls.from_dict({**base, **(getattr(model, "generation_defaults", None) or {})})

    def updated(self, **options: Any) -> "GenerationConfig":
        """A copy with `options` applied: known fields set, unknown ones go to `extra`."""
        data = self.to_dict()
        data.update(options)
        return type(self).from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(copy.deepcopy(self.extra))
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """A field, or a key kept in `extra` (families read their own options this way)."""
        if key in self.extra:
            return self.extra[key]
        return getattr(self, key, default) if key != "extra" else default

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / GENERATION_CONFIG
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    # -- derived -------------------------------------------------------------------------------
    def eos_ids(self) -> list[int]:
        eos = self.eos_token_id
        return [] if eos is None else [int(eos)] if isinstance(eos, int) else [int(e) for e in eos]

    def new_tokens_limit(self, prompt_length: int) -> int:
        if self.max_new_tokens is not None:
            return int(self.max_new_tokens)
        return max(0, int(self.max_length) - prompt_length)

    def validate(self) -> None:
        """Refuse option values no decoding can use, naming the option and the fix."""
        checks = [
            (self.num_beams >= 1, f"num_beams must be at least 1, got {self.num_beams}"),
            (self.num_return_sequences >= 1, f"num_return_sequences must be at least 1, got {self.num_return_sequences}"),
            (self.num_return_sequences <= max(self.num_beams, 1) or self.do_sample,
             f"num_return_sequences={self.num_return_sequences} needs num_beams >= {self.num_return_sequences} "
             "(or do_sample=True)"),
            (self.max_new_tokens is None or self.max_new_tokens >= 0, f"max_new_tokens must be >= 0, got {self.max_new_tokens}"),
            (self.top_k is None or self.top_k >= 0, f"top_k must be >= 0, got {self.top_k}"),
            (self.top_p is None or 0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (self.min_p is None or 0 <= self.min_p <= 1, f"min_p must be in [0, 1], got {self.min_p}"),
            (self.repetition_penalty > 0, f"repetition_penalty must be > 0, got {self.repetition_penalty}"),
            (self.no_repeat_ngram_size >= 0, f"no_repeat_ngram_size must be >= 0, got {self.no_repeat_ngram_size}"),
        ]
        temps = self.temperature if isinstance(self.temperature, tuple) else (self.temperature,)
        checks.append((all(t is not None and t >= 0 for t in temps), f"temperature must be >= 0, got {self.temperature}"))
        for ok, message in checks:
            if not ok:
                raise InputError(message + ".")
