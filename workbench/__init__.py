"""The Jupyter-native transformers workbench: the model core (headless, PyTorch).

Names are re-exported lazily (PEP 562) so `import workbench` stays cheap: torch and the
model families load only when something is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "pipeline": "workbench.pipelines",
    "AutoConfig": "workbench.auto",
    "AutoModel": "workbench.auto",
    "AutoModelForMaskedLM": "workbench.auto",
    "AutoModelForSequenceClassification": "workbench.auto",
    "AutoModelForTokenClassification": "workbench.auto",
    "AutoModelForQuestionAnswering": "workbench.auto",
    "AutoModelForPreTraining": "workbench.auto",
    "AutoTokenizer": "workbench.auto",
    "Tokenizer": "workbench.tokenizer",
    "PretrainedConfig": "workbench.config",
    "PreTrainedModel": "workbench.modeling",
    "capture": "workbench.hooks",
    "HookPoint": "workbench.hooks",
    "LoadReport": "workbench.weights",
    "WorkbenchError": "workbench.errors",
    "InputError": "workbench.errors",
    "Trainer": "workbench.training",
    "TrainingArguments": "workbench.training",
    "TrainerCallback": "workbench.training",
    "TrainerState": "workbench.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for editors and type checkers only
    from .auto import (  # noqa: F401
        AutoConfig,
        AutoModel,
        AutoModelForMaskedLM,
        AutoModelForPreTraining,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )
    from .hooks import HookPoint, capture  # noqa: F401
