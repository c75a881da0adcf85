"""One parity harness for every model family: the reference library is the oracle, on the same tiny weights.

A family's test file describes its tiny config, its heads and an input batch in a `Family`,
then takes these checks as its own test functions (`standard_tests`):

- `check_reference_checkpoint`: a checkpoint saved by the reference (eager attention, fp32)
  loads with no missing or unexpected key and gives the same outputs (logits, hidden states,
  attentions: max abs difference <= 1e-4 on real tokens);
- `check_round_trip`: our save_pretrained loads in the reference with no missing, unexpected
  or mismatched key, same outputs, and our own reload is exact;
- `check_fast_path`: outputs without output_attentions (fused sdpa) equal those with it.

Encoder-decoders (`seq2seq_heads()`, `seq2seq_batch()`) run the same checks on both stacks: the
encoder's internals on its real tokens, the decoder's (self and cross) on every decoder token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

import transformers  # the test-only oracle (test extra): if it is missing the test install is broken, and tests fail

ATOL = 1e-4


def labels_for(head: str) -> dict[str, Any]:
    return {"num_labels": 2 if head == "question-answering" else 3}


@dataclass
class Family:
    model_type: str
    prefix: str  # the reference's class-name prefix ("Bert")
    config: dict[str, Any]  # a tiny config in the reference's field names
    heads: dict[str, tuple[str, Any]]  # head -> (reference class suffix, our Auto class)
    inputs: Callable[[], dict[str, torch.Tensor]]
    head_config: Callable[[str], dict[str, Any]] = labels_for
    output_fields: tuple[str, ...] = ("last_hidden_state", "logits", "start_logits", "end_logits", "pooler_output",
                                      "encoder_last_hidden_state")
    # output field -> whose tokens its rows are: "input" (compared on the positions below) or "decoder" (all compared)
    internals: tuple[tuple[str, str], ...] = (("hidden_states", "input"), ("attentions", "input"))
    # outputs that hold whole tower outputs (dual encoders: "text_model_output", "vision_model_output"), each
    # compared like a model's output (its last_hidden_state and pooler_output, hidden states, attentions)
    nested: tuple[str, ...] = ()
    # (inputs, reference output) -> (B, T) bool of the positions to compare, for inputs that are not token ids
    # (audio: the frames made from real samples); None: the attention mask over input_ids
    positions: Callable[[dict[str, torch.Tensor], Any], torch.Tensor] | None = None
    perturb: tuple[str, ...] = ()  # more parameter-name parts to perturb (e.g. learned tokens initialised to zero)
    prepare: Callable[[Any], None] | None = None  # edits the reference model after seeding (e.g. an untied head)


SEQ2SEQ_INTERNALS = (("encoder_hidden_states", "input"), ("encoder_attentions", "input"),
                     ("decoder_hidden_states", "decoder"), ("decoder_attentions", "decoder"),
                     ("cross_attentions", "decoder"))


def encoder_heads(**extra: tuple[str, Any]) -> dict[str, tuple[str, Any]]:
    """The heads every encoder family has (+ its own), as (reference class suffix, our Auto class)."""
    from workbench import auto

    return {
        "base": ("Model", auto.AutoModel),
        "masked-lm": ("ForMaskedLM", auto.AutoModelForMaskedLM),
        "sequence-classification": ("ForSequenceClassification", auto.AutoModelForSequenceClassification),
        "token-classification": ("ForTokenClassification", auto.AutoModelForTokenClassification),
        "question-answering": ("ForQuestionAnswering", auto.AutoModelForQuestionAnswering),
        **extra,
    }


def decoder_heads(lm_suffix: str = "ForCausalLM") -> dict[str, tuple[str, Any]]:
    """The heads of a decoder-only family: the bare stack and the language-model head."""
    from workbench import auto

    return {"base": ("Model", auto.AutoModel), "causal-lm": (lm_suffix, auto.AutoModelForCausalLM)}


def seq2seq_heads() -> dict[str, tuple[str, Any]]:
    from workbench import auto

    return {"base": ("Model", auto.AutoModel), "seq2seq-lm": ("ForConditionalGeneration", auto.AutoModelForSeq2SeqLM)}


def seq2seq_batch(pad_id: int) -> Callable[[], dict[str, torch.Tensor]]:
    """The padded encoder batch of `padded_batch` and six decoder tokens per row."""
    encoder = padded_batch(pad_id, token_types=False)

    def make() -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(2)
        return {**encoder(), "decoder_input_ids": torch.randint(5, 99, (3, 6), generator=g)}

    return make


def padded_batch(pad_id: int, token_types: bool) -> Callable[[], dict[str, torch.Tensor]]:
    """Three rows of random ids, two padded at different lengths; optionally a second segment from token 5."""

    def make() -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(5, 99, (3, 11), generator=g)
        mask = torch.ones_like(ids)
        mask[1, 7:] = 0
        mask[2, 4:] = 0
        batch = {"input_ids": ids.masked_fill(mask == 0, pad_id), "attention_mask": mask}
        if token_types:
            batch["token_type_ids"] = (torch.arange(11) >= 5).long().expand(3, 11).clone()
        return batch

    return make


def reference_model(family: Family, head: str, **overrides: Any) -> Any:
    """The reference's model of `head`, seeded, eager attention, with non-trivial norms and biases."""
    config = getattr(transformers, f"{family.prefix}Config")(
        **{**family.config, **family.head_config(head), **overrides}, attn_implementation="eager")
    torch.manual_seed(0)
    model = getattr(transformers, family.prefix + family.heads[head][0])(config).eval()
    with torch.no_grad():  # so a swapped or skipped parameter shows
        for name, p in model.named_parameters():
            if "norm" in name.lower() or name.endswith("bias") or p.dim() == 1 \
                    or any(part in name for part in family.perturb):  # norms (RMSNorm too), the family's own
                p.add_(torch.randn_like(p) * 0.1)
        if family.prepare is not None:
            family.prepare(model)
    return model


def real_tokens(inputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """(B, T) bool of the real (unpadded) tokens; None for inputs without tokens (images): compare everything."""
    if "input_ids" not in inputs:
        return None
    mask = inputs.get("attention_mask")
    return mask.bool() if mask is not None else torch.ones_like(inputs["input_ids"], dtype=torch.bool)


def compared_positions(family: Family, inputs: dict[str, torch.Tensor], ref_out: Any) -> torch.Tensor | None:
    return family.positions(inputs, ref_out) if family.positions is not None else real_tokens(inputs)


def on_tokens(x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """The rows of real tokens: (B, T, ...) states, or the query rows of (B, H, T, T') attentions; all of `x`
    when `keep` is None."""
    if keep is None:
        return x
    if x.dim() == 4 and x.shape[0] == keep.shape[0] and x.shape[2] == keep.shape[1]:
        return x[keep[:, None, :, None].expand_as(x)]
    if x.dim() >= 2 and x.shape[:2] == keep.shape:
        return x[keep]
    return x


def assert_outputs_close(ours: Any, ref: Any, keep: torch.Tensor | None, fields: tuple[str, ...],
                         internals: tuple[tuple[str, str], ...] = Family.internals, nested: tuple[str, ...] = ()) -> None:
    """Positions under padding carry no meaning (and the reference's differ by backend): compare real tokens
    (`keep`; None compares every position; tensors not shaped by the tokens, such as image towers', whole)."""
    for name in fields:
        r = getattr(ref, name, None)
        if r is None:
            continue
        o = getattr(ours, name)
        if isinstance(r, (tuple, list)):  # one tensor per step (a mask classifier's masks after each decoder layer)
            assert isinstance(o, (tuple, list)) and len(o) == len(r), name
            for i, (a, b) in enumerate(zip(o, r)):
                torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=f"{name}[{i}]")
            continue
        assert o.shape == r.shape, name
        torch.testing.assert_close(on_tokens(o, keep), on_tokens(r, keep), atol=ATOL, rtol=0, msg=name)
    for name in nested:
        assert_outputs_close(getattr(ours, name), getattr(ref, name), keep, ("last_hidden_state", "pooler_output"))
    if nested:
        return
    for name, rows in internals:
        mine, theirs = getattr(ours, name), getattr(ref, name)
        assert mine is not None and theirs is not None and len(mine) == len(theirs), name
        for i, (o, r) in enumerate(zip(mine, theirs)):
            assert o.shape == r.shape, (name, i)
            if rows == "input":
                o, r = on_tokens(o, keep), on_tokens(r, keep)
            torch.testing.assert_close(o, r, atol=ATOL, rtol=0, msg=f"{name}[{i}]")


def run_both(ours: Any, ref: Any, inputs: dict[str, torch.Tensor]) -> tuple[Any, Any]:
    with torch.no_grad():
        return (ours(**inputs, output_attentions=True, output_hidden_states=True),
                ref(**inputs, output_attentions=True, output_hidden_states=True))


def check_reference_checkpoint(tmp_path, family: Family, head: str) -> Any:
    ref = reference_model(family, head)
    ref.save_pretrained(tmp_path / "ref")
    ours = family.heads[head][1].from_pretrained(tmp_path / "ref")
    assert type(ours).__name__ == type(ref).__name__
    assert ours.loading_report.ok, str(ours.loading_report)
    inputs = family.inputs()
    o, r = run_both(ours, ref, inputs)
    assert_outputs_close(o, r, compared_positions(family, inputs, r), family.output_fields, family.internals,
                         family.nested)
    return ours


def check_round_trip(tmp_path, family: Family, head: str) -> None:
    ref = reference_model(family, head)
    ref.save_pretrained(tmp_path / "ref")
    ours = family.heads[head][1].from_pretrained(tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    back, info = getattr(transformers, type(ref).__name__).from_pretrained(
        tmp_path / "ours", output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    inputs = family.inputs()
    o, r = run_both(ours, back.eval(), inputs)
    assert_outputs_close(o, r, compared_positions(family, inputs, r), family.output_fields, family.internals,
                         family.nested)
    again = family.heads[head][1].from_pretrained(tmp_path / "ours")
    for (k, a), (k2, b) in zip(ours.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k


def check_fast_path(tmp_path, family: Family) -> None:
    """Outputs without output_attentions (fused sdpa) equal those with it (eager + hooks)."""
    ref = reference_model(family, "base")
    ref.save_pretrained(tmp_path)
    ours = family.heads["base"][1].from_pretrained(tmp_path)
    inputs = family.inputs()
    with torch.no_grad():
        fast = ours(**inputs)
        eager = ours(**inputs, output_attentions=True, output_hidden_states=True)
    keep = compared_positions(family, inputs, eager)
    pairs = [(fast, eager)] if not family.nested else [(getattr(fast, n), getattr(eager, n)) for n in family.nested]
    for f, e in pairs:
        for name in ("last_hidden_state", "encoder_last_hidden_state"):
            if getattr(f, name, None) is not None:
                torch.testing.assert_close(on_tokens(getattr(f, name), keep), on_tokens(getattr(e, name), keep),
                                           atol=1e-5, rtol=0, msg=name)


def check_packed_inference(tmp_path, family: Family) -> None:
    """Under no_grad the dense layers skip padding; real tokens must not notice, padding reads zero."""
    ref = reference_model(family, "base")
    ref.save_pretrained(tmp_path)
    ours = family.heads["base"][1].from_pretrained(tmp_path)
    inputs = family.inputs()
    keep = real_tokens(inputs)
    with torch.no_grad():
        packed = ours(**inputs).last_hidden_state
    padded = ours(**inputs).last_hidden_state.detach()  # grad enabled: the padded path
    torch.testing.assert_close(packed[keep], padded[keep], atol=1e-5, rtol=0)
    assert torch.count_nonzero(packed[~keep]) == 0
    assert torch.count_nonzero(padded[~keep]) > 0  # proves the two paths really differ in what they compute


def standard_tests(family: Family) -> tuple[Callable, Callable, Callable]:
    """The three checks every family runs, as test functions; a family's test file assigns them:

        test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)
    """

    @pytest.mark.parametrize("head", list(family.heads))
    def test_reference_checkpoint(tmp_path, head):
        check_reference_checkpoint(tmp_path, family, head)

    @pytest.mark.parametrize("head", list(family.heads))
    def test_round_trip(tmp_path, head):
        check_round_trip(tmp_path, family, head)

    def test_fused_path(tmp_path):
        check_fast_path(tmp_path, family)

    return test_reference_checkpoint, test_round_trip, test_fused_path


# -- decoders: generated ids against the reference's generate ---------------------------------------
_PAIRS: dict[str, tuple[Any, Any]] = {}  # model_type -> (reference, ours): built once, the generation checks only read


def _generate_pair(tmp_path, family: Family) -> tuple[Any, Any]:
    if family.model_type not in _PAIRS:
        ref = reference_model(family, "causal-lm")
        ref.save_pretrained(tmp_path / "ref")
        _PAIRS[family.model_type] = ref, family.heads["causal-lm"][1].from_pretrained(tmp_path / "ref")
    return _PAIRS[family.model_type]


def _prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """Two prompts of different lengths, left-padded (id 0) into one batch, and their mask."""
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(5, 99, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    return ids.masked_fill(mask == 0, 0), mask


GENERATION_OPTIONS = [
    dict(max_new_tokens=8),
    dict(max_new_tokens=8, num_beams=3),
    dict(max_new_tokens=8, num_beams=3, num_return_sequences=2, length_penalty=0.5),
    dict(max_new_tokens=8, repetition_penalty=1.3, no_repeat_ngram_size=2),
]


def generation_tests(family: Family) -> tuple[Callable, Callable, Callable, Callable]:
    """Decoder checks against the reference's `generate` on the same tiny weights:

        test_generate, test_sampling, test_static_cache, test_left_padding = harness.generation_tests(FAMILY)
    """
    from workbench.generation import generate

    common = dict(eos_token_id=None, pad_token_id=0)

    @pytest.mark.parametrize("options", GENERATION_OPTIONS, ids=str)
    def test_generate(tmp_path, options):
        ref, ours = _generate_pair(tmp_path, family)
        ids, mask = _prompts()
        with torch.no_grad():
            theirs = ref.generate(ids, attention_mask=mask, do_sample=False, **common, **options)
        assert generate(ours, ids, attention_mask=mask, **common, **options).tolist() == theirs.tolist()

    def test_sampling(tmp_path):
        ref, ours = _generate_pair(tmp_path, family)
        ids, mask = _prompts()
        options = dict(attention_mask=mask, max_new_tokens=8, do_sample=True, temperature=0.9, top_k=30, top_p=0.9, **common)
        with torch.no_grad():
            torch.manual_seed(7)
            theirs = ref.generate(ids, **options)
        torch.manual_seed(7)
        assert generate(ours, ids, **options).tolist() == theirs.tolist()
        # our seed option: reproducible whatever the global generator's state
        first = generate(ours, ids, seed=3, **options)
        torch.manual_seed(123)
        assert generate(ours, ids, seed=3, **options).tolist() == first.tolist()

    def test_static_cache(tmp_path):
        _, ours = _generate_pair(tmp_path, family)
        ids, mask = _prompts()
        for options in (dict(), dict(num_beams=3)):
            dynamic = generate(ours, ids, attention_mask=mask, max_new_tokens=8, **common, **options)
            static = generate(ours, ids, attention_mask=mask, max_new_tokens=8, cache_implementation="static",
                              **common, **options)
            assert static.tolist() == dynamic.tolist()

    def test_left_padding(tmp_path):
        """A left-padded batch gives each prompt what it gives alone (logits too, not only the argmax)."""
        _, ours = _generate_pair(tmp_path, family)
        ids, mask = _prompts()
        batch = generate(ours, ids, attention_mask=mask, max_new_tokens=8, **common)
        for row in range(2):
            alone = ids[row : row + 1, int((mask[row] == 0).sum()):]
            assert generate(ours, alone, max_new_tokens=8, **common)[0, -8:].tolist() == batch[row, -8:].tolist()
            cache = ours.init_cache(1)
            with torch.no_grad():
                single = ours.decode_step(alone, cache)
                padded = ours.decode_step(ids, ours.init_cache(2), attention_mask=mask)[row]
            torch.testing.assert_close(single[0], padded, atol=ATOL, rtol=0)

    return test_generate, test_sampling, test_static_cache, test_left_padding


# -- encoder-decoders: an end token the tiny reference really emits ---------------------------------
def end_token(ref: Any, inputs: dict[str, torch.Tensor], option_sets: list[dict[str, Any]], **common: Any) -> int:
    """A token to use as end-of-sequence with which, under every option set, the reference's generated ids hold it
    (some hypothesis finishes before the length limit), so generation tests exercise finishing, not just the
    limit: random tiny models rarely emit their configured end token. Candidates: the greedy output's tokens,
    most frequent first (the ones the random model favours in many contexts)."""
    from collections import Counter

    with torch.no_grad():
        probe = transformers.GenerationMixin.generate(ref, **inputs, **common, max_new_tokens=10, do_sample=False)
        for token, _ in Counter(probe[:, 1:].flatten().tolist()).most_common(6):
            if all((transformers.GenerationMixin.generate(ref, **inputs, **{**common, **options}, eos_token_id=token,
                                                          pad_token_id=token)[:, 1:] == token).any()
                   for options in option_sets):
                return int(token)
    raise AssertionError("no frequent token of the greedy output ends a hypothesis under every option set; "
                         "change the seed")
