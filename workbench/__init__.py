"""The Jupyter-native transformers workbench: the model core (headless, PyTorch).

Names are re-exported lazily (PEP 562) so `import workbench` stays cheap: torch and the
model families load only when something is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "pipeline": "workbench.pipelines",
    "AutoConfig": "workbench.auto",
    "AutoModel": "workbench.auto",
    "AutoModelForMaskedLM": "workbench.auto",
    "AutoModelForCausalLM": "workbench.auto",
    "AutoModelForSequenceClassification": "workbench.auto",
    "AutoModelForTokenClassification": "workbench.auto",
    "AutoModelForQuestionAnswering": "workbench.auto",
    "AutoModelForPreTraining": "workbench.auto",
    "AutoTokenizer": "workbench.auto",
    "AutoModelForSpeechSeq2Seq": "workbench.auto",
    "AutoModelForSeq2SeqLM": "workbench.auto",
    "AutoModelForAudioClassification": "workbench.auto",
    "AutoModelForCTC": "workbench.auto",
    "AutoModelForImageClassification": "workbench.auto",
    "AutoModelForObjectDetection": "workbench.auto",
    "AutoModelForSemanticSegmentation": "workbench.auto",
    "AutoModelForUniversalSegmentation": "workbench.auto",
    "AutoBackbone": "workbench.auto",
    "AutoModelForDepthEstimation": "workbench.auto",
    "AutoModelForZeroShotImageClassification": "workbench.auto",
    "AutoModelForZeroShotObjectDetection": "workbench.auto",
    "AutoModelForMaskGeneration": "workbench.auto",
    "AutoModelForImageSegmentation": "workbench.pipelines.image_segmentation",
    "AutoProcessor": "workbench.auto",
    "WhisperForConditionalGeneration": "workbench.models.whisper",
    "Tokenizer": "workbench.tokenizer",
    "PretrainedConfig": "workbench.config",
    "PreTrainedModel": "workbench.models.modeling",
    "GenerationConfig": "workbench.generation",
    "TextIteratorStreamer": "workbench.generation",
    "generate": "workbench.generation",
    "attention_record": "workbench.inspect",
    "AttentionRecord": "workbench.inspect",
    "capture": "workbench.nn.hooks",
    "HookPoint": "workbench.nn.hooks",
    "LoadReport": "workbench.weights",
    "WorkbenchError": "workbench.errors",
    "InputError": "workbench.errors",
    "Trainer": "workbench.training",
    "TrainingArguments": "workbench.training",
    "TrainerCallback": "workbench.training",
    "TrainerState": "workbench.training",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # for editors and type checkers only
    from .auto import (  # noqa: F401
        AutoConfig,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForPreTraining,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )
    from .nn.hooks import HookPoint, capture  # noqa: F401
