"""The inspection API: attention records equal the reference's attentions, summaries on hand-checkable cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench import inspect as ad
from workbench.auto import AutoModel
from workbench.errors import InputError

import transformers  # the test-only oracle (test extra): if it is missing the test install is broken, and tests fail


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random BERT saved by the reference (eager attention), loaded by both libraries."""
    cfg = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                  intermediate_size=37, max_position_embeddings=64, attn_implementation="eager")
    torch.manual_seed(0)
    ref = transformers.BertModel(cfg).eval()
    folder = tmp_path_factory.mktemp("tiny-bert")
    ref.save_pretrained(folder)
    ours = AutoModel.from_pretrained(folder)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 99, (1, 13), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "token_type_ids": (torch.arange(13) >= 7).long()[None]}
    return ref, ours, batch


def record(model, batch, layers=None):
    tokens = [str(i) for i in batch["input_ids"][0].tolist()]
    rec = ad.attention_record(model, batch, query_tokens=tokens, kind="self", layers=layers)
    return rec.layers, rec.attentions


def test_capture_equals_output_attentions_and_reference(tiny):
    ref, ours, batch = tiny
    layers, captured = record(ours, batch)
    assert layers == [0, 1, 2]
    assert captured.shape == (3, 4, 13, 13)
    with torch.no_grad():
        own = ours(**batch, output_attentions=True).attentions
        theirs = ref(**batch, output_attentions=True).attentions
    for i in range(3):
        torch.testing.assert_close(torch.from_numpy(captured[i]), own[i][0].float(), atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.from_numpy(captured[i]), theirs[i][0].float(), atol=1e-4, rtol=0)


def test_capture_only_requested_layers_leave_fast_path(tiny, monkeypatch):
    ref, ours, batch = tiny
    from workbench.nn import attention as attn_mod

    eager_calls = []
    real_softmax = attn_mod.torch.softmax

    def counting_softmax(*a, **k):  # the eager path is the only softmax in attend()
        eager_calls.append(1)
        return real_softmax(*a, **k)

    monkeypatch.setattr(attn_mod.torch, "softmax", counting_softmax)
    layers, captured = record(ours, batch, layers=[2])
    assert layers == [2] and captured.shape == (1, 4, 13, 13)
    assert len(eager_calls) == 1
    with torch.no_grad():
        theirs = ref(**batch, output_attentions=True).attentions
    torch.testing.assert_close(torch.from_numpy(captured[0]), theirs[2][0], atol=1e-4, rtol=0)


def test_capture_rejects_missing_layer(tiny):
    _, ours, batch = tiny
    with pytest.raises(InputError, match="layers 0..2"):
        record(ours, batch, layers=[5])


def test_entropy_hand_cases():
    n = 7
    uniform = np.full((1, 1, n, n), 1.0 / n)
    assert ad.head_entropy(uniform)[0, 0] == pytest.approx(math.log(n), abs=1e-6)
    ident = np.eye(n)[None, None]
    assert ad.head_entropy(ident)[0, 0] == pytest.approx(0.0, abs=1e-9)
    # two heads, two layers: each head keeps its own value
    both = np.concatenate([uniform, ident], axis=1)  # (1, 2, n, n)
    np.testing.assert_allclose(ad.head_entropy(np.concatenate([both, both[:, ::-1]])),
                               [[math.log(n), 0.0], [0.0, math.log(n)]], atol=1e-6)
    # half/half rows: log 2 each
    half = np.zeros((1, 1, 2, 4))
    half[..., 0, :2] = 0.5
    half[..., 1, 2:] = 0.5
    assert ad.head_entropy(half)[0, 0] == pytest.approx(math.log(2), abs=1e-6)


def test_rollout_hand_cases():
    n = 5
    ident = np.broadcast_to(np.eye(n), (3, 4, n, n))
    np.testing.assert_allclose(ad.rollout(ident), np.broadcast_to(np.eye(n), (3, n, n)), atol=1e-7)
    # one uniform layer: (U + I) / 2 ; rows still sum to 1
    uniform = np.full((1, 2, n, n), 1.0 / n)
    expect = (np.full((n, n), 1.0 / n) + np.eye(n)) / 2
    np.testing.assert_allclose(ad.rollout(uniform)[0], expect, atol=1e-7)
    # two layers multiply: later layer on the left
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, n, n))
    a /= a.sum(-1, keepdims=True)
    m = a.mean(1) + np.eye(n)
    m /= m.sum(-1, keepdims=True)
    r = ad.rollout(a)
    np.testing.assert_allclose(r[1], m[1] @ m[0], atol=1e-6)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-6)


def test_mean_over_heads():
    a = np.stack([np.eye(3), np.full((3, 3), 1 / 3)])[None]  # (1, 2, 3, 3)
    np.testing.assert_allclose(ad.mean_over_heads(a)[0], (np.eye(3) + 1 / 3) / 2, atol=1e-7)


def test_record_kinds_are_declared_by_the_model(tiny):
    _, ours, batch = tiny
    with pytest.raises(InputError, match="records no 'cross' attention"):
        ad.attention_record(ours, batch, query_tokens=["x"] * 13, kind="cross")


def test_downsample_keeps_rows_stochastic_and_top_k():
    rng = np.random.default_rng(2)
    a = rng.random((2, 2048, 2048)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    d = ad.downsample(a, 256)
    assert d.shape == (2, 256, 256)
    np.testing.assert_allclose(d.sum(-1), 1.0, atol=1e-4)
    # a block equals the mean over its query rows of the sums over its key columns
    assert d[0, 3, 5] == pytest.approx(a[0, 24:32, 40:48].sum(-1).mean(), rel=1e-4)
    small = ad.downsample(a[:, :10, :10], 256)
    np.testing.assert_array_equal(small, a[:, :10, :10])
    idx, w = ad.top_k_edges(a[:, :50], 8)
    assert idx.shape == w.shape == (2, 50, 8)
    expect = -np.sort(-a[:, :50], axis=-1)[..., :8]
    np.testing.assert_allclose(w, expect)
    np.testing.assert_array_equal(np.take_along_axis(a[:, :50], idx, -1), w)
    assert ad.edges_per_query(12, 512, 512, 1 << 20) == 42
    assert ad.edges_per_query(12, 40, 40, 1 << 20) == 40


def test_record_kinds_and_validation():
    a = np.full((1, 2, 3, 4), 0.25)
    with pytest.raises(InputError, match="key_tokens"):
        ad.AttentionRecord(a, ["a", "b", "c"], kind="cross")
    rec = ad.AttentionRecord(a, ["a", "b", "c"], key_tokens=["w", "x", "y", "z"], kind="cross", layers=[4])
    assert rec.layer(4).shape == (2, 3, 4)
    with pytest.raises(InputError, match="not defined for cross"):
        rec.rollout()
    with pytest.raises(InputError, match="square"):
        ad.AttentionRecord(a, ["a", "b", "c"], key_tokens=list("wxyz"), kind="self")
    causal = np.tril(np.ones((3, 3)))
    causal /= causal.sum(-1, keepdims=True)
    rc = ad.AttentionRecord(causal[None, None], ["a", "b", "c"], kind="causal")
    assert rc.head_entropy()[0, 0] == pytest.approx((0 + math.log(2) + math.log(3)) / 3, abs=1e-6)
    p = np.full((1, 1, 5, 5), 0.2)
    with pytest.raises(InputError, match="grid"):
        ad.AttentionRecord(p, list("CABCD"), kind="patches")
    rp = ad.AttentionRecord(p, ["[CLS]", "p0", "p1", "p2", "p3"], kind="patches", grid=(2, 2))
    assert rp.to_dicts()["grid"] == [2, 2]
    with pytest.raises(InputError, match="unknown attention kind"):
        ad.AttentionRecord(p, list("abcde"), kind="sparse")
