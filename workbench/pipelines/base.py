"""The pipeline skeleton every task shares: inputs -> batches -> preprocess/forward/postprocess.

A task subclass implements `_run_batch(items, **params) -> list[result]` (usually by calling
its own `preprocess`, `forward` and `postprocess`). The base handles building (a name is
resolved to a folder once; the model comes from the task's Auto class, the processor from
`AutoProcessor`: a tokenizer, a feature extractor or both), single-vs-list inputs, batching,
inference mode, device placement and progress bars.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..errors import CheckpointNotFoundError, InputError
from ..hub import allow_patterns_for, resolve_model_folder
from ..placement import resolve_device, resolve_dtype
from ..processors.auto import AutoProcessor, tokenizer_of


class Pipeline:
    task: ClassVar[str] = ""
    # The reference library's default checkpoint for the task (used when model=None).
    default_model: ClassVar[str | None] = None
    # The Auto class to load a model name with.
    auto_model: ClassVar[Any] = None

    def __init__(self, model: torch.nn.Module, processor: Any = None, *, device: Any = None, batch_size: int = 8) -> None:
        if not isinstance(model, torch.nn.Module):
            raise InputError(f"the {self.task!r} pipeline needs a model: a hub id, a local folder or a loaded workbench "
                             f"model; got a {type(model).__name__}.")
        self.model = model.eval()
        if processor is None:
            processor = AutoProcessor.for_model(model, needed_by=f"the {self.task!r} pipeline")
        self.processor = processor
        self.tokenizer = tokenizer_of(processor)
        if device is not None:
            self.model.to(resolve_device(device))
        self.batch_size = batch_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def untrained_weights(self) -> list[str]:
        """Weights of this pipeline's model that were freshly initialised (its outputs are random until trained)."""
        return list(getattr(self.model, "untrained_weights", []))

    # -- construction --------------------------------------------------------------------
    @classmethod
    def create(cls, model: Any = None, processor: Any = None, *, device: Any = None, dtype: Any = None,
               revision: str | None = None, gguf_file: str | None = None, **kwargs: Any) -> "Pipeline":
        """`model`: a hub id, a folder or a loaded model (None: the task's default); `processor`: a tokenizer
        or processor object, a name, or None (the checkpoint's own); `gguf_file`: a `.gguf` file in the folder."""
        name = model if model is not None else cls.default_model
        if name is None:
            raise InputError(f"the {cls.task!r} pipeline needs model=... (a hub id, a folder, or a loaded model).")
        if isinstance(name, (str, os.PathLike)):
            hint = f"pipeline({cls.task!r}, model='/path/to/folder')"  # the fix in the form the user typed
            try:
                folder = resolve_model_folder(name, revision=revision, local_hint=hint,  # once: loaders get the folder
                                              allow_patterns=allow_patterns_for(gguf_file))
            except CheckpointNotFoundError as err:
                if model is None:
                    raise type(err)(f"the {cls.task!r} pipeline's default model is not available here. {err}") from None
                raise
            loaded = cls.auto_model.from_pretrained(folder, dtype=dtype, device=device, gguf_file=gguf_file)
            loaded.config.name_or_path = str(name)
            if processor is None:
                processor = AutoProcessor.from_pretrained(folder, model_type=loaded.config.model_type, gguf_file=gguf_file)
        else:
            loaded = name
            if dtype is not None:
                loaded = loaded.to(resolve_dtype(dtype))
        if isinstance(processor, (str, os.PathLike)):
            processor = AutoProcessor.from_pretrained(processor, revision=revision,
                                                      model_type=getattr(loaded.config, "model_type", None))
        return cls(loaded, processor, device=device, **kwargs)

    # -- running -------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, batch_size: int | None = None, **params: Any) -> Any:
        """One input or a list of them. Every input is checked before any work (errors name the caller's
        index); batches may run in another order (`_batch_order`), results come back in the caller's."""
        single = not isinstance(inputs, (list, tuple)) or self._is_single(inputs)
        items = [inputs] if single else list(inputs)
        if not items:
            raise InputError(f"the {self.task!r} pipeline got an empty list; pass at least one input.")
        odd = next((i for i, x in enumerate(items) if type(x) is not type(items[0])), None)
        if odd is not None:  # each kind would need a different reading: say so before anything else
            raise InputError(f"the {self.task!r} pipeline expects a list whose items all have the same form; this one "
                             f"mixes input types: input {odd} is a {type(items[odd]).__name__}, input 0 a "
                             f"{type(items[0]).__name__}.")
        for i, item in enumerate(items):  # wrong types first: the most basic mistake, wherever it is
            self._check_type(item, i)
        for i, item in enumerate(items):
            self._check_item(item, i)
        order = self._batch_order(items)
        size = batch_size or self.batch_size
        starts = range(0, len(items), size)
        if len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=self.task, unit="batch", leave=False)
        results: list[Any] = [None] * len(items)
        with torch.inference_mode():
            for start in starts:
                rows = order[start : start + size]
                try:
                    out = self._run_batch([items[i] for i in rows], **params)
                except InputError as err:
                    if single:
                        raise
                    raise self._locate(err, rows, items, params) from None
                for i, result in zip(rows, out):
                    results[i] = result
        return results[0] if single else results

    def _locate(self, err: InputError, rows: list[int], items: list[Any], params: dict[str, Any]) -> InputError:
        """The input of a failed batch that caused `err`, found by running them one at a time (only on
        this error path), so the message names the caller's index."""
        for i in sorted(rows):
            try:
                self._run_batch([items[i]], **params)
            except InputError as one:
                return InputError(f"input {i}: {one}")
        return err

    def _batch_order(self, items: list[Any]) -> list[int]:
        """The order in which inputs are batched (text pipelines: longest first, so batches pad less)."""
        return list(range(len(items)))

    def _check_type(self, item: Any, index: int) -> None:
        """Refuse an input of the wrong type (one message per pipeline kind). Override per kind."""

    def _is_single(self, inputs: Sequence) -> bool:
        """Whether a tuple/list is one input (e.g. a text pair) rather than a batch. Override where needed."""
        return False

    def _check_item(self, item: Any, index: int) -> None:
        """Reject bad inputs before any work is done. Override per task."""

    def _run_batch(self, items: list[Any], **params: Any) -> list[Any]:
        raise NotImplementedError

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
