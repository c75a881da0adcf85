"""Every bad checkpoint a user can hand us gets an error that names the problem and the fix."""

from __future__ import annotations

import json

import pytest
import torch

from workbench import AutoConfig, AutoModel, AutoModelForSequenceClassification
from workbench.errors import CheckpointNotFoundError, InputError, UnsupportedModelError, WeightsError
from workbench.models.bert import BertConfig, BertForMaskedLM, BertModel

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=16)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = BertModel.from_config(BertConfig(**TINY))
    model.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError, match=r"has no config.json.*save_pretrained"):
        AutoModel.from_pretrained(tmp_path / "empty")


def test_unknown_model_type_lists_supported(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["model_type"] = "flux-capacitor"
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedModelError, match=r"'flux-capacitor'.*supported model types: .*bert.*distilbert.*electra.*roberta"):
        AutoModel.from_pretrained(saved)


def test_missing_weight_file(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"has no weights: looked for model.safetensors"):
        AutoModel.from_pretrained(saved)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupted_safetensors(saved, damage):
    path = saved / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 8 + b"not a header" * 10)
    with pytest.raises(WeightsError, match=r"could not be read as safetensors.*truncated or corrupted"):
        AutoModel.from_pretrained(saved)


def test_missing_shard(tmp_path):
    model = BertModel.from_config(BertConfig(**TINY))
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    shards = sorted(tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 1 and (tmp_path / "model.safetensors.index.json").is_file()
    back = AutoModel.from_pretrained(tmp_path)  # sharded round trip works
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    shards[-1].unlink()
    with pytest.raises(WeightsError, match=rf"lists the shard {shards[-1].name}, which is missing"):
        AutoModel.from_pretrained(tmp_path)


def test_pickle_refused_by_default_and_opt_in(saved):
    model = AutoModel.from_pretrained(saved)
    torch.save(model.state_dict(), saved / "pytorch_model.bin")
    (saved / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"only pickle weights \(pytorch_model.bin\).*allow_pickle=True"):
        AutoModel.from_pretrained(saved)
    loaded = AutoModel.from_pretrained(saved, allow_pickle=True)
    assert torch.equal(loaded.embeddings.word_embeddings.weight, model.embeddings.word_embeddings.weight)


def test_pickle_with_code_is_refused_even_when_opted_in(saved):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, saved / "pytorch_model.bin")
    (saved / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"weights_only=True"):
        AutoModel.from_pretrained(saved, allow_pickle=True)


def test_strict_names_missing_and_unexpected(saved):
    with pytest.raises(WeightsError, match=r"strict loading of BertForMaskedLM failed: missing: cls\.predictions"):
        BertForMaskedLM.from_pretrained(saved, strict=True)
    with pytest.warns(UserWarning, match=r"newly initialised: cls\.predictions"):
        model = BertForMaskedLM.from_pretrained(saved)
    assert "cls.predictions.bias" in model.loading_report.missing
    assert not model.loading_report.unexpected  # the encoder's pooler is dropped quietly, as the reference does
    # The reverse: a model with a head saved, loaded as a bare encoder.
    model.save_pretrained(saved.parent / "mlm")
    with pytest.warns(UserWarning, match=r"not used by BertModel: cls\.predictions"):
        base = AutoModel.from_pretrained(saved.parent / "mlm")
    assert base.loading_report.unexpected == ["cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
                                              "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
                                              "cls.predictions.transform.dense.weight"]


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    model = AutoModelForSequenceClassification.from_config(BertConfig(**TINY, num_labels=2))
    model.save_pretrained(tmp_path)
    with pytest.raises(WeightsError, match=r"(?s)classifier.weight: checkpoint \[2, 32\], model \[5, 32\].*ignore_mismatched_sizes=True"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    with pytest.warns(UserWarning, match=r"newly initialised: .*classifier.weight"):
        fresh = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    assert fresh.classifier.weight.shape == (5, 32)
    assert fresh.config.id2label == {i: f"LABEL_{i}" for i in range(5)}


def test_new_head_on_base_checkpoint_with_labels(saved):
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    with pytest.warns(UserWarning, match=r"newly initialised: classifier.bias, classifier.weight") as caught:
        model = AutoModelForSequenceClassification.from_pretrained(saved, num_labels=3, id2label=labels)
    assert caught[0].filename == __file__  # the warning points at the user's line, not at workbench/auto.py
    assert model.config.label2id == {"negative": 0, "neutral": 1, "positive": 2}
    out = model(input_ids=torch.tensor([[2, 5, 7]]))
    assert out.logits.shape == (1, 3)
    model.save_pretrained(saved.parent / "cls")
    assert AutoConfig.from_pretrained(saved.parent / "cls").id2label == labels


def test_over_long_input_names_the_limit(saved):
    model = AutoModel.from_pretrained(saved)
    with pytest.raises(InputError, match=r"17 tokens but this model takes at most 16.*truncation=True"):
        model(input_ids=torch.ones(1, 17, dtype=torch.long))


def test_config_keeps_unknown_keys_and_aliases(tmp_path):
    from workbench.models.distilbert import DistilBertConfig

    cfg = DistilBertConfig(dim=48, n_heads=4, my_tool_setting={"a": 1})
    assert cfg.hidden_size == 48 and cfg.num_attention_heads == 4
    cfg.hidden_size = 64
    assert cfg.dim == 64
    cfg.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["my_tool_setting"] == {"a": 1} and data["dim"] == 64 and "hidden_size" not in data
    assert AutoConfig.from_pretrained(tmp_path) == cfg


def test_tokenizer_for_a_loaded_model(tmp_path):
    """Pipelines and panels given a model object find its tokenizer where it was loaded from, or say what to pass."""
    from workbench import AutoTokenizer
    from workbench.pipelines import pipeline

    from tests.support import minilm_folder

    loaded = AutoModel.from_pretrained(minilm_folder())
    assert AutoTokenizer.for_model(loaded, needed_by="x").mask_token == "[MASK]"
    fresh = AutoModel.from_config(BertConfig(**TINY))  # made in memory: no folder to look in
    with pytest.raises(InputError, match=r"the 'feature-extraction' pipeline got a model object without a tokenizer.*pass tokenizer="):
        pipeline("feature-extraction", model=fresh)
