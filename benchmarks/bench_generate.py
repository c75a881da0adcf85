"""Text generation speed on CPU: SmolLM2-135M-Instruct, batch 1, a 32-token prompt, 128 new tokens, greedy.

Same weights on both sides: ours loads the embedded Q4_1 GGUF two ways: the default (its Q4_1 / Q8_0 linear
weights stay 4-bit, `workbench.nn.quantized`: bfloat16 scales and activations inside those layers) and
`dequantize=True` (float32); the reference loads the float32 dequantised weights saved in hub layout by our
`save_pretrained` (sdpa attention, its default): the same numbers llama.cpp's dequantiser gives.
The machine's load average is printed before and after: on a shared machine, compare ratios from one run.

- decode tokens/s: (new tokens - 1) / (total time - time to first token), best of `--repeat` runs;
- time to first token (TTFT): the prompt's forward pass and the first token (`max_new_tokens=1`);
- the Generate panel's streaming rate: tokens/s arriving in the panel's tree (no browser attached);
- llama.cpp on the same GGUF, when `llama-cpp-python` is importable (a benchmark-only option: it has no
  prebuilt wheel on PyPI for every platform, and compiling llama.cpp is never a CI step).

    python benchmarks/bench_generate.py [--threads 2] [--repeat 3] [--new-tokens 128]

There is no GPU in CI; the GPU goal of the issue (GPT-2 small, bf16, CUDA graphs) is not measured here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
PROMPT = ("The history of Paris begins with a Celtic tribe, the Parisii, who settled on an island in the Seine "
          "around the third century before our era. Later the Romans built")


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def rates(label: str, run, new_tokens: int, repeat: int) -> dict[str, float]:
    run(1)  # warm-up
    ttft = best(lambda: run(1), repeat)
    total = best(lambda: run(new_tokens), repeat)
    decode = (new_tokens - 1) / max(1e-9, total - ttft)
    print(f"{label:<34} TTFT {1000 * ttft:7.1f} ms   decode {decode:7.1f} tokens/s   total {total:6.2f} s")
    return {"ttft": ttft, "decode": decode, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    from workbench import AutoModelForCausalLM, AutoTokenizer
    from workbench.embedded import embedded_folder
    from workbench.generation import generate

    n = args.new_tokens
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    t0 = time.perf_counter()
    ours = AutoModelForCausalLM.from_pretrained(NAME)
    print(f"our load (GGUF, 4-bit layers, build): {time.perf_counter() - t0:.2f} s; threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    flat = AutoModelForCausalLM.from_pretrained(NAME, dequantize=True)
    print(f"our load (GGUF, dequantise to float32, build): {time.perf_counter() - t0:.2f} s")
    tok = AutoTokenizer.from_pretrained(NAME)
    ids = torch.tensor([tok(PROMPT)["input_ids"][:32]])
    assert ids.shape[1] == 32, ids.shape
    with tempfile.TemporaryDirectory() as folder:
        ours.save_pretrained(folder)  # the float hub layout (the 4-bit layers write their exact dequantised weights)
        ref = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    common = dict(do_sample=False, eos_token_id=None, pad_token_id=0)

    def run_ours(cache: str | None, model=ours):
        return lambda k: generate(model, ids, max_new_tokens=k, min_new_tokens=k, cache_implementation=cache, **common)

    def run_ref(cache: str | None):
        def run(k):
            with torch.no_grad():
                return ref.generate(ids, max_new_tokens=k, min_new_tokens=k, cache_implementation=cache, **common)
        return run

    theirs16 = run_ref(None)(16).tolist()
    print(f"same 16 greedy tokens as the reference: 4-bit {run_ours('static')(16).tolist() == theirs16}, "
          f"float32 {run_ours('static', flat)(16).tolist() == theirs16}")
    results = {
        "ours 4-bit static": rates("ours 4-bit (default), static cache", run_ours("static"), n, args.repeat),
        "ours 4-bit dynamic": rates("ours 4-bit (default), dynamic cache", run_ours(None), n, args.repeat),
        "ours float32 static": rates("ours float32, static cache", run_ours("static", flat), n, args.repeat),
        "ref dynamic": rates("reference, dynamic cache (default)", run_ref(None), n, args.repeat),
        "ref static": rates("reference, static cache", run_ref("static"), n, args.repeat),
    }
    for mine in ("ours 4-bit static", "ours 4-bit dynamic", "ours float32 static"):
        for theirs in ("ref dynamic", "ref static"):
            print(f"decode speed-up {mine} / {theirs}: {results[mine]['decode'] / results[theirs]['decode']:.2f}x")
    print(f"TTFT goal <= 150 ms for a 32-token prompt: ours 4-bit {1000 * results['ours 4-bit static']['ttft']:.0f} ms, "
          f"float32 {1000 * results['ours float32 static']['ttft']:.0f} ms, reference "
          f"{1000 * results['ref dynamic']['ttft']:.0f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")

    from widgets.generate import Generate
    from workbench.pipelines import pipeline

    pipe = pipeline("text-generation", model=ours, tokenizer=tok)
    panel = Generate(pipe, prompt=PROMPT, max_new_tokens=n)
    panel.generate()
    panel.wait()
    t0 = time.perf_counter()
    panel.force(panel.view.path[0], panel.view.nodes[panel.view.path[1]]["top"][1][0])  # a fresh branch of n - 2 tokens
    panel.wait()
    elapsed = time.perf_counter() - t0
    print(f"Generate panel streaming: {panel.streamed / elapsed:.1f} tokens/s ({panel.streamed} tokens, tree and "
          f"trait updates included, no browser)")

    try:
        from llama_cpp import Llama  # noqa: F401
    except ImportError:
        print("llama.cpp: llama-cpp-python is not installed (no prebuilt wheel for this platform on PyPI; not compiled "
              "here)")
    else:
        gguf = embedded_folder(NAME) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        llm = Llama(model_path=str(gguf), n_threads=args.threads, verbose=False)
        t0 = time.perf_counter()
        llm(PROMPT, max_tokens=n, temperature=0.0)
        print(f"llama.cpp (Q4_1, its own kernels): {n / (time.perf_counter() - t0):.1f} tokens/s end to end")


if __name__ == "__main__":
    main()
