"""Hostile and broken checkpoints: nothing outside the folder is opened, nothing is executed, every
impossible value is refused before use with an error naming the file, the entry and the fix."""

from __future__ import annotations

import json
import os
import struct

import pytest
import torch
from safetensors.torch import save_file

from workbench import AutoModel, AutoModelForSpeechSeq2Seq, AutoProcessor, AutoTokenizer, pipeline
from workbench.errors import CheckpointNotFoundError, ConfigError, UnsupportedModelError, WeightsError
from workbench.files import OutsideCheckpointError

from .conftest import tiny_model


def shard(folder, weight_map):
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


# -- names that lead outside the folder -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["../outside/x.safetensors", "../../etc/passwd", "/etc/passwd", "sub/../../x.safetensors"])
def test_shard_index_cannot_name_a_file_outside(checkpoint, tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    state = tiny_model(AutoModel).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(outside / "x.safetensors"))
    shard(checkpoint, {k: name for k in state})
    with pytest.raises(OutsideCheckpointError, match="outside the checkpoint folder") as info:
        AutoModel.from_pretrained(checkpoint)
    assert repr(name) in str(info.value) and "shard index" in str(info.value)


def test_a_symlink_inside_the_folder_that_leads_out_is_refused(checkpoint, tmp_path):
    secret = tmp_path / "secret.safetensors"
    os.replace(checkpoint / "model.safetensors", secret)
    (checkpoint / "model.safetensors").symlink_to(secret)
    with pytest.raises(OutsideCheckpointError, match="model.safetensors"):
        AutoModel.from_pretrained(checkpoint)


def test_tokenizer_and_processor_files_that_lead_out_are_refused(checkpoint, tmp_path):
    real = tmp_path / "elsewhere.json"
    os.replace(checkpoint / "tokenizer.json", real)
    (checkpoint / "tokenizer.json").symlink_to(real)
    with pytest.raises(OutsideCheckpointError, match="tokenizer.json"):
        AutoTokenizer.from_pretrained(checkpoint)
    (checkpoint / "tokenizer.json").unlink()
    os.replace(real, checkpoint / "tokenizer.json")
    (tmp_path / "pre.json").write_text(json.dumps({"feature_extractor_type": "WhisperFeatureExtractor"}))
    (checkpoint / "preprocessor_config.json").symlink_to(tmp_path / "pre.json")
    with pytest.raises(OutsideCheckpointError, match="preprocessor_config.json"):
        AutoProcessor.from_pretrained(checkpoint)


def test_ctranslate2_file_that_leads_out_is_refused(tmp_path):
    from workbench.embedded import embedded_folder

    src = embedded_folder("Systran/faster-whisper-tiny.en")
    folder = tmp_path / "ct2"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_bytes((src / name).read_bytes())
    (folder / "model.bin").symlink_to(src / "model.bin")  # outside this folder
    with pytest.raises(OutsideCheckpointError, match="model.bin"):
        AutoModelForSpeechSeq2Seq.from_pretrained(folder)


def test_hub_cache_snapshot_links_into_blobs_load(checkpoint, tmp_path):
    """The hub cache keeps files as links from snapshots/<rev>/ into ../../blobs/: that is inside the repo."""
    repo = tmp_path / "models--org--tiny"
    snap, blobs = repo / "snapshots" / "abc123", repo / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    for f in checkpoint.iterdir():
        os.replace(f, blobs / f.name)
        (snap / f.name).symlink_to(os.path.relpath(blobs / f.name, snap))
    assert AutoModel.from_pretrained(snap).loading_report.ok


# -- code never runs ------------------------------------------------------------------------------------
def test_remote_code_in_config_is_never_imported(checkpoint, tmp_path):
    marker = tmp_path / "ran"
    (checkpoint / "custom_model.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    config = json.loads((checkpoint / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "custom_model.CustomModel"}
    (checkpoint / "config.json").write_text(json.dumps(config))
    model = AutoModel.from_pretrained(checkpoint)
    AutoTokenizer.from_pretrained(checkpoint)
    assert type(model).__name__ == "BertModel" and not marker.exists()


def test_pickle_with_code_never_runs_even_when_opted_in(checkpoint, tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (checkpoint / "model.safetensors").unlink()
    torch.save({"x": Evil()}, checkpoint / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="refused by default"):
        AutoModel.from_pretrained(checkpoint)
    with pytest.raises(WeightsError, match="weights_only"):
        AutoModel.from_pretrained(checkpoint, allow_pickle=True)
    assert not marker.exists()


# -- config.json ------------------------------------------------------------------------------------------
def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("field,value", [("num_hidden_layers", 0), ("num_attention_heads", 0), ("hidden_size", -32),
                                         ("vocab_size", 0), ("intermediate_size", -1), ("max_position_embeddings", 0),
                                         ("hidden_size", "32"), ("num_hidden_layers", 2.5), ("num_hidden_layers", None)])
def test_impossible_config_values_name_the_field(checkpoint, field, value):
    edit_config(checkpoint, **{field: value})
    with pytest.raises(ConfigError, match=rf"{field} = {value!r}"):
        AutoModel.from_pretrained(checkpoint)


def test_heads_that_do_not_divide_the_width(checkpoint):
    edit_config(checkpoint, hidden_size=30)
    with pytest.raises(ConfigError, match="hidden_size = 30 is not divisible by num_attention_heads = 4"):
        AutoModel.from_pretrained(checkpoint)


@pytest.mark.parametrize("content", ["[1, 2]", "\x00\x01binary", "{\"model_type\": \"bert\",", ""])
def test_damaged_config_json_names_the_file(checkpoint, content):
    (checkpoint / "config.json").write_text(content)
    with pytest.raises(CheckpointNotFoundError, match="config.json"):
        AutoModel.from_pretrained(checkpoint)


def test_model_type_that_is_a_path_is_just_unknown(checkpoint):
    edit_config(checkpoint, model_type="../../etc/passwd")
    with pytest.raises(UnsupportedModelError, match="unknown model_type"):
        AutoModel.from_pretrained(checkpoint)


def test_num_labels_zero_from_the_caller(checkpoint):
    from workbench import AutoModelForSequenceClassification

    with pytest.raises(ConfigError, match="num_labels = 0"):
        AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=0)


# -- weights -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.uint8])
def test_weights_that_cannot_be_weights_name_key_and_dtype(checkpoint, dtype):
    state = tiny_model(AutoModel).state_dict()
    key = "encoder.layer.0.attention.self.query.weight"
    state[key] = torch.ones_like(state[key], dtype=dtype)
    save_file({k: v.contiguous() for k, v in state.items()}, str(checkpoint / "model.safetensors"))
    with pytest.raises(WeightsError, match=rf"{key}.*{str(dtype).replace('torch.', '')}"):
        AutoModel.from_pretrained(checkpoint)


def test_float64_weights_are_fine(checkpoint):
    state = {k: v.double() for k, v in tiny_model(AutoModel).state_dict().items()}
    save_file({k: v.contiguous() for k, v in state.items()}, str(checkpoint / "model.safetensors"))
    assert AutoModel.from_pretrained(checkpoint).dtype == torch.float32


# -- tokenizers --------------------------------------------------------------------------------------------------
def test_empty_vocabulary_fails_at_load_naming_the_file(checkpoint):
    (checkpoint / "tokenizer.json").unlink()
    (checkpoint / "vocab.txt").write_text("")
    with pytest.raises(CheckpointNotFoundError, match="vocab.txt.*(empty|no token)"):
        AutoTokenizer.from_pretrained(checkpoint)


def test_vocabulary_without_its_unknown_token_fails_at_load(checkpoint):
    (checkpoint / "tokenizer.json").unlink()
    words = [w for w in (checkpoint / "vocab.txt").read_text().splitlines() if w != "[UNK]"]
    (checkpoint / "vocab.txt").write_text("\n".join(words) + "\n")
    with pytest.raises(CheckpointNotFoundError, match=r"vocab.txt.*\[UNK\]"):
        AutoTokenizer.from_pretrained(checkpoint)


def test_tokenizer_json_with_empty_vocab_fails_at_load(checkpoint):
    data = json.loads((checkpoint / "tokenizer.json").read_text())
    data["model"]["vocab"] = {}
    (checkpoint / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointNotFoundError, match="tokenizer.json.*(empty|no token)"):
        AutoTokenizer.from_pretrained(checkpoint)


@pytest.mark.parametrize("name,content", [("tokenizer.json", "not json"), ("tokenizer_config.json", "[]"),
                                          ("special_tokens_map.json", "{")])
def test_damaged_tokenizer_files_name_the_file(checkpoint, name, content):
    (checkpoint / name).write_text(content)
    with pytest.raises(CheckpointNotFoundError, match=name):
        AutoTokenizer.from_pretrained(checkpoint)


# -- CTranslate2 model.bin ------------------------------------------------------------------------------------------
def write_bin(path, variables):
    """A CTranslate2 v6 model.bin: u32 version, str spec, u32 revision, variables, aliases."""
    def s(text):
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw
    out = struct.pack("<I", 6) + s("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    for name, shape, nbytes in variables:
        out += s(name) + struct.pack("<B", len(shape)) + b"".join(struct.pack("<I", d) for d in shape)
        out += struct.pack("<B", 0) + struct.pack("<I", nbytes) + b"\0" * nbytes
    out += struct.pack("<I", 0)
    path.write_bytes(out)


@pytest.fixture
def ct2_folder(tmp_path):
    from workbench.embedded import embedded_folder

    folder = tmp_path / "ct2"
    folder.mkdir()
    src = embedded_folder("Systran/faster-whisper-tiny.en")
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_bytes((src / name).read_bytes())
    return folder


def test_ctranslate2_size_that_disagrees_with_its_shape(ct2_folder):
    write_bin(ct2_folder / "model.bin", [("decoder/embeddings/weight", (10, 4), 12)])
    with pytest.raises(WeightsError, match=r"model.bin.*decoder/embeddings/weight.*(10, 4)"):
        AutoModelForSpeechSeq2Seq.from_pretrained(ct2_folder)


def test_ctranslate2_missing_variable_names_it(ct2_folder):
    write_bin(ct2_folder / "model.bin", [("decoder/embeddings/weight", (51864, 8), 51864 * 8 * 4)])
    with pytest.raises(WeightsError, match=r"model.bin.*(encoder/conv1/weight|missing)"):
        AutoModelForSpeechSeq2Seq.from_pretrained(ct2_folder)


def test_ctranslate2_absurd_dimensions_are_refused_before_allocating(ct2_folder):
    write_bin(ct2_folder / "model.bin", [("decoder/embeddings/weight", (2**31, 2**31), 16)])
    with pytest.raises(WeightsError, match="decoder/embeddings/weight"):
        AutoModelForSpeechSeq2Seq.from_pretrained(ct2_folder)


# -- unavailable checkpoints -----------------------------------------------------------------------------------------
def test_offline_default_checkpoint_error_is_short_and_uses_the_form_typed(unreachable_hub):
    with pytest.raises(CheckpointNotFoundError) as info:
        pipeline("fill-mask")
    err = info.value
    text = str(err)
    assert "pipeline('fill-mask', model=" in text
    assert err.__suppress_context__ or (err.__cause__ is None and err.__context__ is None)
    assert text.count("Fix it with one of") <= 1 and len(text.splitlines()) <= 12


def test_offline_named_checkpoint_error_uses_the_pipeline_form(unreachable_hub):
    with pytest.raises(CheckpointNotFoundError) as info:
        pipeline("text-classification", model="org/not-cached")
    text = str(info.value)
    assert "pipeline('text-classification', model='/path/to/folder')" in text and "from_pretrained" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert text.count("org/not-cached") <= 4 and len(text.splitlines()) <= 12
