"""BART against the reference on tiny random weights: the shared harness (both stacks' outputs, hidden
states, self/causal/cross attentions, checkpoints in both directions), then generated ids with the
options a bart-large-cnn-style checkpoint keeps in its config.json."""

from __future__ import annotations

import json

import pytest
import torch

from tests.models import harness
from workbench import AutoModelForSeq2SeqLM
from workbench.generation import GenerationConfig, generate

transformers = harness.transformers

TINY = dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64)
FAMILY = harness.Family("bart", "Bart", config=TINY, heads=harness.seq2seq_heads(),
                        inputs=harness.seq2seq_batch(pad_id=1), internals=harness.SEQ2SEQ_INTERNALS)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)

# What facebook/bart-large-cnn keeps in config.json (besides generation_config.json); the end token is one the
# random model emits early (see `pair`), so beams finish and min_length / early stopping matter.
CNN_OPTIONS = dict(num_beams=4, length_penalty=2.0, min_length=5, max_length=14, no_repeat_ngram_size=3,
                   early_stopping=True, forced_bos_token_id=0)


OPTION_SETS = [
    dict(num_beams=1, min_length=1),
    dict(),  # the config's: beam 4, length penalty 2, min length 5, no repeated 3-grams, early stopping, forced BOS
    dict(num_beams=3, early_stopping=False, num_return_sequences=2),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    ref = harness.reference_model(FAMILY, "seq2seq-lm")
    folder = tmp_path_factory.mktemp("bart") / "ref"
    ref.save_pretrained(folder)
    inputs = FAMILY.inputs()
    enc = {k: inputs[k] for k in ("input_ids", "attention_mask")}
    eos = harness.end_token(ref, enc, [{**CNN_OPTIONS, **o} for o in OPTION_SETS], forced_bos_token_id=0)
    config = json.loads((folder / "config.json").read_text())
    config.update(CNN_OPTIONS, eos_token_id=eos, forced_eos_token_id=eos)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "generation_config.json").unlink()  # old checkpoints: generation options live in config.json
    return ref, AutoModelForSeq2SeqLM.from_pretrained(folder), enc, eos


def test_generation_options_come_from_config_json(pair):
    _, ours, _, eos = pair
    config = GenerationConfig.from_model(ours)
    assert {k: config.get(k) for k in CNN_OPTIONS} == CNN_OPTIONS
    assert config.eos_token_id == eos and config.forced_eos_token_id == eos and config.decoder_start_token_id == 2


@pytest.mark.parametrize("options", OPTION_SETS, ids=str)
def test_generated_ids_equal_reference(pair, options):
    ref, ours, enc, eos = pair
    with torch.no_grad():
        expected = transformers.GenerationMixin.generate(ref, **enc, **{**CNN_OPTIONS, **options}, eos_token_id=eos,
                                                         forced_eos_token_id=eos, pad_token_id=1)
        got = generate(ours, **enc, **options)  # the rest from config.json
    assert got.tolist() == expected.tolist()
    assert (got[:, 1] == 0).all()  # forced BOS


def test_static_cache_and_kv_steps_equal_full_pass(pair):
    _, ours, enc, _ = pair
    dec = torch.tensor([[2, 0, 17, 40, 41]] * 3)
    with torch.no_grad():
        full = ours(**enc, decoder_input_ids=dec).logits
        states = ours.encode(**enc)
        cache = ours.init_cache(3)
        steps = [ours.decode_step(dec[:, : i + 1] if i == 0 else dec[:, i : i + 1], cache, encoder_outputs=states)
                 for i in range(dec.shape[1])]
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)
    dynamic = generate(ours, **enc, max_new_tokens=6)
    assert generate(ours, **enc, max_new_tokens=6, cache_implementation="static").tolist() == dynamic.tolist()
