"""Training: `Trainer`, `TrainingArguments`, callbacks, the `TrainerState` the UI reads, data helpers,
and the headless preparation of a classification run (`prepare_classification`)."""

from .arguments import TrainingArguments
from .callbacks import ProgressCallback, TrainerCallback
from .checkpoint import CheckpointError, checkpoints_in
from .data import (DataCollatorForMaskClassification, DataCollatorWithPadding, LabelMismatchError, label_mapping, load_local_dataset, load_splits,
                   tokenize_dataset)
from .metrics import accuracy, classification_metrics, confusion_matrix, precision_recall_f1
from .prepare import Prepared, load_classifier, predict_labels, prepare_classification
from .state import TrainerState
from .trainer import EvalPrediction, PredictionOutput, Trainer, TrainingDivergedError, set_seed

__all__ = [
    "Trainer", "TrainingArguments", "TrainerCallback", "ProgressCallback", "TrainerState",
    "DataCollatorWithPadding", "DataCollatorForMaskClassification", "LabelMismatchError", "load_local_dataset", "load_splits", "label_mapping", "tokenize_dataset",
    "Prepared", "load_classifier", "predict_labels", "prepare_classification",
    "accuracy", "classification_metrics", "confusion_matrix", "precision_recall_f1",
    "EvalPrediction", "PredictionOutput", "TrainingDivergedError", "CheckpointError", "checkpoints_in", "set_seed",
]
