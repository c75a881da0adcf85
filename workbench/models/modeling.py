"""The base every model family inherits: build, load, save, tie, initialise.

Loading resolves a name to a folder once (`workbench.hub`), opens the checkpoint
(`workbench.formats`), lets the family map a non-hub format onto its hub keys
(`checkpoint_converters`), builds the model on the meta device (no memory, no random init),
materialises it empty on the target device, initialises only what the checkpoint does not
provide, then copies the checkpoint in: fast, and a task head added to a bare encoder is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import torch
from torch import nn

from ..config import PretrainedConfig
from ..errors import UnsupportedModelError
from ..files import checkpoint_file, read_json_object
from ..formats import Checkpoint, open_checkpoint
from ..formats.safetensors import save_state_dict
from ..hub import allow_patterns_for, resolve_model_folder
from ..nn import quantized
from ..nn.attention import Packing
from ..nn.hooks import capture, hook_points
from ..placement import resolve_device, resolve_dtype
from ..weights import LoadReport, load_into_model

GENERATION_CONFIG = "generation_config.json"

# A family's converter: an opened checkpoint in another format -> (config.json as a dict, state dict in hub keys).
Converter = Callable[[Checkpoint], tuple[dict[str, Any], dict[str, torch.Tensor]]]


# Modules whose parameters `_init_weights` sets by type (a custom module's own `bias` is zeroed instead).
_STANDARD_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding, nn.LayerNorm, nn.GroupNorm,
                     nn.modules.batchnorm._BatchNorm)


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
    # checkpoint format -> the family's converter onto its hub keys (hub format needs none)
    checkpoint_converters: ClassVar[dict[str, Converter]] = {}
    # hook-point name -> the attention kind it records ("self", "causal", "cross", "patches"), for inspection
    attention_kinds: ClassVar[dict[str, str]] = {"attn_probs": "self"}
    # sibling linear layers that read the same input, computed in one call when they load 4-bit (nn.quantized)
    fused_projections: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        self.generation_defaults: dict[str, Any] = {}  # generation_config.json of the checkpoint, if any

    # -- weights -----------------------------------------------------------------------
    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Families name the scale differently (BERT: initializer_range, Whisper: init_std).
        std = getattr(self.config, "initializer_range", None) or getattr(self.config, "init_std", 0.02)
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            module.weight.normal_(0.0, std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)):
            if module.weight is not None:
                module.weight.fill_(1.0)
            if module.bias is not None:
                module.bias.zero_()
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
        # Parameters owned directly by a custom module (e.g. an LM head's bias).
        for name, param in module.named_parameters(recurse=False):
            if not isinstance(module, _STANDARD_MODULES) and name == "bias":
                param.zero_()

    def init_weights(self) -> None:
        self.apply(self._init_weights)
        self.tie_weights()

    def tied_pairs(self) -> dict[str, str]:
        """Target -> source of every parameter tied now (families with more ties than the word embeddings add theirs)."""
        pairs = dict(self.tied_weights) if getattr(self.config, "tie_word_embeddings", True) else {}
        return {t: s for t, s in pairs.items() if t not in self.__dict__.get("_untied", ())}

    def tied_targets(self) -> list[str]:
        return list(self.tied_pairs())

    def untie(self, target: str) -> None:
        """Keep `target` a parameter of its own: the checkpoint holds it with values other than its source's
        (saved untied whatever the config says), so tying would throw one of them away (as the reference does)."""
        self.__dict__.setdefault("_untied", set()).add(target)

    def tie_weights(self) -> None:
        """Make each tied target share its source's parameter (one tensor, one gradient)."""
        for target, source in self.tied_pairs().items():
            owner_name, _, attr = target.rpartition(".")
            setattr(self.get_submodule(owner_name), attr, self.get_parameter(source))

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: PretrainedConfig, *, dtype: torch.dtype | str | None = None, device: Any = None) -> "PreTrainedModel":
        """A randomly initialised model (for training from scratch and for tests)."""
        model = cls._build_empty(config, resolve_dtype(dtype, config), resolve_device(device))
        model.init_weights()
        model.loading_report = LoadReport(missing=sorted(model.state_dict()))  # every weight is random
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
        gguf_file: str | None = None,
        dequantize: bool = False,
        **config_overrides: Any,
    ) -> "PreTrainedModel":
        """Load a checkpoint folder or hub id (`gguf_file`: a `.gguf` file in it). Extra keywords override
        config fields (`num_labels=3`).

        GGUF files: on the CPU in float32, linear weights stored as Q4_0, Q4_1 or Q8_0 stay 4-bit
        (`workbench.nn.quantized.QuantizedLinear`: ~3x fewer bytes per token, bfloat16 arithmetic inside those
        layers); `dequantize=True` gives plain float32 layers instead (`nn.Linear`, GPT-2's Conv1D: exactly
        llama.cpp's dequantised values). Other block types (Q4_K, Q5_K, Q6_K) are always dequantised."""
        folder = resolve_model_folder(
            name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token,
            allow_patterns=allow_patterns_for(gguf_file),
        )
        model, report = cls.from_checkpoint(
            open_checkpoint(folder, allow_pickle=allow_pickle, gguf_file=gguf_file), dtype=dtype, device=device, strict=strict,
            ignore_mismatched_sizes=ignore_mismatched_sizes, dequantize=dequantize, **config_overrides,
        )
        model.config.name_or_path = str(name_or_path)
        return (model, report) if output_loading_info else model

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, *, dtype: Any = None, device: Any = None, strict: bool = False,
                        ignore_mismatched_sizes: bool = False, dequantize: bool = False,
                        **config_overrides: Any) -> tuple["PreTrainedModel", LoadReport]:
        """Build this class from an opened checkpoint (any format its family can convert); block-quantised
        linear weights stay 4-bit on the CPU in float32 unless `dequantize` (see `from_pretrained`)."""
        wanted = cls.config_class.model_type
        if wanted and checkpoint.model_type != wanted:
            raise UnsupportedModelError(
                f"{checkpoint.folder} holds a {checkpoint.model_type!r} checkpoint, but {cls.__name__} is for "
                f"{wanted!r}; use the matching Auto class (e.g. AutoModel.from_pretrained)."
            )
        state = None
        if checkpoint.format == "hub":
            config_dict = checkpoint.config
        elif checkpoint.format in cls.checkpoint_converters:
            config_dict, state = cls.checkpoint_converters[checkpoint.format](checkpoint)
        else:
            raise UnsupportedModelError(
                f"{checkpoint.folder} is a {checkpoint.format} checkpoint, which {cls.__name__} cannot read "
                f"(it reads: hub{''.join(', ' + f for f in cls.checkpoint_converters)})."
            )
        config = cls.config_class.from_dict(config_dict, **config_overrides)  # validated before any weight is read
        if state is None:
            state = checkpoint.load()
        model = cls._build_empty(config, resolve_dtype(dtype, config), resolve_device(device))
        report = load_into_model(model, state, strict=strict, ignore_mismatched_sizes=ignore_mismatched_sizes)
        blocks = checkpoint.metadata.get("quantized")
        if blocks and not dequantize and model.dtype == torch.float32 and quantized.supported(model.device):
            model.quantized_modules = quantized.quantize_linears(model, blocks)
            quantized.fuse_siblings(model, cls.fused_projections)
        model.loading_report = report
        model.generation_defaults = read_generation_defaults(checkpoint.folder)
        model.source_format = checkpoint.format
        model.eval()
        return model, report

    def save_pretrained(self, save_directory: str | os.PathLike, *, max_shard_size: int | str = "5GB") -> Path:
        """Write `config.json` and `model.safetensors` in the hub layout (tied copies written once)."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.architectures = [type(self).__name__]
        self.config.dtype = str(self.dtype).replace("torch.", "")
        self.config.save_pretrained(folder)
        state = {k: v for k, v in self.state_dict().items() if k not in set(self.tied_targets())}
        save_state_dict(state, folder, max_shard_size=max_shard_size)
        if self.generation_defaults:
            (folder / GENERATION_CONFIG).write_text(json.dumps(self.generation_defaults, indent=2, sort_keys=True) + "\n",
                                                    encoding="utf-8")
        return folder

    def push_to_hub(self, repo_id: str, *, commit_message: str | None = None, commit_description: str | None = None,
                    private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                    create_pr: bool = False, max_shard_size: int | str = "5GB", tags: list[str] | None = None) -> Any:
        """Upload what `save_pretrained` writes to the hub repo `repo_id` ('name' in your namespace, or 'org/name'),
        creating it if needed, as one commit; a model card is added when the repo has none. The token is `token`
        or your login (`hf auth login`, HF_TOKEN). Returns huggingface_hub's `CommitInfo`."""
        from ..sharing import object_card, push_to_hub

        name = type(self).__name__

        def card(full_id: str) -> str:
            return object_card(full_id, f"A `{name}` ({self.config.model_type})", name, "model",
                               metadata={"tags": ["workbench", *(tags or [])]})

        return push_to_hub(lambda folder: self.save_pretrained(folder, max_shard_size=max_shard_size), repo_id,
                           commit_message=commit_message or f"Upload {name}", commit_description=commit_description,
                           private=private, token=token, revision=revision, create_pr=create_pr, card=card)

    # -- conveniences -----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def untrained_weights(self) -> list[str]:
        """The weights that did not come from a checkpoint (freshly initialised): their outputs are random
        until the model is trained. Empty for a complete checkpoint."""
        report = getattr(self, "loading_report", None)
        return [] if report is None else [*report.missing, *(k for k, _, _ in report.mismatched)]

    def num_parameters(self, only_trainable: bool = False) -> int:
        seen: set[int] = set()
        total = 0
        for p in self.parameters():
            if id(p) in seen or (only_trainable and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
        return total

    def __getattr__(self, name: str) -> Any:
        if name == "generate":  # users of the reference library look here first
            raise AttributeError(
                f"{type(self).__name__} has no generate() method here: models do not own decoding loops. "
                "Call workbench.generate(model, **inputs, max_new_tokens=...) or use pipeline(...)."
            )
        return super().__getattr__(name)


def read_generation_defaults(folder: Path) -> dict[str, Any]:
    """`generation_config.json` as a dict ({} when absent); `workbench.generation` gives it meaning."""
    path = checkpoint_file(folder, GENERATION_CONFIG)
    return read_json_object(path) if path else {}


# -- what forward passes share ------------------------------------------------------------------
@contextlib.contextmanager
def collect_internals(model: nn.Module, attentions: bool, hidden_states: bool,
                      attention_names: str | tuple[str, ...] = "attn_probs") -> Iterator[dict[str, list[torch.Tensor]]]:
    """Gather per-layer attention probabilities and hidden states through the hook points.

    Used by `output_attentions=True` / `output_hidden_states=True`: only then do the
    attention modules leave the fused sdpa path.
    """
    found: dict[str, list[torch.Tensor]] = {"attentions": [], "hidden_states": []}
    with contextlib.ExitStack() as stack:
        caches = {}
        if attentions:
            caches["attentions"] = stack.enter_context(capture(model, attention_names, detach=False))
        if hidden_states:
            caches["hidden_states"] = stack.enter_context(capture(model, "hidden_state", detach=False))
        yield found
        for key, cache in caches.items():
            found[key].extend(cache.values())


def hooks_active(model: nn.Module) -> bool:
    """Whether any hook point of `model` is being captured (shortcuts that skip rows must not run then)."""
    points = model.__dict__.get("_hook_points")
    if points is None:
        points = model.__dict__["_hook_points"] = list(hook_points(model).values())
    return any(p.active for p in points)


def packing_for(model: nn.Module, attention_mask: torch.Tensor | None) -> Packing | None:
    """Inference only: dense layers on real tokens, unless a hook point is watching.

    Training keeps the padded path, because losses over all positions (question answering
    spans) see the values under padding and must equal the reference's. Hooks expect full
    (B, T, ...) tensors.
    """
    if torch.is_grad_enabled() or not Packing.worthwhile(attention_mask) or hooks_active(model):
        return None
    return Packing(attention_mask)


def sub_config(config_class: type[PretrainedConfig], data: dict[str, Any] | None, **defaults: Any) -> PretrainedConfig:
    """A backbone's config from the dict a dense model's config.json holds (`backbone_config`), the family's defaults
    under it; a backbone of another family is refused by name."""
    data = dict(data or {})
    wanted = config_class.model_type
    if data.get("model_type", wanted) != wanted:
        raise UnsupportedModelError(f"backbone model_type {data.get('model_type')!r} is not supported here; only "
                                    f"{wanted!r} is.")
    return config_class.from_dict({**defaults, **data})


def as_tuple(tensors: list[torch.Tensor], wanted: bool) -> tuple[torch.Tensor, ...] | None:
    return tuple(tensors) if wanted else None


def decoder_positions(attention_mask: torch.Tensor | None, past: int, t: int, device: torch.device) -> torch.Tensor:
    """Position ids (B or 1, t) of `t` new tokens after `past` cached ones. With a padding mask over all
    past + t tokens, positions count real tokens only (left padding starts each row at 0), as the
    reference's generation does; padding itself takes position 0."""
    if attention_mask is None:
        return torch.arange(past, past + t, device=device)[None]
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)[:, -t:]

