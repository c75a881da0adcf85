"""The audio timeline's fast path: a bfloat16 copy of the model agrees with the float32 timeline within
FAST_TOLERANCE on espeak-ng speech; "auto" picks it only where the CPU computes bfloat16 natively; the float32
model and its path stay untouched; small models run on one thread; the fused Q/K/V weights follow edits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests import audio_models
from workbench import pipeline
from workbench.errors import InputError
from workbench.nn.onednn import dense
from workbench.pipelines import audio_classification
from workbench.pipelines.audio_classification import FAST_TOLERANCE


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Keywords with pauses, repeated to 20 s: windows of speech, of silence, and across word edges."""
    folder = tmp_path_factory.mktemp("speech")
    words = [audio_models.speech(w, folder / f"{i}.wav") for i, w in enumerate("yes no up down left right stop go".split())]
    gaps = [np.zeros(int(16000 * (0.2 + 0.1 * i)), np.float32) for i in range(len(words))]
    one = np.concatenate([part for pair in zip(words, gaps) for part in pair])
    return np.resize(one, 20 * 16000).astype(np.float32)


@pytest.fixture(scope="module", params=["keyword_spotter", "sound_classifier"])
def pipe(request, tmp_path_factory):
    return pipeline("audio-classification", model=getattr(audio_models, request.param)(tmp_path_factory.mktemp("m")))


def test_fast_timeline_agrees_with_the_exact_one(pipe, speech):
    window = 1.0 if pipe.model.config.model_type == "wav2vec2" else 2.0
    exact = pipe.timeline(speech, window_s=window, hop_s=window / 2, precision="float32")
    fast = pipe.timeline(speech, window_s=window, hop_s=window / 2, precision="bfloat16")
    assert exact.precision == "float32" and fast.precision == "bfloat16"
    np.testing.assert_array_equal(fast.starts, exact.starts)
    difference = np.abs(fast.scores - exact.scores)
    assert difference.max() <= FAST_TOLERANCE
    assert difference.max() > 0  # it did run in bfloat16
    ranked = np.sort(exact.scores, axis=1)
    clear = ranked[:, -1] - ranked[:, -2] > FAST_TOLERANCE  # windows whose best label leads by more than the tolerance
    assert clear.sum() >= len(clear) // 4
    assert np.array_equal(fast.scores[clear].argmax(1), exact.scores[clear].argmax(1))
    assert all(p.dtype == torch.float32 for p in pipe.model.parameters())  # the exact model is untouched
    again = pipe.timeline(speech, window_s=window, hop_s=window / 2, precision="float32")
    np.testing.assert_array_equal(again.scores, exact.scores)


def test_auto_is_bfloat16_only_where_the_cpu_has_it(pipe, speech, monkeypatch):
    clip = speech[: 3 * 16000]
    expected = "bfloat16" if audio_classification.bf16_native() else "float32"
    assert pipe.timeline(clip, window_s=2.0, hop_s=1.0).precision == expected
    monkeypatch.setattr(audio_classification, "bf16_native", lambda: False)
    assert pipe.timeline(clip, window_s=2.0, hop_s=1.0).precision == "float32"
    with pytest.raises(InputError, match="precision"):
        pipe.timeline(clip, precision="int8")


def test_bfloat16_copy_follows_weight_edits(pipe):
    """The bfloat16 copy is made from the weights as they are at each call, so an in-place `weight.data` edit (which
    moves no version counter) shows in the next timeline; the float32 model stays float32."""
    first = pipe._bfloat16_model()
    assert first is not pipe.model and all(p.dtype == torch.bfloat16 for p in first.parameters())
    assert all(p.dtype == torch.float32 for p in pipe.model.parameters())
    weight = next(p for p in pipe.model.parameters() if p.dim() == 2)
    saved = weight.detach().clone()
    try:
        weight.data.mul_(0.5)
        edited = next(p for p in pipe._bfloat16_model().parameters() if p.dim() == 2)
        torch.testing.assert_close(edited.float(), (saved * 0.5).to(torch.bfloat16).float())
    finally:
        weight.data.copy_(saved)


def test_small_models_run_on_one_thread_and_threads_come_back(pipe, speech):
    seen = []
    handle = pipe.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pipe.timeline(speech[: 3 * 16000], window_s=2.0, hop_s=1.0, precision="float32")
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        handle.remove()
        torch.set_num_threads(before)


def test_fused_projection_weights_follow_edits():
    torch.manual_seed(0)
    q, k, v = nn.Linear(48, 48), nn.Linear(48, 48), nn.Linear(48, 48)
    x = torch.randn(2, 20, 48)  # 40 rows: the oneDNN path, where the fused weights are kept
    with torch.inference_mode():
        first = dense(x, q, k, v)
        with torch.no_grad():
            k.weight.add_(1.0)
        second = dense(x, q, k, v)
        plain = torch.nn.functional.linear(x, torch.cat([q.weight, k.weight, v.weight]), torch.cat([q.bias, k.bias, v.bias]))
    torch.testing.assert_close(second, plain, atol=1e-5, rtol=0)
    assert not torch.allclose(first[..., 48:96], second[..., 48:96])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_folded_first_conv_layer_equals_conv_group_norm_gelu(dtype):
    """Inference folds wav2vec2's first conv, GroupNorm and GELU into one matmul per clip (time-major output);
    training runs them as three steps. Both equal the plain torch ops."""
    from workbench.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2FeatureEncoder

    torch.manual_seed(0)
    config = Wav2Vec2Config(conv_dim=(64, 32), conv_stride=(5, 2), conv_kernel=(10, 3), conv_bias=True)
    encoder = Wav2Vec2FeatureEncoder(config)
    layer = encoder.conv_layers[0]
    with torch.no_grad():
        layer.layer_norm.weight.normal_(1.0, 0.3)
        layer.layer_norm.bias.normal_(0.0, 0.3)
    x = torch.randn(3, 4000) * torch.tensor([[0.1], [1.0], [5.0]])  # quiet, plain and loud clips
    expected = torch.nn.functional.gelu(layer.layer_norm(layer.conv(x[:, None])))
    encoder.to(dtype)
    with torch.inference_mode():
        folded = layer(x[:, None].to(dtype))
    assert folded.stride(1) == 1  # time-major: channels-last for the next convolution
    training = layer(x[:, None].to(dtype))  # gradients on: conv, GroupNorm, GELU as such
    assert training.requires_grad
    atol = 1e-4 if dtype == torch.float32 else 0.1  # float32 rounding scaled by the normalisation; bfloat16: 8 bits
    torch.testing.assert_close(folded.float(), expected, atol=atol, rtol=0)
    torch.testing.assert_close(training.detach().float(), expected, atol=atol, rtol=0)
