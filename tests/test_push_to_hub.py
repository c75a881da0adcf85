"""push_to_hub through huggingface_hub against the local fake hub: the files, the LFS weights, the card's
metadata and the commit arrive; a model pushed comes back from the hub with the same weights; a push that
cannot happen (no token, offline, hub unreachable) is refused before anything is written or sent."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from huggingface_hub import constants

import workbench as wb
from workbench.sharing import ShareError
from workbench.training import Trainer, TrainingArguments, classification_metrics, tokenize_dataset
from tests.hubserver import fake_hub, unreachable_hub  # noqa: F401  (fixtures)
from tests.support import minilm_folder

LABELS = {0: "negative", 1: "positive"}
# huggingface_hub streams LFS uploads with `data=`, which httpx deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")


@pytest.fixture(scope="module")
def tokenizer():
    return wb.AutoTokenizer.from_pretrained(minilm_folder())


def tiny_classifier(tokenizer):
    torch.manual_seed(0)
    cfg = wb.AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                  vocab_size=tokenizer.vocab_size, max_position_embeddings=64, id2label=LABELS)
    return wb.AutoModelForSequenceClassification.from_config(cfg)


def card_metadata(text: str) -> dict:
    assert text.startswith("---\n"), text[:80]
    return yaml.safe_load(text.split("---", 2)[1])


def test_model_and_tokenizer_push_and_come_back(fake_hub, tokenizer):
    model = tiny_classifier(tokenizer)
    info = model.push_to_hub("tiny-sentiment", private=True, commit_message="first version")
    repo = fake_hub.repos["fake-user/tiny-sentiment"]  # no namespace given: the token's user, as on the hub
    assert repo.private and info.oid == repo.refs["main"]
    files = repo.files()
    assert {"config.json", "model.safetensors", "README.md"} <= set(files)
    assert json.loads(files["config.json"])["architectures"] == ["BertForSequenceClassification"]
    assert hashlib_sha256(files["model.safetensors"]) in fake_hub.lfs  # weights went through LFS, as on the hub
    meta = card_metadata(files["README.md"].decode())
    assert meta["library_name"] == "transformers" and "workbench" in meta["tags"]
    assert "BertForSequenceClassification.from_pretrained('fake-user/tiny-sentiment')" in files["README.md"].decode()
    assert fake_hub.commit_log[-1]["summary"] == "first version"

    # a card that is there already is kept; the tokenizer's files join the model's
    repo.commit({**files, "README.md": b"---\nlicense: mit\n---\n# my card\n"})
    tokenizer.push_to_hub("fake-user/tiny-sentiment")
    files = repo.files()
    assert files["README.md"].startswith(b"---\nlicense: mit") and "tokenizer.json" in files
    assert "model.safetensors" in files and fake_hub.commit_log[-1]["summary"] == "Upload tokenizer"

    # and the hub copy loads (downloaded by huggingface_hub from the fake hub) with the same weights
    back = wb.AutoModelForSequenceClassification.from_pretrained("fake-user/tiny-sentiment")
    for key, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    assert wb.AutoTokenizer.from_pretrained("fake-user/tiny-sentiment")("hello world")["input_ids"] == \
        tokenizer("hello world")["input_ids"]


def hashlib_sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_trainer_push_writes_the_card(fake_hub, tokenizer, tmp_path):
    from datasets import Dataset

    texts = ["good", "great film", "bad", "awful plot", "lovely", "terrible"] * 4
    labels = ["positive", "positive", "negative", "negative", "positive", "negative"] * 4
    raw = Dataset.from_dict({"text": texts, "label": labels})
    model = tiny_classifier(tokenizer)
    model.config.name_or_path = "sentence-transformers/all-MiniLM-L6-v2"  # as loaded by hub id
    data = tokenize_dataset(raw, tokenizer, config=model.config, max_length=16)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=8,
                             eval_strategy="steps", eval_steps=2, save_steps=2, logging_steps=1, disable_tqdm=True,
                             learning_rate=1e-3, hub_model_id="org/tiny-finetuned", hub_private_repo=False)
    trainer = Trainer(model, args, data, data, processing_class=tokenizer, compute_metrics=classification_metrics)
    trainer.train()
    info = trainer.push_to_hub(dataset="stanfordnlp/sst2", license="apache-2.0")
    repo = fake_hub.repos["org/tiny-finetuned"]
    files = repo.files()
    assert info.oid == repo.refs["main"] and fake_hub.commit_log[-1]["summary"] == "End of training"
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "training_curves.png"} <= set(files)
    assert not any(name.startswith("checkpoint-") for name in files)  # checkpoints stay local
    assert files["training_curves.png"].startswith(b"\x89PNG")
    card = files["README.md"].decode()
    meta = card_metadata(card)
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["datasets"] == ["stanfordnlp/sst2"] and meta["license"] == "apache-2.0"
    assert meta["pipeline_tag"] == "text-classification" and "accuracy" in meta["metrics"]
    results = meta["model-index"][0]["results"]
    accuracy = next(m for r in results for m in r["metrics"] if m["type"] == "accuracy")
    last_eval = [e for e in trainer.state.log_history if "eval_accuracy" in e][-1]
    assert accuracy["value"] == pytest.approx(last_eval["eval_accuracy"])
    assert results[0]["dataset"]["name"] == "stanfordnlp/sst2" and results[0]["task"]["type"] == "text-classification"
    assert "- learning_rate: 0.001" in card and "- training_steps: 4" in card and "- train_batch_size: 8" in card
    assert "| Training Loss | Epoch | Step | Validation Loss | Accuracy" in card
    assert "![training and evaluation curves](training_curves.png)" in card
    assert "fine-tuned version of [sentence-transformers/all-MiniLM-L6-v2]" in card


def test_no_token_is_refused_before_anything_is_sent(fake_hub, tokenizer, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(ShareError, match="No hub token") as err:
        tiny_classifier(tokenizer).push_to_hub("someone/model")
    assert "hf auth login" in str(err.value) and "HF_TOKEN" in str(err.value)
    assert fake_hub.requests == [] and fake_hub.repos == {}
    # an explicit token works without a login
    tokenizer.push_to_hub("someone/tok", token="hf_explicit")
    assert "tokenizer.json" in fake_hub.repos["someone/tok"].files()


def test_offline_and_unreachable_are_refused(unreachable_hub, tokenizer, monkeypatch):
    model = tiny_classifier(tokenizer)
    with pytest.raises(ShareError, match="Cannot reach the hub at http://127.0.0.1"):
        model.push_to_hub("someone/model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ShareError, match="offline mode is on"):
        model.push_to_hub("someone/model")
    with pytest.raises(ShareError, match="not a valid hub id"):
        model.push_to_hub("a/b/c")
