"""Vision speed: pipelines vs the reference on the real shapes of google/vit-base-patch16-224 and
facebook/detr-resnet-50 (random weights, the same on both sides), and the Detect panel.

    python benchmarks/bench_vision.py [--quick]

Prints per-image latency (one photo per call) and batch-8 throughput (eight photos of one size per call)
for both libraries and their ratio; the Detect panel's time from a new image to its arrays being sent
(kernel side) and the browser's redraw time with 1,000 boxes (headless Chromium, detect.js alone with a
stand-in widget model; the median of 50 redraws after a threshold change).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import best_of, panel_page_result  # noqa: E402

VIT_PROCESSOR = {"feature_extractor_type": "ViTFeatureExtractor", "do_normalize": True, "do_resize": True,
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224}
DETR_PROCESSOR = {"feature_extractor_type": "DetrFeatureExtractor", "do_normalize": True, "do_resize": True,
                  "format": "coco_detection", "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                  "max_size": 1333, "size": 800}


def checkpoints(tmp: Path) -> dict[str, Path]:
    """Random-weight checkpoints with the real shapes, saved by the reference (its own layout and configs)."""
    import transformers

    torch.manual_seed(0)
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(num_labels=1000)).eval()
    vit.save_pretrained(tmp / "vit")
    (tmp / "vit" / "preprocessor_config.json").write_text(json.dumps(VIT_PROCESSOR))
    backbone = transformers.ResNetConfig(out_features=["stage4"])  # resnet50; the native layout (timm not needed)
    detr = transformers.DetrForObjectDetection(transformers.DetrConfig(backbone_config=backbone, use_timm_backbone=False,
                                                                       num_labels=91)).eval()
    detr.save_pretrained(tmp / "detr")
    (tmp / "detr" / "preprocessor_config.json").write_text(json.dumps(DETR_PROCESSOR))
    return {"image-classification": tmp / "vit", "object-detection": tmp / "detr"}


def bench_pipelines(folders: dict[str, Path], quick: bool) -> None:
    import transformers

    from widgets._gallery import sample_path
    from workbench import pipeline

    photo = str(sample_path("astronaut"))
    repeats = {"image-classification": (5 if quick else 15, 2 if quick else 5),
               "object-detection": (2 if quick else 5, 1 if quick else 2)}
    print(f"{'task':22} {'':10} {'ours':>10} {'reference':>10} {'ratio':>7}")
    for task, folder in folders.items():
        ours = pipeline(task, model=folder)
        ref = transformers.pipeline(task, model=str(folder))
        single, batched = repeats[task]
        batch = [photo] * 8
        o1 = best_of(lambda: ours(photo), single, warmup=1)
        r1 = best_of(lambda: ref(photo), single, warmup=1)
        o8 = best_of(lambda: ours(batch, batch_size=8), batched, warmup=1)
        r8 = best_of(lambda: ref(batch, batch_size=8), batched, warmup=1)
        print(f"{task:22} {'latency':10} {o1 * 1000:8.0f}ms {r1 * 1000:8.0f}ms {r1 / o1:6.2f}x")
        print(f"{'':22} {'batch-8':10} {8 / o8:6.2f}im/s {8 / r8:6.2f}im/s {r8 / o8:6.2f}x")


def bench_panel(folder: Path) -> None:
    from widgets import Detect
    from widgets._gallery import sample_path

    panel = Detect(model=str(folder))
    times = []
    for name in ("astronaut", "chelsea", "coffee"):
        start = time.perf_counter()
        panel.detect(str(sample_path(name)), name=name)
        times.append(time.perf_counter() - start)
        assert not panel.error, panel.error
    print(f"Detect: new image -> boxes sent to the browser (DETR r50 shapes, incl. the model): "
          f"median {statistics.median(times) * 1000:.0f} ms over {len(times)} photos")


REDRAW_SCRIPT = """const n = 1000, w = 1280, h = 853;
function wire(dtype, shape, typed) { return {dtype, shape, buffer: new DataView(typed.buffer)}; }
let seed = 1; const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const boxes = new Float32Array(4 * n), scores = new Float32Array(n), ids = new Int32Array(n);
for (let i = 0; i < n; i++) {
  const x = rnd() * w * 0.9, y = rnd() * h * 0.9;
  boxes.set([x, y, x + 20 + rnd() * 200, y + 20 + rnd() * 200], 4 * i); scores[i] = rnd(); ids[i] = i % 20;
}
const heat = new Uint16Array(n * 25 * 38).fill(0x3c00);
const canvas = document.createElement("canvas"); canvas.width = w; canvas.height = h;
const cx = canvas.getContext("2d"); cx.fillStyle = "#888"; cx.fillRect(0, 0, w, h);
const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg"));
const jpeg = new DataView(await blob.arrayBuffer());
const state = {image: jpeg, meta: {width: w, height: h, name: "bench", labels: [...Array(20).keys()].map(String),
  models: ["m"], grid: [25, 38]}, boxes: wire("float32", [n, 4], boxes), scores: wire("float32", [n], scores),
  label_ids: wire("int32", [n], ids), source: wire("uint8", [n], new Uint8Array(n)),
  query: wire("int32", [n], new Int32Array(n)), heat: wire("float16", [n, 25, 38], heat), threshold: 0.0,
  classes: [], opacity: 1.0, arrangement: "overlay", untrained: [], error: "", busy: false};
const model = {get: (k) => state[k], set: (k, v) => { state[k] = v; }, on() {}, off() {}, save_changes() {
  window.__sent = (window.__sent || 0) + 1; }};
const host = document.getElementById("host");
mod.render({model, el: host});
await new Promise((r) => setTimeout(r, 300));
const root = host.querySelector(".wb-detect");
const thrInput = host.querySelector("input.wb-detect-threshold");
const times = [];
for (let k = 0; k < 50; k++) {
  thrInput.value = String(k % 2 ? 0.0 : 0.001); thrInput.dispatchEvent(new Event("input"));
  times.push(root.__wbRedraw());
}
times.sort((a, b) => a - b);
window.__result = {median: times[25], p90: times[45], drawn: Number(root.dataset.drawn), sent: window.__sent || 0};
"""


def bench_redraw() -> None:
    res = panel_page_result("detect.js", ["vision.css"], REDRAW_SCRIPT)
    print(f"Detect redraw, {res['drawn']} boxes visible (threshold slider moved): median {res['median']:.2f} ms, "
          f"p90 {res['p90']:.2f} ms; messages to the kernel: {res['sent']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--skip-models", action="store_true", help="only the browser redraw")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_redraw()
    if args.skip_models:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folders = checkpoints(Path(tmp))
        bench_pipelines(folders, args.quick)
        bench_panel(folders["object-detection"])


if __name__ == "__main__":
    main()
