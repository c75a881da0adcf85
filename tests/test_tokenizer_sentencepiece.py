"""T5 tokenizers: from tokenizer.json (the tiny T5 of the pipeline fixtures) and from the older spiece.model alone
(read as protobuf data by workbench/spm.py's bounds-checked reader, never unpickled), equal to the reference 4.57
T5TokenizerFast's ids, tokens and decoded texts (recorded by make_seq2seq_reference.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from workbench import AutoTokenizer
from workbench.errors import CheckpointNotFoundError

FIXTURES = Path(__file__).parent / "fixtures" / "reference_pipelines"
CASES = json.loads((FIXTURES / "seq2seq_reference.json").read_text())["tokenizer_cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c["text"])[:24])
def test_spiece_model_tokenizes_as_the_reference(case, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sentencepiece", None)  # not needed at run time
    tok = AutoTokenizer.from_pretrained(FIXTURES / "tiny_t5_spiece")
    text = case["text"]
    ids = tok(*text)["input_ids"] if isinstance(text, list) else tok(text)["input_ids"]
    assert ids == case["ids"]
    assert tok.convert_ids_to_tokens(ids) == case["tokens"]
    assert tok.decode(ids) == case["decoded"]
    assert tok.decode(ids, skip_special_tokens=True) == case["decoded_skip"]


def test_spiece_tokenizer_saves_a_tokenizer_json_that_reads_back_the_same(tmp_path):
    tok = AutoTokenizer.from_pretrained(FIXTURES / "tiny_t5_spiece")
    assert tok.eos_token == "</s>" and tok.pad_token_id == 0 and "<extra_id_2>" in tok.all_special_tokens
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = CASES[1]["text"]
    assert again(text)["input_ids"] == tok(text)["input_ids"]


def test_a_damaged_spiece_model_is_refused(tmp_path):
    shutil.copy(FIXTURES / "tiny_t5_spiece" / "tokenizer_config.json", tmp_path)
    (tmp_path / "spiece.model").write_bytes(b"\x80\x04\x95 not a protobuf")  # a pickle header, say
    with pytest.raises(CheckpointNotFoundError, match="not a SentencePiece model"):
        AutoTokenizer.from_pretrained(tmp_path)
