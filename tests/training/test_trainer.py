"""Trainer: learning, accumulation, exact resume, checkpoint rotation, best model, metrics, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.errors import InputError
from workbench.training import (
    LabelMismatchError, Trainer, TrainerCallback, TrainingArguments, TrainingDivergedError, accuracy,
    checkpoints_in, classification_metrics, confusion_matrix, load_local_dataset, precision_recall_f1,
    tokenize_dataset,
)
from workbench.training.trainer import decay_parameter_names, lr_lambda

from tests.support import minilm_folder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "sentiment"


@pytest.fixture(scope="module")
def tokenizer():
    return wb.AutoTokenizer.from_pretrained(minilm_folder())


def tiny_model(tokenizer, dropout: float = 0.0, seed: int = 0, num_labels: int = 2):
    torch.manual_seed(seed)
    cfg = wb.AutoConfig.for_model(
        "bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        vocab_size=tokenizer.vocab_size, max_position_embeddings=64, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, id2label={0: "negative", 1: "positive"} if num_labels == 2 else None,
        num_labels=num_labels,
    )
    return wb.AutoModelForSequenceClassification.from_config(cfg)


@pytest.fixture(scope="module")
def splits(tokenizer):
    raw = load_local_dataset({"train": DATA / "train.csv", "validation": DATA / "validation.csv"}, split=None)
    model = tiny_model(tokenizer)
    train = tokenize_dataset(raw["train"], tokenizer, config=model.config, max_length=32)
    valid = tokenize_dataset(raw["validation"], tokenizer, config=model.config, max_length=32)
    return raw, train, valid


def args_for(tmp_path, **kw) -> TrainingArguments:
    base = dict(output_dir=str(tmp_path / "run"), learning_rate=2e-3, per_device_train_batch_size=8,
                logging_steps=1, save_strategy="no", disable_tqdm=True, seed=11)
    base.update(kw)
    return TrainingArguments(**base)


def losses(trainer: Trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def test_loss_decreases(tokenizer, splits, tmp_path):
    _, train, _ = splits
    small = train.select(range(16))
    trainer = Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=40, learning_rate=5e-3, lr_scheduler_type="constant"), small, processing_class=tokenizer)
    out = trainer.train()
    curve = losses(trainer)
    assert len(curve) == 40 and out.global_step == 40
    assert np.mean(curve[-5:]) < 0.5 * np.mean(curve[:5]), curve


def test_tokenized_columns_and_labels(splits):
    raw, train, _ = splits
    assert set(train.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    # labels mapped through the model's label2id
    assert [train[i]["labels"] for i in range(20)] == [int(raw["train"][i]["label"] == "positive") for i in range(20)]


def test_gradient_accumulation_equals_bigger_batch(tokenizer, splits, tmp_path):
    _, train, _ = splits
    data = train.select(range(48))
    runs = []
    for bs, ga in ((8, 1), (4, 2)):
        model = tiny_model(tokenizer, seed=3)
        trainer = Trainer(model, args_for(tmp_path / f"{bs}", max_steps=8, per_device_train_batch_size=bs,
                                          gradient_accumulation_steps=ga, weight_decay=0.01, warmup_steps=2),
                          data, processing_class=tokenizer)
        trainer.train()
        runs.append((losses(trainer), {k: v.detach().clone() for k, v in model.state_dict().items()}))
    (loss_a, params_a), (loss_b, params_b) = runs
    assert len(loss_a) == len(loss_b) == 8
    np.testing.assert_allclose(loss_a, loss_b, atol=1e-5)
    for key in params_a:
        torch.testing.assert_close(params_a[key], params_b[key], atol=1e-5, rtol=1e-4)


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state, trainer) -> None:
        if state.global_step == self.step:
            state.should_stop = True


def test_stop_then_resume_equals_uninterrupted_run(tokenizer, splits, tmp_path):
    _, train, _ = splits
    data = train.select(range(40))  # 5 micro-batches per epoch, so epochs end mid-accumulation
    kw = dict(max_steps=10, gradient_accumulation_steps=2, save_strategy="steps", save_steps=100, warmup_steps=2)

    full_model = tiny_model(tokenizer, dropout=0.1, seed=5)
    full = Trainer(full_model, args_for(tmp_path / "full", **kw), data, processing_class=tokenizer)
    full.train()

    first = Trainer(tiny_model(tokenizer, dropout=0.1, seed=5), args_for(tmp_path / "split", **kw), data,
                    processing_class=tokenizer, callbacks=[StopAt(4)])
    first.train()
    assert first.state.stop_reason == "stopped" and first.state.global_step == 4
    ckpts = checkpoints_in(tmp_path / "split" / "run")
    assert [p.name for p in ckpts] == ["checkpoint-4"]
    assert {"model.safetensors", "config.json", "optimizer.pt", "scheduler.pt", "rng_state.pt", "trainer_state.json"} <= {
        p.name for p in ckpts[0].iterdir()}

    torch.manual_seed(999)  # a different RNG state and a different init: the checkpoint must restore both
    resumed_model = tiny_model(tokenizer, dropout=0.1, seed=77)
    resumed = Trainer(resumed_model, args_for(tmp_path / "split", **kw), data, processing_class=tokenizer)
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.stop_reason == "finished" and resumed.state.global_step == 10
    assert losses(resumed) == losses(full)  # exact on CPU, step for step
    for key, value in full_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_save_total_limit_prunes(tokenizer, splits, tmp_path):
    _, train, _ = splits
    trainer = Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=10, save_strategy="steps", save_steps=2,
                                                      save_total_limit=2), train.select(range(32)), processing_class=tokenizer)
    trainer.train()
    assert [p.name for p in checkpoints_in(tmp_path / "run")] == ["checkpoint-8", "checkpoint-10"]


def test_best_model_selection(tokenizer, splits, tmp_path):
    _, train, valid = splits
    model = tiny_model(tokenizer)
    # greater_is_better=True on the loss: the best checkpoint is the worst-loss one, usually not the last
    args = args_for(tmp_path, max_steps=8, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2,
                    save_total_limit=1, load_best_model_at_end=True, metric_for_best_model="loss", greater_is_better=True)
    trainer = Trainer(model, args, train.select(range(64)), valid, processing_class=tokenizer, compute_metrics=classification_metrics)
    trainer.train()
    evals = [e for e in trainer.state.log_history if "eval_loss" in e]
    assert [e["step"] for e in evals] == [2, 4, 6, 8]
    best = max(evals, key=lambda e: e["eval_loss"])
    assert trainer.state.best_metric == best["eval_loss"]
    assert Path(trainer.state.best_model_checkpoint).name == f"checkpoint-{best['step']}"
    kept = [p.name for p in checkpoints_in(tmp_path / "run")]
    assert f"checkpoint-{best['step']}" in kept and "checkpoint-8" in kept and len(kept) <= 2
    # the model now holds the best checkpoint's weights: evaluating reproduces its loss
    assert trainer.evaluate()["eval_loss"] == pytest.approx(best["eval_loss"], abs=1e-6)


class EvaluateAt(TrainerCallback):
    """Asks for an evaluation the way the cockpit's button does: a flag on the state, no call."""

    def __init__(self, *steps: int) -> None:
        self.steps, self.evals, self.modes = steps, [], []

    def on_step_end(self, state, trainer) -> None:
        self.modes.append(trainer.model.training)
        if state.global_step in self.steps:
            state.should_evaluate = True

    def on_eval_end(self, state, trainer, metrics) -> None:
        self.evals.append((state.global_step, state.should_evaluate, metrics["step"]))


def test_should_evaluate_flag_evaluates_at_the_next_step_boundary(tokenizer, splits, tmp_path):
    _, train, valid = splits
    asked = EvaluateAt(3, 4)
    trainer = Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=6, eval_strategy="steps", eval_steps=4),
                      train.select(range(48)), valid.select(range(16)), processing_class=tokenizer,
                      compute_metrics=classification_metrics, callbacks=[asked])
    trainer.train()
    # step 3: asked; step 4: asked and due anyway (one evaluation, not two); nothing else
    assert asked.evals == [(3, False, 3), (4, False, 4)]  # the flag is cleared before on_eval_end fires
    logged = [e for e in trainer.state.log_history if "eval_loss" in e]
    assert [e["step"] for e in logged] == [3, 4] and "eval_accuracy" in logged[0]
    assert trainer.state.should_evaluate is False and asked.modes == [True] * 6  # back to training mode after it
    losses_with = losses(trainer)
    plain = Trainer(tiny_model(tokenizer), args_for(tmp_path / "plain", max_steps=6), train.select(range(48)),
                    processing_class=tokenizer)
    plain.train()
    assert losses(plain) == losses_with  # an evaluation does not disturb the training curve


def test_evaluate_and_predict(tokenizer, splits, tmp_path):
    _, _, valid = splits
    trainer = Trainer(tiny_model(tokenizer), args_for(tmp_path), eval_dataset=valid, processing_class=tokenizer,
                      compute_metrics=classification_metrics)
    metrics = trainer.evaluate()
    out = trainer.predict(valid)
    assert out.predictions.shape == (len(valid), 2)
    assert metrics["eval_accuracy"] == accuracy(out.predictions, valid["labels"])
    assert out.metrics["test_loss"] == pytest.approx(metrics["eval_loss"], abs=1e-6)


def test_schedules_and_decay_groups_match_reference(tokenizer):
    from torch import nn
    from transformers import get_scheduler
    from transformers.trainer_pt_utils import get_parameter_names

    # get_scheduler as the reference Trainer calls it: "constant" ignores the warmup steps, the others do not
    for kind in ("linear", "cosine", "constant", "constant_with_warmup"):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        ref = get_scheduler(kind, opt, num_warmup_steps=3, num_training_steps=20)
        expected = []
        for _ in range(21):
            expected.append(ref.get_last_lr()[0])
            opt.step()
            ref.step()
        ours = [lr_lambda(kind, 3, 20)(s) for s in range(21)]
        np.testing.assert_allclose(ours, expected, atol=1e-12)
    model = tiny_model(tokenizer)
    patterns = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
    assert decay_parameter_names(model) == set(get_parameter_names(model, [nn.LayerNorm], patterns))


def test_metrics_against_hand_computed_values():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([0, 1, 1, 1, 2, 0, 2])
    # by hand: class 0: tp1 fp1 fn1 -> P 1/2 R 1/2; class 1: tp2 fp1 fn0 -> P 2/3 R 1; class 2: tp2 fp0 fn1 -> P 1 R 2/3
    assert accuracy(preds, labels) == pytest.approx(5 / 7)
    assert confusion_matrix(preds, labels).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    macro = precision_recall_f1(preds, labels, "macro")
    f1s = [0.5, 2 * (2 / 3) / (2 / 3 + 1), 2 * (2 / 3) / (1 + 2 / 3)]
    assert macro["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert macro["recall"] == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert macro["f1"] == pytest.approx(sum(f1s) / 3)
    micro = precision_recall_f1(preds, labels, "micro")
    assert micro["precision"] == micro["recall"] == micro["f1"] == pytest.approx(5 / 7)
    logits = np.eye(3)[preds] * 2.0  # argmax of logits is used when scores are given
    assert accuracy(logits, labels) == pytest.approx(5 / 7)


# -- bad input -----------------------------------------------------------------------------------
def test_empty_dataset_is_a_clear_error(tokenizer, splits, tmp_path):
    raw, train, _ = splits
    with pytest.raises(InputError, match="empty"):
        Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=2), train.select([]), processing_class=tokenizer).train()
    with pytest.raises(InputError, match="empty"):
        tokenize_dataset(raw["train"].select([]), tokenizer)


def test_missing_columns_are_clear_errors(tokenizer, splits, tmp_path):
    raw, _, _ = splits
    with pytest.raises(InputError, match=r"no column\(s\) \['sentence'\].*columns are \['text', 'label'\]"):
        tokenize_dataset(raw["train"], tokenizer, text_column="sentence")
    with pytest.raises(InputError, match="no 'input_ids' column.*tokenize_dataset"):
        Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=2), raw["train"], processing_class=tokenizer).train()


def test_labels_not_in_label_map_offer_to_resize_head(tokenizer, splits):
    raw, _, _ = splits
    three = raw["train"].select(range(6)).map(lambda row, i: {"label": ["positive", "negative", "neutral"][i % 3]}, with_indices=True)
    with pytest.raises(LabelMismatchError, match=r"\['neutral'\].*num_labels=3.*ignore_mismatched_sizes=True"):
        tokenize_dataset(three, tokenizer, config=tiny_model(tokenizer).config)
    from datasets import Dataset

    ids = Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 1, 2, 3]})  # ids 2, 3 exceed 2 classes
    with pytest.raises(LabelMismatchError, match=r"\[2, 3\].*num_labels=4"):
        tokenize_dataset(ids, tokenizer, config=tiny_model(tokenizer).config)


class PoisonAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state, trainer) -> None:
        if state.global_step == self.step:
            with torch.no_grad():
                trainer.model.classifier.weight.fill_(float("nan"))


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tokenizer, splits, tmp_path):
    _, train, _ = splits
    trainer = Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=10, save_strategy="steps", save_steps=2),
                      train.select(range(64)), processing_class=tokenizer, callbacks=[PoisonAt(3)])
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 4.*checkpoint-2.*lower learning_rate"):
        trainer.train()
    assert trainer.state.global_step == 3 and not trainer.state.is_training
    kept = checkpoints_in(tmp_path / "run")
    assert [p.name for p in kept] == ["checkpoint-2"]
    from workbench.formats.safetensors import read_state_dict

    assert all(torch.isfinite(t).all() for t in read_state_dict(kept[0]).values())


def test_resume_with_nothing_to_resume_is_clear(tokenizer, splits, tmp_path):
    _, train, _ = splits
    trainer = Trainer(tiny_model(tokenizer), args_for(tmp_path, max_steps=2), train, processing_class=tokenizer)
    with pytest.raises(InputError, match="has no checkpoint"):
        trainer.train(resume_from_checkpoint=True)


def test_mixed_precision_on_cpu_is_a_clear_error(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU case, also on a GPU machine
    with pytest.raises(InputError, match="CUDA only"):
        Trainer(tiny_model(tokenizer), args_for(tmp_path, bf16=True))


# -- headless preparation of a classification run (what the FineTune cockpit calls) -----------------
def test_prepare_classification_from_files_with_a_model_object(tokenizer):
    from workbench.training import prepare_classification

    model = tiny_model(tokenizer)
    prep = prepare_classification(model, DATA / "train.csv", DATA / "validation.csv", tokenizer=tokenizer, max_length=16)
    assert prep.model is model and prep.tokenizer is tokenizer and prep.label_names == ["negative", "positive"]
    assert set(prep.train_dataset.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert len(prep.train_dataset) == len(prep.raw_train) and len(prep.eval_dataset) == len(prep.raw_eval)
    assert max(len(ids) for ids in prep.train_dataset["input_ids"]) == 16
    assert prep.eval_dataset["labels"][:10] == [int(v == "positive") for v in prep.raw_eval["label"][:10]]


def test_prepare_classification_loads_a_fresh_head_for_the_labels_and_holds_out_a_tenth():
    from datasets import Dataset

    from workbench.training import prepare_classification

    rows = [{"sentence": f"text {i}", "tag": ["sports", "food", "music"][i % 3]} for i in range(40)]
    prep = prepare_classification(str(minilm_folder()), Dataset.from_list(rows), text_column="sentence",
                                  label_column="tag", seed=3)
    assert prep.label_names == ["food", "music", "sports"] and prep.model.config.num_labels == 3
    assert prep.model.config.label2id == {"food": 0, "music": 1, "sports": 2}
    assert len(prep.raw_eval) == 4 and len(prep.raw_train) == 36  # no validation given: a tenth held out
    assert prep.tokenizer is not None and prep.model.config.name_or_path == str(minilm_folder())
    again = prepare_classification(prep.model, Dataset.from_list(rows), text_column="sentence", label_column="tag", seed=3)
    assert again.raw_eval["sentence"] == prep.raw_eval["sentence"]  # the same seed holds out the same rows


def test_prepare_classification_takes_the_validation_split_of_a_dataset_dict(tokenizer):
    from workbench.training import prepare_classification

    raw = load_local_dataset({"train": DATA / "train.csv", "validation": DATA / "validation.csv"}, split=None)
    prep = prepare_classification(tiny_model(tokenizer), raw, tokenizer=tokenizer)
    assert len(prep.raw_train) == len(raw["train"]) and len(prep.raw_eval) == len(raw["validation"])


def test_prepare_classification_errors_name_the_fix(tokenizer, tmp_path):
    from datasets import Dataset

    from workbench.training import prepare_classification

    rows = Dataset.from_list([{"text": "a", "label": "negative"}, {"text": "b", "label": "positive"}] * 5)
    model = tiny_model(tokenizer)
    with pytest.raises(InputError, match="no dataset: pass dataset="):
        prepare_classification(model, "", tokenizer=tokenizer)
    with pytest.raises(InputError, match="the dataset is empty"):
        prepare_classification(model, rows.select([]), tokenizer=tokenizer)
    with pytest.raises(InputError, match=r"no column\(s\) \['sentence'\]"):
        prepare_classification(model, rows, text_column="sentence", tokenizer=tokenizer)
    with pytest.raises(InputError, match="no model: pass model="):
        prepare_classification(None, rows, tokenizer=tokenizer)
    with pytest.raises(InputError, match="without a tokenizer.*pass tokenizer="):
        prepare_classification(model, rows)
    odd = Dataset.from_list([{"text": "c", "label": "neutral"}])
    with pytest.raises(LabelMismatchError, match=r"\['neutral'\].*num_labels=3"):
        prepare_classification(model, rows, odd, tokenizer=tokenizer)


def test_predict_labels_keeps_the_training_mode(tokenizer):
    from workbench.training import predict_labels

    model = tiny_model(tokenizer).train()
    preds = predict_labels(model, tokenizer, ["good", "bad film"], max_length=8)
    assert model.training and len(preds) == 2
    assert all(label in ("negative", "positive") and 0.5 <= score <= 1 for label, score in preds)
    predict_labels(model.eval(), tokenizer, ["good"])
    assert not model.training
