"""Summarisation speed: our pipeline vs the reference library's 4.57 summarization pipeline, same weights, CPU.

8 documents of about 400 tokens, beam search with 4 beams, batch size 8 on both sides, random weights with
the real shapes of `sshleifer/distilbart-cnn-6-6` (BART, d_model 1024, 6+6 layers, vocabulary 50264,
bart-large-cnn's generation options: min 56 / max 142 tokens, length penalty 2, no repeated 3-grams) and of
`google-t5/t5-small` (d_model 512, 6+6 layers, vocabulary 32128, t5-small's summarization options and
"summarize: " prefix). The weights are made here from a seed and saved once; both libraries load that folder.
Random weights rarely emit the end token, so every beam runs to the length limit on both sides: the same work.

The reference 4.57 runs in its own virtual environment (5.x dropped the pipeline; see
tests/fixtures/reference_pipelines/make_seq2seq_reference.py for how to make one), given by --ref-python or
$REF457_PYTHON. Without one, the reference is 5.x's `generate` with the same options, in this process, and the
script says so. Throughput = documents per second; the ratio is ours / reference (higher is better). The
generated texts are compared too (they should be equal).

    python benchmarks/bench_seq2seq.py [--models bart,t5] [--threads 2] [--repeat 1] [--max-new-tokens N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

WORDS = ("the council voted on tuesday to reopen old stone bridge over river after two years of repairs engineers "
         "said is now safe for cyclists and walkers but cars will have wait until spring small bakery in harbour "
         "district won regional bread prize third time owner secret patience dough rests whole day before it goes "
         "into oven heavy rain expected across north country this weekend forecasters warned rivers could rise "
         "quickly asked drivers avoid flooded roads library stay open late every thursday summer volunteers run "
         "reading groups children repair cafe where people bring broken lamps radios bicycles scientists university "
         "found new species beetle forest near lake smaller than grain rice shines green under ultraviolet light").split()
SHAPES = {
    "bart": dict(model_type="bart", vocab_size=50264, d_model=1024, encoder_layers=6, decoder_layers=6,
                 encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
                 max_position_embeddings=1024),
    "t5": dict(model_type="t5", vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
               decoder_start_token_id=0),
}
BART_CNN = dict(num_beams=4, length_penalty=2.0, max_length=142, min_length=56, no_repeat_ngram_size=3,
                early_stopping=True, forced_bos_token_id=0, forced_eos_token_id=2)
T5_SUMMARY = {"summarization": {"early_stopping": True, "length_penalty": 2.0, "max_length": 200, "min_length": 30,
                                "no_repeat_ngram_size": 3, "num_beams": 4, "prefix": "summarize: "}}


def documents(n: int = 8, words: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(n)]


def make_tokenizer(kind: str, folder: Path) -> None:
    """A tokenizer trained on WORDS (each word about one token), saved in the family's hub layout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if kind == "bart":
        rust = Tokenizer(models.BPE())
        rust.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        rust.decoder = decoders.ByteLevel()
        rust.train_from_iterator([" ".join(WORDS)] * 4, trainers.BpeTrainer(
            vocab_size=1000, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        rust.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        config = {"tokenizer_class": "BartTokenizer", "model_max_length": 1024, "bos_token": "<s>", "eos_token": "</s>",
                  "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>", "sep_token": "</s>", "cls_token": "<s>"}
    else:
        # A Unigram vocabulary of whole words (scored above single characters), so a word is one token
        chars = sorted({c for w in WORDS for c in w.capitalize() + w + "."})
        pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("\u2581" + w, -5.0) for w in dict.fromkeys(WORDS)]
        pieces += [("\u2581" + w.capitalize(), -6.0) for w in dict.fromkeys(WORDS)] + [("\u2581", -8.0)]
        pieces += [(c, -10.0) for c in chars]
        rust = Tokenizer(models.Unigram(pieces, unk_id=2))
        rust.pre_tokenizer = pre_tokenizers.Metaspace()
        rust.decoder = decoders.Metaspace()
        rust.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        config = {"tokenizer_class": "T5Tokenizer", "model_max_length": 512, "eos_token": "</s>", "unk_token": "<unk>",
                  "pad_token": "<pad>", "extra_ids": 0}
    rust.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def make_checkpoint(kind: str, folder: Path) -> Path:
    from workbench import AutoConfig, AutoModelForSeq2SeqLM

    if (folder / "model.safetensors").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    fields = dict(SHAPES[kind])
    model_type = fields.pop("model_type")
    if kind == "t5":
        fields["task_specific_params"] = T5_SUMMARY
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(AutoConfig.for_model(model_type, **fields))
    if kind == "bart":
        model.generation_defaults = dict(BART_CNN, decoder_start_token_id=2, eos_token_id=2, pad_token_id=1, bos_token_id=0)
    else:
        model.generation_defaults = dict(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    model.save_pretrained(folder)
    make_tokenizer(kind, folder)
    return folder


REFERENCE_457 = textwrap.dedent("""
    import json, sys, time, warnings
    import torch, transformers
    folder, threads, repeat, options = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    torch.set_num_threads(threads)
    docs = json.loads(sys.stdin.read())
    warnings.simplefilter("ignore")
    pipe = transformers.pipeline("summarization", model=folder, device="cpu", batch_size=8)
    pipe(docs[:1], min_length=1, max_length=3, max_new_tokens=None)  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); out = pipe(docs, **options); times.append(time.perf_counter() - t)
    print(json.dumps({"version": transformers.__version__, "seconds": min(times), "texts": [o["summary_text"] for o in out]}))
""")


def reference_457(python: str, folder: Path, docs: list[str], threads: int, repeat: int, options: dict) -> dict:
    run = subprocess.run([python, "-c", REFERENCE_457, str(folder), str(threads), str(repeat), json.dumps(options)],
                         input=json.dumps(docs), capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def reference_5x(folder: Path, docs: list[str], repeat: int, options: dict, kind: str) -> dict:
    """Fallback: 5.x `generate` with the options the 4.57 pipeline would use (no pipeline in 5.x)."""
    import transformers

    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    prefix = "summarize: " if kind == "t5" else ""
    gen = dict(BART_CNN) if kind == "bart" else {k: v for k, v in T5_SUMMARY["summarization"].items() if k != "prefix"}
    gen.update(options)
    if kind == "t5" and "max_new_tokens" not in options:
        gen["max_new_tokens"] = 256  # the 4.57 pipeline's default, which wins over max_length there
    batch = tok([prefix + d for d in docs], padding=True, return_tensors="pt")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        with torch.no_grad():
            ids = model.generate(**batch, **gen)
        times.append(time.perf_counter() - t)
    return {"version": transformers.__version__ + " generate", "seconds": min(times),
            "texts": tok.batch_decode(ids, skip_special_tokens=True)}


def ours(folder: Path, docs: list[str], repeat: int, options: dict) -> dict:
    from workbench import pipeline

    pipe = pipeline("summarization", model=folder, batch_size=8)
    pipe(docs[:1], min_length=1, max_length=3, max_new_tokens=None)  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = pipe(docs, **options)
        times.append(time.perf_counter() - t)
    return {"seconds": min(times), "texts": [o["summary_text"] for o in out]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bart,t5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="bound the output (both sides) for a quick run")
    parser.add_argument("--ref-python", default=os.environ.get("REF457_PYTHON", "/tmp/ref457/bin/python"))
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "wb-bench-seq2seq"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    docs = documents()
    options = {} if args.max_new_tokens is None else {"max_new_tokens": args.max_new_tokens, "min_length": 0}
    use_457 = Path(args.ref_python).exists()
    print(f"reference: {'transformers 4.57 pipeline (' + args.ref_python + ')' if use_457 else 'transformers 5.x generate (no 4.57 venv found)'}; "
          f"{args.threads} threads, 8 documents, beam 4, batch 8")
    for kind in args.models.split(","):
        folder = make_checkpoint(kind, Path(args.cache) / kind)
        mine = ours(folder, docs, args.repeat, options)
        ref = (reference_457(args.ref_python, folder, docs, args.threads, args.repeat, options) if use_457
               else reference_5x(folder, docs, args.repeat, options, kind))
        same = sum(a == b for a, b in zip(mine["texts"], ref["texts"]))
        print(f"{kind:5} ours {8 / mine['seconds']:.3f} docs/s ({mine['seconds']:.1f} s) · reference {ref['version']} "
              f"{8 / ref['seconds']:.3f} docs/s ({ref['seconds']:.1f} s) · ratio {ref['seconds'] / mine['seconds']:.2f}x "
              f"· same text {same}/8")


if __name__ == "__main__":
    main()
