"""The pipeline skeleton every task shares: inputs -> batches -> preprocess/forward/postprocess.

A task subclass implements `_run_batch(items, **params) -> list[result]` (usually by
calling its own `preprocess`, `forward` and `postprocess`), plus `create()` when it needs
more than a model and a tokenizer. The base handles single-vs-list inputs, batching,
inference mode, device placement and progress bars.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..errors import CheckpointNotFoundError, InputError
from ..modeling import resolve_device, resolve_dtype


class Pipeline:
    task: ClassVar[str] = ""
    # The reference library's default checkpoint for the task (used when model=None).
    default_model: ClassVar[str | None] = None
    # The Auto class to load a model name with.
    auto_model: ClassVar[Any] = None

    def __init__(self, model: torch.nn.Module, tokenizer: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        if device is not None:
            self.model.to(resolve_device(device))
        self.batch_size = batch_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    # -- construction --------------------------------------------------------------------
    @classmethod
    def create(cls, model: Any = None, tokenizer: Any = None, *, device: Any = None, dtype: Any = None,
               revision: str | None = None, **kwargs: Any) -> "Pipeline":
        from ..auto import AutoTokenizer

        name = model if model is not None else cls.default_model
        if name is None:
            raise InputError(f"the {cls.task!r} pipeline needs model=... (a hub id, a folder, or a loaded model).")
        if isinstance(name, (str, os.PathLike)):
            try:
                loaded = cls.auto_model.from_pretrained(name, revision=revision, dtype=dtype, device=device)
            except CheckpointNotFoundError as err:
                if model is None:
                    raise CheckpointNotFoundError(
                        f"the {cls.task!r} pipeline's default model {name!r} is not available here ({err}). "
                        f"Pass model='/path/to/a/local/folder' (or another hub id) to pipeline({cls.task!r}, model=...)."
                    ) from err
                raise
            if tokenizer is None:
                tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
        else:
            loaded = name
            if dtype is not None:
                loaded = loaded.to(resolve_dtype(dtype))
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer, revision=revision)
        return cls(loaded, tokenizer, device=device, **kwargs)

    # -- running -------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, batch_size: int | None = None, **params: Any) -> Any:
        single = not isinstance(inputs, (list, tuple)) or self._is_single(inputs)
        items = [inputs] if single else list(inputs)
        if not items:
            raise InputError(f"the {self.task!r} pipeline got an empty list; pass at least one input.")
        for i, item in enumerate(items):
            self._check_item(item, i)
        size = batch_size or self.batch_size
        starts = range(0, len(items), size)
        if len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=self.task, unit="batch", leave=False)
        results: list[Any] = []
        with torch.inference_mode():
            for start in starts:
                results.extend(self._run_batch(items[start : start + size], **params))
        return results[0] if single else results

    def _is_single(self, inputs: Sequence) -> bool:
        """Whether a tuple/list is one input (e.g. a text pair) rather than a batch. Override where needed."""
        return False

    def _check_item(self, item: Any, index: int) -> None:
        """Reject bad inputs before any work is done. Override per task."""

    def _run_batch(self, items: list[Any], **params: Any) -> list[Any]:
        raise NotImplementedError

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
