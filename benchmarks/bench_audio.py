"""Audio classification vs the reference on real shapes (random weights), and the AudioClassifier timeline.

Run: python benchmarks/bench_audio.py [--repeats 5] [--threads N] [--only models|timeline]   (needs the `test` extra for the reference)

1. 10 s of audio through `pipeline("audio-classification")`, ours and the reference's, on the same random
   weights in the real shapes of superb/wav2vec2-base-superb-ks (Wav2Vec2 base, weighted layer sum, 12
   keywords) and MIT/ast-finetuned-audioset-10-10-0.4593 (AST base, 12 x 101 patches, 527 labels).
   Calls alternate between the two so a noisy neighbour slows both alike; medians of wall time and of this
   process's CPU time (steadier on a shared machine). Goal: ours >= 1.3x.
2. The AudioClassifier panel on 60 s of audio (window 1 s, hop 0.5 s: 119 windows): the timeline alone in
   float32 (exact) and bfloat16 (fast: the default where the CPU has AMX / AVX-512 BF16) with their agreement;
   load -> timeline on the page (goal: <= 3 s), then the top labels (float32 reruns of their best windows), with the
   keyword spotter's real shape (the static picture for a saved notebook is drawn when the panel is displayed); and
   with a tiny model, which shows what the panel itself costs around the model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KS_SHAPE = dict(num_labels=12, use_weighted_layer_sum=True, classifier_proj_size=256)  # wav2vec2-base otherwise
AST_SHAPE = dict(num_labels=527)  # ASTConfig's defaults are the AudioSet checkpoint's shape


def build(folder: Path) -> dict[str, Path]:
    import torch
    import transformers

    torch.manual_seed(0)
    ks, ast = folder / "ks", folder / "ast"
    transformers.Wav2Vec2ForSequenceClassification(transformers.Wav2Vec2Config(**KS_SHAPE)).save_pretrained(ks)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(ks)
    transformers.ASTForAudioClassification(transformers.ASTConfig(**AST_SHAPE)).save_pretrained(ast)
    transformers.ASTFeatureExtractor().save_pretrained(ast)
    return {"superb/wav2vec2-base-superb-ks shape": ks, "MIT/ast-finetuned-audioset-10-10-0.4593 shape": ast}


def clip(seconds: float):
    """Speech-like test audio: espeak-ng keywords with pauses when installed (repeated to length), else a chirp with
    noise."""
    import shutil
    import subprocess

    from workbench.processors import load_audio

    n = int(seconds * 16000)
    if shutil.which("espeak-ng"):
        parts = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, word in enumerate("yes no up down left right on off stop go".split()):
                subprocess.run(["espeak-ng", "-w", f"{tmp}/{i}.wav", word], check=True)
                parts += [load_audio(f"{tmp}/{i}.wav").array, np.zeros(int(16000 * (0.3 + 0.1 * i)), np.float32)]
        return np.resize(np.concatenate(parts), n).astype(np.float32)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * (300 + 200 * t) * t) + 0.02 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)


def alternate(a, b, repeats: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median (wall, CPU) seconds of a() and b(), called in turns after one warm-up each. CPU time (this
    process, all threads) is the steadier figure on a shared machine; wall time is what a user waits."""
    a(), b()
    times: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for _ in range(repeats):
        for i, fn in enumerate((a, b)):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[i].append((time.perf_counter() - wall, time.process_time() - cpu))
    return tuple((statistics.median(w for w, _ in times[i]), statistics.median(c for _, c in times[i])) for i in (0, 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", choices=("models", "timeline"), default=None, help="run one of the two parts")
    args = parser.parse_args()
    import torch
    import transformers

    from workbench import pipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; transformers {transformers.__version__}")
    audio = clip(10.0)
    with tempfile.TemporaryDirectory() as tmp:
        folders = build(Path(tmp))
        for name, folder in folders.items() if args.only != "timeline" else ():
            ref = transformers.pipeline("audio-classification", model=str(folder))
            ours = pipeline("audio-classification", model=folder)
            (w_ref, c_ref), (w_ours, c_ours) = alternate(lambda: ref(audio.copy(), top_k=5), lambda: ours(audio, top_k=5),
                                                         args.repeats)
            same = [d["label"] for d in ref(audio.copy(), top_k=5)] == [d["label"] for d in ours(audio, top_k=5)]
            print(f"{name}, 10 s of audio: wall: reference {w_ref:.2f} s, ours {w_ours:.2f} s -> {w_ref / w_ours:.2f}x; "
                  f"CPU: reference {c_ref:.2f} s, ours {c_ours:.2f} s -> {c_ref / c_ours:.2f}x (same top-5: {same})")

        if args.only == "models":
            return
        from widgets import AudioClassifier
        from workbench.pipelines.audio_classification import FAST_TOLERANCE, bf16_native

        long = clip(60.0)
        ks = pipeline("audio-classification", model=folders["superb/wav2vec2-base-superb-ks shape"])
        print(f"bfloat16 in hardware (AMX / AVX-512 BF16): {bf16_native()}; load average {os.getloadavg()[0]:.1f}")
        lines = {}
        for precision in ("float32", "bfloat16"):
            ks.timeline(long[:32000], window_s=1.0, hop_s=0.5, precision=precision)  # warm-up (and the bf16 copy)
            wall, cpu = time.perf_counter(), time.process_time()
            lines[precision] = ks.timeline(long, window_s=1.0, hop_s=0.5, precision=precision)
            print(f"timeline alone, 60 s, {len(lines[precision].starts)} windows, keyword-spotter shape, {precision}: "
                  f"wall {time.perf_counter() - wall:.2f} s, CPU {time.process_time() - cpu:.2f} s")
        exact, fast = lines["float32"].scores, lines["bfloat16"].scores
        print(f"  bfloat16 vs float32: max |score difference| {np.abs(fast - exact).max():.5f} (tolerance "
              f"{FAST_TOLERANCE}), same best label in {np.mean(fast.argmax(1) == exact.argmax(1)):.1%} of windows "
              "(random weights: near-uniform scores, so near-ties)")
        for precision in ("float32", "auto"):
            panel = AudioClassifier(model=ks, window_s=1.0, hop_s=0.5, precision=precision)
            shown: list[float] = []  # when the timeline goes to the page (the view's trait is set, then synced)
            panel.view.observe(lambda change: shown.append(time.perf_counter()) if change["new"] is not None else None,
                               names="timeline")
            start = time.perf_counter()
            panel.load(long, sampling_rate=16000, name="60 s")
            end = time.perf_counter()
            print(f"AudioClassifier, 60 s, window 1 s, hop 0.5 s, keyword-spotter shape, precision {precision!r} "
                  f"({panel.timeline_result.precision}): the timeline shown after {shown[0] - start:.2f} s "
                  f"(goal <= 3 s); top labels (exact) too after {end - start:.2f} s")

        from tests import audio_models

        tiny = audio_models.keyword_spotter(Path(tmp) / "tiny")
        panel = AudioClassifier(model=str(tiny), window_s=1.0, hop_s=0.5)
        panel.pipeline()
        start = time.perf_counter()
        panel.load(long, sampling_rate=16000, name="60 s")
        print(f"AudioClassifier, 60 s, same windows, a tiny model (the panel's own cost): {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        panel.pipe.timeline(long, window_s=1.0, hop_s=0.5)
        print(f"  of which the tiny model's timeline: {time.perf_counter() - start:.2f} s")

if __name__ == "__main__":
    main()
