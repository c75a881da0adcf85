"""The FineTune cockpit driven from Python: start, watch, stop, resume, finish; errors in the panel."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset

import workbench as wb
from widgets._render.training import format_eta
from widgets.finetune import FineTune
from widgets.linechart import pack_series
from workbench.training import checkpoints_in

from tests.hubserver import fake_hub  # noqa: F401  (fixture)
from tests.support import minilm_folder


@pytest.fixture(scope="module")
def tokenizer():
    return wb.AutoTokenizer.from_pretrained(minilm_folder())


def tiny_model(tokenizer, labels=("negative", "positive")):
    torch.manual_seed(0)
    cfg = wb.AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                  vocab_size=tokenizer.vocab_size, max_position_embeddings=64,
                                  id2label=dict(enumerate(labels)))
    return wb.AutoModelForSequenceClassification.from_config(cfg)


@pytest.fixture(scope="module")
def dataset():
    import csv

    root = Path(__file__).resolve().parents[2] / "data" / "sentiment"
    with open(root / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:64]
    return Dataset.from_list(rows)


def wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def make(tokenizer, dataset, tmp_path, **kw):
    opts = dict(tokenizer=tokenizer, output_dir=str(tmp_path / "runs"), learning_rate=1e-3, batch_size=8,
                logging_steps=1, max_length=32, probe_texts=["I loved it, it was great.", "It was awful."])
    opts.update(kw)
    return FineTune(model=kw.pop("model", None) or tiny_model(tokenizer), dataset=dataset, **opts)


def test_start_watch_stop_resume_finish(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=120, eval_steps=30)
    began = time.monotonic()
    panel.start()
    assert wait_for(lambda: panel.step >= 3), panel.error
    assert panel.running and not panel.b_stop.disabled and panel.b_start.disabled
    panel.stop()
    assert panel.wait(60)
    assert not panel.running and panel.error == ""
    stopped_at = panel.trainer.state.global_step
    assert 3 <= stopped_at < 120 and panel.current_run.status == "stopped"
    ckpts = checkpoints_in(panel.trainer.args.output_dir)
    assert ckpts[-1].name == f"checkpoint-{stopped_at}"  # Stop saved a checkpoint
    assert not panel.b_resume.disabled
    assert f"step {stopped_at}/120" in panel.progress_text.value

    panel.resume(wait=True)
    assert panel.error == "" and panel.current_run.status == "finished"
    seconds = time.monotonic() - began
    assert panel.trainer.state.global_step == 120 and panel.progress.value == 120
    steps = panel.current_run.steps
    assert steps == sorted(steps) and steps[-1] == 120 and len(set(steps)) == len(steps)  # one curve across the resume
    evals = panel.current_run.evals
    assert [e["step"] for e in evals] == [30, 60, 90, 120]
    assert "accuracy" in panel.metrics_html.value and "<th>before</th>" in panel.probe_html.value
    assert "<th>after</th>" in panel.probe_html.value
    # the charts got float32 buffers with every logged point
    data = np.frombuffer(panel.loss_chart.data, np.float32).reshape(-1, 2)
    assert data.shape[0] == len(steps) and data[-1, 0] == 120
    # static summary for saved notebooks: PNG curves + metrics table
    assert 'src="data:image/png;base64,' in panel.static_html and "wb-finetune-metrics" in panel.static_html
    assert panel._repr_mimebundle_()["text/html"] == panel.static_html
    # throttled: at most 4 a second, plus the forced ones (2 starts, 4 evals, 2 ends, the stop)
    assert panel.callback.refreshes <= 4 * seconds + 12


def test_a_killed_worker_is_reported_in_the_panel(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=100_000, eval_steps=0)
    assert panel.runner == "auto"
    panel.start()
    assert wait_for(lambda: panel.step >= 2), panel.error
    assert panel._runner.kind == "process"  # on CPU the cockpit trains in a worker process
    panel._runner.kill()
    assert panel.wait(60)
    assert not panel.running and panel.current_run.status == "error"
    assert "The training process ended unexpectedly" in panel.error and "SIGKILL" in panel.error
    assert "start the run again" in panel.error  # no checkpoint yet: said so


def test_settings_are_traits_linked_to_the_form(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=7, eval_steps=3, lr_scheduler_type="cosine")
    assert (panel.learning_rate, panel.batch_size, panel.max_train_steps, panel.eval_steps) == (1e-3, 8, 7, 3)
    assert panel.lr_scheduler_type == "cosine" and panel.w_sched.value == "cosine"
    assert panel.model_name == "" and panel.w_model.value == "(model object)" and panel.w_model.disabled
    assert panel.dataset_name == "" and panel.w_dataset.disabled
    panel.w_batch.value = 4  # control -> trait
    panel.seed = 7  # trait -> control
    assert panel.batch_size == 4 and panel.w_seed.value == 7
    args = panel._arguments()
    assert (args.per_device_train_batch_size, args.seed, args.max_steps, args.eval_steps, args.lr_scheduler_type) == \
        (4, 7, 7, 3, "cosine")
    assert args.output_dir == str(tmp_path / "runs" / "run-1") and args.eval_strategy == "steps"
    state = panel.get_state()
    assert state["learning_rate"] == 1e-3 and state["text_column"] == "text"  # synced
    by_name = FineTune(model="some/model", dataset="data.csv")
    assert by_name.model_name == "some/model" and by_name.w_model.value == "some/model" and not by_name.w_model.disabled
    by_name.w_dataset.value = "other.csv"
    assert by_name.dataset_name == "other.csv"


def test_second_run_is_listed_and_overlaid(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=6)
    panel.start(wait=True)
    panel.w_lr.value = 5e-4
    panel.start(wait=True)
    assert panel.error == ""
    assert [r.name for r in panel.runs] == ["run 1", "run 2"]
    assert panel.runs[1].settings["learning_rate"] == 5e-4
    meta = panel.loss_chart.meta
    assert [m["name"] for m in meta] == ["run 1", "run 2"] and meta[0]["dash"] and not meta[1]["dash"]
    assert "run 2" in panel.history_html.value


def test_state_survives_redisplay(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=4)
    panel.start(wait=True)
    first = panel._repr_mimebundle_()
    second = panel._repr_mimebundle_()
    key = "application/vnd.jupyter.widget-view+json"
    assert first[key]["model_id"] == second[key]["model_id"] == panel.model_id
    assert panel.step == 4 and len(panel.loss_chart.data) > 0


def test_evaluate_now(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=3)
    panel.start(wait=True)
    before = len(panel.current_run.evals)
    metrics = panel.evaluate_now()
    assert "eval_accuracy" in metrics and len(panel.current_run.evals) == before + 1


def test_evaluate_now_while_training_sets_the_trainer_flag(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=2000, eval_steps=5000)  # no scheduled evaluation
    panel.start()
    assert wait_for(lambda: panel.step >= 3), panel.error
    assert panel.evaluate_now() is None  # not run from this thread: the trainer runs it at its next step
    assert wait_for(lambda: len(panel.current_run.evals) == 1), panel.error
    panel.stop()
    assert panel.wait(60) and panel.error == ""
    (evaluated,) = panel.current_run.evals
    assert evaluated["step"] >= 3 and "eval_accuracy" in evaluated and not panel.trainer.state.should_evaluate
    assert evaluated in panel.trainer.state.log_history and "accuracy" in panel.metrics_html.value


def test_bad_column_is_shown_in_panel(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=3, text_column="sentence")
    panel.start()
    assert "no column(s) ['sentence']" in panel.error and not panel.running
    panel.w_text.value = "text"  # fixing the form is enough: the panel is still alive
    panel.start(wait=True)
    assert panel.error == "" and panel.trainer.state.global_step == 3


def test_label_not_found_is_shown_in_panel(tokenizer, dataset, tmp_path):
    three = dataset.map(lambda row, i: {"label": ["positive", "negative", "neutral"][i % 3]}, with_indices=True)
    panel = make(tokenizer, three, tmp_path, max_steps=3)
    panel.start()
    assert "['neutral']" in panel.error and "num_labels=3" in panel.error and "ignore_mismatched_sizes=True" in panel.error


def test_empty_dataset_is_shown_in_panel(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset.select([]), tmp_path, max_steps=3)
    panel.start()
    assert "empty" in panel.error


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")])
def test_out_of_memory_is_shown_in_panel(tokenizer, dataset, tmp_path, error):
    panel = make(tokenizer, dataset, tmp_path, max_steps=20, eval_steps=2)
    original = panel.callback.on_step_end

    raised = []

    def boom(state, trainer):  # a worker samples its step events (at most 20/s): the first one from step 3 on
        original(state, trainer)
        if state.global_step >= 3 and not raised:
            raised.append(state.global_step)
            raise error

    panel.callback.on_step_end = boom
    panel.start(wait=True)
    assert "Out of memory" in panel.error and "lower the batch size" in panel.error
    assert f"checkpoint-{(raised[0] - 1) // 2 * 2}" in panel.error  # the last one saved before that step is named
    assert panel.current_run.status == "error" and not panel.running and not panel.b_resume.disabled
    panel.callback.on_step_end = original
    panel.resume(wait=True)  # and the panel still works: resume from that checkpoint
    assert panel.error == "" and panel.trainer.state.global_step == 20


def test_trained_model_alone_in_the_text_classifier(tokenizer, dataset, tmp_path):
    panel = make(tokenizer, dataset, tmp_path, max_steps=2)
    assert panel.b_alone.disabled
    panel.start(wait=True)
    panel.b_alone.click()
    result = panel.try_box.children[0]
    assert panel.error == "" and panel.try_box.children == (result,)
    assert type(result).__name__ == "TextClassifier"
    runs = result.runs
    result.text = "What a wonderful, moving film."
    assert wait_for(lambda: result.runs > runs and result.result, timeout=30), result.error
    # The classifier answers with the fine-tuned model's own labels and probabilities.
    assert sorted(r["label"] for r in result.result) == ["negative", "positive"]
    assert abs(sum(r["score"] for r in result.result) - 1.0) < 1e-4


def test_pure_helpers():
    data, meta = pack_series([{"name": "a", "x": [1, 2], "y": [0.5, 0.25]}, {"name": "b", "x": [3], "y": [9.0]}])
    assert data.dtype == np.float32 and data.shape == (3, 2)
    arr = np.frombuffer(data, np.float32)
    assert arr.tolist() == [1, 0.5, 2, 0.25, 3, 9]
    assert [(m["offset"], m["length"]) for m in meta] == [(0, 2), (2, 1)]
    assert format_eta(75) == "01:15" and format_eta(3725) == "1:02:05" and format_eta(None) == "--:--"


@pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")  # huggingface_hub's LFS upload, not ours
def test_try_it_compares_before_and_after_then_share(tokenizer, dataset, tmp_path, fake_hub, monkeypatch):
    import yaml
    from huggingface_hub import constants

    panel = make(tokenizer, dataset, tmp_path, max_steps=6, eval_steps=3, learning_rate=5e-3)
    assert panel.b_try.disabled and panel.b_share.disabled
    panel.start(wait=True)
    assert panel.error == "" and not panel.b_try.disabled and not panel.b_share.disabled

    panel.b_try.click()  # "Try it": Compare, the model before training next to the trained one, on the probe set
    (clicked,) = panel.try_box.children
    assert panel.error == "" and type(clicked).__name__ == "Compare" and clicked.text == "I loved it, it was great."
    assert [c["name"] for c in clicked.columns] == ["before training", "after training"]
    assert [s["name"] for s in clicked.summary] == ["before training", "after training"]
    clicked.text = "It was fine."  # free input: typed in its box, run through both
    clicked.run()
    assert clicked.error == "" and clicked.runs == 2
    compare = panel.try_it("What a wonderful evening.")
    assert panel.error == "" and panel.try_box.children == (compare,)
    before, after = compare.columns
    assert (before["name"], after["name"]) == ("before training", "after training")
    pipes = compare.pipes  # the two columns' models: the kept copy, and the panel's trained model itself
    assert pipes[0].model is panel._model_before and pipes[1].model is panel.model
    assert after["note"] == after["marks"]["note"]  # marked against the model before training
    changed = {k: (panel._model_before.state_dict()[k] != v).any().item() for k, v in panel.model.state_dict().items()}
    assert any(changed.values()) and compare.summary[0]["n"] == 2  # trained weights vs a kept copy; the probe set

    panel.w_repo.value = "cockpit-run"
    panel.b_share.click()
    assert panel.error == "", panel.error
    files = fake_hub.repos["fake-user/cockpit-run"].files()
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(files)
    meta = yaml.safe_load(files["README.md"].decode().split("---", 2)[1])
    card = files["README.md"].decode()
    assert "accuracy" in meta["metrics"] and "| Training Loss | Epoch | Step | Validation Loss | Accuracy" in card
    assert "training_curves.png" in files and fake_hub.commit_log[-1]["summary"].startswith("Fine-tuned in the workbench")
    assert "Shared:" in panel.share_html.value and "/fake-user/cockpit-run" in panel.share_html.value

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    panel.share("another")
    assert "No hub token" in panel.error and panel.share_html.value == ""  # refused, said in the panel


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_every_form_control_reaches_the_run(tokenizer, dataset, tmp_path, schedule):
    """Epochs (max steps -1), gradient accumulation, warm-up, weight decay and the schedule, set in the form,
    decide the run: 64 rows / batch 8 / accumulation 2 = 4 optimizer steps per epoch, 1.5 epochs -> 6 steps."""
    panel = make(tokenizer, dataset, tmp_path, eval_steps=100, runner="thread")
    panel.w_max_steps.value, panel.w_epochs.value, panel.w_accum.value = -1, 1.5, 2
    panel.w_warmup.value, panel.w_decay.value, panel.w_sched.value = 0.5, 0.1, schedule
    args = panel._arguments()
    assert (args.max_steps, args.num_train_epochs, args.gradient_accumulation_steps) == (-1, 1.5, 2)
    assert (args.warmup_ratio, args.weight_decay, args.lr_scheduler_type) == (0.5, 0.1, schedule)
    panel.start(wait=True)
    assert panel.error == "" and panel.trainer.state.global_step == 6
    lrs = panel.current_run.lrs  # logged at every step (logging_steps=1)
    assert len(lrs) == 6 and max(lrs) == pytest.approx(1e-3)
    if schedule == "constant":  # no warm-up in the reference's "constant" schedule
        assert all(lr == pytest.approx(1e-3) for lr in lrs)
    else:  # warm-up to the peak, then down
        assert lrs[0] < max(lrs) and lrs[-1] < 0.5 * max(lrs)
