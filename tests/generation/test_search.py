"""The decoding loops against the reference library's `generate` on the same tiny random weights.

A tiny Whisper serves as the decoder (the first family that implements the protocol): same
prompt, same options, the generated ids must be identical, for greedy, beam search in every
early-stopping mode, several returned beams, penalties, and sampling under the same seed.
"""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModelForSpeechSeq2Seq
from workbench.generation import generate

import transformers  # the test-only oracle (test extra): if it is missing the test install is broken, and tests fail

TINY = dict(vocab_size=100, num_mel_bins=80, encoder_layers=2, decoder_layers=2, d_model=32,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37,
            max_source_positions=1500, max_target_positions=64, pad_token_id=1, bos_token_id=1, eos_token_id=1,
            decoder_start_token_id=2, suppress_tokens=[], begin_suppress_tokens=[])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    config = transformers.WhisperConfig(**TINY, attn_implementation="eager")
    torch.manual_seed(0)
    ref = transformers.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # sharper token distributions (the head is tied to this table): a random tiny model's
        # near-uniform ones leave beams 1e-7 apart, which any float rounding (another CPU's kernels) reorders;
        # doubled, the ranked beams of every case below stay >= 1e-4 apart, so the test checks the search logic
        ref.model.decoder.embed_tokens.weight.mul_(2.0)
    folder = tmp_path_factory.mktemp("whisper-search")
    ref.save_pretrained(folder)
    ours = AutoModelForSpeechSeq2Seq.from_pretrained(folder)
    g = torch.Generator().manual_seed(5)
    features = torch.randn(3, 80, 3000, generator=g)
    with torch.no_grad():  # an end token the random model emits after a few steps, so hypotheses finish
        probe = transformers.GenerationMixin.generate(ref, input_features=features, decoder_input_ids=torch.tensor([[2, 3]] * 3),
                                                      max_new_tokens=8, do_sample=False, eos_token_id=1, pad_token_id=1)
    eos = int(probe[0, 5])
    return ref, ours, features, eos


def both(pair, **options):
    ref, ours, features, eos = pair
    common = dict(input_features=features, decoder_input_ids=torch.tensor([[2, 3]] * 3), eos_token_id=eos,
                  pad_token_id=eos, **options)
    with torch.no_grad():
        theirs = transformers.GenerationMixin.generate(ref, **common)
        mine = generate(ours, **common)
    return mine, theirs


@pytest.mark.parametrize("options", [
    dict(max_new_tokens=10),
    dict(max_new_tokens=10, num_beams=3),
    dict(max_new_tokens=10, num_beams=4, early_stopping=True),
    dict(max_new_tokens=10, num_beams=4, early_stopping="never", length_penalty=2.0),
    dict(max_new_tokens=10, num_beams=3, length_penalty=0.5),
    dict(max_new_tokens=10, num_beams=4, num_return_sequences=2),
    dict(max_new_tokens=10, num_beams=3, repetition_penalty=1.5, no_repeat_ngram_size=2),
    dict(max_new_tokens=10, min_new_tokens=6),
    dict(max_length=9),
], ids=str)
def test_deterministic_decoding_equals_reference(pair, options):
    mine, theirs = both(pair, **options)
    assert mine.tolist() == theirs.tolist()


def test_sampling_equals_reference_under_the_same_seed(pair):
    ref, ours, features, eos = pair
    common = dict(input_features=features, decoder_input_ids=torch.tensor([[2, 3]] * 3), eos_token_id=eos,
                  pad_token_id=eos, max_new_tokens=10, do_sample=True, temperature=0.8, top_k=20, top_p=0.9)
    with torch.no_grad():
        torch.manual_seed(11)
        theirs = transformers.GenerationMixin.generate(ref, **common)
        torch.manual_seed(11)
        mine = generate(ours, **common)
    assert mine.tolist() == theirs.tolist()
    # our own seed option: reproducible, independent of the global generator
    a = generate(ours, **common, seed=3)
    torch.manual_seed(0)
    b = generate(ours, **common, seed=3)
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize("num_beams", [1, 3])
def test_static_cache_equals_dynamic_cache(pair, num_beams):
    _, ours, features, eos = pair
    common = dict(input_features=features, decoder_input_ids=torch.tensor([[2, 3]] * 3), eos_token_id=eos,
                  pad_token_id=eos, max_new_tokens=10, num_beams=num_beams)
    dynamic = generate(ours, **common)
    static = generate(ours, **common, cache_implementation="static")
    assert static.tolist() == dynamic.tolist()


def test_streamer_sees_each_step_and_return_dict(pair):
    _, ours, features, eos = pair
    seen = []
    out = generate(ours, input_features=features[:1], decoder_input_ids=torch.tensor([[2, 3]]), eos_token_id=eos,
                   pad_token_id=eos, max_new_tokens=6, streamer=seen.append, return_dict_in_generate=True)
    assert out.prompt_length == 2
    assert [int(t) for t in seen] == out.sequences[0, 2:].tolist()
    assert int(out.lengths[0]) == len(seen)
