"""Audio Spectrogram Transformer against the reference on tiny random weights (every head, checkpoints both
ways), its Kaldi filterbank features equal to the reference feature extractor's, and its patch attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models import harness
from workbench import AutoModel, AutoModelForAudioClassification

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, patch_size=16,
            frequency_stride=10, time_stride=10, max_length=100, num_mel_bins=32)


def features() -> dict[str, torch.Tensor]:
    return {"input_values": torch.randn(2, 100, 32, generator=torch.Generator().manual_seed(4))}


FAMILY = harness.Family(
    "audio-spectrogram-transformer", "AST", config=TINY,
    heads={"base": ("Model", AutoModel), "audio-classification": ("ForAudioClassification", AutoModelForAudioClassification)},
    inputs=features, perturb=("token", "position_embeddings"),  # the reference starts tokens and positions at zero
)

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(FAMILY)


def clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    return {"noise": (rng.standard_normal(48000) * 0.1).astype(np.float32),
            "tone+chirp": (0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * (200 + 900 * t) * t)).astype(np.float32),
            "longer than max_length": rng.standard_normal(16000 * 11).astype(np.float32),
            "one frame": rng.standard_normal(500).astype(np.float32),
            "silence": np.zeros(16000, np.float32)}


@pytest.mark.parametrize("name", list(clips()))
def test_filterbank_features_equal_the_reference(name):
    import warnings

    from workbench.processors import ASTFeatureExtractor

    x = clips()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference warns that its top mel filter is empty at 128 bins
        ref = harness.transformers.ASTFeatureExtractor()(x, sampling_rate=16000, return_tensors="np")["input_values"][0]
    ours = ASTFeatureExtractor()(x)["input_values"][0].numpy()
    assert ours.shape == ref.shape == (1024, 128)
    np.testing.assert_array_equal(ours, ref)  # bit for bit


def test_patch_attention_record_is_on_the_grid(tmp_path):
    """pipeline.attention() gives kind "patches" on the (frequency x time) grid; its probabilities are the reference's."""
    from workbench import pipeline
    from workbench.processors import ASTFeatureExtractor

    ref = harness.reference_model(FAMILY, "audio-classification")
    ref.save_pretrained(tmp_path)
    fe = ASTFeatureExtractor(num_mel_bins=32, max_length=100)
    fe.save_pretrained(tmp_path)
    pipe = pipeline("audio-classification", model=tmp_path)
    x = clips()["tone+chirp"][:16000]
    record = pipe.attention({"array": x, "sampling_rate": 16000}, layers=[0, 1])
    assert record.kind == "patches" and record.grid == (2, 9)  # (32 - 16) // 10 + 1 by (100 - 16) // 10 + 1
    assert record.attentions.shape == (2, 4, 20, 20) and record.query_tokens[:3] == ["[CLS]", "[DIST]", "f0t0"]
    with torch.no_grad():
        expected = ref(**fe(x), output_attentions=True).attentions
    for layer in (0, 1):
        np.testing.assert_allclose(record.attentions[layer], expected[layer][0].numpy(), atol=1e-5)


def test_classifier_computes_only_the_pooled_rows_of_the_last_layer(tmp_path):
    """The head reads [CLS] and the distillation token only: its last layer computes just those rows, exactly."""
    from workbench import capture

    harness.reference_model(FAMILY, "audio-classification").save_pretrained(tmp_path)
    ours = AutoModelForAudioClassification.from_pretrained(tmp_path)
    x = features()["input_values"]
    with torch.no_grad():
        short = ours.audio_spectrogram_transformer(x, pooled_only=True)
        full = ours.audio_spectrogram_transformer(x)
        assert short.last_hidden_state.shape[1] == 2 and full.last_hidden_state.shape[1] == 20
        torch.testing.assert_close(short.pooler_output, full.pooler_output, atol=1e-6, rtol=0)
        with capture(ours, "attn_probs", layers=[1]) as cache:  # a watched hook point gets the full layer
            watched = ours(x).logits
        assert next(iter(cache.values())).shape == (2, 4, 20, 20)
        torch.testing.assert_close(ours(x).logits, watched, atol=1e-6, rtol=0)
