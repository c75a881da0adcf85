"""The training data path, tried the way a confused student and an attacker would.

Bad labels reaching the Trainer directly, an output_dir that cannot take checkpoints, damaged,
swapped or hostile checkpoint files, folders that are not checkpoints, and continuing a finished
run for more steps. Every error must name the problem and the fix, arrive before step 1, and
leave every checkpoint a user made as it was. Tiny models (vocabulary 64, width 16), so the file
runs in seconds.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import workbench as wb
import workbench.training as training
from workbench.errors import InputError, WorkbenchError
from workbench.training import LabelMismatchError, Trainer, TrainerCallback, TrainingArguments, checkpoints_in

VOCAB = 64
FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pt", "trainer_state.json", "model.safetensors")


# -- tiny models, rows and runs ------------------------------------------------------------------------
def tiny_model(num_labels: int = 2, seed: int = 0, head: str = "sequence"):
    torch.manual_seed(seed)
    id2label = {0: "negative", 1: "positive"} if num_labels == 2 else None
    cfg = wb.AutoConfig.for_model("bert", hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                  vocab_size=VOCAB, max_position_embeddings=16, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, num_labels=num_labels, id2label=id2label)
    auto = wb.AutoModelForTokenClassification if head == "token" else wb.AutoModelForSequenceClassification
    return auto.from_config(cfg)


def rows(labels=None, n: int = 16, length: int = 8, drop: str | None = None) -> list[dict]:
    """Equal-length rows (no tokenizer needed); `labels` overrides the learnable default, one per row."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        ids = rng.integers(5, VOCAB, size=length).tolist()
        row = {"input_ids": ids, "attention_mask": [1] * length, "labels": int(sum(ids) % 2)}
        if labels is not None:
            row["labels"] = labels[i % len(labels)]
        if drop:
            row.pop(drop)
        out.append(row)
    return out


def args_for(output_dir, **kw) -> TrainingArguments:
    base = dict(output_dir=str(output_dir), max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3,
                lr_scheduler_type="constant", logging_steps=1, save_strategy="steps", save_steps=2,
                disable_tqdm=True, seed=7)
    base.update(kw)
    return TrainingArguments(**base)


def losses(trainer: Trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class CountSteps(TrainerCallback):
    def __init__(self) -> None:
        self.steps = 0

    def on_step_end(self, state, trainer) -> None:
        self.steps += 1


def fails_before_step_one(trainer: Trainer, error: type[BaseException], match: str, **train_kw) -> BaseException:
    counter = CountSteps()
    trainer.add_callback(counter)
    with pytest.raises(error, match=match) as caught:
        trainer.train(**train_kw)
    assert counter.steps == 0, "the error came after training had started"
    return caught.value


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state, trainer) -> None:
        state.should_stop = state.global_step == self.step


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A 6-step run stopped at step 4, with checkpoint-2 and checkpoint-4 (constant LR)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    Trainer(tiny_model(), args_for(out), rows(), callbacks=[StopAt(4)]).train()
    assert [p.name for p in checkpoints_in(out)] == ["checkpoint-2", "checkpoint-4"]
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 4-step run with checkpoint-2 and checkpoint-4 (constant LR)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    Trainer(tiny_model(), args_for(out, max_steps=4), rows()).train()
    assert [p.name for p in checkpoints_in(out)] == ["checkpoint-2", "checkpoint-4"]
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    """Tests damage a copy; the module's runs stay intact."""
    return Path(shutil.copytree(run, tmp_path / "run"))


@pytest.fixture
def run(stopped, tmp_path) -> Path:
    return copy_of(stopped, tmp_path)


# -- labels that reach the Trainer directly (not through tokenize_dataset) --------------------------------
def test_string_labels_outside_the_label_map_given_directly(tmp_path):
    labels = ["positive", "negative", "neutral"]
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows(labels))
    direct = fails_before_step_one(trainer, LabelMismatchError, r"\['neutral'\].*num_labels=3.*ignore_mismatched_sizes=True")
    # the helper path says the same thing: one check, two doors
    from workbench.training import label_mapping

    with pytest.raises(LabelMismatchError) as helper:
        label_mapping(labels, tiny_model().config)
    fix = re.search(r"from_pretrained\(.*", str(helper.value)).group(0)
    assert fix in str(direct), (fix, str(direct))


def test_label_names_in_the_map_but_not_mapped_to_ids(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows(["positive", "negative"]))
    fails_before_step_one(trainer, LabelMismatchError, r"'negative'.*class ids.*label2id.*tokenize_dataset")


def test_integer_label_5_on_a_two_class_head(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows([0, 1, 5]))
    # today: IndexError: Target 5 is out of bounds (deep inside cross_entropy, at step 1)
    fails_before_step_one(trainer, LabelMismatchError, r"\[5\].*2 classes.*num_labels=6")


def test_negative_label(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows([0, 1, -1]))
    fails_before_step_one(trainer, LabelMismatchError, r"\[-1\].*start at 0.*-100")


def test_float_labels_on_a_classification_head(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows([0.0, 1.0, 0.5]))
    fails_before_step_one(trainer, LabelMismatchError, r"0\.5.*integer class ids.*num_labels=1")


def test_rows_without_a_label_value(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows([0, 1, None]))
    fails_before_step_one(trainer, LabelMismatchError, r"None.*filter.*-100")


def test_labels_column_missing(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows(drop="labels"))
    fails_before_step_one(trainer, InputError, r"no 'labels' column.*\['input_ids', 'attention_mask'\].*tokenize_dataset")


def test_empty_dataset_given_as_a_list(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), [])
    fails_before_step_one(trainer, InputError, r"train_dataset is empty")


def test_eval_dataset_labels_are_checked_too(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "out"), rows(), eval_dataset=rows([0, 7]))
    with pytest.raises(LabelMismatchError, match=r"eval_dataset.*\[7\]"):
        trainer.evaluate()


def test_token_labels_out_of_range_while_minus_100_is_ignored(tmp_path):
    token_rows = [{**r, "labels": [-100, 1, 2, 0, 1, 2, 0, -100]} for r in rows()]
    ok = Trainer(tiny_model(num_labels=3, head="token"), args_for(tmp_path / "ok", max_steps=1, save_strategy="no"), token_rows)
    assert ok.train().global_step == 1  # -100 is the standard "ignore this token"
    bad = [{**r, "labels": [-100, 1, 2, 0, 7, 2, 0, -100]} for r in rows()]
    trainer = Trainer(tiny_model(num_labels=3, head="token"), args_for(tmp_path / "out"), bad)
    fails_before_step_one(trainer, LabelMismatchError, r"\[7\].*3 classes")


# -- output_dir: found before step 1, not at the first save ----------------------------------------------
def test_output_dir_is_an_existing_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    trainer = Trainer(tiny_model(), args_for(target, save_steps=500, max_steps=2), rows())
    fails_before_step_one(trainer, InputError, rf"output_dir.*{re.escape(str(target))}.*is a file")
    assert target.read_text() == "my notes"


def test_output_dir_below_a_file(tmp_path):
    blocker = tmp_path / "data.csv"
    blocker.write_text("a,b\n")
    trainer = Trainer(tiny_model(), args_for(blocker / "runs" / "one", save_steps=500, max_steps=2), rows())
    fails_before_step_one(trainer, InputError, rf"output_dir.*{re.escape(str(blocker))} is a file.*another output_dir")
    assert blocker.read_text() == "a,b\n"


def test_output_dir_not_writable(tmp_path):
    """A folder no one can write to, root included (CI runs as root, where chmod 0o500 does not stop writes):
    /proc/self is a kernel view where nothing can be created."""
    trainer = Trainer(tiny_model(), args_for(Path("/proc/self/wb-run"), save_steps=500, max_steps=2), rows())
    fails_before_step_one(trainer, InputError, r"output_dir=.*/proc/self/wb-run.* is not writable")


# -- resuming from damaged checkpoints: name the file, offer the previous checkpoint, touch nothing -------------
def damage(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:  # garbage
        path.write_bytes(bytes(range(256)) * 8)


def expect_damaged(trainer: Trainer, resume, name: str, previous: Path | None) -> str:
    model_before = weights(trainer.model)
    counter = CountSteps()
    trainer.add_callback(counter)
    with pytest.raises(WorkbenchError) as caught:
        trainer.train(resume_from_checkpoint=resume)
    err = caught.value
    assert type(err) is training.CheckpointError, repr(err)
    message = str(err)
    assert name in message, message
    if previous is not None:
        assert re.search(rf"resume_from_checkpoint=['\"]?{re.escape(str(previous))}", message), message
    assert counter.steps == 0
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in model_before.items()), "the model was half-loaded"
    return message


@pytest.mark.parametrize("how", ["missing", "truncated", "garbage"])
@pytest.mark.parametrize("name", FILES)
def test_resume_from_a_damaged_file(run, name, how):
    before = digest(run / "checkpoint-2")
    damage(run / "checkpoint-4" / name, how)
    left = digest(run / "checkpoint-4")
    trainer = Trainer(tiny_model(seed=3), args_for(run), rows())
    expect_damaged(trainer, True, name, run / "checkpoint-2")
    assert digest(run / "checkpoint-2") == before  # the earlier checkpoint is untouched
    assert digest(run / "checkpoint-4") == left  # and the damaged one is left for the user to inspect


def _swap_in_wrong_content(run: Path, case: str) -> None:
    target = run / "checkpoint-4" / case.split(":")[0]
    if case == "optimizer.pt":
        torch.save({"state": {}, "param_groups": []}, target)  # an optimizer of another model
    elif case == "scheduler.pt":
        shutil.copy(run / "checkpoint-2" / case, target)  # a file from another step
    elif case == "rng_state.pt":
        torch.save({"cpu": torch.zeros(3)}, target)
    elif case == "trainer_state.json":
        target.write_text('{"global_step": "four", "log_history": 3}')
    else:
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(target))
        first = sorted(tensors)[0]
        if case == "model.safetensors:ints":  # integers where float weights belong (a cast would hide it)
            tensors[first] = tensors[first].to(torch.int64)
        else:
            tensors.pop(first)
        save_file(tensors, str(target))


@pytest.mark.parametrize("case", [*FILES, "model.safetensors:ints"])
def test_resume_from_a_file_with_wrong_content(run, case):
    before = digest(run / "checkpoint-2")
    _swap_in_wrong_content(run, case)
    trainer = Trainer(tiny_model(seed=3), args_for(run), rows())
    expect_damaged(trainer, run / "checkpoint-4", case.split(":")[0], run / "checkpoint-2")
    assert digest(run / "checkpoint-2") == before


@pytest.mark.parametrize("name", ["optimizer.pt", "model.safetensors", "trainer_state.json"])
def test_a_checkpoint_file_that_links_outside_is_not_opened(run, tmp_path, name):
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    shutil.move(run / "checkpoint-4" / name, outside)  # a good file: only where it lives is wrong
    (run / "checkpoint-4" / name).symlink_to(outside)
    trainer = Trainer(tiny_model(seed=3), args_for(run), rows())
    message = expect_damaged(trainer, True, name, run / "checkpoint-2")
    assert "outside the checkpoint folder" in message, message


class Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("name,fmt", [("optimizer.pt", "zip"), ("scheduler.pt", "zip"), ("rng_state.pt", "zip"),
                                      ("optimizer.pt", "legacy")])
def test_a_pt_file_carrying_pickled_code_is_refused_not_run(run, tmp_path, name, fmt):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Payload(proof)))
    assert proof.exists()  # the payload is live: a plain unpickle runs it

    marker = tmp_path / "pwned"
    target = run / "checkpoint-4" / name
    if fmt == "zip":
        torch.save({"state": Payload(marker)}, target)
    else:
        target.write_bytes(pickle.dumps(Payload(marker)))
    trainer = Trainer(tiny_model(seed=3), args_for(run), rows())
    message = expect_damaged(trainer, True, name, run / "checkpoint-2")
    assert not marker.exists(), "the pickled code ran"
    assert re.search(r"refused|not loaded", message) and "code" in message, message


def test_every_checkpoint_file_is_read_with_weights_only(run, monkeypatch):
    calls = []
    real = torch.load

    def spy(f, *a, **kw):
        calls.append((Path(f).name, kw.get("weights_only")))
        return real(f, *a, **kw)

    monkeypatch.setattr(torch, "load", spy)
    Trainer(tiny_model(seed=3), args_for(run), rows()).train(resume_from_checkpoint=True)
    assert {n for n, _ in calls} >= {"optimizer.pt", "scheduler.pt", "rng_state.pt"}, calls
    assert all(flag is True for _, flag in calls), calls


def test_the_only_checkpoint_damaged_says_there_is_no_earlier_one(run):
    shutil.rmtree(run / "checkpoint-4")
    damage(run / "checkpoint-2" / "optimizer.pt", "truncated")
    trainer = Trainer(tiny_model(seed=3), args_for(run), rows())
    message = expect_damaged(trainer, True, "optimizer.pt", None)
    assert re.search(r"no earlier checkpoint.*without resume_from_checkpoint", message), message


def test_resume_into_a_model_of_another_shape(run):
    trainer = Trainer(tiny_model(num_labels=3), args_for(run), rows())
    fails_before_step_one(trainer, InputError, r"model\.safetensors.*classifier\.weight.*\[2, 16\].*\[3, 16\]",
                          resume_from_checkpoint=True)


def test_resume_with_another_batch_size(run):
    trainer = Trainer(tiny_model(), args_for(run, per_device_train_batch_size=8), rows())
    fails_before_step_one(trainer, InputError, r"batch.*4.*8", resume_from_checkpoint=run / "checkpoint-2")


# -- resume_from_checkpoint pointing at the wrong thing ------------------------------------------------------
@pytest.mark.parametrize("kind", ["output_dir", "model_folder", "missing", "file"])
def test_resume_from_something_that_is_not_a_checkpoint(run, tmp_path, kind):
    if kind == "output_dir":
        target, pattern = run, r"output_dir.*checkpoint-4.*resume_from_checkpoint=True"
    elif kind == "model_folder":
        target, pattern = tmp_path / "saved", r"saved model.*from_pretrained"
        tiny_model().save_pretrained(target)
    elif kind == "missing":
        target, pattern = tmp_path / "nowhere", r"does not exist"
    else:
        target, pattern = run / "checkpoint-4" / "config.json", r"is a file"
    trainer = Trainer(tiny_model(seed=3), args_for(tmp_path / "fresh"), rows())
    fails_before_step_one(trainer, InputError, pattern, resume_from_checkpoint=target)


def test_resume_true_when_there_is_no_checkpoint(tmp_path):
    trainer = Trainer(tiny_model(), args_for(tmp_path / "empty"), rows())
    fails_before_step_one(trainer, InputError, r"has no checkpoint.*start without resuming", resume_from_checkpoint=True)


# -- continuing a finished run for more steps ---------------------------------------------------------------
def test_continue_a_finished_constant_run_equals_one_uninterrupted_run(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    more = Trainer(tiny_model(seed=99), args_for(run, max_steps=8), rows())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        more.train(resume_from_checkpoint=True)
    assert not [w for w in caught if "schedule" in str(w.message)], [str(w.message) for w in caught]
    full = Trainer(tiny_model(), args_for(tmp_path / "full", max_steps=8), rows())  # same seeds, no stop
    full.train()
    assert more.state.global_step == 8 and more.state.stop_reason == "finished"
    assert losses(more) == losses(full)  # exact, step for step
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, more.model.state_dict()[key]), key


def test_continue_a_finished_linear_run_warns_how_the_schedule_changes(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_model(), args_for(out, max_steps=4, lr_scheduler_type="linear"), rows()).train()
    more = Trainer(tiny_model(seed=99), args_for(out, max_steps=8, lr_scheduler_type="linear"), rows())
    with pytest.warns(UserWarning, match=r"linear.*4 steps.*max_steps=8.*learning rate.*0\.0005") as caught:
        more.train(resume_from_checkpoint=True)
    assert caught[0].filename == __file__  # points at the user's train() line
    assert more.state.global_step == 8 and more.state.max_steps == 8


def test_resume_past_the_new_max_steps_is_clear(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    trainer = Trainer(tiny_model(seed=3), args_for(run, max_steps=2), rows())
    fails_before_step_one(trainer, InputError, r"checkpoint-4.*step 4.*max_steps=2", resume_from_checkpoint=True)
