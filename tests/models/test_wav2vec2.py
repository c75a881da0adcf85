"""Wav2Vec2 against the reference on tiny random weights: both conv-norm variants (group + post-norm with a
weighted layer sum; layer + stable pre-norm), every head, padded batches, both weight-norm key layouts."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.models import harness
from workbench import AutoModel, AutoModelForAudioClassification, AutoModelForCTC

TINY = dict(vocab_size=12, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4, classifier_proj_size=24)
HEADS = {"base": ("Model", AutoModel), "audio-classification": ("ForSequenceClassification", AutoModelForAudioClassification),
         "ctc": ("ForCTC", AutoModelForCTC)}


def audio_batch() -> dict[str, torch.Tensor]:
    """Two clips of 4000 samples, the second padded after 2900."""
    g = torch.Generator().manual_seed(2)
    mask = torch.ones(2, 4000, dtype=torch.long)
    mask[1, 2900:] = 0
    return {"input_values": torch.randn(2, 4000, generator=g) * mask, "attention_mask": mask}


def real_frames(inputs: dict[str, torch.Tensor], ref_out) -> torch.Tensor:
    from workbench.models.wav2vec2 import Wav2Vec2Config, frame_mask

    frames = ref_out.hidden_states[0].shape[1]
    return frame_mask(Wav2Vec2Config(**TINY), inputs["attention_mask"], frames)


def family(**variant) -> harness.Family:
    return harness.Family("wav2vec2", "Wav2Vec2", config={**TINY, **variant}, heads=HEADS, inputs=audio_batch,
                          head_config=lambda head: {"num_labels": 3}, positions=real_frames,
                          output_fields=("last_hidden_state", "extract_features", "logits"), perturb=("layer_weights",))


BASE = family(feat_extract_norm="group", do_stable_layer_norm=False, use_weighted_layer_sum=True)  # superb-ks's kind
LARGE = family(feat_extract_norm="layer", do_stable_layer_norm=True)  # wav2vec2-large-960h-lv60's kind

test_reference_checkpoint, test_round_trip, test_fused_path = harness.standard_tests(BASE)
# the large variant's keys are the base's (round trip checked above); its computation differs: parity and fused path
test_large_reference_checkpoint, _, test_large_fused_path = harness.standard_tests(LARGE)


@pytest.mark.parametrize("fam", [BASE, LARGE], ids=["group-postnorm", "layer-stable"])
def test_unpadded_clips_match_without_a_mask(tmp_path, fam):
    """The keyword-spotting pipeline passes no attention mask: the model then hears every sample."""
    ref = harness.reference_model(fam, "audio-classification")
    ref.save_pretrained(tmp_path)
    ours = AutoModelForAudioClassification.from_pretrained(tmp_path)
    x = audio_batch()["input_values"][:1]
    with torch.no_grad():
        torch.testing.assert_close(ours(x).logits, ref(x).logits, atol=1e-4, rtol=0)


def test_legacy_weight_norm_keys_load(tmp_path):
    """Hub files written before torch's parametrizations hold weight_g / weight_v; they load the same, and we save
    the current layout (the reference writes parametrizations.weight.original0/1)."""
    ref = harness.reference_model(BASE, "ctc")
    ref.save_pretrained(tmp_path / "new")
    state = load_file(tmp_path / "new" / "model.safetensors")
    legacy = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): v
              for k, v in state.items()}
    assert sum("weight_g" in k or "weight_v" in k for k in legacy) == 2
    (tmp_path / "old").mkdir()
    save_file(legacy, tmp_path / "old" / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "old" / "config.json").write_text((tmp_path / "new" / "config.json").read_text())
    ours = AutoModelForCTC.from_pretrained(tmp_path / "old")
    assert ours.loading_report.ok, str(ours.loading_report)
    x = audio_batch()
    with torch.no_grad():
        torch.testing.assert_close(ours(**x).logits, ref(**x).logits, atol=1e-4, rtol=0)
    ours.save_pretrained(tmp_path / "ours")
    saved = load_file(tmp_path / "ours" / "model.safetensors")
    assert "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0" in saved
    assert not any("weight_g" in k or "weight_v" in k for k in saved)


def test_losses_match_reference(tmp_path):
    """With gradients on: CTC loss (padded labels) and the keyword cross-entropy equal the reference's."""
    x = audio_batch()
    for head, labels in (("ctc", torch.tensor([[5, 6, 7, 5], [8, 9, -100, -100]])), ("audio-classification", torch.tensor([2, 0]))):
        ref = harness.reference_model(BASE, head, layerdrop=0.0, mask_time_prob=0.0, hidden_dropout=0.0,
                                      attention_dropout=0.0, activation_dropout=0.0, final_dropout=0.0)
        ref.save_pretrained(tmp_path / head)
        ours = HEADS[head][1].from_pretrained(tmp_path / head)
        torch.testing.assert_close(ours(**x, labels=labels).loss, ref(**x, labels=labels).loss, atol=1e-4, rtol=1e-5)


def test_short_audio_is_refused_with_the_minimum(tmp_path):
    from workbench.errors import InputError

    harness.reference_model(BASE, "base").save_pretrained(tmp_path)
    ours = AutoModel.from_pretrained(tmp_path)
    with pytest.raises(InputError, match="at least 40"):  # frames back through the stack: 1 -> 3 -> 7 -> 40 samples
        ours(torch.zeros(1, 20))
