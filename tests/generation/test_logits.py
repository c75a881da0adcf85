"""Every logits processor equals the reference library's processor of the same job, on the same inputs."""

from __future__ import annotations

import pytest
import torch
from transformers.generation import logits_process as ref

from workbench.generation import GenerationConfig
from workbench.generation import logits as ours


@pytest.fixture
def case():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 40, (3, 9), generator=g)
    ids[0, -4:] = torch.tensor([7, 8, 7, 8])  # a repeated bigram for no-repeat-ngram
    scores = torch.randn(3, 50, generator=g) * 3
    return ids, scores


PAIRS = [
    (ours.RepetitionPenalty(1.3), ref.RepetitionPenaltyLogitsProcessor(1.3)),
    (ours.RepetitionPenalty(0.7), ref.RepetitionPenaltyLogitsProcessor(0.7)),
    (ours.NoRepeatNGram(2), ref.NoRepeatNGramLogitsProcessor(2)),
    (ours.NoRepeatNGram(3), ref.NoRepeatNGramLogitsProcessor(3)),
    (ours.MinLength([4, 5], 12), ref.MinLengthLogitsProcessor(12, [4, 5])),
    (ours.MinLength([4], 5), ref.MinLengthLogitsProcessor(5, [4])),
    (ours.ForcedToken(3, 9), ref.ForcedEOSTokenLogitsProcessor(10, 3)),
    (ours.SuppressTokens([1, 2, 49]), ref.SuppressTokensLogitsProcessor([1, 2, 49])),
    (ours.SuppressAtBegin([0, 6], 9), ref.SuppressTokensAtBeginLogitsProcessor([0, 6], 9)),
    (ours.Temperature(0.7), ref.TemperatureLogitsWarper(0.7)),
    (ours.TopK(5), ref.TopKLogitsWarper(5)),
    (ours.TopK(3, keep=4), ref.TopKLogitsWarper(3, min_tokens_to_keep=4)),
    (ours.TopP(0.8), ref.TopPLogitsWarper(0.8)),
    (ours.TopP(0.1, keep=2), ref.TopPLogitsWarper(0.1, min_tokens_to_keep=2)),
    (ours.MinP(0.1), ref.MinPLogitsWarper(0.1)),
]


@pytest.mark.parametrize("mine,theirs", PAIRS, ids=lambda p: type(p).__name__)
def test_processor_equals_reference(case, mine, theirs):
    ids, scores = case
    expected = theirs(ids, scores.clone())
    got = mine(ids, scores.clone())
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_forced_first_token(case):
    ids, scores = case
    got = ours.ForcedToken(5, 1)(ids[:, :1], scores)
    expected = ref.ForcedBOSTokenLogitsProcessor(5)(ids[:, :1], scores.clone())
    torch.testing.assert_close(got, expected)
    assert torch.equal(ours.ForcedToken(5, 1)(ids, scores), scores)  # any other length: untouched


def test_config_builds_processors_in_the_reference_order():
    config = GenerationConfig(repetition_penalty=1.2, no_repeat_ngram_size=3, min_new_tokens=2, eos_token_id=[4, 9],
                              suppress_tokens=[1], begin_suppress_tokens=[2], do_sample=True, temperature=0.5,
                              top_k=10, top_p=0.9, min_p=0.05)
    kinds = [type(p).__name__ for p in ours.build_processors(config, prompt_length=6)]
    assert kinds == ["RepetitionPenalty", "NoRepeatNGram", "MinLength", "SuppressTokens", "SuppressAtBegin",
                     "Temperature", "TopK", "TopP", "MinP"]
    greedy = GenerationConfig(do_sample=False, temperature=0.5, top_k=10)
    assert ours.build_processors(greedy, prompt_length=6) == []  # warpers only when sampling


def test_stop_strings_stop_the_row_that_contains_them():
    decode = lambda ids: "".join(chr(97 + i) for i in ids)  # noqa: E731  id 0 -> "a", 1 -> "b", ...
    stop = ours.StopStrings(["cd"], decode, prompt_length=2)
    ids = torch.tensor([[0, 0, 2, 3], [0, 0, 3, 2]])
    assert stop(ids).tolist() == [True, False]


def test_config_reads_writes_and_keeps_unknown_keys(tmp_path):
    data = {"max_length": 142, "num_beams": 4, "temperature": [0.0, 0.2], "no_timestamps_token_id": 50363,
            "lang_to_id": {"<|en|>": 50259}, "transformers_version": "4.57.1"}
    (tmp_path / "generation_config.json").write_text(__import__("json").dumps(data))
    config = GenerationConfig.from_pretrained(tmp_path)
    assert config.max_length == 142 and config.num_beams == 4 and config.temperature == (0.0, 0.2)
    assert config.get("no_timestamps_token_id") == 50363 and config.get("lang_to_id") == {"<|en|>": 50259}
    config.save_pretrained(tmp_path / "out")
    again = GenerationConfig.from_pretrained(tmp_path / "out")
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize("bad,match", [({"num_beams": 0}, "num_beams"), ({"top_p": 1.5}, "top_p"),
                                       ({"temperature": -1.0}, "temperature"), ({"max_new_tokens": -3}, "max_new_tokens"),
                                       ({"num_return_sequences": 3, "num_beams": 2}, "num_return_sequences")])
def test_config_refuses_impossible_options(bad, match):
    from workbench.errors import InputError

    with pytest.raises(InputError, match=match):
        GenerationConfig(**bad).validate()
