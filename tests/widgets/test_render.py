"""The pure renderers (result -> HTML/PNG) without a kernel, and the user's matplotlib backend left alone."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from widgets._render import attention as RA
from widgets._render import training as RT
from workbench import inspect as ad

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def record(layers: int = 2, heads: int = 3, tokens: int = 5) -> ad.AttentionRecord:
    a = np.random.default_rng(0).random((layers, heads, tokens, tokens), dtype=np.float32)
    return ad.AttentionRecord(a / a.sum(-1, keepdims=True), [f"t{i}" for i in range(tokens)], model_name="tiny")


def run(name: str, steps: int = 4, status: str = "finished") -> SimpleNamespace:
    evals = [{"step": steps, "epoch": 1.0, "eval_loss": 0.5, "eval_accuracy": 0.75, "eval_runtime": 0.1}]
    return SimpleNamespace(name=name, status=status, settings={"learning_rate": 1e-3, "per_device_train_batch_size": 8},
                           steps=list(range(1, steps + 1)), losses=[1.0 / s for s in range(1, steps + 1)],
                           lrs=[1e-3] * steps, evals=evals)


def test_renderers_never_change_the_users_matplotlib_backend(tmp_path):
    """Every renderer runs in a kernel-like process whose backend is the inline one; it stays so."""
    code = f"""
import matplotlib, numpy as np, soundfile as sf, io, sys
sys.path.insert(0, {str(ROOT)!r})
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt  # the user's pyplot state exists, as in a notebook
before = matplotlib.get_backend()
from types import SimpleNamespace
from widgets._render import attention, audio, text, training
from workbench import inspect as ad
pngs = [text.similarity_png(["a", "b"], [[1.0, 0.5], [0.5, 1.0]]),
        audio.plot_png(np.sin(np.linspace(0, 200, 8000)).astype(np.float32))]
rec = ad.AttentionRecord(np.full((1, 2, 3, 3), 1 / 3, np.float32), ["x", "y", "z"])
pngs += [attention.attention_png(rec, view=v) for v in ("head", "model", "matrix")] + [attention.attention_png(None, error="e")]
run = SimpleNamespace(name="r", status="finished", settings={{}}, steps=[1, 2], losses=[1.0, 0.5], lrs=[1e-3, 1e-3],
                      evals=[{{"step": 2, "epoch": 1.0, "eval_loss": 0.4}}])
pngs.append(training.curves_png([run]))
assert "data:image/png;base64," in training.summary_html([run], run, [], None, None)
assert all(p[:8] == {PNG!r} for p in pngs), [p[:8] for p in pngs]
print("BACKEND", before, matplotlib.get_backend(), len(plt.get_fignums()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1].split()
    assert line[1] == line[2] == "module://matplotlib_inline.backend_inline", line
    assert line[3] == "0"  # nothing was left in pyplot's figure manager either


def test_attention_png_draws_each_view():
    rec = record()
    head = RA.attention_png(rec, view="head", layer=1, heads=[0, 2])
    model = RA.attention_png(rec, view="model")
    matrix = RA.attention_png(rec, view="matrix", layer=1, window=(1, 4, 0, 5))
    for png in (head, model, matrix):
        assert png[:8] == PNG
        img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        assert (img < 200).mean() > 0.005  # something was drawn
    assert len({head, model, matrix}) == 3
    assert RA.attention_png(rec, view="head", heads=[0]) != RA.attention_png(rec, view="head", heads=[1])
    err = np.asarray(Image.open(io.BytesIO(RA.attention_png(None, error="boom"))).convert("RGB")).astype(int)
    assert ((err[..., 0] > 150) & (err[..., 1] < 80)).any()  # the message, in red


def test_training_tables_and_curves():
    runs = [run("run 1", status="stopped"), run("run <2>", steps=6)]
    table = RT.metrics_table_html(runs[1].evals)
    assert "<th>loss</th><th>accuracy</th>" in table and "runtime" not in table and "<td>0.7500</td>" in table
    assert RT.metrics_table_html([]) == "<i>no evaluation yet</i>"
    history = RT.history_html(runs)
    assert "run &lt;2&gt;" in history and f'color:{RT.COLORS[1]}' in history and "<td>stopped</td>" in history
    probe = RT.probe_table_html(["a <b>"], [("neg", 0.5)], [("pos", 0.9)], "after")
    assert "a &lt;b&gt;" in probe and "<th>before</th><th>after</th>" in probe and "<b>pos</b> 0.90" in probe
    assert RT.probe_table_html([], None, None) == ""
    assert RT.curves_png(runs)[:8] == PNG
    summary = RT.summary_html(runs, runs[1], ["a"], [("neg", 0.5)], [("pos", 0.9)])
    assert summary.count("<table") == 3 and 'src="data:image/png;base64,' in summary
    assert RT.format_eta(float("inf")) == "--:--" and RT.format_eta(59.6) == "01:00"


def test_cockpit_charts_one_quantity_per_axes_legend_outside():
    """Eval loss and accuracy never share an axis (live charts and the static picture); the static legend sits
    outside every axes; a tiny learning rate gets scientific ticks."""
    runs = [run("run 1", status="stopped"), run("run 2", steps=6)]
    runs[1].lrs = [9.63e-5] * 6
    loss, lr, eval_loss, accuracy = RT.chart_series(runs, runs[1])
    assert [s["name"] for s in eval_loss] == [s["name"] for s in accuracy] == ["run 1", "run 2"]
    assert [s["y"] for s in eval_loss] == [[0.5], [0.5]] and [s["y"] for s in accuracy] == [[0.75], [0.75]]
    assert [s["dash"] for s in accuracy] == [True, False]  # the earlier run dashed, as on the loss chart
    fig = RT.curves_figure(runs)
    fig.canvas.draw()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "learning rate", "eval accuracy"]
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert [t.get_text() for t in legend.get_texts()] == ["run 1 train", "run 1 eval", "run 2 train", "run 2 eval"]
    assert all(not box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= fig.bbox.width
    lr_ax = fig.axes[1]
    fmt = lr_ax.yaxis.get_major_formatter()
    assert fmt.format_ticks([2e-4, 1e-3]) == ["0.2", "1.0"] and "-3" in fmt.get_offset().replace("\u2212", "-")
    assert len(RT.curves_figure([run("run 1")]).axes) == 3 and len(RT.chart_series([], None)) == 4


def test_out_of_memory_message():
    msg = RT.out_of_memory_message(RuntimeError("CUDA out of memory. Tried 2 GiB\nmore"), 32)
    assert msg.startswith("Out of memory during training (batch size 32): CUDA out of memory. Tried 2 GiB\n")
    assert "more" not in msg and "gradient accumulation" in msg
    assert RT.out_of_memory_message(ValueError("shapes"), 32) is None


def _text_boxes(fig) -> list[tuple[str, object]]:
    """Every visible, non-empty text of a drawn figure with its extent in pixels."""
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent"))
             if t.get_visible() and t.get_text()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


def test_similarity_heatmap_never_cuts_its_labels():
    """Labels' room is measured from their drawn extents: short, long (wrapped, then ellipsised) and many
    sentences all fit inside the picture, row labels never overlap each other, nor the cells; the PNG is
    drawn for its CSS width times the pixel ratio and shown at that CSS width with the full sentences as tooltip."""
    from widgets._render import text as RX

    cases = [["a", "b"],
             ["A man is eating food.", "A man is riding a white horse on an enclosed ground, far away from the crowd. " * 3,
              "The girl is carrying a baby."],
             [f"sentence number {i} is a rather long one with many words" for i in range(14)]]
    for sentences in cases:
        n = len(sentences)
        matrix = np.random.default_rng(n).random((n, n)).tolist()
        for width in (420, 640):
            fig = RX.similarity_figure(sentences, matrix, width=width, pixel_ratio=2)
            fig.canvas.draw()
            W, H = fig.bbox.width, fig.bbox.height
            assert W == width * 2
            boxes = _text_boxes(fig)
            values = [t for t, _ in boxes if t[:2] in ("0.", "1.") and len(t) == 4]
            assert len(values) in (0, n * n)  # every cell's value, or none where the cells are too small to read
            for text, b in boxes:
                if text in values:
                    cell_w = fig.axes[0].bbox.width / n
                    assert b.width <= cell_w, (text, b.width, cell_w)  # a value fits its cell
                assert b.x0 >= 0 and b.y0 >= 0 and b.x1 <= W and b.y1 <= H, (width, text, b, (W, H))
            heat = fig.axes[0]
            rows = [t.get_window_extent() for t in heat.get_yticklabels()]
            assert len(rows) == n
            assert all(r.x1 <= heat.bbox.x0 for r in rows)  # left of the cells
            ordered = sorted(rows, key=lambda r: r.y0)
            assert all(a.y1 <= b.y0 + 0.5 for a, b in zip(ordered, ordered[1:])), "row labels overlap"
            assert all(len(line) <= 30 for t in heat.get_yticklabels() for line in t.get_text().split("\n"))
    many = [f"sentence {i} " * 6 for i in range(20)]
    big = RX.similarity_png(many, np.random.default_rng(0).random((20, 20)).tolist())
    assert len(RX.heatmap_html(big, many, alt="heat")) <= 200_000  # the limit for a saved output
    png = RX.similarity_png(["a", "b"], [[1.0, 0.5], [0.5, 1.0]], width=500, pixel_ratio=2)
    page = RX.heatmap_html(png, ["a <b>", "b"], alt="heat", pixel_ratio=2)
    assert Image.open(io.BytesIO(png)).size[0] == 1000 and 'width="500"' in page and "max-width:100%;height:auto" in page
    assert 'title="0: a &lt;b&gt;\n1: b"' in page


def test_progress_line_wraps_between_items_only():
    state = SimpleNamespace(global_step=3, max_steps=40, epoch=0.25)
    line = RT.progress_html(state, 0.6931, 52.4, 75.0, "training <fast>")
    items = line.split(" · ")
    assert len(items) == 6 and all(i.startswith('<span style="white-space:nowrap">') for i in items)
    assert '<span style="white-space:nowrap">ETA 01:15</span>' in items and "training &lt;fast&gt;" in items[-1]
