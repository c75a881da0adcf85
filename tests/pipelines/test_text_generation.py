"""`pipeline("text-generation")` against the reference's pipeline on a tiny random GPT-2 with a tiny byte-level
BPE tokenizer (same folder both sides): output format, full/new text, batches with left padding, beams,
chats through the chat template, stop strings; then streaming, step records and errors."""

from __future__ import annotations

import pytest
import torch

from tests.formats.gguf_fixtures import write_tiny_gpt2
from workbench import pipeline
from workbench.errors import InputError

import transformers  # the test-only oracle: missing means a broken test install, which must fail


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def both(folder):
    return pipeline("text-generation", model=str(folder)), transformers.pipeline("text-generation", model=str(folder))


@pytest.mark.parametrize("inputs, options", [
    ("The capital of France is", dict(max_new_tokens=8)),
    ("Hello world", dict(max_new_tokens=6, return_full_text=False)),
    (["Once upon a time", "Hello"], dict(max_new_tokens=6)),  # a batch: left-padded
    ("The capital", dict(max_new_tokens=6, num_beams=3, num_return_sequences=2)),
    ([{"role": "user", "content": "Hello tokens"}], dict(max_new_tokens=5)),  # a chat
    ("Paris", dict(max_new_tokens=12, stop_sequence="e")),
], ids=["text", "new-text", "batch", "beams", "chat", "stop"])
def test_outputs_equal_the_reference(both, inputs, options):
    ours, theirs = both
    assert ours(inputs, do_sample=False, **options) == theirs(inputs, do_sample=False, batch_size=2, **options)


def test_sampling_seed_streaming_and_steps(both):
    ours, _ = both
    a = ours("Hello", max_new_tokens=6, do_sample=True, seed=5, num_return_sequences=2)
    assert a == ours("Hello", max_new_tokens=6, do_sample=True, seed=5, num_return_sequences=2)
    assert len(a) == 2
    greedy = ours("Hello", max_new_tokens=6, return_full_text=False)[0]["generated_text"]
    pieces = list(ours.stream("Hello", max_new_tokens=6))
    assert "".join(pieces) == greedy and len(pieces) > 1
    seen = []
    trace = ours.generate_steps("Hello", max_new_tokens=6, alternatives=3, on_step=seen.append)
    assert trace["text"] == greedy and seen == trace["steps"] and len(seen) == 6
    for step in seen:
        assert step["top"][0][0] == step["id"] and len(step["top"]) == 3  # greedy: the top candidate
        assert step["prob"] == pytest.approx(step["top"][0][2])
    # a forced branch: the second candidate of step 0, then decoding goes on from there
    forced = trace["prompt_ids"] + [seen[0]["top"][1][0]]
    branch = ours.generate_steps(ids=forced, max_new_tokens=3, should_stop=lambda: len(seen) > 0)
    assert len(branch["steps"]) == 1  # the stop flag ends decoding after the current step


def test_inside_the_model(both):
    ours, _ = both
    record = ours.attention("The capital of France")
    assert record.kind == "causal" and record.attentions.shape[:2] == (2, 4)
    assert np_upper_is_zero(record.attentions)
    lens = ours.logit_lens("The capital of France", k=2)
    assert lens.top_ids.shape == (3, len(lens.tokens), 2)
    with torch.no_grad():
        logits = ours.model(torch.tensor([ours.encode("The capital of France")])).logits[0]
    assert lens.top_ids[-1, :, 0].tolist() == logits.argmax(-1).tolist()  # the last layer is the model's answer


def np_upper_is_zero(attentions) -> bool:
    import numpy as np

    t = attentions.shape[-1]
    return bool(np.all(attentions[..., np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]] == 0))


def test_bad_inputs_name_the_problem(both):
    ours, _ = both
    with pytest.raises(InputError, match="input 1"):
        ours(["fine", 3])
    with pytest.raises(InputError, match="message 0"):
        ours([{"role": "user"}])
    with pytest.raises(InputError, match="unknown option"):
        ours("hi", max_new_token=3)
    with pytest.raises(InputError, match="num_beams"):
        list(ours.stream("hi", num_beams=2))
