"""workbench.tokenizer against the reference library's AutoTokenizer on the same files.

Four tokenizer folders, all offline:
  minilm     - the real all-MiniLM-L6-v2 folder (tokenizer.json, BERT WordPiece)
  bert_vocab - the same vocabulary as a bare vocab.txt + tokenizer_config.json
  bpe_files  - a RoBERTa-style byte-level BPE trained here, as vocab.json + merges.txt
  bpe_json   - that BPE re-saved by the reference RobertaTokenizerFast (tokenizer.json)
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import AutoTokenizer, RobertaTokenizerFast  # test-only oracle

from workbench.errors import CheckpointNotFoundError, InputError
from workbench.tokenizer import VERY_LARGE_INTEGER, BatchEncoding, Tokenizer

from tests.support import minilm_folder

MINILM = minilm_folder()

TEXTS = [
    "Hello, world!",
    "Héllo wörld: naïve café résumé, Ångström.",
    "中文字符 mixed with English 你好世界",
    "Emoji time 🤗🚀 and thumbs 👍🏽!",
    "   extra    whitespace\tand\nnewlines   ",
    "Punctuation!!! ??? ... (brackets) {braces} \"quotes\" 'single' don't we're",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "",
]
PAIRS = [
    ("Who jumps over the dog?", "The quick brown fox jumps over the lazy dog."),
    ("Où est le café?", "Le café est près de la gare, à côté du musée."),
    ("short", "   spaced   out   second   sentence 🤗 "),
]
LONG_TEXT = "The quick brown fox jumps over the lazy dog while the tokenizer counts every word. " * 60

# Words for the small BPE corpus: plain, accented, punctuation and emoji, so merges cover them all.
_WORDS = (
    "the quick brown fox jumps over lazy dog hello world café naïve résumé tokenizer model attention "
    "transformer data learning question answer context window stride padding truncation batch token "
    "über straße garçon piñata 🤗 🚀 you we they don't can't it's mask sentence text"
).split()


def _corpus(n: int = 600) -> list[str]:
    rng = random.Random(0)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 14))) + rng.choice([".", "!", "?", ",", ""])
        for _ in range(n)
    ]


# ----------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tokenizers")
    bert = root / "bert_vocab"
    bert.mkdir()
    shutil.copy(MINILM / "vocab.txt", bert)
    shutil.copy(MINILM / "tokenizer_config.json", bert)

    bpe = root / "bpe_files"
    bpe.mkdir()
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(
        _corpus(), vocab_size=500, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    )
    trainer.save_model(str(bpe))
    (bpe / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "RobertaTokenizer", "model_max_length": 64})
    )

    bpe_json = root / "bpe_json"
    RobertaTokenizerFast.from_pretrained(str(bpe)).save_pretrained(str(bpe_json))
    return {"minilm": MINILM, "bert_vocab": bert, "bpe_files": bpe, "bpe_json": bpe_json}


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[Tokenizer, object]]:
    return {}  # (ours, reference) per folder, loaded once per module


@pytest.fixture(params=["minilm", "bert_vocab", "bpe_files", "bpe_json"])
def pair(request: pytest.FixtureRequest, folders: dict[str, Path], loaded: dict) -> tuple[Tokenizer, object]:
    """(ours, reference) loaded from the same folder."""
    name = request.param
    if name not in loaded:
        loaded[name] = (Tokenizer.from_pretrained(folders[name]), AutoTokenizer.from_pretrained(str(folders[name])))
    return loaded[name]


def assert_same(ours: BatchEncoding, ref) -> None:
    """Same keys, same values (and same container/tensor types), same per-row token maps."""
    assert list(ours.keys()) == list(ref.keys())
    for key in ref.keys():
        a, b = ours[key], ref[key]
        if isinstance(b, torch.Tensor):
            assert isinstance(a, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, key
            assert torch.equal(a, b), key
        elif isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, key
            assert np.array_equal(a, b), key
        else:
            assert a == b, key
    assert len(ours.encodings) == len(ref.encodings)
    for i in range(len(ref.encodings)):
        assert ours.tokens(i) == ref.tokens(i)
        assert ours.word_ids(i) == ref.word_ids(i)
        assert ours.sequence_ids(i) == ref.sequence_ids(i)


ALL_OUTPUTS = dict(return_offsets_mapping=True, return_special_tokens_mask=True)


# ----------------------------------------------------------------------------------------------
# parity: encoding
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", TEXTS)
def test_single_text(pair, text):
    ours, ref = pair
    out = ours(text, **ALL_OUTPUTS)
    assert isinstance(out, BatchEncoding) and isinstance(out, dict)
    assert_same(out, ref(text, **ALL_OUTPUTS))
    # un-batched input -> flat lists of ints, as in the reference
    assert all(isinstance(i, int) for i in out["input_ids"])


@pytest.mark.parametrize("first, second", PAIRS)
def test_pair(pair, first, second):
    ours, ref = pair
    out = ours(first, second, **ALL_OUTPUTS)
    assert_same(out, ref(first, second, **ALL_OUTPUTS))
    assert set(out.sequence_ids()) == {None, 0, 1}


def test_token_type_ids_follow_the_model(pair):
    ours, ref = pair
    out = ours(*PAIRS[0])
    assert ours.model_input_names == ref.model_input_names
    if ours.backend_tokenizer.model.__class__.__name__ == "WordPiece":
        assert "token_type_ids" in out and 1 in out["token_type_ids"]
    else:
        assert "token_type_ids" not in out
    # explicitly asked for: always there, and equal to the reference's
    assert_same(ours(*PAIRS[0], return_token_type_ids=True), ref(*PAIRS[0], return_token_type_ids=True))
    assert_same(ours(TEXTS[0], return_attention_mask=False), ref(TEXTS[0], return_attention_mask=False))


def test_batches(pair):
    ours, ref = pair
    assert_same(ours(TEXTS, **ALL_OUTPUTS), ref(TEXTS, **ALL_OUTPUTS))
    firsts, seconds = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    assert_same(ours(firsts, seconds, **ALL_OUTPUTS), ref(firsts, seconds, **ALL_OUTPUTS))
    assert_same(ours(PAIRS, **ALL_OUTPUTS), ref(PAIRS, **ALL_OUTPUTS))  # list of (a, b) tuples
    assert isinstance(ours(TEXTS)["input_ids"][0], list)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(padding=True),
        dict(padding="longest"),
        dict(padding="max_length", max_length=48),
        dict(padding="max_length", max_length=48, truncation=True),
        dict(padding=True, pad_to_multiple_of=8),
        dict(padding="max_length", max_length=40, truncation=True, pad_to_multiple_of=8),
        dict(padding=True, padding_side="left"),
        dict(padding="do_not_pad"),
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_padding(pair, kwargs):
    ours, ref = pair
    out = ours(TEXTS, **kwargs, **ALL_OUTPUTS)
    assert_same(out, ref(TEXTS, **kwargs, **ALL_OUTPUTS))
    lengths = {len(ids) for ids in out["input_ids"]}
    if kwargs.get("padding") == "max_length" and "truncation" not in kwargs:
        assert min(lengths) == kwargs["max_length"]  # padded up to it, longer rows left alone
    elif kwargs.get("padding") != "do_not_pad":
        assert len(lengths) == 1
        if "pad_to_multiple_of" in kwargs:
            assert lengths.pop() % 8 == 0


def test_padding_single_text_is_not_padded(pair):
    ours, ref = pair
    assert_same(ours(TEXTS[0], padding=True), ref(TEXTS[0], padding=True))
    out = ours(TEXTS[0], padding="max_length", max_length=30)
    assert_same(out, ref(TEXTS[0], padding="max_length", max_length=30))
    assert len(out["input_ids"]) == 30 and out["attention_mask"][-1] == 0


LONG_FIRSTS = ["Who jumps over the lazy dog and why does it jump so high?", "Où est le café, et pourquoi est-il fermé?"]
SHORT = ["The fox.", "Le café."]


@pytest.mark.parametrize(
    "kwargs, firsts, seconds",
    [
        (dict(truncation=True, max_length=10), LONG_FIRSTS, LONG_FIRSTS[::-1]),
        (dict(max_length=10), LONG_FIRSTS, LONG_FIRSTS[::-1]),  # a bare max_length truncates, as in the reference
        (dict(truncation="longest_first", max_length=12), LONG_FIRSTS, SHORT),
        (dict(truncation="only_first", max_length=14), LONG_FIRSTS, SHORT),
        (dict(truncation="only_second", max_length=14), SHORT, LONG_FIRSTS),
        (dict(truncation=True, max_length=12, padding="max_length"), SHORT, LONG_FIRSTS),
        (dict(truncation="only_first", max_length=16, padding=True), LONG_FIRSTS, SHORT),
    ],
    ids=lambda x: ",".join(f"{k}={v}" for k, v in x.items()) if isinstance(x, dict) else "",
)
def test_truncation(pair, kwargs, firsts, seconds):
    ours, ref = pair
    out = ours(firsts, seconds, **kwargs, **ALL_OUTPUTS)
    assert_same(out, ref(firsts, seconds, **kwargs, **ALL_OUTPUTS))
    assert all(len(ids) <= kwargs["max_length"] for ids in out["input_ids"])
    strategy = kwargs.get("truncation")
    kept = 1 if strategy == "only_first" else 0  # the sequence that must come through whole
    if strategy in ("only_first", "only_second"):
        full = ours(firsts, seconds)
        for i in range(len(firsts)):
            untouched = [t for t, s in zip(full["input_ids"][i], full.sequence_ids(i)) if s == kept]
            assert [t for t, s in zip(out["input_ids"][i], out.sequence_ids(i)) if s == kept] == untouched
    if strategy != "only_second":
        texts = [t for t in TEXTS if t]
        assert_same(ours(texts, **kwargs, **ALL_OUTPUTS), ref(texts, **kwargs, **ALL_OUTPUTS))


def test_truncation_impossible_is_an_input_error(pair):
    ours, ref = pair
    with pytest.raises(InputError, match="could not encode.*too short"):
        ours(LONG_FIRSTS, SHORT, truncation="only_second", max_length=8)
    with pytest.raises(Exception, match="too short"):  # the reference fails the same way
        ref(LONG_FIRSTS, SHORT, truncation="only_second", max_length=8)


def test_truncation_defaults_to_model_max_length(pair):
    ours, ref = pair
    out = ours(LONG_TEXT, truncation=True)
    assert_same(out, ref(LONG_TEXT, truncation=True))
    assert len(out["input_ids"]) == ours.model_max_length == ref.model_max_length
    assert_same(
        ours([LONG_TEXT, "x"], padding="max_length", truncation=True),
        ref([LONG_TEXT, "x"], padding="max_length", truncation=True),
    )


@pytest.mark.parametrize("stride", [0, 4])
def test_overflow_with_stride_question_answering(pair, stride):
    ours, ref = pair
    questions = ["Who jumps?", "Where is the café?"]
    contexts = [LONG_TEXT[:600], "Le café est près de la gare. " * 8]
    kwargs = dict(
        truncation="only_second", max_length=32, stride=stride, return_overflowing_tokens=True, padding="max_length"
    )
    out = ours(questions, contexts, **kwargs, **ALL_OUTPUTS)
    assert_same(out, ref(questions, contexts, **kwargs, **ALL_OUTPUTS))
    mapping = out["overflow_to_sample_mapping"]
    assert mapping[0] == 0 and mapping[-1] == 1 and len(mapping) > 4
    # every window carries the whole question; the windows overlap by `stride` tokens and, with the
    # overlaps removed, put the whole context back together
    question = ours.convert_tokens_to_ids(ours.tokenize(questions[0]))
    context = ours.convert_tokens_to_ids(ours.tokenize(contexts[0]))
    rows = [i for i, s in enumerate(mapping) if s == 0]
    pieces = [[t for t, s in zip(out["input_ids"][i], out.sequence_ids(i)) if s == 1] for i in rows]
    for i in rows:
        assert [t for t, s in zip(out["input_ids"][i], out.sequence_ids(i)) if s == 0] == question
    for before, after in zip(pieces, pieces[1:]):
        assert before[len(before) - stride :] == after[:stride]
    assert pieces[0] + [t for piece in pieces[1:] for t in piece[stride:]] == context


def test_overflow_single_text_keeps_batch_axis(pair):
    ours, ref = pair
    kwargs = dict(truncation=True, max_length=16, stride=3, return_overflowing_tokens=True)
    out = ours(LONG_TEXT[:300], **kwargs)
    assert_same(out, ref(LONG_TEXT[:300], **kwargs))
    assert isinstance(out["input_ids"][0], list) and len(out["input_ids"]) > 2
    assert set(out["overflow_to_sample_mapping"]) == {0}
    no_overflow = ours("hi", return_overflowing_tokens=True)
    assert_same(no_overflow, ref("hi", return_overflowing_tokens=True))


@pytest.mark.parametrize("tensor_type", ["pt", "np"])
def test_return_tensors(pair, tensor_type):
    ours, ref = pair
    kwargs = dict(padding=True, truncation=True, max_length=20, return_tensors=tensor_type, **ALL_OUTPUTS)
    out = ours(TEXTS, **kwargs)
    assert_same(out, ref(TEXTS, **kwargs))
    assert tuple(out["input_ids"].shape) == (len(TEXTS), 20)
    assert out["offset_mapping"].shape[-1] == 2
    single = ours(TEXTS[0], return_tensors=tensor_type)  # one text still gets a batch axis
    assert_same(single, ref(TEXTS[0], return_tensors=tensor_type))
    assert single["input_ids"].ndim == 2


def test_split_into_words(folders):
    ours = Tokenizer.from_pretrained(folders["minilm"])
    ref = AutoTokenizer.from_pretrained(str(folders["minilm"]))
    words = ["Héllo", "world", "🤗", "naïve"]
    assert_same(ours(words, is_split_into_words=True), ref(words, is_split_into_words=True))
    batch = [words, ["a", "b"]]
    kwargs = dict(is_split_into_words=True, padding=True, **ALL_OUTPUTS)
    out = ours(batch, **kwargs)
    assert_same(out, ref(batch, **kwargs))
    assert [w for w in out.word_ids(0) if w is not None][-1] == 3  # four words in, word ids 0..3 out


# ----------------------------------------------------------------------------------------------
# parity: vocabulary, special tokens, decoding
# ----------------------------------------------------------------------------------------------
SPECIAL_ATTRS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]


def test_special_tokens_and_vocab(pair):
    ours, ref = pair
    for name in SPECIAL_ATTRS:
        assert getattr(ours, name) == getattr(ref, name), name
        assert getattr(ours, name + "_id") == getattr(ref, name + "_id"), name
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.all_special_ids == ref.all_special_ids
    assert ours.special_tokens_map == ref.special_tokens_map
    assert ours.vocab_size == ref.vocab_size and len(ours) == len(ref)
    assert ours.get_vocab() == ref.get_vocab()
    assert ours.model_max_length == ref.model_max_length
    assert ours.padding_side == ref.padding_side
    assert ours.num_special_tokens_to_add() == ref.num_special_tokens_to_add()
    assert ours.num_special_tokens_to_add(pair=True) == ref.num_special_tokens_to_add(pair=True)


@pytest.mark.parametrize("text", TEXTS[:6])
def test_tokenize_encode_convert(pair, text):
    ours, ref = pair
    assert ours.tokenize(text) == ref.tokenize(text)
    assert ours.encode(text) == ref.encode(text)
    assert ours.encode(text, add_special_tokens=False) == ref.encode(text, add_special_tokens=False)
    ids = ref.encode(text)
    assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == ref.convert_ids_to_tokens(
        ids, skip_special_tokens=True
    )
    assert ours.convert_ids_to_tokens(ids[1]) == ref.convert_ids_to_tokens(ids[1])
    tokens = ref.tokenize(text) + ["definitely-not-a-token-xyz"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids(tokens[0]) == ref.convert_tokens_to_ids(tokens[0])


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("clean_up", [None, False, True])
def test_decode(pair, skip, clean_up):
    ours, ref = pair
    batch = ref(TEXTS + [p[0] for p in PAIRS], padding=True)["input_ids"]
    for ids in batch:
        assert ours.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=clean_up) == ref.decode(
            ids, skip_special_tokens=skip, clean_up_tokenization_spaces=clean_up
        )
    assert ours.batch_decode(
        batch, skip_special_tokens=skip, clean_up_tokenization_spaces=clean_up
    ) == ref.batch_decode(batch, skip_special_tokens=skip, clean_up_tokenization_spaces=clean_up)
    tensor = torch.tensor(batch)
    assert ours.decode(tensor, skip_special_tokens=skip) == ref.decode(tensor, skip_special_tokens=skip)
    assert ours.decode(tensor[0], skip_special_tokens=skip) == ref.decode(tensor[0], skip_special_tokens=skip)
    assert ours.decode(batch[0][1]) == ref.decode(batch[0][1])
    past_the_end = [batch[0][1], len(ref) + 5, batch[0][2]]  # e.g. argmax over a padded embedding matrix
    assert ours.decode(past_the_end) == ref.decode(past_the_end)


def test_decode_round_trip_text(folders):
    ours = Tokenizer.from_pretrained(folders["bpe_files"])
    text = "hello world café naïve 🤗 don't"
    assert ours.decode(ours.encode(text), skip_special_tokens=True) == text  # byte-level BPE is lossless
    bert = Tokenizer.from_pretrained(folders["minilm"])
    assert bert.decode(bert.encode("Hello, World!"), skip_special_tokens=True) == "hello, world!"


def test_mask_token_stays_one_token(pair):
    ours, ref = pair
    text = f"The capital of France is {ours.mask_token}. {ours.mask_token}!"
    out = ours(text, **ALL_OUTPUTS)
    assert_same(out, ref(text, **ALL_OUTPUTS))
    assert out["input_ids"].count(ours.mask_token_id) == 2
    assert out.tokens().count(ours.mask_token) == 2
    ids = out["input_ids"]
    assert ours.mask_token not in ours.decode(ids, skip_special_tokens=True)
    assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)


# ----------------------------------------------------------------------------------------------
# other families and config switches
# ----------------------------------------------------------------------------------------------
def test_cased_vocab_txt_follows_do_lower_case(folders, tmp_path):
    shutil.copy(folders["bert_vocab"] / "vocab.txt", tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": False, "model_max_length": 128})
    )
    ours, ref = Tokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(str(tmp_path))
    text = "Hello World Héllo"
    assert_same(ours(text, **ALL_OUTPUTS), ref(text, **ALL_OUTPUTS))
    lower = Tokenizer.from_pretrained(folders["bert_vocab"])
    assert ours(text)["input_ids"] != lower(text)["input_ids"]  # the switch really changes tokens
    assert ours.do_lower_case is False and lower.do_lower_case is True


@pytest.mark.parametrize(
    "tokenizer_class, with_json",
    [
        ("DistilBertTokenizer", False),  # WordPiece, but no token_type_ids
        ("ElectraTokenizer", False),
        ("BertTokenizerFast", False),
        ("PreTrainedTokenizerFast", True),  # generic: tokenizer.json as is, specials only from its padding
    ],
)
def test_tokenizer_class_decides_inputs_and_specials(folders, tmp_path, tokenizer_class, with_json):
    shutil.copy(folders["minilm"] / ("tokenizer.json" if with_json else "vocab.txt"), tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}))
    ours, ref = Tokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(str(tmp_path))
    assert ours.model_input_names == ref.model_input_names
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.model_max_length == ref.model_max_length == VERY_LARGE_INTEGER
    for args in (("Héllo [MASK] world",), PAIRS[0]):
        assert_same(ours(*args, **ALL_OUTPUTS), ref(*args, **ALL_OUTPUTS))
    assert_same(ours(TEXTS, padding=True), ref(TEXTS, padding=True))


def test_gpt2_style_bpe_files(folders, tmp_path):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(folders["bpe_files"] / name, tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "GPT2Tokenizer", "bos_token": "</s>", "eos_token": "</s>", "unk_token": "<unk>"})
    )
    ours, ref = Tokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(str(tmp_path))
    for text in TEXTS[:5]:
        assert_same(ours(text, **ALL_OUTPUTS), ref(text, **ALL_OUTPUTS))
    assert_same(ours(*PAIRS[0], **ALL_OUTPUTS), ref(*PAIRS[0], **ALL_OUTPUTS))
    assert ours.pad_token is None and ours.model_max_length == VERY_LARGE_INTEGER == ref.model_max_length
    assert "token_type_ids" not in ours("x")


def test_add_prefix_space_override(folders):
    ours = Tokenizer.from_pretrained(folders["bpe_files"], add_prefix_space=True)
    ref = AutoTokenizer.from_pretrained(str(folders["bpe_files"]), add_prefix_space=True)
    assert_same(ours("hello world", **ALL_OUTPUTS), ref("hello world", **ALL_OUTPUTS))
    plain = Tokenizer.from_pretrained(folders["bpe_files"])
    assert plain("hello world")["input_ids"] != ours("hello world")["input_ids"]


def test_special_tokens_as_dicts_keep_their_options(folders, tmp_path):
    # roberta-base style: the mask token is a dict with lstrip=True, so "<mask>" eats the space before it
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(folders["bpe_files"] / name, tmp_path)
    mask = {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False}
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"mask_token": mask, "pad_token": "<pad>"}))
    ours, ref = Tokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(str(tmp_path))
    text = "hello <mask> world"
    out = ours(text, **ALL_OUTPUTS)
    assert_same(out, ref(text, **ALL_OUTPUTS))
    assert ours.mask_token == "<mask>" and out["input_ids"][-3] == ours.mask_token_id
    assert out.tokens()[-3:] == [" <mask>", "Ġworld", "</s>"]  # the space went into the mask token
    plain = Tokenizer.from_pretrained(folders["bpe_files"])
    assert "Ġ" in plain(text).tokens() and "Ġ" not in out.tokens()


def test_overrides_and_settable_special_tokens(folders):
    tok = Tokenizer.from_pretrained(folders["minilm"], model_max_length=16, padding_side="left")
    assert tok.model_max_length == 16 and tok.padding_side == "left"
    out = tok(["a", "a b c"], padding=True)
    assert out["attention_mask"][0][0] == 0 and out["input_ids"][0][0] == tok.pad_token_id
    tok.pad_token = "[MASK]"
    assert tok.pad_token_id == 103
    assert tok(["a", "a b c"], padding=True)["input_ids"][0][0] == 103
    tok.pad_token_id = 0
    assert tok.pad_token == "[PAD]"
    size = len(tok)
    tok.pad_token = "<not-in-vocab>"  # naming a token never grows the vocabulary (as in the reference)
    assert len(tok) == size and tok.pad_token_id == tok.unk_token_id
    with pytest.raises(InputError, match="must be a string"):
        tok.mask_token = 5


def test_tokenizer_pickles_and_deepcopies(folders):
    import copy

    tok = Tokenizer.from_pretrained(folders["bpe_files"])
    for clone in (pickle.loads(pickle.dumps(tok)), copy.deepcopy(tok)):
        assert clone(TEXTS[:3], padding=True)["input_ids"] == tok(TEXTS[:3], padding=True)["input_ids"]
        assert clone.all_special_tokens == tok.all_special_tokens and clone.model_max_length == 64


def test_pad_matches_reference(pair):
    ours, ref = pair
    features = [ref(t, return_special_tokens_mask=True) for t in TEXTS[:4]]
    features = [{k: list(v) for k, v in f.items()} for f in features]
    for kwargs in (
        dict(),
        dict(pad_to_multiple_of=8),
        dict(padding="max_length", max_length=40),
        dict(padding_side="left"),
    ):
        out = ours.pad([dict(f) for f in features], **kwargs)
        expected = ref.pad([dict(f) for f in features], **kwargs)
        assert dict(out) == dict(expected), kwargs
    out = ours.pad([dict(f) for f in features], return_tensors="pt")
    assert out["input_ids"].shape[0] == 4 and torch.equal(
        out["input_ids"], ref.pad(features, return_tensors="pt")["input_ids"]
    )


# ----------------------------------------------------------------------------------------------
# save_pretrained round trip
# ----------------------------------------------------------------------------------------------
def test_save_pretrained_round_trip(pair, tmp_path):
    ours, ref = pair
    written = ours.save_pretrained(tmp_path / "saved")
    names = sorted(Path(p).name for p in written)
    assert names == ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["model_input_names"] == ours.model_input_names
    assert json.loads((tmp_path / "saved" / "tokenizer.json").read_text())["padding"] is None

    reloaded = Tokenizer.from_pretrained(tmp_path / "saved")
    ref_reloaded = AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    kwargs = dict(padding=True, truncation=True, max_length=24, **ALL_OUTPUTS)
    expected = ref(TEXTS, **kwargs)
    assert_same(reloaded(TEXTS, **kwargs), expected)
    assert_same(ref_reloaded(TEXTS, **kwargs), expected)
    firsts, seconds = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    assert_same(reloaded(firsts, seconds, **ALL_OUTPUTS), ref(firsts, seconds, **ALL_OUTPUTS))
    assert_same(ref_reloaded(firsts, seconds, **ALL_OUTPUTS), ref(firsts, seconds, **ALL_OUTPUTS))
    text = f"masked {ours.mask_token} text"
    assert_same(ref_reloaded(text), ref(text))
    for tok in (reloaded, ref_reloaded):
        assert tok.all_special_tokens == ref.all_special_tokens
        assert tok.model_max_length == ref.model_max_length
        assert tok.model_input_names == ref.model_input_names
        assert tok.decode(expected["input_ids"][1]) == ref.decode(expected["input_ids"][1])


def test_save_after_padding_call_does_not_bake_padding(folders, tmp_path):
    tok = Tokenizer.from_pretrained(folders["minilm"])
    tok(TEXTS, padding="max_length", max_length=64, truncation=True)
    tok.save_pretrained(tmp_path)
    state = json.loads((tmp_path / "tokenizer.json").read_text())
    assert state["padding"] is None and state["truncation"] is None
    again = Tokenizer.from_pretrained(tmp_path)
    assert len(again("hello")["input_ids"]) == 3


# ----------------------------------------------------------------------------------------------
# BatchEncoding
# ----------------------------------------------------------------------------------------------
def test_batch_encoding_helpers(pair):
    ours, ref = pair
    text = "Héllo wörld, naïve café"
    out, expected = ours(text), ref(text)
    assert out.input_ids == out["input_ids"] and out.attention_mask == expected.attention_mask
    with pytest.raises(AttributeError, match="no key 'labels'"):
        _ = out.labels
    for char in range(len(text)):
        assert out.char_to_token(char) == expected.char_to_token(char)
        assert out.char_to_word(char) == expected.char_to_word(char)
    for token in range(len(out["input_ids"])):
        assert out.token_to_word(token) == expected.token_to_word(token)
        assert out.token_to_sequence(token) == expected.token_to_sequence(token)
        assert out.token_to_chars(token) == (
            tuple(expected.token_to_chars(token)) if expected.token_to_chars(token) else None
        )
    assert tuple(out.word_to_tokens(1)) == tuple(expected.word_to_tokens(1))
    assert tuple(out.word_to_chars(1)) == tuple(expected.word_to_chars(1))
    assert out[0].ids == expected[0].ids  # an int index gives the raw Encoding
    assert out.n_sequences == expected.n_sequences == 1
    batch = ours(TEXTS[:3], padding=True)
    assert batch.char_to_token(1, 2) == ref(TEXTS[:3], padding=True).char_to_token(1, 2)


def test_batch_encoding_to_device_and_pickle():
    tok = Tokenizer.from_pretrained(MINILM)
    out = tok(TEXTS, padding=True, return_tensors="pt")
    moved = out.to("cpu")
    assert moved is out and out.input_ids.device.type == "cpu"
    assert isinstance(out, dict) and set(dict(out)) == {"input_ids", "token_type_ids", "attention_mask"}
    clone = pickle.loads(pickle.dumps(tok(TEXTS[:2])))
    assert clone["input_ids"] == tok(TEXTS[:2])["input_ids"] and clone.tokens(1) == tok(TEXTS[:2]).tokens(1)
    with pytest.raises(InputError, match="padding=True"):
        tok(TEXTS, return_tensors="pt")  # ragged rows cannot become one tensor


def test_import_is_cheap():
    code = "import sys, workbench.tokenizer; print('torch' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
def test_error_no_tokenizer_files(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")  # vocab.json without merges.txt is not enough
    with pytest.raises(CheckpointNotFoundError) as info:
        Tokenizer.from_pretrained(tmp_path)
    message = str(info.value)
    for name in ("tokenizer.json", "vocab.txt", "vocab.json + merges.txt", str(tmp_path)):
        assert name in message


def test_error_too_long_without_truncation(folders):
    ours = Tokenizer.from_pretrained(folders["minilm"])
    ref = AutoTokenizer.from_pretrained(str(folders["minilm"]))
    assert len(ref(LONG_TEXT)["input_ids"]) > 512  # the reference lets it through (only a warning)
    with pytest.raises(InputError) as info:
        ours(LONG_TEXT)
    message = str(info.value)
    assert "at most 512 tokens" in message and "truncation=True" in message and "The input is" in message
    with pytest.raises(InputError, match=r"Input 1 of the batch is \d+ tokens long.*truncation=True"):
        ours(["short", LONG_TEXT], padding=True)
    with pytest.raises(InputError, match=r"Padding to 600 tokens exceeds .*\(512\); pass max_length <= 512"):
        ours(["short"], padding="max_length", max_length=600)
    with pytest.raises(InputError, match="at most 512"):
        ours.encode(LONG_TEXT)
    # what the message advises works, and tokenize() (inspection only) never raises
    assert len(ours(LONG_TEXT, truncation=True)["input_ids"]) == 512
    assert len(ours.tokenize(LONG_TEXT)) > 512
    assert len(ours("short")["input_ids"]) == 3


def test_error_padding_without_pad_token(folders, tmp_path):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(folders["bpe_files"] / name, tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "GPT2Tokenizer", "eos_token": "</s>"})
    )
    tok = Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(InputError) as info:
        tok(["a", "a b"], padding=True)
    assert "no pad token" in str(info.value) and "tokenizer.pad_token = tokenizer.eos_token" in str(info.value)
    with pytest.raises(ValueError, match="padding token"):  # the reference refuses too
        AutoTokenizer.from_pretrained(str(tmp_path))(["a", "a b"], padding=True)
    tok.pad_token = tok.eos_token  # the fix the message names
    out = tok(["a", "a b"], padding=True)
    assert out["input_ids"][0][-1] == tok.convert_tokens_to_ids("</s>") and out["attention_mask"][0][-1] == 0


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda t: t(["fine", 3]), r"item 1 is int \(3\)"),
        (lambda t: t(5), r"text must be a string.*got int \(5\)"),
        (lambda t: t(None), r"text must be a string.*NoneType"),
        (lambda t: t([]), "batch is empty"),
        (lambda t: t(["a", "b"], "c"), "text_pair must be a list"),
        (lambda t: t(["a", "b"], ["c"]), "text has 2 items but text_pair has 1"),
        (lambda t: t("a", ["b"]), "text_pair must be one string"),
        (lambda t: t(["a", ["b", 1]]), "item 1 is list"),
        (lambda t: t("a", padding="everything"), "padding='everything' is not one of"),
        (lambda t: t("a", truncation="sideways"), "truncation='sideways' is not one of"),
        (lambda t: t("a", max_length=0), "max_length must be a positive int"),
        (lambda t: t("a", return_tensors="tf"), "return_tensors='tf' is not supported"),
        (lambda t: t([["a"], 2], is_split_into_words=True), "item 1 is int"),
        (
            lambda t: t(["a b c d e f"] * 2, padding=True, truncation=True, max_length=10, pad_to_multiple_of=8),
            "not a multiple of pad_to_multiple_of=8",
        ),
        (lambda t: t("a b c d e f g h", "x", truncation="only_second", max_length=5), "could not encode"),
        (lambda t: t.decode([101, -100]), "Token id -100 is negative"),
        (lambda t: t.decode("hello"), "decode\\(\\) takes token ids"),
    ],
)
def test_error_bad_arguments(call, pattern):
    tok = Tokenizer.from_pretrained(MINILM)
    with pytest.raises(InputError, match=pattern):
        call(tok)
