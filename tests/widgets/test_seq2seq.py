"""Summarize and Translate driven from Python: defaults from the checkpoint, the result the alignment view
gets (arrays as binary traits, tokens, beams, truncation), streaming, layer changes, errors inside the panel,
bad values refused, the untrained-weights badge and the static picture. The hover itself runs in the browser
(tests/browser/test_seq2seq_browser.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from widgets._render.seq2seq import alignment_png, source_pieces
from widgets.seq2seq import Summarize, Translate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference_pipelines"
TEXT = "The town council voted on Tuesday to reopen the old stone bridge over the river after two years of repairs."


@pytest.fixture(scope="module")
def summarize():
    return Summarize(model=FIXTURES / "tiny_bart_cnn", text=TEXT)


def test_renderers():
    assert source_pieces(["<s>", "The", "Ġtown", "</s>"], [(0, 0), (0, 3), (4, 8), (0, 0)], "The town") == \
        ["<s>", "The", " town", "</s>"]
    png = alignment_png(np.eye(3, 4, dtype=np.float32), ["a", "b", "c"], ["w", "x", "y", "z"], "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_summarize_shows_output_alignment_and_beams(summarize):
    p = summarize
    assert (p.max_length, p.min_length, p.num_beams) == (24, 6, 4)  # the checkpoint's generation config
    streamed = []
    p.view.observe(lambda c: streamed.append(c["new"]), names="streaming")
    p.run(wait=True)
    assert p.error == "" and p.runs == 1
    expected = p.pipe(TEXT, max_length=24, min_length=6, num_beams=4)[0]["summary_text"]
    assert p.output == expected and p.view.state["output_text"] == expected
    assert any(streamed) and streamed[-1] == ""  # text arrived step by step, then the tokens replaced it
    state = p.view.state
    n_out, n_src = len(state["output_tokens"]), len(state["source_tokens"])
    assert p.view.mean.shape == (2, n_out, n_src) and p.view.mean.dtype == np.float16
    assert p.view.heads.shape == (4, n_out, n_src) and p.view.heads_layer == 1
    assert "".join(t for t, real in zip(state["source_tokens"], state["source_is_text"]) if real) == TEXT
    scores = [b["score"] for b in state["alternatives"]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    assert expected in p.static_html and "data:image/png;base64," in p.static_html and state["cut_text"] == ""
    p.view.layer = 0  # the browser's layer select: that layer's heads come over
    assert p.view.heads_layer == 0
    np.testing.assert_allclose(p.view.heads.astype(np.float32).mean(0), p.view.mean[0].astype(np.float32), atol=2e-3)


def test_long_text_shows_what_was_cut():
    long = " ".join([TEXT] * 5)
    p = Summarize(model=FIXTURES / "tiny_bart_cnn", text=long, max_length=6, num_beams=1)
    p.run(wait=True)
    state = p.view.state
    assert p.error == "" and state["read_tokens"] == 64 and state["total_tokens"] > 64
    assert state["cut_text"] and long.endswith(state["cut_text"]) and "read 64 of" in p.view.status
    assert "not read" in p.static_html


def test_errors_stay_in_the_panel_and_bad_values_are_refused(summarize):
    p = summarize
    before = p.runs
    p.text = "   "
    p.run(wait=True)
    assert "type or paste a text" in p.error and p.runs == before + 1 and "error" in p.view.status
    p.max_length = 0
    assert "max_length = 0" in p.error and p.max_length == 24 and p.max_box.value == 24
    p.min_length = 30
    assert "min_length = 30" in p.error and p.min_length == 6
    p.num_beams = 4  # a good value clears the refusal
    assert p.error == ""
    p.text = TEXT


def test_background_run_and_a_second_click_while_busy(summarize):
    p = summarize
    p.run()
    p.run()  # ignored while the first one runs
    p.wait(60)
    assert p.error == "" and p.output


def test_translate_switches_language_pair():
    t = Translate(model=FIXTURES / "tiny_t5", text="The house is small.", max_length=6, num_beams=2)
    assert t.pair == "translation_en_to_de" and [v for _, v in t.pair_box.options] == [
        "translation_en_to_de", "translation_en_to_fr"]
    t.pair = "translation_en_to_fr"
    t.run(wait=True)
    assert t.error == "" and t.pipe.prefix == "translate English to French: "
    assert "".join(s for s, real in zip(t.view.state["source_tokens"], t.view.state["source_is_text"]) if not real) \
        .startswith(" translate English to French:")
    t.pair = "translation_en_to_xx"
    assert "must be one of this model's pairs" in t.error and t.pair == "translation_en_to_fr"


def test_untrained_weights_badge():
    import torch

    from workbench import AutoConfig, AutoModelForSeq2SeqLM
    from workbench.pipelines import pipeline

    torch.manual_seed(0)
    config = AutoConfig.for_model("bart", vocab_size=700, d_model=16, encoder_layers=1, decoder_layers=1,
                                  encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                                  decoder_ffn_dim=16, max_position_embeddings=64)
    model = AutoModelForSeq2SeqLM.from_config(config)
    p = Summarize(model=pipeline("summarization", model=model, tokenizer=FIXTURES / "tiny_bart_cnn"), text=TEXT,
                  max_length=5, num_beams=1)
    assert p.untrained and "untrained weights" in p._badge.value
    p.run(wait=True)
    assert p.error == "" and "untrained weights" in p.static_html
