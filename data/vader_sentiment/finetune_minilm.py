"""Fine-tune the embedded all-MiniLM-L6-v2 on train.csv; report validation accuracy and the transfer
accuracy on the held-out movie-review snippets (test_movies.csv, never trained on).

    python data/vader_sentiment/finetune_minilm.py                 # 1 epoch, about 10 min on 2 CPU cores
    python data/vader_sentiment/finetune_minilm.py --max-steps 60  # the notebook's short run

Prints one line per evaluation and a final summary; the numbers in README.md come from this script.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from workbench import AutoModelForSequenceClassification, AutoTokenizer
from workbench.training import (Trainer, TrainingArguments, classification_metrics, load_local_dataset,
                                tokenize_dataset)

HERE = Path(__file__).resolve().parent
NAME = "sentence-transformers/all-MiniLM-L6-v2"  # resolves offline to the embedded copy
LABELS = {0: "negative", 1: "positive"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        NAME, num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    tokenizer = AutoTokenizer.from_pretrained(NAME)
    splits = load_local_dataset({s: str(HERE / f"{s}.csv") for s in ("train", "validation", "test_movies")}, split=None)
    data = {s: tokenize_dataset(splits[s], tokenizer, config=model.config, max_length=args.max_length) for s in splits}

    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model,
            TrainingArguments(output_dir=out, num_train_epochs=args.epochs, max_steps=args.max_steps,
                              per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=64,
                              learning_rate=args.learning_rate, warmup_ratio=0.1, weight_decay=0.01,
                              logging_steps=50, eval_strategy="no", save_strategy="no", seed=args.seed),
            data["train"], data["validation"], processing_class=tokenizer, compute_metrics=classification_metrics)
        before = trainer.evaluate(data["validation"])
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        validation = trainer.evaluate(data["validation"])
        movies = trainer.evaluate(data["test_movies"])

    print(f"train {len(data['train'])} rows, {trainer.state.global_step} steps of {args.batch_size}, "
          f"{seconds:.0f} s ({trainer.state.global_step * args.batch_size / seconds:.1f} examples/s)")
    print(f"validation accuracy: before {before['eval_accuracy']:.3f} (random head) -> after {validation['eval_accuracy']:.3f}"
          f", F1 {validation['eval_f1']:.3f} ({len(data['validation'])} rows: tweets and product reviews)")
    print(f"movie-review transfer accuracy: {movies['eval_accuracy']:.3f}, F1 {movies['eval_f1']:.3f} "
          f"({len(data['test_movies'])} held-out rows)")


if __name__ == "__main__":
    main()
