"""Hook points: capture exactly what was asked, leave the fast path elsewhere, never change keys."""

from __future__ import annotations

import pytest
import torch

from workbench import capture
from workbench.nn.hooks import hook_points
from workbench.models.bert import BertConfig, BertModel

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertModel.from_config(BertConfig(**TINY)).eval()


def inputs():
    ids = torch.randint(5, 99, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def test_capture_selected_layers_only(model, monkeypatch):
    import workbench.nn.attention as attention

    eager_calls = []
    real_softmax = torch.softmax
    monkeypatch.setattr(attention.torch, "softmax", lambda *a, **k: eager_calls.append(1) or real_softmax(*a, **k))
    with torch.no_grad(), capture(model, "attn_probs", layers=[1]) as cache:
        out = model(**inputs())
    assert list(cache) == ["encoder.layer.1.attention.self.attn_probs"]
    assert len(eager_calls) == 1  # only the captured layer left the fused sdpa path
    with torch.no_grad():
        full = model(**inputs(), output_attentions=True)
    torch.testing.assert_close(cache["encoder.layer.1.attention.self.attn_probs"], full.attentions[1])
    keep = inputs()["attention_mask"].bool()
    torch.testing.assert_close(out.last_hidden_state[keep], full.last_hidden_state[keep], atol=1e-5, rtol=0)
    # Rows are probability distributions and padding gets no attention.
    probs = full.attentions[0]
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]))
    assert probs[1, :, :, 6:].abs().max() < 1e-6


def test_hooks_removed_after_capture(model):
    with capture(model, "attn_probs"):
        assert all(hp.active for n, hp in hook_points(model).items() if n.endswith("attn_probs"))
    assert not any(hp.active for hp in hook_points(model).values())


def test_capture_can_edit_activations(model):
    """Ablate every head of layer 0 by zeroing its attention: the output must change."""
    with torch.no_grad():
        base = model(**inputs()).last_hidden_state
        with capture(model, "attn_probs", layers=[0], fn=lambda name, p: torch.zeros_like(p)) as cache:
            ablated = model(**inputs()).last_hidden_state
    assert torch.count_nonzero(cache["encoder.layer.0.attention.self.attn_probs"]) == 0
    assert (base - ablated).abs().max() > 1e-3


def test_hidden_states_order_and_glob(model):
    with torch.no_grad():
        out = model(**inputs(), output_hidden_states=True)
        with capture(model, "encoder.layer.2.*") as cache:
            model(**inputs())
    assert len(out.hidden_states) == TINY["num_hidden_layers"] + 1
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    assert set(cache) == {"encoder.layer.2.attention.self.attn_probs", "encoder.layer.2.hidden_state"}


def test_unknown_hook_name_lists_available(model):
    with pytest.raises(KeyError, match=r"no hook point matches \['attn_weights'\]; this model has: attn_probs, hidden_state"):
        with capture(model, "attn_weights"):
            pass


def test_hook_points_add_no_state_dict_keys(model):
    assert not any("attn_probs" in k or "hidden_state" in k for k in model.state_dict())
