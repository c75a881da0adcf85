"""The user's path through the hub: Auto* classes on a hub id, served by the local fake hub."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModelForSequenceClassification, AutoTokenizer
from workbench.errors import OfflineError
from workbench.models.bert import BertConfig

TINY = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64)


def model_files(tmp_path, seed: int, labels: dict[int, str]) -> dict[str, bytes]:
    from workbench.embedded import embedded_folder

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(BertConfig(**TINY, id2label=labels))
    folder = tmp_path / f"src-{seed}"
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(embedded_folder("sentence-transformers/all-MiniLM-L6-v2")).save_pretrained(folder)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_auto_classes_download_cache_revision_and_offline(fake_hub, tmp_path, monkeypatch):
    repo = fake_hub.add_repo("acme/sentiment-tiny")
    main = repo.commit(model_files(tmp_path, 0, {0: "NEG", 1: "POS"}))
    repo.commit(model_files(tmp_path, 1, {0: "bad", 1: "ok", 2: "good"}), ref="v1")

    tokenizer = AutoTokenizer.from_pretrained("acme/sentiment-tiny")
    model = AutoModelForSequenceClassification.from_pretrained("acme/sentiment-tiny")
    assert model.config.id2label == {0: "NEG", 1: "POS"} and model.loading_report.ok
    batch = tokenizer(["great film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, 2)

    v1 = AutoModelForSequenceClassification.from_pretrained("acme/sentiment-tiny", revision="v1")
    assert v1.config.id2label == {0: "bad", 1: "ok", 2: "good"}

    # Offline: the cached snapshot serves without a single request.
    fake_hub.reset_counts()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = AutoModelForSequenceClassification.from_pretrained("acme/sentiment-tiny")
    assert fake_hub.count() == 0
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).logits, logits)
    snapshots = tmp_path / "hf-cache" / "models--acme--sentiment-tiny" / "snapshots"
    assert len(main) == 40 and (snapshots / main / "config.json").is_file()  # the commit of `main` is what the cache holds

    with pytest.raises(OfflineError, match=r"(?s)offline mode is on \(HF_HUB_OFFLINE is set\).*local copy of the model folder"):
        AutoModelForSequenceClassification.from_pretrained("acme/never-downloaded")
