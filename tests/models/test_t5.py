"""T5 against the reference on tiny random weights: T5 v1.0 (ReLU, tied head, rescaled decoder output) and
v1.1 / Flan-T5 (gated GELU, its own LM head, no rescale), through the shared harness, then generated ids."""

from __future__ import annotations

import pytest
import torch

from tests.models import harness
from workbench import AutoModelForSeq2SeqLM
from workbench.generation import generate

transformers = harness.transformers

TINY = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, decoder_start_token_id=0,
            relative_attention_num_buckets=8, relative_attention_max_distance=12)


def shrink_embeddings(model) -> None:
    # T5's init gives the (tied) embeddings unit variance: at random, the decoder would just echo its input token.
    model.shared.weight.mul_(0.05)


def untie_head(model) -> None:
    # The reference 5.x ties T5's head whatever the config says; a v1.1 checkpoint has its own head matrix.
    if hasattr(model, "lm_head"):
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))


T5 = harness.Family("t5", "T5", config=TINY, heads=harness.seq2seq_heads(), inputs=harness.seq2seq_batch(pad_id=0),
                    internals=harness.SEQ2SEQ_INTERNALS, prepare=shrink_embeddings)
# v1.1 differs in the feed-forward and the head only: its LM model is enough (the base model is v1.0's code).
T5_V11 = harness.Family("t5", "T5", config={**TINY, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False},
                        heads={"seq2seq-lm": harness.seq2seq_heads()["seq2seq-lm"]},
                        inputs=harness.seq2seq_batch(pad_id=0), internals=harness.SEQ2SEQ_INTERNALS, prepare=untie_head)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(T5)
test_v11_reference_checkpoint, test_v11_round_trip, _ = harness.standard_tests(T5_V11)


def test_v11_keeps_its_own_head_and_skips_the_rescale(tmp_path):
    ours = harness.check_reference_checkpoint(tmp_path, T5_V11, "seq2seq-lm")
    assert ours.lm_head.weight.data_ptr() != ours.shared.weight.data_ptr()
    assert not ours.config.rescale_output and ours.config.is_gated_act
    assert ours.encoder.embed_tokens.weight.data_ptr() == ours.shared.weight.data_ptr()


OPTION_SETS = [
    dict(max_new_tokens=10),
    dict(max_length=12, num_beams=4, length_penalty=2.0, min_length=4, no_repeat_ngram_size=3, early_stopping=True),
    dict(max_new_tokens=10, num_beams=3, num_return_sequences=3),
]


@pytest.fixture(scope="module", params=["t5", "t5-v1.1"])
def pair(request, tmp_path_factory):
    family = T5 if request.param == "t5" else T5_V11
    ref = harness.reference_model(family, "seq2seq-lm")
    folder = tmp_path_factory.mktemp("t5") / "ref"
    ref.save_pretrained(folder)
    inputs = family.inputs()
    enc = {k: inputs[k] for k in ("input_ids", "attention_mask")}
    return ref, AutoModelForSeq2SeqLM.from_pretrained(folder), enc, harness.end_token(ref, enc, OPTION_SETS)


@pytest.mark.parametrize("options", OPTION_SETS, ids=str)
def test_generated_ids_equal_reference(pair, options):
    ref, ours, enc, eos = pair
    common = dict(**enc, **options, eos_token_id=eos, pad_token_id=0)  # pad 0: beams fill with the end token
    with torch.no_grad():
        expected = transformers.GenerationMixin.generate(ref, **common)
        got = generate(ours, **common)
    assert got.tolist() == expected.tolist()
