"""Training: `Trainer`, `TrainingArguments`, callbacks, the `TrainerState` the UI reads, data helpers."""

from .arguments import TrainingArguments
from .callbacks import ProgressCallback, TrainerCallback
from .data import DataCollatorWithPadding, LabelMismatchError, load_local_dataset, label_mapping, tokenize_dataset
from .metrics import accuracy, classification_metrics, confusion_matrix, precision_recall_f1
from .state import TrainerState
from .trainer import EvalPrediction, PredictionOutput, Trainer, TrainingDivergedError, checkpoints_in, set_seed

__all__ = [
    "Trainer", "TrainingArguments", "TrainerCallback", "ProgressCallback", "TrainerState",
    "DataCollatorWithPadding", "LabelMismatchError", "load_local_dataset", "label_mapping", "tokenize_dataset",
    "accuracy", "classification_metrics", "confusion_matrix", "precision_recall_f1",
    "EvalPrediction", "PredictionOutput", "TrainingDivergedError", "checkpoints_in", "set_seed",
]
