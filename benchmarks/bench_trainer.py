"""Training throughput: our Trainer vs the reference library's Trainer, and the cockpit's UI cost.

1. examples/s of `workbench.Trainer` vs `transformers.Trainer` fine-tuning the embedded
   all-MiniLM-L6-v2 (same weights, same data, same settings: batch 16, AdamW, linear schedule,
   max length 64, no evaluation or saving); each library uses its own tokenizer and padding
   collator. Runs alternate, the median of `--repeats` is reported, and the ratio printed.
2. UI throttling overhead: our Trainer with the FineTune cockpit's callback (panel refreshes,
   throttled to 4/s, eval + probe updates) vs the same run without it, on a tiny model where
   steps are fastest (the worst case) and on MiniLM. Goal: <= 5%.
3. Cockpit speed: examples/s of a FineTune cockpit run (default runner: on CPU a worker process) vs the
   headless Trainer in this process's main thread, same arguments, data, held-out split and metrics (the
   cockpit evaluates and saves at the epoch's end: so does the headless run), after the main thread has used
   torch's thread pool (as a notebook kernel has); the thread runner is measured too (what the cockpit did
   before). Goal: cockpit >= 0.95x headless. `--cockpit-only` runs just this.

    python benchmarks/bench_trainer.py            # CPU
    python benchmarks/bench_trainer.py --bf16     # on a GPU machine (bf16 autocast on both)
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

DATA = ROOT / "data" / "sentiment"
LABELS = {0: "negative", 1: "positive"}


# every run's output_dir (checkpoints: ~700 MB per cockpit run) inside one folder, removed when the script ends
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench_trainer_")


def scratch() -> str:
    return tempfile.mkdtemp(dir=_SCRATCH.name)


MODEL_FOLDER: Path | None = None  # --model-folder: a MiniLM-shaped checkpoint elsewhere (e.g. on a GPU machine)


def minilm_folder() -> Path:
    if MODEL_FOLDER is not None:
        return MODEL_FOLDER
    from workbench.embedded import embedded_folder

    return embedded_folder("sentence-transformers/all-MiniLM-L6-v2")


def raw_data():
    from datasets import load_dataset

    return load_dataset("csv", data_files={"train": str(DATA / "train.csv"), "validation": str(DATA / "validation.csv")})


def ours_run(steps: int, batch: int, bf16: bool, seed_state: dict) -> float:
    import workbench as wb
    from workbench.training import Trainer, TrainingArguments, tokenize_dataset

    model = wb.AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2, id2label=LABELS)
    model.load_state_dict(seed_state)
    tok = wb.AutoTokenizer.from_pretrained(minilm_folder())
    train = tokenize_dataset(raw_data()["train"], tok, config=model.config, max_length=64)
    args = TrainingArguments(output_dir=scratch(), max_steps=steps, per_device_train_batch_size=batch,
                             learning_rate=5e-5, logging_steps=10, save_strategy="no", disable_tqdm=True, bf16=bf16)
    trainer = Trainer(model, args, train, processing_class=tok)
    start = time.perf_counter()
    trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def reference_run(steps: int, batch: int, bf16: bool, seed_state: dict) -> float:
    import transformers

    transformers.logging.set_verbosity_error()
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(minilm_folder()), num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    model.load_state_dict(seed_state)
    tok = transformers.AutoTokenizer.from_pretrained(str(minilm_folder()))
    label2id = {v: k for k, v in LABELS.items()}
    train = raw_data()["train"].map(
        lambda b: {**tok(b["text"], truncation=True, max_length=64), "labels": [label2id[x] for x in b["label"]]},
        batched=True, remove_columns=["text", "label"])
    args = transformers.TrainingArguments(
        output_dir=scratch(), max_steps=steps, per_device_train_batch_size=batch, learning_rate=5e-5,
        logging_steps=10, save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
        bf16=bf16,  # the reference's default optimizer (fused AdamW), as ours
        dataloader_num_workers=0, use_cpu=not torch.cuda.is_available())
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train,
                                   data_collator=transformers.DataCollatorWithPadding(tok), processing_class=tok)
    start = time.perf_counter()
    trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


class _Timed:
    """Wraps the cockpit callback's on_* methods and adds up the seconds spent inside them."""

    def __init__(self, callback) -> None:
        self.seconds = 0.0
        for name in ("on_fit_start", "on_step_end", "on_log", "on_eval_end", "on_save", "on_fit_end"):
            setattr(callback, name, self._wrap(getattr(callback, name)))

    def _wrap(self, fn):
        def timed(*args):
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.seconds += time.perf_counter() - start
        return timed


def cockpit_overhead(model_kind: str, steps: int, repeats: int) -> tuple[float, float, float]:
    """Median train_runtime (s) without and with the cockpit's callback (both in a background thread,
    as the cockpit trains), and the median share of the run spent inside the cockpit's callback."""
    import workbench as wb
    from widgets.finetune import FineTune

    tok = wb.AutoTokenizer.from_pretrained(minilm_folder())

    def make_model():
        torch.manual_seed(0)
        if model_kind == "tiny":
            cfg = wb.AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                          intermediate_size=64, vocab_size=tok.vocab_size, id2label=LABELS)
            return wb.AutoModelForSequenceClassification.from_config(cfg)
        return wb.AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2, id2label=LABELS)

    data = raw_data()
    plain, with_ui, inside = [], [], []
    for r in range(repeats):
        if r % 2:  # alternate which one runs first (warm caches, a neighbour's load)
            plain.append(_plain_runtime(make_model, tok, data, steps))
        panel = FineTune(model=make_model(), tokenizer=tok, dataset=data["train"], eval_dataset=data["validation"],
                         max_steps=steps, eval_steps=steps // 2, logging_steps=1, batch_size=16, max_length=64,
                         learning_rate=1e-4, output_dir=scratch())
        timer = _Timed(panel.callback)
        panel.start(wait=True)
        assert panel.error == "", panel.error
        with_ui.append(panel.trainer.state.train_runtime)
        inside.append(timer.seconds / panel.trainer.state.train_runtime)
        if not r % 2:
            plain.append(_plain_runtime(make_model, tok, data, steps, panel._arguments()))
    return statistics.median(plain), statistics.median(with_ui), statistics.median(inside)


def _plain_runtime(make_model, tok, data, steps: int, args=None) -> float:
    """The cockpit's run without the cockpit: same arguments, data, eval and metrics."""
    from widgets.finetune import FineTune
    from workbench.training import Trainer, classification_metrics, tokenize_dataset

    model = make_model()
    if args is None:
        args = FineTune(model=model, tokenizer=tok, dataset=data["train"], max_steps=steps, eval_steps=steps // 2,
                        logging_steps=1, batch_size=16, max_length=64, learning_rate=1e-4)._arguments()
    args.output_dir = scratch()
    train = tokenize_dataset(data["train"], tok, config=model.config, max_length=64)
    evals = tokenize_dataset(data["validation"], tok, config=model.config, max_length=64)
    trainer = Trainer(model, args, train, evals, processing_class=tok, compute_metrics=classification_metrics)
    threads = torch.get_num_threads()

    def train() -> None:  # in a background thread, like the cockpit
        torch.set_num_threads(threads)
        trainer.train()

    worker = threading.Thread(target=train)
    worker.start()
    worker.join()
    return trainer.state.train_runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--skip-ui", action="store_true", help="only the Trainer vs reference comparison")
    parser.add_argument("--skip-speed", action="store_true", help="only the cockpit overhead")
    parser.add_argument("--cockpit-only", action="store_true", help="only the cockpit (worker) vs headless speed")
    parser.add_argument("--model-folder", type=Path, default=None, help="default: the embedded all-MiniLM-L6-v2")
    opts = parser.parse_args()
    global MODEL_FOLDER
    MODEL_FOLDER = opts.model_folder
    logging.disable(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore")
    import workbench as wb

    torch.manual_seed(0)
    seed_state = wb.AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2, id2label=LABELS).state_dict()
    seed_state = {k: v.clone() for k, v in seed_state.items()}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device}; MiniLM-L6 fine-tuning, batch {opts.batch}, {opts.steps} steps, bf16={opts.bf16}")
    if opts.cockpit_only:
        cockpit_speed(max(10, opts.steps), opts.batch, opts.repeats)
        return
    if not opts.skip_speed:
        compare(opts, seed_state)
    if opts.skip_ui:
        return
    for kind, steps in (("tiny", 200), ("minilm", max(10, opts.steps))):
        plain, ui, inside = cockpit_overhead(kind, steps, opts.repeats)
        print(f"cockpit overhead ({kind}, {steps} steps, logging every step, median of {opts.repeats}): "
              f"time inside the cockpit's callback {100 * inside:.2f}% of the run; end to end without {plain:.2f} s, "
              f"with {ui:.2f} s -> {100 * (ui / plain - 1):+.1f}%  (goal <= 5%)")
    cockpit_speed(max(10, opts.steps), opts.batch, opts.repeats)


def cockpit_speed(steps: int, batch: int, repeats: int) -> None:
    """Median examples/s: the cockpit with its default runner, with the thread runner, and headless."""
    import workbench as wb
    from widgets.finetune import FineTune
    from workbench.training import Trainer, classification_metrics

    torch.ones(256, 256) @ torch.ones(256, 256)  # the kernel's main thread has used torch's OpenMP pool
    tok = wb.AutoTokenizer.from_pretrained(minilm_folder())
    data = raw_data()

    def model():
        torch.manual_seed(0)
        return wb.AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2, id2label=LABELS)

    def cockpit(runner: str) -> tuple[float, float]:
        panel = FineTune(model=model(), tokenizer=tok, dataset=data["train"], max_steps=steps, eval_steps=0,
                         logging_steps=1, batch_size=batch, max_length=64, learning_rate=1e-4,
                         output_dir=scratch(), runner=runner)
        start = time.perf_counter()
        panel.start(wait=True)
        wall = time.perf_counter() - start
        assert panel.error == "" and panel._runner.kind == ("process" if runner == "auto" else runner), panel.error
        state = panel.trainer.state
        panel._runner.close()
        return state.examples_seen / state.train_runtime, state.examples_seen / wall

    def headless() -> float:
        """The same run without the cockpit: the data, held-out split, arguments and metrics the cockpit prepares
        (so it evaluates and saves a checkpoint at the epoch's end as the cockpit's run does), no callbacks."""
        panel = FineTune(model=model(), tokenizer=tok, dataset=data["train"], max_steps=steps, eval_steps=0,
                         logging_steps=1, batch_size=batch, max_length=64, learning_rate=1e-4,
                         output_dir=scratch())
        run = panel._prepare()
        trainer = Trainer(run.model, run.args, run.train_dataset, run.eval_dataset, processing_class=tok,
                          compute_metrics=classification_metrics)
        trainer.train()
        return trainer.state.examples_seen / trainer.state.train_runtime

    worker, worker_wall, thread, plain = [], [], [], []
    for r in range(repeats):  # alternate the order: a neighbour's load hits each in turn
        order = (0, 1, 2) if r % 2 == 0 else (2, 1, 0)
        for which in order:
            if which == 0:
                rate, wall = cockpit("auto")
                worker.append(rate)
                worker_wall.append(wall)
            elif which == 1:
                thread.append(cockpit("thread")[0])
            else:
                plain.append(headless())
        print(f"  repeat {r + 1}: headless {plain[-1]:.1f}, worker {worker[-1]:.1f} (wall {worker_wall[-1]:.1f}), "
              f"thread {thread[-1]:.1f} examples/s", flush=True)
    med = statistics.median
    runs = lambda xs: ", ".join(f"{x:.1f}" for x in xs)  # noqa: E731
    print(f"cockpit speed (MiniLM-L6, batch {batch}, {steps} steps, median of {repeats}):")
    print(f"  headless Trainer (main thread):   {med(plain):7.1f} examples/s  (runs: {runs(plain)})")
    print(f"  cockpit, worker process:          {med(worker):7.1f} examples/s  (runs: {runs(worker)}) "
          f"-> {med(worker) / med(plain):.2f}x headless (goal >= 0.95x)")
    print(f"    the same, Start to finished:    {med(worker_wall):7.1f} examples/s  (worker start-up and hand-back "
          f"included) -> {med(worker_wall) / med(plain):.2f}x")
    print(f"  cockpit, thread runner (before):  {med(thread):7.1f} examples/s  (runs: {runs(thread)}) "
          f"-> {med(thread) / med(plain):.2f}x headless")


def compare(opts: argparse.Namespace, seed_state: dict) -> None:
    ours_run(2, opts.batch, opts.bf16, seed_state)  # warm-up (allocator, kernels)
    reference_run(2, opts.batch, opts.bf16, seed_state)
    ours, ref = [], []
    for _ in range(opts.repeats):
        ours.append(ours_run(opts.steps, opts.batch, opts.bf16, seed_state))
        ref.append(reference_run(opts.steps, opts.batch, opts.bf16, seed_state))
    o, r = statistics.median(ours), statistics.median(ref)
    print(f"workbench Trainer:    {o:8.1f} examples/s  (runs: {', '.join(f'{x:.1f}' for x in ours)})")
    print(f"transformers Trainer: {r:8.1f} examples/s  (runs: {', '.join(f'{x:.1f}' for x in ref)})")
    print(f"ratio ours/reference: {o / r:.2f}x  (goal >= {1.2 if opts.bf16 else 1.0}x)")


if __name__ == "__main__":
    main()
