"""The base every model family inherits: build, load, save, tie, initialise.

Loading builds the model on the meta device (no memory, no random init), materialises it
empty on the target device, initialises only what the checkpoint does not provide, then
copies the checkpoint in: fast, and a task head added to a bare encoder is reported.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from .config import PretrainedConfig, read_config_dict
from .errors import InputError, UnsupportedModelError
from .attention import Packing, additive_mask
from .hooks import capture, hook_points
from .outputs import BaseModelOutput
from .weights import load_into_model, read_state_dict, save_state_dict

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}


def resolve_dtype(dtype: torch.dtype | str | None, config: PretrainedConfig | None = None) -> torch.dtype:
    """None -> float32; "auto" -> the dtype the checkpoint was saved in; names or torch dtypes as given."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        saved = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) if config else None
        return _DTYPES.get(str(saved).replace("torch.", ""), torch.float32)
    try:
        return _DTYPES[str(dtype).replace("torch.", "")]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(set(_DTYPES))}, a torch.dtype, or 'auto'") from None


def resolve_device(device: str | int | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cpu")
    if isinstance(device, int):
        return torch.device("cpu") if device < 0 else torch.device("cuda", device)
    return torch.device(device)


class PreTrainedModel(nn.Module):
    """Base class. Families declare their checkpoint facts as class constants."""

    config_class: ClassVar[type[PretrainedConfig]] = PretrainedConfig
    base_model_prefix: ClassVar[str] = ""
    # target state-dict key -> source key it shares its tensor with (when config.tie_word_embeddings)
    tied_weights: ClassVar[dict[str, str]] = {}
    # regexes of legacy keys found in old checkpoints that carry nothing we need (e.g. position_ids buffers)
    ignore_on_load: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$",)
    # (regex, replacement) renames applied to checkpoint keys, e.g. TF-era LayerNorm gamma/beta
    key_renames: ClassVar[tuple[tuple[str, str], ...]] = (
        (r"LayerNorm\.gamma$", "LayerNorm.weight"),
        (r"LayerNorm\.beta$", "LayerNorm.bias"),
    )
    # Task models without a pooler drop a checkpoint's pooler quietly (it belongs to the bare encoder).
    NO_POOLER: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$", r"(^|\.)pooler\.")
    # old key -> current key, used only when the current key is absent from the file
    key_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config

    # -- weights -----------------------------------------------------------------------
    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Families name the scale differently (BERT: initializer_range, Whisper: init_std).
        std = getattr(self.config, "initializer_range", None) or getattr(self.config, "init_std", 0.02)
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            module.weight.normal_(0.0, std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        # Parameters owned directly by a custom module (e.g. an LM head's bias).
        for name, param in module.named_parameters(recurse=False):
            if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Embedding, nn.LayerNorm)) and name == "bias":
                param.zero_()

    def init_weights(self) -> None:
        self.apply(self._init_weights)
        self.tie_weights()

    def tied_targets(self) -> list[str]:
        return list(self.tied_weights) if getattr(self.config, "tie_word_embeddings", True) else []

    def tie_weights(self) -> None:
        """Make each tied target share its source's parameter (one tensor, one gradient)."""
        for target in self.tied_targets():
            source = self.tied_weights[target]
            owner_name, _, attr = target.rpartition(".")
            setattr(self.get_submodule(owner_name), attr, self.get_parameter(source))

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: PretrainedConfig, *, dtype: torch.dtype | str | None = None, device: Any = None) -> "PreTrainedModel":
        """A randomly initialised model (for training from scratch and for tests)."""
        model = cls._build_empty(config, resolve_dtype(dtype, config), resolve_device(device))
        model.init_weights()
        return model

    @classmethod
    def _build_empty(cls, config: PretrainedConfig, dtype: torch.dtype, device: torch.device) -> "PreTrainedModel":
        with torch.device("meta"):
            model = cls(config)
        return model.to(dtype=dtype).to_empty(device=device)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        dtype: torch.dtype | str | None = None,
        device: str | int | torch.device | None = None,
        strict: bool = False,
        ignore_mismatched_sizes: bool = False,
        allow_pickle: bool = False,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool | None = None,
        token: str | bool | None = None,
        output_loading_info: bool = False,
        **config_overrides: Any,
    ) -> "PreTrainedModel":
        """Load a checkpoint folder or hub id. Extra keywords override config fields (`num_labels=3`)."""
        from .hub import resolve_model_folder

        folder = resolve_model_folder(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        data = read_config_dict(folder)
        if cls.config_class.model_type and data.get("model_type") != cls.config_class.model_type:
            raise UnsupportedModelError(
                f"{folder} holds a {data.get('model_type')!r} checkpoint, but {cls.__name__} is for "
                f"{cls.config_class.model_type!r}; use the matching Auto class (e.g. AutoModel.from_pretrained)."
            )
        config = cls.config_class.from_dict(data, **config_overrides)
        config.name_or_path = str(name_or_path)
        state = read_state_dict(folder, allow_pickle=allow_pickle)
        model = cls._build_empty(config, resolve_dtype(dtype, config), resolve_device(device))
        report = load_into_model(model, state, strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes)
        model.loading_report = report
        model.eval()
        return (model, report) if output_loading_info else model

    def save_pretrained(self, save_directory: str | os.PathLike, *, max_shard_size: int | str = "5GB") -> Path:
        """Write `config.json` and `model.safetensors` in the hub layout (tied copies written once)."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.architectures = [type(self).__name__]
        self.config.dtype = str(self.dtype).replace("torch.", "")
        self.config.save_pretrained(folder)
        state = {k: v for k, v in self.state_dict().items() if k not in set(self.tied_targets())}
        save_state_dict(state, folder, max_shard_size=max_shard_size)
        return folder

    # -- conveniences -----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self, only_trainable: bool = False) -> int:
        seen: set[int] = set()
        total = 0
        for p in self.parameters():
            if id(p) in seen or (only_trainable and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
        return total


@contextlib.contextmanager
def collect_internals(model: nn.Module, attentions: bool, hidden_states: bool) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Gather per-layer attention probabilities and hidden states through the hook points.

    Used by `output_attentions=True` / `output_hidden_states=True`: only then do the
    attention modules leave the fused sdpa path.
    """
    found: dict[str, list[torch.Tensor]] = {"attentions": [], "hidden_states": []}
    with contextlib.ExitStack() as stack:
        caches = {}
        if attentions:
            caches["attentions"] = stack.enter_context(capture(model, "attn_probs", detach=False))
        if hidden_states:
            caches["hidden_states"] = stack.enter_context(capture(model, "hidden_state", detach=False))
        yield found
        for key, cache in caches.items():
            found[key].extend(cache.values())


def packing_for(model: nn.Module, attention_mask: torch.Tensor | None) -> Packing | None:
    """Inference only: dense layers on real tokens, unless a hook point is watching.

    Training keeps the padded path, because losses over all positions (question answering
    spans) see the values under padding and must equal the reference's. Hooks expect full
    (B, T, ...) tensors.
    """
    if torch.is_grad_enabled() or not Packing.worthwhile(attention_mask):
        return None
    points = model.__dict__.get("_hook_points")
    if points is None:
        points = model.__dict__["_hook_points"] = list(hook_points(model).values())
    if any(p.active for p in points):
        return None
    return Packing(attention_mask)


def as_tuple(tensors: list[torch.Tensor], wanted: bool) -> tuple[torch.Tensor, ...] | None:
    return tuple(tensors) if wanted else None


def run_encoder(
    model: nn.Module,
    embed: Callable[[], torch.Tensor],
    stack: nn.Module,
    *,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    output_attentions: bool,
    output_hidden_states: bool,
) -> BaseModelOutput:
    """The body every encoder's forward shares: embed, run the layer stack, gather what was asked for."""
    if (input_ids is None) == (inputs_embeds is None):
        raise InputError("pass exactly one of input_ids or inputs_embeds")
    with collect_internals(model, output_attentions, output_hidden_states) as internals:
        x = embed()
        x = stack(x, additive_mask(attention_mask, x.dtype), packing_for(model, attention_mask))
    return BaseModelOutput(
        last_hidden_state=x,
        hidden_states=as_tuple(internals["hidden_states"], output_hidden_states),
        attentions=as_tuple(internals["attentions"], output_attentions),
    )


# -- losses shared by the task heads -----------------------------------------------------------
def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config: PretrainedConfig) -> torch.Tensor:
    """Regression for one label, cross-entropy for class ids, BCE for multi-hot labels (as the reference)."""
    num_labels = config.num_labels
    problem = config.problem_type
    if problem is None:
        if num_labels == 1:
            problem = "regression"
        elif labels.dtype in (torch.long, torch.int):
            problem = "single_label_classification"
        else:
            problem = "multi_label_classification"
    if problem == "regression":
        return F.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype)) if num_labels == 1 else F.mse_loss(logits, labels.to(logits.dtype))
    if problem == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over tokens; label -100 marks tokens to ignore."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor, end_positions: torch.Tensor) -> torch.Tensor:
    """Question answering: mean of start and end cross-entropies; positions outside the input are ignored."""
    n = start_logits.shape[1]
    start = start_positions.reshape(-1).clamp(0, n)
    end = end_positions.reshape(-1).clamp(0, n)
    return (F.cross_entropy(start_logits, start, ignore_index=n) + F.cross_entropy(end_logits, end, ignore_index=n)) / 2
