"""Compare and Share in real JupyterLab: two tiny classifiers that disagree by construction show their columns
with the flip marked, a new text typed in the browser re-runs both; the cockpit's Share button, clicked in the
browser, uploads to a fake hub started in the kernel and the panel shows the success link; its "Try it" button
opens Compare with the model before and after training."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.harness import assert_no_widget_errors, open_notebook, run_in_kernel

ROOT = Path(__file__).resolve().parents[2]
SHOTS = os.environ.get("WB_SHOTS")  # a folder: the test also saves screenshots there (not in CI)

SETUP = f'''\
import copy, tempfile, pathlib, torch, pytest
import workbench as wb
from widgets import Compare, FineTune
from workbench.embedded import embedded_folder
from workbench.pipelines import pipeline
tok = wb.AutoTokenizer.from_pretrained(embedded_folder("sentence-transformers/all-MiniLM-L6-v2"))
torch.manual_seed(0)
cfg = wb.AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                              vocab_size=tok.vocab_size, max_position_embeddings=64,
                              id2label={{0: "negative", 1: "positive"}})
a = wb.AutoModelForSequenceClassification.from_config(cfg).eval()
b = copy.deepcopy(a)
with torch.no_grad():
    a.classifier.bias[:] = torch.tensor([-1.0, 1.0])  # always positive
    b.classifier.bias[:] = torch.tensor([1.0, -1.0])  # always negative
cmp = Compare("text-classification", [pipeline("text-classification", model=m, tokenizer=tok) for m in (a, b)],
              names=["base", "flipped"], text="A fine film.")
cmp.batch([{{"text": t, "label": y}} for t, y in (("good", "positive"), ("bad", "negative"), ("fine", "positive"),
                                                 ("awful", "negative"))])
cmp'''

COCKPIT = f'''\
from tests.hubserver import FakeHub, point_hub_at
hub = FakeHub().start()
point_hub_at(pytest.MonkeyPatch(), hub.url, pathlib.Path(tempfile.mkdtemp()))
panel = FineTune(model=copy.deepcopy(a), tokenizer=tok, dataset={str(ROOT / "data/sentiment/train.csv")!r},
                 eval_dataset={str(ROOT / "data/sentiment/validation.csv")!r}, output_dir=tempfile.mkdtemp(),
                 max_steps=3, eval_steps=3, batch_size=8, max_length=32, runner="thread")
panel.start(wait=True)
panel.w_repo.value = "cockpit-share"
display(panel)
print("CMP-READY")'''


@pytest.mark.browser
def test_compare_columns_and_share_message(lab, lab_page, lab_notebook, net):
    from playwright.sync_api import expect

    page = lab_page
    nb = lab_notebook([SETUP, COCKPIT])
    open_notebook(page, lab, nb, "CMP-READY", timeout=180)

    flipped = page.locator('.wb-cmp-col[data-model="flipped"]')
    expect(flipped).to_have_attribute("data-agrees", "false")
    expect(flipped).to_contain_text("label flip: positive → negative")
    expect(page.locator('.wb-cmp-col[data-model="base"]')).to_contain_text("reference")
    expect(page.locator(".wb-cmp-col.wb-cmp-differs")).to_have_count(1)

    # typed in the browser: the Compare button runs the new text through both models
    box = page.locator(".wb-compare-panel textarea")
    box.fill("The soup was cold.")
    page.locator(".wb-compare-panel button", has_text="Compare").click()
    out = run_in_kernel(page, "import time\nt = time.monotonic()\n"
                              "while cmp.runs < 2 and time.monotonic() - t < 20: time.sleep(0.05)\n"
                              "print(cmp.text, '|', [c['answer'] for c in cmp.columns])")
    assert out.strip() == "The soup was cold. | ['positive', 'negative']"
    # the disagreement table sorts in the browser: click "label", then again to reverse
    table = page.locator("table.wb-cmp-table")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("td.wb-cmp-wrong")).to_have_count(4)  # each row: one model's answer is not the label
    labels = lambda: table.locator("tbody tr td:nth-child(3)").all_inner_texts()  # noqa: E731
    assert labels() == ["positive", "negative", "positive", "negative"]
    table.locator("th", has_text="label").click()
    assert labels() == ["negative", "negative", "positive", "positive"]
    table.locator("th", has_text="label").click()
    assert labels() == ["positive", "positive", "negative", "negative"]
    expect(table.locator("th", has_text="label")).to_have_attribute("aria-sort", "descending")
    if SHOTS:
        page.locator(".wb-compare-panel").screenshot(path=os.path.join(SHOTS, "compare-light.png"))

    # Share, clicked in the browser: the fake hub gets the files, the panel links the repo
    share = page.locator(".wb-finetune-share")
    expect(share).to_be_enabled()
    share.click()
    shared = page.locator(".wb-finetune-shared")
    expect(shared).to_contain_text("Shared:", timeout=60_000)
    expect(shared).to_contain_text("fake-user/cockpit-share")
    files = run_in_kernel(page, "print(sorted(hub.repos['fake-user/cockpit-share'].files()))")
    assert "model.safetensors" in files and "README.md" in files

    # "Try it", clicked in the browser: Compare in the cockpit, before training (reference) next to after training
    page.locator(".wb-finetune-try").click()
    inside = page.locator(".wb-finetune .wb-compare-panel")
    expect(inside.locator('.wb-cmp-col[data-model="before training"]')).to_contain_text("reference", timeout=60_000)
    expect(inside.locator('.wb-cmp-col[data-model="after training"]')).to_be_visible()
    expect(inside.locator(".wb-cmp-summary-row")).to_have_count(2)  # the probe set through both
    names = run_in_kernel(page, "print([c['name'] for c in panel.try_box.children[0].columns])")
    assert names.strip() == "['before training', 'after training']"
    if SHOTS:  # a tall viewport: the whole cockpit, Compare inside it included, in one picture per theme
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": 2400})
        page.locator(".wb-finetune").screenshot(path=os.path.join(SHOTS, "share-try-light.png"))
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        page.locator(".wb-compare-panel").first.screenshot(path=os.path.join(SHOTS, "compare-dark.png"))
        page.locator(".wb-finetune").screenshot(path=os.path.join(SHOTS, "share-try-dark.png"))
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.set_viewport_size(size)
    run_in_kernel(page, "hub.stop()")
    assert_no_widget_errors(page)
    assert net.page_errors == [] and net.offsite == []
