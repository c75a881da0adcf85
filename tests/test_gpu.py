"""CUDA paths of the core. Marked `gpu`: skipped where torch sees no CUDA device (CI has none)."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModel, AutoModelForSequenceClassification

from tests.models import harness
from tests.models.test_bert import FAMILY as BERT
from tests.models.test_distilbert import FAMILY as DISTILBERT
from tests.models.test_electra import FAMILY as ELECTRA
from tests.models.test_roberta import FAMILY as ROBERTA

FAMILIES = {"bert": BERT, "roberta": ROBERTA, "distilbert": DISTILBERT, "electra": ELECTRA}

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "electra"])
def test_cuda_parity_with_reference(tmp_path, family):
    family = FAMILIES[family]
    ref = harness.reference_model(family, "base")
    ref.save_pretrained(tmp_path)
    ours = AutoModel.from_pretrained(tmp_path, device="cuda")
    assert ours.device.type == "cuda"
    inputs = {k: v.cuda() for k, v in family.inputs().items()}
    keep = inputs["attention_mask"].bool()
    with torch.no_grad():
        o = ours(**inputs, output_attentions=True)
        r = ref.cuda()(**inputs, output_attentions=True)
        packed = ours(**inputs).last_hidden_state
    torch.testing.assert_close(o.last_hidden_state[keep], r.last_hidden_state[keep], atol=1e-4, rtol=0)
    torch.testing.assert_close(packed[keep], r.last_hidden_state[keep], atol=1e-4, rtol=0)
    for a, b in zip(o.attentions, r.attentions):
        q = keep[:, None, :, None].expand_as(a)
        torch.testing.assert_close(a[q], b[q], atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_close_to_fp32(tmp_path, dtype):
    ref = harness.reference_model(BERT, "sequence-classification")
    ref.save_pretrained(tmp_path)
    full = AutoModelForSequenceClassification.from_pretrained(tmp_path, device="cuda")
    half = AutoModelForSequenceClassification.from_pretrained(tmp_path, device="cuda", dtype=dtype)
    assert half.dtype == dtype
    inputs = {k: v.cuda() for k, v in BERT.inputs().items()}
    with torch.no_grad():
        a, b = full(**inputs).logits, half(**inputs).logits.float()
    torch.testing.assert_close(a, b, atol=3e-2, rtol=3e-2)


def test_training_step_on_cuda(tmp_path):
    ref = harness.reference_model(BERT, "sequence-classification")
    ref.save_pretrained(tmp_path)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path, device="cuda").train()
    inputs = {k: v.cuda() for k, v in BERT.inputs().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = model(**inputs, labels=torch.tensor([0, 1, 2], device="cuda")).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
