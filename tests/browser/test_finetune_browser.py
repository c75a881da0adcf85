"""The FineTune cockpit in real JupyterLab: Start, Stop and Resume clicked in the page; the loss chart
redraws while a run trains, Stop saves a checkpoint, Resume continues from it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.harness import assert_no_widget_errors, canvas_color_pixels, open_notebook, run_in_kernel

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

DONE = 'print("FT-SHOWN")'
LOSS_RGB = (0x1F, 0x77, 0xB4)  # run 1's colour (widgets/_render/training.py COLORS[0])
_POINTS = "() => +(document.querySelector('canvas.wb-finetune-chart')?.dataset.points || 0)"
_STOPPED = "() => document.querySelector('.wb-finetune-progress')?.innerText.includes('stopped')"


@pytest.mark.browser
def test_cockpit_start_stop_resume_in_the_page(lab, lab_page, lab_notebook, net):
    """Start, Stop and Resume clicked in the page: the loss chart grows while it trains (its line drawn in the
    run's colour), Stop saves a checkpoint, Resume continues the same run from it."""
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SETUP, DONE])
    open_notebook(page, lab, nb, "FT-SHOWN", timeout=120)

    chart = page.locator("canvas.wb-finetune-chart").first  # the loss chart
    expect(chart).to_be_visible()
    empty = canvas_color_pixels(chart, LOSS_RGB, tol=40)
    page.locator(".wb-finetune-start").click()
    # the chart redraws as steps are logged: its point count keeps growing
    page.wait_for_function(f"() => ({_POINTS})() > 4", timeout=60_000)
    first = int(chart.get_attribute("data-points"))
    page.wait_for_function(f"(n) => ({_POINTS})() > n", arg=first, timeout=60_000)
    # the loss line itself is drawn, not only the frame and the legend
    assert canvas_color_pixels(chart, LOSS_RGB, tol=40) > empty + 100
    expect(page.locator(".wb-finetune-progress")).to_contain_text("examples/s")

    # Stop in the browser: the kernel thread stops at the next step and saves a checkpoint
    page.locator(".wb-finetune-stop").click()
    page.wait_for_function(_STOPPED, timeout=60_000)
    report = run_in_kernel(page, "from workbench.training import checkpoints_in\n"
                                 "s = panel.trainer.state\n"
                                 "print(panel.running, s.stop_reason, s.global_step, checkpoints_in(panel.trainer.args.output_dir)[-1].name)")
    running, reason, step, ckpt = report.split()
    assert running == "False" and reason == "stopped" and 0 < int(step) < 100000
    assert ckpt == f"checkpoint-{step}"
    # the chart shows every logged step, and no more arrive
    logged = run_in_kernel(page, "print(len(panel.current_run.steps))").strip()
    expect(chart).to_have_attribute("data-points", logged)

    # Resume in the browser: the same run continues past the checkpoint's step
    resume = page.locator(".wb-finetune-resume")
    expect(resume).to_be_enabled()
    resume.click()
    page.wait_for_function(f"(n) => ({_POINTS})() > n + 2", arg=int(logged), timeout=60_000)
    page.locator(".wb-finetune-stop").click()
    page.wait_for_function(_STOPPED, timeout=60_000)
    runs, step2 = run_in_kernel(page, "print(len(panel.runs), panel.trainer.state.global_step)").split()
    assert runs == "1" and int(step2) > int(step), (runs, step, step2)

    assert_no_widget_errors(page)
