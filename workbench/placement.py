"""Where a model lives and in what precision: `device=` and `dtype=` arguments as users write them."""

from __future__ import annotations

from typing import Any

import torch

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}


def resolve_dtype(dtype: torch.dtype | str | None, config: Any = None) -> torch.dtype:
    """None -> float32; "auto" -> the dtype the checkpoint was saved in; names or torch dtypes as given."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        saved = (getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)) if config is not None else None
        return _DTYPES.get(str(saved).replace("torch.", ""), torch.float32)
    try:
        return _DTYPES[str(dtype).replace("torch.", "")]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(set(_DTYPES))}, a torch.dtype, or 'auto'") from None


def resolve_device(device: str | int | torch.device | None) -> torch.device:
    """None -> cpu; an int -> that CUDA device (-1: cpu, as the reference's pipelines); names as torch reads them."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, int):
        return torch.device("cpu") if device < 0 else torch.device("cuda", device)
    return torch.device(device)
