"""Typed configs: visible defaults, unknown keys kept, impossible values refused with the field's name."""

from __future__ import annotations

import dataclasses
import json

import pytest

from workbench import AutoConfig, AutoModel
from workbench.errors import ConfigError
from workbench.models.bert import BertConfig
from workbench.models.distilbert import DistilBertConfig
from workbench.models.whisper import WhisperConfig


def test_fields_are_dataclass_fields_with_defaults():
    names = {f.name: f.default for f in dataclasses.fields(BertConfig)}
    assert names["hidden_size"] == 768 and names["num_attention_heads"] == 12 and names["layer_norm_eps"] == 1e-12
    assert BertConfig().vocab_size == 30522


def test_unknown_keys_round_trip_and_aliases(tmp_path):
    c = BertConfig(hidden_size=64, num_attention_heads=4, my_tool_setting={"a": 1})
    c.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["my_tool_setting"] == {"a": 1} and data["model_type"] == "bert"
    again = AutoConfig.from_pretrained(tmp_path)
    assert again == c and again.my_tool_setting == {"a": 1}
    d = DistilBertConfig(hidden_size=64, num_attention_heads=4)  # aliases set the family's own fields
    assert d.dim == 64 and d.n_heads == 4 and d.hidden_size == 64


@pytest.mark.parametrize("cls,field,value", [
    (BertConfig, "num_hidden_layers", 0), (BertConfig, "hidden_size", -8), (BertConfig, "vocab_size", 0),
    (BertConfig, "num_attention_heads", 0), (BertConfig, "intermediate_size", 2.5),
    (DistilBertConfig, "n_layers", 0), (WhisperConfig, "d_model", 0), (WhisperConfig, "decoder_layers", -1),
])
def test_impossible_sizes_name_the_field(cls, field, value):
    with pytest.raises(ConfigError, match=rf"{cls.__name__}\.{field} = {value}"):
        cls(**{field: value})


def test_heads_must_divide_the_width():
    with pytest.raises(ConfigError, match="hidden_size = 30 is not divisible by num_attention_heads = 4"):
        BertConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ConfigError, match="d_model = 32 is not divisible by decoder_attention_heads = 5"):
        WhisperConfig(d_model=32, encoder_attention_heads=4, decoder_attention_heads=5)


def test_a_bad_config_json_fails_at_load_naming_the_field(tmp_path):
    BertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=1, intermediate_size=37).save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["num_hidden_layers"] = 0
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="num_hidden_layers = 0"):
        AutoModel.from_pretrained(tmp_path)


def test_labels():
    c = BertConfig(num_labels=3)
    assert c.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"} and c.label2id["LABEL_2"] == 2
    c.num_labels = 2
    assert c.num_labels == 2
    with pytest.raises(ConfigError, match="num_labels = 0"):
        BertConfig(num_labels=0)
