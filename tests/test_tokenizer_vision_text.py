"""The text towers' tokenizers against the reference: CLIP's lower-cased byte-level BPE with `</w>` word ends (from
tokenizer.json and from vocab.json + merges.txt) and SigLIP's SentencePiece unigram model (spiece.model, read without
sentencepiece: punctuation removed, whitespace collapsed, its character map, padded to a fixed length)."""

from __future__ import annotations

import io
import json
import random

import pytest

from workbench.errors import CheckpointNotFoundError
from workbench.tokenizer import Tokenizer

from tests.models.harness import transformers

WORDS = ("a photo of the cat dog remote control on couch astronaut in space cups coffee rocket launch grace hopper "
         "portrait motorcycle two three people running street bicycle blue red green").split()
TEXTS = ["A photo of a CAT!", "  two   red\tbicycles, on the street. ", "It's 3:45 -- time's up?!", "Ünïcode café ½ ＡＢＣ",
         "motorcycles", "x y z q", "hello \u2581world", "a", "an astronaut's (red) rocket"]


def corpus() -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(300)] + ["Ünïcode café 12 345 ½ ＡＢＣ"] * 3


@pytest.fixture(scope="module")
def siglip_folder(tmp_path_factory):
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=model, vocab_size=150,
                                             model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                             character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    folder = tmp_path_factory.mktemp("siglip_tok")
    (folder / "spiece.model").write_bytes(model.getvalue())
    ref = transformers.SiglipTokenizer(str(folder / "spiece.model"))
    ref.save_pretrained(folder)
    return folder, transformers.SiglipTokenizer.from_pretrained(folder)


def clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    import tokenizers
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    from workbench.tokenizer_files import _CLIP_SPLIT

    backend = tokenizers.Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(_CLIP_SPLIT), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    backend.train_from_iterator(corpus(), trainers.BpeTrainer(
        vocab_size=500, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    model = json.loads(backend.to_str())["model"]
    return model["vocab"], [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def assert_same(ours: Tokenizer, ref, **options) -> None:
    for text in TEXTS:
        assert ours(text)["input_ids"] == ref(text)["input_ids"], text
    got, want = ours(TEXTS, **options), ref(TEXTS, **options)
    assert list(got.keys()) == list(want.keys())
    for key in want:
        assert got[key] == want[key], key


def test_siglip_tokenizer_equals_reference(siglip_folder):
    folder, ref = siglip_folder
    ours = Tokenizer.from_pretrained(folder)
    assert_same(ours, ref, padding="max_length", max_length=24, truncation=True)  # the pipeline's padding
    assert ours.pad_token == ours.eos_token == "</s>" and ours.unk_token == "<unk>"
    assert ours.tokenize("A CAT!") == ref.tokenize("A CAT!")


def test_clip_tokenizer_from_tokenizer_json_and_from_vocab_files(tmp_path):
    vocab, merges = clip_vocab()
    ref = transformers.CLIPTokenizer(vocab=vocab, merges=merges)
    ref.save_pretrained(tmp_path / "json")
    assert_same(Tokenizer.from_pretrained(tmp_path / "json"), ref, padding=True)
    legacy = tmp_path / "legacy"  # older hub folders: vocab.json + merges.txt, the class named in the config
    legacy.mkdir()
    (legacy / "vocab.json").write_text(json.dumps(vocab))
    (legacy / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    (legacy / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CLIPTokenizer"}))
    ours = Tokenizer.from_pretrained(legacy)
    assert_same(ours, ref, padding=True)
    assert ours.bos_token == "<|startoftext|>" and ours.model_input_names == ["input_ids", "attention_mask"]


def test_damaged_sentencepiece_files_are_refused(tmp_path, siglip_folder):
    folder, _ = siglip_folder
    data = (folder / "spiece.model").read_bytes()
    for name, damaged in (("truncated", data[: len(data) // 2]), ("garbage", b"\xff" * 64)):
        bad = tmp_path / name
        bad.mkdir()
        (bad / "spiece.model").write_bytes(damaged)
        (bad / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "SiglipTokenizer"}))
        with pytest.raises(CheckpointNotFoundError, match="spiece.model"):
            Tokenizer.from_pretrained(bad)
