"""summarization, translation and text2text-generation against the reference's 4.57 pipelines (5.x dropped
them): JSON outputs written by tests/fixtures/reference_pipelines/make_seq2seq_reference.py for the tiny BART
(bart-large-cnn's generation options) and T5 (t5-small's task prefixes) checkpoints stored beside them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from tests.pipelines.test_text import assert_same
from workbench import pipeline
from workbench.errors import InputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference_pipelines"
REFERENCE = json.loads((FIXTURES / "seq2seq_reference.json").read_text())
CASES = {case["name"]: case for case in REFERENCE["cases"]}
_PIPES: dict[tuple[str, str], object] = {}


def pipe_for(task: str, folder: str):
    if (task, folder) not in _PIPES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "translation" picks the config's first translation task, with a warning
            _PIPES[task, folder] = pipeline(task, model=FIXTURES / folder)
    return _PIPES[task, folder]


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_equal_reference_457(name):
    case = CASES[name]
    assert REFERENCE["transformers"].startswith("4.57")
    result = pipe_for(case["task"], case["model"])(case["inputs"], **case["options"])
    assert_same(result, case["expected"])
    json.dumps(result)  # plain data


def test_defaults_follow_the_checkpoint_and_the_task():
    bart = pipe_for("summarization", "tiny_bart_cnn").generation_config
    assert (bart.num_beams, bart.max_length, bart.max_new_tokens, bart.min_length, bart.length_penalty,
            bart.no_repeat_ngram_size, bart.early_stopping, bart.forced_bos_token_id) == (4, 24, None, 6, 2.0, 3, True, 0)
    t5 = pipe_for("translation_en_to_de", "tiny_t5")
    assert t5.prefix == "translate English to German: " and t5.task_name == "translation_en_to_de"
    # 4.57's quirk, kept: the pipeline's 256 new tokens outrank the task's max_length (16)
    assert (t5.generation_config.max_new_tokens, t5.generation_config.max_length) == (256, 16)
    assert pipe_for("summarization", "tiny_t5").prefix == "summarize: "
    assert pipe_for("translation", "tiny_t5").task_name == "translation_en_to_de"  # the config's first


def test_long_input_is_cut_with_a_warning_unless_asked():
    summarize = pipe_for("summarization", "tiny_bart_cnn")
    long = CASES["bart_summary_long_truncated"]
    with pytest.warns(UserWarning, match="cut to 64 tokens") as caught:
        default = summarize(long["inputs"])
    assert caught[0].filename == __file__  # the warning points at the user's line, not inside workbench/
    assert_same(default, long["expected"])  # the reference, with truncation=True, gives the same
    with pytest.raises(InputError, match="at most 64"):
        summarize(long["inputs"], truncation=False)
    info = summarize.explain(long["inputs"], num_beams=2, max_length=8)
    assert info.truncated and 0 < info.kept_chars < len(long["inputs"]) and info.total_tokens > 64
    assert long["inputs"][: info.kept_chars].endswith(info.source_tokens[-2].lstrip("Ġ"))  # the last word read


def test_bad_input_and_options_are_named():
    summarize = pipe_for("summarization", "tiny_bart_cnn")
    with pytest.raises(InputError, match="input 1"):
        summarize(["A text.", 3])
    with pytest.raises(InputError, match="empty"):
        summarize("   ")
    with pytest.raises(InputError, match="num_beemz"):
        summarize("A text.", num_beemz=2)
    with pytest.raises(InputError, match="num_return_sequences=3 needs num_beams >= 3"):
        summarize("A text.", num_beams=2, num_return_sequences=3)


def test_explain_gives_beams_scores_and_cross_attention():
    translate = pipe_for("translation_en_to_fr", "tiny_t5")
    text = CASES["t5_translate_fr_list"]["inputs"][0]
    info = translate.explain(text, max_new_tokens=6, num_beams=3)
    expected = translate(text, max_new_tokens=6, num_beams=3)[0]["translation_text"]
    assert info.output_text == expected and len(info.alternatives) == 3
    scores = [a["score"] for a in info.alternatives]
    assert scores == sorted(scores, reverse=True)
    L, H, T_out, T_src = info.cross_attention.shape
    assert (L, H) == (2, 4) and T_out == len(info.output_tokens) == len(info.output_ids)
    assert T_src == len(info.source_tokens) == len(info.source_offsets)
    assert abs(info.cross_attention.sum(-1) - 1).max() < 1e-4  # rows are distributions over the source
    prefix_tokens = [t for t, span in zip(info.source_tokens, info.source_offsets) if span == (0, 0)]
    assert "</s>" in prefix_tokens and len(prefix_tokens) > 3  # the task prefix and the end token map to no text
    assert not info.truncated
    record = translate.attention(text, max_new_tokens=6, num_beams=3)
    assert record.kind == "cross" and record.attentions.shape == info.cross_attention.shape
