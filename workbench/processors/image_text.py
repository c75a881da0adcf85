"""A dual encoder's processor (CLIP, SigLIP, OWLv2, CLIPSeg): images through the checkpoint's image processor, texts
through its tokenizer, one call for both, as the reference's `CLIPProcessor` and its kin."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError


@dataclass
class ImageTextProcessor:
    """`processor(images=..., text=...)` -> {"pixel_values", "input_ids", "attention_mask", ...} (torch tensors).

    `image_processor` is the checkpoint's image processor (any class with `__call__(images)`), `tokenizer` its
    `Tokenizer`; text options (`padding`, `max_length`, `truncation`) go to the tokenizer."""

    image_processor: Any
    tokenizer: Any

    def __call__(self, images: Any = None, text: str | Sequence[str] | None = None, *, return_tensors: str = "pt",
                 **text_options: Any) -> dict[str, Any]:
        if images is None and text is None:
            raise InputError("pass images=..., text=... or both.")
        out: dict[str, Any] = {}
        if text is not None:
            encoding = self.tokenizer(text, return_tensors=return_tensors, **{"padding": True, **text_options})
            out.update({k: encoding[k] for k in self.tokenizer.model_input_names if k in encoding})
        if images is not None:
            out.update(self.image_processor(images, return_tensors=return_tensors))
        return out

    @property
    def model_input_names(self) -> tuple[str, ...]:
        return (*self.tokenizer.model_input_names, *self.image_processor.model_input_names)

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        self.image_processor.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return Path(folder)


__all__ = ["ImageTextProcessor"]
