"""AttentionView speed and size: 512 tokens x 6 layers x 12 heads (all-MiniLM-L6-v2), and 2,048 tokens.

    python benchmarks/bench_attention.py [--repeat 3] [--no-browser] [--skip-2048]

Measures, for a 512-token input with the model already loaded:
  * kernel side, call -> widget ready: `AttentionView(model=m, tokenizer=t, text=...)`
    (tokenize, forward with every layer capturing, summaries, buffers for the default view),
    plus the static PNG made when the widget is displayed;
  * browser side: the JS draw of the first frame (decode float16 + canvas), in headless Chromium
    (the page is the `save_html` export of the same view, so no kernel or network is involved);
  * bytes sent for the default (head) view, against the nested-JSON-of-every-tensor approach
    (what bertviz sends);
  * the reference library's forward with output_attentions=True on the same input, as a ratio.
Then 2,048 tokens (a random 6-layer, 12-head BERT with 2,048 positions): the same numbers, plus the
matrix view, which is pooled to 512 x 512 (and re-sent for any zoom window).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def text_of(tokens: int) -> str:
    return " ".join(["the quick brown fox jumps over the lazy dog near the river bank"] * (tokens // 12 + 2))


def browser_draw_ms(view, repeat: int) -> dict[str, float]:
    """First-frame draw time in headless Chromium for the view's current state (standalone export)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_path = view.save_html(Path(tmp) / "a.html")
        html_text = page_path.read_text()
    out: dict[str, list[float]] = {"first_frame_ms": [], "draw_ms": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium"),
                                     headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("data:", "blob:", "about:")) else r.abort())
            for _ in range(repeat):
                t0 = time.perf_counter()
                page.set_content(html_text, wait_until="load")
                page.wait_for_function("() => { const r = document.querySelector('.wb-attn'); return r && r.dataset.ready === '1'; }",
                                       timeout=60_000)
                out["first_frame_ms"].append((time.perf_counter() - t0) * 1000)
                out["draw_ms"].append(float(page.locator(".wb-attn").get_attribute("data-draw-ms")))
        finally:
            browser.close()
    return {k: statistics.median(v) for k, v in out.items()}


def bench(label: str, model, tokenizer, text: str, repeat: int, browser: bool, reference=None) -> dict:
    import torch

    from widgets.attention import AttentionView

    AttentionView(model=model, tokenizer=tokenizer, text="warm up")
    prep_s, view = timed(lambda: AttentionView(model=model, tokenizer=tokenizer, text=text), repeat)
    assert not view.error, view.error
    rec = view.record
    png_s, _ = timed(view.render_png, repeat)
    sent = view.bytes_sent()
    # bertviz-style payload (nested JSON lists of every layer), extrapolated from one layer
    t0 = time.perf_counter()
    nested_json = len(json.dumps(rec.attentions[0].round(6).tolist())) * rec.num_layers
    json_s = (time.perf_counter() - t0) * rec.num_layers
    res = {
        "case": label,
        "tokens": len(rec.query_tokens),
        "layers_x_heads": f"{rec.num_layers}x{rec.num_heads}",
        "kernel_prep_s": round(prep_s, 3),
        "static_png_s": round(png_s, 3),
        "bytes_default_view": sent["total"],
        "bytes_nested_json_all_layers": nested_json,
        "nested_json_encode_s": round(json_s, 2),
        "head_view_top_k": view.edge_meta["k"],
    }
    view.view = "matrix"
    res["bytes_matrix_view"] = view.bytes_sent()["matrix"]
    res["matrix_shape"] = list(view.matrix.shape)
    view.view = "model"
    res["bytes_model_view_thumbs"] = view.bytes_sent()["thumbs"]
    view.view = "head"
    if reference is not None:
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=len(rec.query_tokens))
        with torch.inference_mode():
            ref_s, _ = timed(lambda: reference(**enc, output_attentions=True), repeat)
        res["reference_forward_output_attentions_s"] = round(ref_s, 3)
        res["prep_over_reference_forward"] = round(prep_s / ref_s, 2)
    if browser:
        d = browser_draw_ms(view, repeat)
        res["browser_first_frame_ms"] = round(d["first_frame_ms"], 1)
        res["browser_js_draw_ms"] = round(d["draw_ms"], 1)
        res["call_to_first_frame_s"] = round(prep_s + png_s + d["draw_ms"] / 1000, 3)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--skip-2048", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from workbench.auto import AutoConfig, AutoModel, AutoTokenizer

    t0 = time.perf_counter()
    model, tok = AutoModel.from_pretrained(MINILM), AutoTokenizer.from_pretrained(MINILM)
    print(f"load MiniLM (ours): {time.perf_counter() - t0:.2f} s   torch threads: {torch.get_num_threads()}")
    reference = None
    try:
        import transformers

        from workbench.hub import resolve_model_folder

        reference = transformers.BertModel.from_pretrained(str(resolve_model_folder(MINILM)), attn_implementation="eager").eval()
    except Exception as err:  # the oracle is a test extra; the benchmark still runs without it
        print(f"(no reference comparison: {type(err).__name__}: {err})")
    rows = [bench("MiniLM 512", model, tok, text_of(512), args.repeat, not args.no_browser, reference)]
    if not args.skip_2048:
        cfg = AutoConfig.for_model("bert", vocab_size=tok.vocab_size, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                   intermediate_size=1536, max_position_embeddings=2048)
        torch.manual_seed(0)
        big = AutoModel.from_config(cfg).eval()
        rows.append(bench("random BERT 2048", big, tok, text_of(2048), max(1, args.repeat - 2), not args.no_browser))
    for r in rows:
        print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
