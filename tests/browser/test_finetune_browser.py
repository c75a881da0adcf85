"""The FineTune cockpit in real JupyterLab: the loss chart redraws while a short run trains,
and the Stop button in the browser stops it (with a checkpoint)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.harness import assert_no_widget_errors, canvas_pixels, open_notebook, run_in_kernel

ROOT = Path(__file__).resolve().parents[2]

SETUP = f'''\
import torch, pathlib, tempfile
import workbench as wb
from widgets import FineTune
from workbench.embedded import embedded_folder
tok = wb.AutoTokenizer.from_pretrained(embedded_folder("sentence-transformers/all-MiniLM-L6-v2"))
torch.manual_seed(0)
cfg = wb.AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                              vocab_size=tok.vocab_size, max_position_embeddings=64,
                              id2label={{0: "negative", 1: "positive"}})
model = wb.AutoModelForSequenceClassification.from_config(cfg)
out = tempfile.mkdtemp()
panel = FineTune(model=model, tokenizer=tok, dataset={str(ROOT / "data/sentiment/train.csv")!r},
                 eval_dataset={str(ROOT / "data/sentiment/validation.csv")!r}, output_dir=out,
                 max_steps=100000, eval_steps=200, logging_steps=1, batch_size=8, learning_rate=1e-3, max_length=32)
panel'''

START = 'panel.start()\nprint("FT-STARTED")'


@pytest.mark.browser
def test_cockpit_chart_updates_and_stop_works(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SETUP, START])
    open_notebook(page, lab, nb, "FT-STARTED", timeout=120)

    chart = page.locator("canvas.wb-finetune-chart").first  # the loss chart
    expect(chart).to_be_visible()
    # the chart redraws as steps are logged: its point count grows between two looks
    page.wait_for_function("() => +(document.querySelector('canvas.wb-finetune-chart')?.dataset.points || 0) > 2",
                           timeout=60_000)
    first = int(chart.get_attribute("data-points"))
    time.sleep(1.5)
    second = int(chart.get_attribute("data-points"))
    assert second > first, (first, second)
    assert canvas_pixels(chart)["painted"] > 50  # lines, not just an empty frame
    expect(page.locator(".wb-finetune-progress")).to_contain_text("examples/s")

    # Stop in the browser: the kernel thread stops at the next step and saves a checkpoint
    page.locator(".wb-finetune-stop").click()
    page.wait_for_function("() => document.querySelector('.wb-finetune-progress')?.innerText.includes('stopped')",
                           timeout=60_000)
    report = run_in_kernel(page, "from workbench.training import checkpoints_in\n"
                                 "s = panel.trainer.state\n"
                                 "print(panel.running, s.stop_reason, s.global_step, checkpoints_in(panel.trainer.args.output_dir)[-1].name)")
    running, reason, step, ckpt = report.split()
    assert running == "False" and reason == "stopped" and 0 < int(step) < 100000
    assert ckpt == f"checkpoint-{step}"
    time.sleep(1.0)  # and nothing moves any more
    assert int(chart.get_attribute("data-points")) == int(run_in_kernel(page, "print(len(panel.current_run.steps))"))
    expect(page.locator(".wb-finetune-resume")).to_be_enabled()

    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
