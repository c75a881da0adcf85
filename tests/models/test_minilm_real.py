"""Real weights end to end: the embedded all-MiniLM-L6-v2, through our tokenizer and encoder.

The README's first example, and sentence embeddings (mean-pooled, L2-normalised) equal to
the reference library's on the same checkpoint.
"""

from __future__ import annotations

import os

import pytest
import torch

from workbench import AutoModel, AutoTokenizer
from workbench.pipelines.feature_extraction import mean_pool, normalize

NAME = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "Café au lait, naïve résumé — accents and dashes survive tokenization.",
    "深度学习 is written with Chinese characters here.",
    "Short.",
]


@pytest.fixture(scope="module")
def offline():
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if old is None:
        os.environ.pop("HF_HUB_OFFLINE")
    else:
        os.environ["HF_HUB_OFFLINE"] = old


def test_readme_example_runs_offline_on_the_hub_id(offline):
    tokenizer = AutoTokenizer.from_pretrained(NAME)
    model = AutoModel.from_pretrained(NAME)
    outputs = model(**tokenizer("Hello world!", return_tensors="pt"), output_attentions=True)
    assert outputs.last_hidden_state.shape == (1, 5, 384)
    assert len(outputs.attentions) == 6 and outputs.attentions[0].shape == (1, 12, 5, 5)
    assert model.loading_report.ok


def test_sentence_embeddings_equal_reference(offline):
    import sentence_transformers as st  # the oracle for sentence embeddings (test extra)
    from workbench.embedded import embedded_folder

    folder = embedded_folder(NAME)
    tokenizer = AutoTokenizer.from_pretrained(NAME)
    model = AutoModel.from_pretrained(NAME)
    batch = tokenizer(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        ours = normalize(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]))
    reference = st.SentenceTransformer(str(folder), device="cpu").encode(
        SENTENCES, convert_to_tensor=True, normalize_embeddings=True
    )
    cos = (ours * reference).sum(-1)
    assert cos.min().item() >= 0.99999, cos
    # And the embeddings carry meaning: the two eating sentences are nearest neighbours.
    sims = ours @ ours.T
    assert sims[0].topk(2).indices.tolist() == [0, 1]
