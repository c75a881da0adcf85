"""AttentionView without a browser: state, buffers, budgets, errors, static forms."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from widgets._base import es_module
from widgets.attention import AttentionView, STATIC
from workbench import inspect as ad
from workbench.auto import AutoModel, AutoTokenizer

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def minilm():
    return AutoModel.from_pretrained(MINILM), AutoTokenizer.from_pretrained(MINILM)


@pytest.fixture(scope="module")
def view(minilm):
    m, t = minilm
    return AttentionView(model=m, tokenizer=t, text=SENTENCE)


def test_shipped_assets_no_network():
    js = (STATIC / "attention.js").read_text()
    assets = sorted(STATIC.iterdir())
    assert {p.name for p in assets} >= {"attention.js", "attention.css", "standalone.html", "_arrays.js", "linechart.js"}
    for path in assets:
        src = path.read_text()
        assert not re.search(r"https?://", src), f"{path.name} must not reference the network"
        assert "@import" not in src
    assert "export default" in js
    # the module the browser gets: the file with its sibling import inlined (a blob: URL cannot import)
    esm = str(AttentionView._esm)
    assert esm == es_module("attention.js") and "export default" in esm
    assert 'from "./_arrays.js"' in js and not re.search(r"^import ", esm, re.M) and "function fromWire(" in esm


def test_state_matches_record_and_is_binary(view, minilm):
    m, t = minilm
    rec = view.record
    assert view.error == ""
    assert rec.query_tokens[0] == "[CLS]" and rec.query_tokens[-1] == "[SEP]"
    assert view.meta["layers"] == list(range(6)) and view.meta["num_heads"] == 12
    enc = t(SENTENCE, return_tensors="pt")
    import torch

    with torch.no_grad():
        ref = m(**enc, output_attentions=True).attentions
    np.testing.assert_allclose(rec.attentions[2], ref[2][0].numpy(), atol=1e-6)
    # head view: every edge of layer 0 (short input), float16 + uint16 bytes
    T = len(rec.query_tokens)
    w, idx = view.edge_weight, view.edge_index
    assert w.dtype == np.float16 and idx.dtype == np.uint16 and w.shape == idx.shape == (12, T, T)
    assert view.edge_meta["complete"] and view.edge_meta["k"] == T
    state = view.get_state()  # the wire form: one binary buffer per array, its dtype and shape beside it
    assert state["edge_weight"]["dtype"] == "float16" and state["edge_weight"]["shape"] == [12, T, T]
    assert bytes(state["edge_weight"]["buffer"]) == w.astype("<f2").tobytes()
    dense = np.zeros((12, T, T), np.float32)
    np.put_along_axis(dense, idx.astype(np.int64), w.astype(np.float32), axis=-1)
    np.testing.assert_allclose(dense, rec.layer(0), atol=1e-3)
    # nothing off-screen is sent
    assert view.matrix is None and view.thumbs is None
    np.testing.assert_allclose(view.entropy, ad.head_entropy(rec.attentions), atol=1e-2)
    s = view.summary
    np.testing.assert_allclose(s[1], ad.rollout(rec.attentions)[0], atol=1e-3)


def test_layer_heads_view_and_window(minilm):
    m, t = minilm
    v = AttentionView(model=m, tokenizer=t, text=SENTENCE, text_pair="It slept all day.", view="matrix", layer=1, heads=[3])
    rec = v.record
    assert v.error == ""
    seg = v.meta["segment_ids"]
    assert seg[0] == 0 and seg[-1] == 1 and set(seg) == {0, 1}
    mat = v.matrix
    np.testing.assert_allclose(mat[0], rec.layer(1)[3], atol=1e-3)
    v.heads = [3, 5]
    mat = v.matrix
    np.testing.assert_allclose(mat[0], rec.layer(1)[[3, 5]].mean(0), atol=1e-3)
    v.window = [2, 6, 1, 9]
    mat = v.matrix
    assert mat.shape == (1, 4, 8) and v.matrix_meta["window"] == [2, 6, 1, 9]
    np.testing.assert_allclose(mat[0], rec.layer(1)[[3, 5]].mean(0)[2:6, 1:9], atol=1e-3)
    before = v.edge_weight
    v.layer = 4
    assert not np.array_equal(v.edge_weight, before) and v.edge_meta["layer"] == 4
    v.view = "model"
    assert v.thumbs.shape == (6, 12, len(rec.query_tokens), len(rec.query_tokens))


def test_views_are_independent(minilm):
    m, t = minilm
    a = AttentionView(model=m, tokenizer=t, text=SENTENCE)
    b = AttentionView(model=m, tokenizer=t, text="Dogs bark.")
    a.layer = 5
    assert b.layer == 0 and b.edge_meta["layer"] == 0 and a.edge_meta["layer"] == 5
    assert a.meta["query_tokens"] != b.meta["query_tokens"]


def test_errors_shown_in_panel(minilm, tmp_path):
    m, t = minilm
    bad = AttentionView(model=str(tmp_path / "missing"), text="x")
    assert "missing" in bad.error and bad.record is None
    assert "image/png" in bad._repr_mimebundle_()[0]  # still displays, with the message
    with pytest.raises(Exception, match="nothing to save"):
        bad.save_html(tmp_path / "x.html")
    v = AttentionView(model=m, tokenizer=t, text=SENTENCE)
    v.layer = 9
    assert "layer 9 was not captured" in v.error and v.layer == 0
    v.layer = 2
    assert v.error == ""
    assert "heads [40]" in AttentionView(model=m, tokenizer=t, text=SENTENCE, heads=[40]).error
    assert "text" in AttentionView(model=m, tokenizer=t).error
    assert "tokenizer" in AttentionView(model=AutoModel.from_config(m.config.__class__(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)), text="x").error


def test_budget_and_long_inputs(minilm):
    m, t = minilm
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 60)
    v = AttentionView(model=m, tokenizer=t, text=text)
    assert len(v.record.query_tokens) == 512  # truncated to the model's limit
    sent = v.bytes_sent()
    assert sent["total"] <= 2 * 1024 * 1024, sent
    assert not v.edge_meta["complete"] and v.edge_meta["k"] < 512
    v.view = "matrix"
    assert v.matrix.shape == (1, 512, 512)
    # 2,048 tokens (e.g. a longer model or a record from an adapter): pooled matrix, top-k edges
    rng = np.random.default_rng(0)
    a = rng.random((2, 4, 2048, 2048), dtype=np.float32)
    a /= a.sum(-1, keepdims=True)
    rec = ad.AttentionRecord(a, [f"t{i}" for i in range(2048)])
    big = AttentionView(record=rec, view="matrix")
    assert big.error == ""
    assert big.matrix.shape == (1, 512, 512)
    assert big.bytes_sent()["total"] <= 2 * 1024 * 1024
    assert big.edge_meta["k"] == ad.edges_per_query(4, 2048, 2048, 1 << 20)
    big.window = [100, 164, 0, 2048]
    assert big.matrix.shape == (1, 64, 512)


def test_other_kinds_render(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.random((1, 2, 3, 5), dtype=np.float32)
    a /= a.sum(-1, keepdims=True)
    rec = ad.AttentionRecord(a, ["<s>", "le", "chat"], key_tokens=list("abcde"), kind="cross")
    v = AttentionView(record=rec)
    assert v.error == "" and v.summary_meta["rollout"] is False
    v.view = "matrix"
    assert v.render_png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_fallback_and_standalone_html(view, tmp_path):
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    png = base64.b64decode(data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    import io

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert (img < 200).mean() > 0.01  # lines and labels were drawn
    out = view.save_html(tmp_path / "att.html")
    page = out.read_text()
    assert not re.search(r"https?://", page)  # no URL at all: nothing to fetch
    payload = json.loads(re.search(r'<script id="wb-attn-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert sorted(payload["per_layer"]) == [str(i) for i in range(6)]
    assert payload["state"]["meta"]["query_tokens"] == view.record.query_tokens
    js = base64.b64decode(re.search(r'atob\("([A-Za-z0-9+/=]+)"\)', page).group(1)).decode()
    assert js == es_module("attention.js")  # the same module the notebook gets
    edges = payload["per_layer"]["2"]["edge_weight"]  # arrays in the wire form, buffer as base64
    assert edges["dtype"] == "float16" and edges["shape"] == list(view.edge_weight.shape)
    assert base64.b64decode(edges["buffer"]["$b64"]) == ad.top_k_edges(view.record.layer(2), edges["shape"][2])[1].astype("<f2").tobytes()


def test_model_object_without_tokenizer_shows_what_to_pass():
    from workbench import AutoModel
    from workbench.models.bert import BertConfig

    m = AutoModel.from_config(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                         intermediate_size=37))
    view = AttentionView(model=m, text="hello")
    assert "AttentionView got a model object without a tokenizer" in view.error and "pass tokenizer=" in view.error
