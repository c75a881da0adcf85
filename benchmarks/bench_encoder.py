"""Our encoder vs the reference library's on the same weights (MiniLM, batch 32, CPU), and import time.

Run: python benchmarks/bench_encoder.py   (needs the `test` extra for the reference library)
Prints throughput of each and the ratio (goal: ours >= 1.3x), then import-time ratios
(goal: importing the top-level API <= 1.2x the time of `import torch`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import best_of, subprocess_seconds  # noqa: E402

# The real-weights test's sentences, then more of natural, varied length: a real batch is padded to
# its longest member.
from tests.models.test_minilm_real import SENTENCES as TEST_SENTENCES  # noqa: E402

SENTENCES = TEST_SENTENCES[:9] + [  # its first nine: plain English
    'The new movie is awesome, and the soundtrack that goes with it is even better than the trailer promised.',
    'The cat sits outside.',
    'The new movie is so great.',
    'Do you like pizza?',
    'Transformers process every token of a sentence in parallel and mix information with attention.',
    'It rained all afternoon, so we stayed inside, made tea, and read old letters from our grandparents.',
    'Paris is the capital of France.',
    'The committee will publish its final report, including all appendices and the minority opinion, next week.',
    'Where is the nearest train station?',
    'She sold seashells by the seashore.',
    'Quantum computers use qubits.',
    'A lazy dog slept in the sun while the children played football in the park across the street.',
    'Please remember to water the plants.',
    'The stock market fell sharply on Monday after weaker than expected figures were released.',
    'He plays the guitar.',
    'Birds migrate south for the winter, travelling thousands of kilometres along ancient routes.',
    'This restaurant serves excellent pasta.',
    'Our flight was delayed by three hours because of a storm over the Atlantic.',
    'Learning a language takes time.',
    "The museum's new exhibition shows paintings that have never been displayed in public before.",
    'Turn left at the second traffic light.',
    'Coffee or tea?',
    'Scientists discovered a new species of frog in the rainforest, hidden under fallen leaves.',
]


MINILM_SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512)


def random_minilm(tmp: str) -> str:
    """MiniLM-shaped random weights saved by the reference (for machines without the embedded package)."""
    import transformers

    transformers.BertModel(transformers.BertConfig(**MINILM_SHAPE)).save_pretrained(tmp)
    return tmp


def synthetic_batch(batch_size: int, seed: int = 0):
    """Lengths drawn like short English sentences (8-48 tokens), padded to the longest."""
    import torch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 49, (batch_size,), generator=g)
    ids = torch.randint(1000, 30000, (batch_size, int(lengths.max())), generator=g)
    mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--batch-size", type=int, default=None, help="synthetic batch of this size instead of the 32 sentences")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()

    import tempfile

    import torch
    import transformers

    from workbench import AutoModel, AutoTokenizer
    from workbench.embedded import embedded_folder

    folder = embedded_folder("sentence-transformers/all-MiniLM-L6-v2")
    weights = "MiniLM-L6 (real weights)"
    if folder is None:
        folder, weights = random_minilm(tempfile.mkdtemp()), "MiniLM-L6 shape (random weights)"
    if args.batch_size is None and (Path(folder) / "tokenizer.json").is_file():
        batch = AutoTokenizer.from_pretrained(folder)(SENTENCES, padding=True, return_tensors="pt")
    else:
        batch = synthetic_batch(args.batch_size or 32)
    dtype = getattr(torch, args.dtype)
    batch = {k: v.to(args.device) for k, v in batch.items()}
    ours = AutoModel.from_pretrained(folder, device=args.device, dtype=dtype).eval()
    # The reference's default (sdpa) path, same weights, device and dtype.
    ref = transformers.AutoModel.from_pretrained(folder, dtype=dtype).to(args.device).eval()
    keep = batch["attention_mask"].bool()
    with torch.inference_mode():
        diff = (ours(**batch).last_hidden_state[keep] - ref(**batch).last_hidden_state[keep]).abs().max().item()

    def run(model):
        def call():
            with torch.inference_mode():
                model(**batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
        return call

    # Interleave to share any slow-down from the machine fairly.
    t_ours, t_ref = [], []
    for _ in range(3):
        t_ours.append(best_of(run(ours), args.repeats // 3 or 1))
        t_ref.append(best_of(run(ref), args.repeats // 3 or 1))
    t_o, t_r = min(t_ours), min(t_ref)
    n = batch["input_ids"].shape[0]
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"encoder  {weights}, {args.dtype}, batch {n} x {batch['input_ids'].shape[1]} tokens "
          f"({keep.float().mean().item():.0%} real), {where}, max |diff| {diff:.2e}")
    print(f"  ours       {n / t_o:8.1f} sentences/s  ({t_o * 1000:.1f} ms/batch)")
    print(f"  reference  {n / t_r:8.1f} sentences/s  ({t_r * 1000:.1f} ms/batch)")
    print(f"  ratio      {t_r / t_o:.2f}x  (goal >= 1.3x)")

    if args.skip_import:
        return
    t_torch = subprocess_seconds("import torch")
    t_api = subprocess_seconds("from workbench import pipeline, AutoModel, AutoTokenizer")
    t_first = subprocess_seconds("import workbench.models.bert")  # the API's first real use pulls torch in
    t_ref_api = subprocess_seconds("from transformers import pipeline, AutoModel, AutoTokenizer")
    print("import   (fresh interpreter, median)")
    print(f"  import torch                                      {t_torch:6.3f} s")
    print(f"  from workbench import pipeline, AutoModel, ...    {t_api:6.3f} s  ratio {t_api / t_torch:.2f}x (goal <= 1.2x)")
    print(f"  + first model module (loads torch)                {t_first:6.3f} s  ratio {t_first / t_torch:.2f}x")
    print(f"  from transformers import pipeline, AutoModel, ... {t_ref_api:6.3f} s  ratio {t_ref_api / t_torch:.2f}x")


if __name__ == "__main__":
    main()
