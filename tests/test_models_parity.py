"""Every family and head against the reference library on the same tiny random weights.

The reference model is built with eager attention (so it returns attention probabilities),
saved with its own save_pretrained, and loaded with ours; then ours is saved and loaded by
the reference. Outputs must match to 1e-4 (fp32) and no key may be missing or unexpected.
"""

from __future__ import annotations

import pytest
import torch

from workbench import auto

transformers = pytest.importorskip("transformers")  # test-only oracle; installed by the test extra

TINY = {
    "bert": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                 max_position_embeddings=64, type_vocab_size=2),
    "roberta": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                    max_position_embeddings=64, type_vocab_size=1, pad_token_id=1),
    "distilbert": dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64),
    "electra": dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),
}
PREFIX = {"bert": "Bert", "roberta": "Roberta", "distilbert": "DistilBert", "electra": "Electra"}
HEADS = {
    "base": ("Model", auto.AutoModel),
    "masked-lm": ("ForMaskedLM", auto.AutoModelForMaskedLM),
    "sequence-classification": ("ForSequenceClassification", auto.AutoModelForSequenceClassification),
    "token-classification": ("ForTokenClassification", auto.AutoModelForTokenClassification),
    "question-answering": ("ForQuestionAnswering", auto.AutoModelForQuestionAnswering),
    "pretraining": ("ForPreTraining", auto.AutoModelForPreTraining),
}
CASES = [(f, h) for f in TINY for h in HEADS if h != "pretraining" or f == "electra"]


def reference_model(family: str, head: str):
    cfg_cls = getattr(transformers, f"{PREFIX[family]}Config")
    config = cfg_cls(**TINY[family], num_labels=2 if head == "question-answering" else 3, attn_implementation="eager")
    torch.manual_seed(0)
    model = getattr(transformers, PREFIX[family] + HEADS[head][0])(config).eval()
    # Non-trivial LayerNorm and bias values so a swapped or skipped parameter shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def batch(family: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 99, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    pad = 1 if family == "roberta" else 0
    ids = ids.masked_fill(mask == 0, pad)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if family in ("bert", "electra"):
        tt = torch.zeros_like(ids)
        tt[:, 5:] = 1
        inputs["token_type_ids"] = tt
    return inputs


def assert_outputs_close(ours, ref, mask: torch.Tensor) -> None:
    # Positions under padding carry no meaning (and the reference's differ by backend); compare real tokens.
    keep = mask.bool()
    for field in ("last_hidden_state", "logits", "start_logits", "end_logits", "pooler_output"):
        r = getattr(ref, field, None)
        if r is None:
            continue
        o = getattr(ours, field)
        assert o.shape == r.shape, field
        if o.dim() >= 2 and o.shape[:2] == keep.shape:
            o, r = o[keep], r[keep]
        torch.testing.assert_close(o, r, atol=1e-4, rtol=0, msg=field)
    assert len(ours.hidden_states) == len(ref.hidden_states)
    for o, r in zip(ours.hidden_states, ref.hidden_states):
        torch.testing.assert_close(o[keep], r[keep], atol=1e-4, rtol=0)
    assert len(ours.attentions) == len(ref.attentions)
    for o, r in zip(ours.attentions, ref.attentions):
        q = keep[:, None, :, None].expand_as(o)
        torch.testing.assert_close(o[q], r[q], atol=1e-4, rtol=0)


@pytest.mark.parametrize("family,head", CASES)
def test_reference_checkpoint_loads_and_matches(tmp_path, family, head):
    ref = reference_model(family, head)
    ref.save_pretrained(tmp_path / "ref")
    ours = HEADS[head][1].from_pretrained(tmp_path / "ref")
    assert type(ours).__name__ == type(ref).__name__
    assert ours.loading_report.ok, str(ours.loading_report)
    inputs = batch(family)
    with torch.no_grad():
        o = ours(**inputs, output_attentions=True, output_hidden_states=True)
        r = ref(**inputs, output_attentions=True, output_hidden_states=True)
    assert_outputs_close(o, r, inputs["attention_mask"])


@pytest.mark.parametrize("family,head", CASES)
def test_our_checkpoint_loads_in_reference(tmp_path, family, head):
    ref = reference_model(family, head)
    ref.save_pretrained(tmp_path / "ref")
    ours = HEADS[head][1].from_pretrained(tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    back, info = getattr(transformers, type(ref).__name__).from_pretrained(
        tmp_path / "ours", output_loading_info=True, attn_implementation="eager"
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    inputs = batch(family)
    with torch.no_grad():
        o = ours(**inputs, output_attentions=True, output_hidden_states=True)
        r = back.eval()(**inputs, output_attentions=True, output_hidden_states=True)
    assert_outputs_close(o, r, inputs["attention_mask"])
    # Our round trip restores every tensor exactly.
    again = HEADS[head][1].from_pretrained(tmp_path / "ours")
    for (k, a), (k2, b) in zip(ours.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k


@pytest.mark.parametrize("family", list(TINY))
def test_sdpa_path_equals_eager_path(tmp_path, family):
    """Outputs without output_attentions (fused sdpa) equal those with it (eager + hooks)."""
    ref = reference_model(family, "base")
    ref.save_pretrained(tmp_path)
    ours = auto.AutoModel.from_pretrained(tmp_path)
    inputs = batch(family)
    with torch.no_grad():
        fast = ours(**inputs).last_hidden_state
        eager = ours(**inputs, output_attentions=True).last_hidden_state
    keep = inputs["attention_mask"].bool()
    torch.testing.assert_close(fast[keep], eager[keep], atol=1e-5, rtol=0)


def test_losses_match_reference(tmp_path):
    labels = {
        "masked-lm": torch.randint(0, 99, (3, 11)),
        "sequence-classification": torch.tensor([0, 2, 1]),
        "token-classification": torch.randint(0, 3, (3, 11)),
    }
    for head, y in labels.items():
        ref = reference_model("bert", head)
        ref.save_pretrained(tmp_path / head)
        ours = HEADS[head][1].from_pretrained(tmp_path / head)
        inputs = batch("bert")
        if y.dim() == 2:  # data collators mark padding with -100, so no loss is taken there
            y = y.masked_fill(inputs["attention_mask"] == 0, -100)
        # With gradients on, as in training.
        torch.testing.assert_close(ours(**inputs, labels=y).loss, ref(**inputs, labels=y).loss, atol=1e-5, rtol=0)
    ref = reference_model("bert", "question-answering")
    ref.save_pretrained(tmp_path / "qa")
    ours = auto.AutoModelForQuestionAnswering.from_pretrained(tmp_path / "qa")
    pos = dict(start_positions=torch.tensor([1, 2, 30]), end_positions=torch.tensor([3, 4, 5]))
    torch.testing.assert_close(ours(**batch("bert"), **pos).loss, ref(**batch("bert"), **pos).loss, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_packed_inference_equals_padded_path(tmp_path, family):
    """Under no_grad the dense layers skip padding; real tokens must not notice, padding reads zero."""
    ref = reference_model(family, "base")
    ref.save_pretrained(tmp_path)
    ours = auto.AutoModel.from_pretrained(tmp_path)
    inputs = batch(family)
    keep = inputs["attention_mask"].bool()
    with torch.no_grad():
        packed = ours(**inputs).last_hidden_state
    padded = ours(**inputs).last_hidden_state.detach()  # grad enabled: the padded path
    torch.testing.assert_close(packed[keep], padded[keep], atol=1e-5, rtol=0)
    assert torch.count_nonzero(packed[~keep]) == 0
    assert torch.count_nonzero(padded[~keep]) > 0  # proves the two paths really differ in what they compute
