"""Whisper against the reference library on the same tiny random weights.

Encoder output, decoder logits (with and without the KV cache), attention probabilities
through the hook points, and generated ids (greedy and beam search) must match; the saved
key set must be the hub layout.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from workbench import AutoModelForSpeechSeq2Seq, capture
from workbench.generation import generate
from workbench.models.whisper import WhisperForConditionalGeneration, WhisperModel
from workbench.models.whisper.decoding import TimestampRules, WhisperTokens, detect_language, prompt_ids

import transformers  # the test-only oracle (test extra): if it is missing the test install is broken, and tests fail

TINY = dict(vocab_size=100, num_mel_bins=80, encoder_layers=2, decoder_layers=2, d_model=32,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37,
            max_source_positions=1500, max_target_positions=64, pad_token_id=1, bos_token_id=1, eos_token_id=1,
            decoder_start_token_id=2, suppress_tokens=[5, 6], begin_suppress_tokens=[1, 7])
EOT, SOT, NO_TS = 1, 2, 3


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    config = transformers.WhisperConfig(**TINY, attn_implementation="eager")
    torch.manual_seed(0)
    ref = transformers.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # non-trivial norms and biases so a swapped parameter shows
        for name, p in ref.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    folder = tmp_path_factory.mktemp("whisper") / "ref"
    ref.save_pretrained(folder)
    ours = AutoModelForSpeechSeq2Seq.from_pretrained(folder)
    return ref, ours, folder


@pytest.fixture(scope="module")
def features():
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 80, 3000, generator=g)


def test_loads_all_weights_and_saves_hub_layout(pair, tmp_path):
    ref, ours, _ = pair
    assert isinstance(ours, WhisperForConditionalGeneration)
    assert ours.loading_report.missing == [] and ours.loading_report.unexpected == []
    assert ours.proj_out.weight.data_ptr() == ours.model.decoder.embed_tokens.weight.data_ptr()
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.WhisperForConditionalGeneration.from_pretrained(tmp_path / "ours")
    assert set(back.state_dict()) == set(ref.state_dict())
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v, atol=0, rtol=0, msg=k)


def test_encoder_and_logits_match(pair, features):
    ref, ours, _ = pair
    ids = torch.tensor([[SOT, NO_TS, 10, 11, 12], [SOT, NO_TS, 20, 21, 22]])
    with torch.no_grad():
        r = ref(input_features=features, decoder_input_ids=ids, output_attentions=True, output_hidden_states=True)
        o = ours(features, ids, output_attentions=True, output_hidden_states=True)
        torch.testing.assert_close(ours.model.encoder(features), ref.model.encoder(features).last_hidden_state,
                                   atol=1e-4, rtol=0)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(o.encoder_last_hidden_state, r.encoder_last_hidden_state, atol=1e-4, rtol=0)
    for name in ("encoder_hidden_states", "decoder_hidden_states"):
        assert len(getattr(o, name)) == len(getattr(r, name)) == 3  # the stack's input + each layer
        for a, b in zip(getattr(o, name), getattr(r, name)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0, msg=name)
    for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
        assert len(getattr(o, name)) == len(getattr(r, name)) == 2
        for a, b in zip(getattr(o, name), getattr(r, name)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0, msg=name)


def test_kv_cache_steps_equal_full_pass(pair, features):
    _, ours, _ = pair
    ids = torch.tensor([[SOT, NO_TS, 10, 11, 12]])
    with torch.no_grad():
        full = ours(features[:1], ids).logits
        cache = ours.init_cache(1)
        first = ours(features[:1], ids[:, :3], past_key_values=cache)
        enc = first.encoder_last_hidden_state
        steps = [first.logits] + [ours(None, ids[:, i : i + 1], encoder_outputs=enc, past_key_values=cache).logits
                                  for i in (3, 4)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_base_model_and_hooks(pair, features):
    ref, _, folder = pair
    base = WhisperModel.from_pretrained(folder)
    ids = torch.tensor([[SOT, NO_TS, 10]])
    with torch.no_grad(), capture(base, "cross_attn_probs") as cache:
        out = base(features[:1], ids)
        r = ref.model(input_features=features[:1], decoder_input_ids=ids)
    torch.testing.assert_close(out.last_hidden_state, r.last_hidden_state, atol=1e-4, rtol=0)
    assert sorted(cache) == [f"decoder.layers.{i}.encoder_attn.cross_attn_probs" for i in range(2)]
    assert cache.stack("cross_attn_probs")[0].shape == (1, 4, 3, 1500)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generated_ids_match_reference(pair, features, num_beams):
    ref, ours, _ = pair
    prompt = torch.tensor([[SOT, NO_TS]] * 2)
    kwargs = dict(input_features=features, decoder_input_ids=prompt, max_new_tokens=12, do_sample=False,
                  suppress_tokens=[5, 6], begin_suppress_tokens=[1, 7], length_penalty=1.0)
    with torch.no_grad():
        # Random tiny weights rarely emit EOT; use as end token one the model does emit after a few steps,
        # so hypotheses finish early and the finished-beam bookkeeping is exercised.
        probe = transformers.GenerationMixin.generate(ref, **kwargs, num_beams=1, eos_token_id=EOT, pad_token_id=EOT)
        eos = int(probe[0, 4])
        expected = transformers.GenerationMixin.generate(ref, **kwargs, num_beams=num_beams, eos_token_id=eos,
                                                         pad_token_id=eos)
        got = generate(ours, **kwargs, num_beams=num_beams, eos_token_id=eos, pad_token_id=eos,
                       return_dict_in_generate=True)
    assert got.sequences.tolist() == expected.tolist()
    assert any(int(n) < 12 for n in got.lengths)  # some row ended on its end token, not the length limit
    for row in range(got.sequences.shape[0]):
        seq = got.generated(row, [eos])
        assert 5 not in seq and 6 not in seq
        assert seq[:1] != [7]


def test_timestamp_rules_match_reference():
    from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

    vocab, ts = 120, 90
    cfg = SimpleNamespace(eos_token_id=EOT, no_timestamps_token_id=ts - 1, max_initial_timestamp_index=5,
                          is_multilingual=False, forced_decoder_ids=None)
    g = torch.Generator().manual_seed(0)
    for begin in (2,):
        theirs = WhisperTimeStampLogitsProcessor(cfg, begin_index=begin)
        mine = TimestampRules(WhisperTokens(eot=EOT, sot=SOT, no_timestamps=ts - 1, timestamp_begin=ts), begin, 5)
        for seq in ([SOT, NO_TS], [SOT, NO_TS, 92], [SOT, NO_TS, 92, 40], [SOT, NO_TS, 92, 40, 95],
                    [SOT, NO_TS, 92, 40, 95, 95], [SOT, NO_TS, 30, 31]):
            ids = torch.tensor([seq, seq])
            scores = torch.randn(2, vocab, generator=g) * 3
            scores[1, ts:] += 4  # second row: timestamps dominate
            torch.testing.assert_close(mine(ids, scores), theirs(ids, scores.clone()), msg=str(seq))


def test_prompts_for_multilingual_and_english_only():
    from dataclasses import replace

    from workbench.errors import InputError

    t = WhisperTokens(eot=50257, sot=50258, no_timestamps=50363, timestamp_begin=50364, transcribe=50359,
                      translate=50358, sot_prev=50361, languages={"en": 50259, "de": 50261}, multilingual=True)
    en = replace(t, multilingual=False)
    assert prompt_ids(t, language="de", task="translate", timestamps=False) == [50258, 50261, 50358, 50363]
    assert prompt_ids(t, language="<|en|>", task=None, timestamps=True) == [50258, 50259, 50359]
    assert prompt_ids(en, language=None, task=None, timestamps=False) == [50258, 50363]
    assert prompt_ids(en, language=None, task=None, timestamps=True, previous=[7, 8]) == [50361, 7, 8, 50258]
    with pytest.raises(InputError, match="English-only"):
        prompt_ids(en, language="de", task=None, timestamps=False)
    with pytest.raises(InputError, match="unknown language"):
        prompt_ids(t, language="xx", task=None, timestamps=False)


def test_language_detection_and_streaming(pair, features):
    _, ours, _ = pair
    langs = {"en": 40, "de": 41, "fr": 42}
    tokens = WhisperTokens(eot=EOT, sot=SOT, no_timestamps=NO_TS, timestamp_begin=80, transcribe=44, translate=43,
                           sot_prev=None, languages=langs, multilingual=True)
    with torch.no_grad():
        enc = ours.model.encoder(features)
        logits = ours(None, torch.tensor([[SOT], [SOT]]), encoder_outputs=enc).logits[:, -1]
    expected = [max(langs, key=lambda c: float(logits[i, langs[c]])) for i in range(2)]
    assert detect_language(ours, enc, tokens) == expected
    # A multilingual vocabulary: the prompt gets the detected language and the task.
    keys = dict(no_timestamps_token_id=NO_TS, lang_to_id={f"<|{c}|>": i for c, i in langs.items()},
                task_to_id={"transcribe": 44, "translate": 43}, is_multilingual=True)
    seen = []
    got = generate(ours, encoder_outputs=enc[:1], max_new_tokens=5, streamer=seen.append, return_dict_in_generate=True,
                   **keys)
    assert got.sequences[0, :3].tolist() == [SOT, langs[expected[0]], 44]
    assert len(seen) == got.sequences.shape[1] - got.prompt_length
