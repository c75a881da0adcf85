"""DETR against the reference on tiny random weights: a native-layout ResNet checkpoint saved by the reference,
the timm layout of facebook/detr-resnet-50 (the reference needs timm for that one, which is not installed, so
the same weights are renamed into it: the real resnet50 shape, a tiny transformer), padded batches, attentions
and hidden states, round trips in both directions."""

from __future__ import annotations

import re

import pytest
import torch

from workbench import AutoModel, AutoModelForObjectDetection, attention_record
from workbench.formats.safetensors import save_state_dict

from tests.models import harness

transformers = harness.transformers

TRANSFORMER = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                   encoder_ffn_dim=37, decoder_ffn_dim=37, num_queries=7, use_timm_backbone=False)
TINY_RESNET = dict(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 2, 1, 1], layer_type="bottleneck",
                   out_features=["stage4"])
FAMILY = harness.Family("detr", "Detr", config=TRANSFORMER,
                        heads={"base": ("Model", AutoModel), "object-detection": ("ForObjectDetection", AutoModelForObjectDetection)},
                        inputs=lambda: batch(), head_config=lambda head: {"num_labels": 5})
FIELDS = ("logits", "pred_boxes", "last_hidden_state", "encoder_last_hidden_state")


def batch(height: int = 70, width: int = 64) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(2, height, width, dtype=torch.long)
    mask[1, 40:, :] = 0  # the second image is shorter: padded at the bottom, as the image processor does
    mask[1, :, 50:] = 0
    return {"pixel_values": torch.randn(2, 3, height, width, generator=g), "pixel_mask": mask}


def reference(head: str, resnet: dict | None = None):
    backbone = transformers.ResNetConfig(**(resnet or TINY_RESNET))
    model = harness.reference_model(FAMILY, head, backbone_config=backbone)
    with torch.no_grad():  # frozen batch norms hold buffers: make them non-trivial so a swapped one shows
        g = torch.Generator().manual_seed(2)
        for name, buf in model.named_buffers():
            if name.endswith(("normalization.weight", "normalization.bias", "running_mean")):
                buf.add_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.mul_(torch.rand(buf.shape, generator=g) + 0.5)
    return model


def run_both(ours, ref, inputs):
    with torch.no_grad():
        return (ours(**inputs, output_attentions=True, output_hidden_states=True),
                ref(**inputs, output_attentions=True, output_hidden_states=True))


def assert_close(o, r, fields=FIELDS):
    for name in fields:
        if getattr(r, name, None) is not None:
            torch.testing.assert_close(getattr(o, name), getattr(r, name), atol=1e-4, rtol=0, msg=name)
    for name in ("encoder_hidden_states", "decoder_hidden_states", "encoder_attentions", "decoder_attentions",
                 "cross_attentions"):
        assert len(getattr(o, name)) == len(getattr(r, name)), name
        for a, b in zip(getattr(o, name), getattr(r, name)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0, msg=name)


@pytest.mark.parametrize("head", list(FAMILY.heads))
def test_native_layout_reference_checkpoint_matches(tmp_path, head):
    ref = reference(head)
    ref.save_pretrained(tmp_path)
    ours = FAMILY.heads[head][1].from_pretrained(tmp_path)
    assert type(ours).__name__ == type(ref).__name__
    assert ours.loading_report.ok, str(ours.loading_report)
    assert_close(*run_both(ours, ref, batch()))
    with torch.no_grad():  # the fused paths (sdpa, folded batch norms) give the same numbers
        fast = ours(**batch())
    torch.testing.assert_close(fast.last_hidden_state, ref(**batch()).last_hidden_state, atol=1e-4, rtol=0)


def test_round_trip_loads_in_the_reference(tmp_path):
    ref = reference("object-detection")
    ref.save_pretrained(tmp_path / "ref")
    ours = AutoModelForObjectDetection.from_pretrained(tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    back, info = transformers.DetrForObjectDetection.from_pretrained(tmp_path / "ours", output_loading_info=True,
                                                                     attn_implementation="eager")
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert_close(*run_both(ours, back.eval(), batch()))


# native ResNet names -> timm's (bottleneck blocks), under model.backbone.conv_encoder.model.
TIMM_NAMES = [
    (r"embedder\.embedder\.convolution", "conv1"), (r"embedder\.embedder\.normalization", "bn1"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.0"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.downsample.1"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.convolution", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.conv{int(m[3]) + 1}"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.normalization", lambda m: f"layer{int(m[1]) + 1}.{m[2]}.bn{int(m[3]) + 1}"),
]


def to_timm_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    prefix = "model.backbone.conv_encoder.model."
    for key, value in state.items():
        if key.startswith(prefix):
            rest = key[len(prefix):]
            for pattern, repl in TIMM_NAMES:
                rest = re.sub(pattern, repl, rest)
            key = prefix + rest
        out[key] = value
    return out


def test_timm_layout_of_detr_resnet_50_loads_and_matches(tmp_path):
    """facebook/detr-resnet-50's layout and config (use_timm_backbone, backbone "resnet50", no backbone_config),
    with the reference's weights renamed, plus the int64 num_batches_tracked counters some hub files carry."""
    from safetensors.torch import load_file

    ref = reference("object-detection", resnet=dict(out_features=["stage4"]))  # ResNetConfig() is resnet50
    ref.save_pretrained(tmp_path / "native")
    state = to_timm_layout(load_file(tmp_path / "native" / "model.safetensors"))
    assert "model.backbone.conv_encoder.model.layer1.0.conv1.weight" in state
    assert tuple(state["model.backbone.conv_encoder.model.layer4.2.conv3.weight"].shape) == (2048, 512, 1, 1)
    for i in range(1, 5):
        state[f"model.backbone.conv_encoder.model.layer{i}.0.downsample.1.num_batches_tracked"] = torch.tensor(0)
    config = ref.config.to_dict()
    config.update(use_timm_backbone=True, backbone="resnet50", backbone_config=None)
    folder = tmp_path / "timm"
    folder.mkdir()
    (folder / "config.json").write_text(__import__("json").dumps(config))
    save_state_dict(state, folder)
    ours = AutoModelForObjectDetection.from_pretrained(folder)
    assert ours.loading_report.ok, str(ours.loading_report)
    inputs = batch(64, 64)
    with torch.no_grad():
        o, r = ours(**inputs), ref(**inputs)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(o.pred_boxes, r.pred_boxes, atol=1e-4, rtol=0)
    ours.save_pretrained(tmp_path / "again")  # the timm layout is written back as it came
    again = AutoModelForObjectDetection.from_pretrained(tmp_path / "again")
    assert again.loading_report.ok and set(again.state_dict()) == set(ours.state_dict())


def test_cross_attention_record_is_on_the_feature_grid(tmp_path):
    ref = reference("object-detection")
    ref.save_pretrained(tmp_path)
    ours = AutoModelForObjectDetection.from_pretrained(tmp_path)
    x = batch()["pixel_values"][:1]
    rows, cols = ours.grid(x)
    with torch.no_grad():
        r = ref(pixel_values=x, output_attentions=True)
    assert (rows, cols) == (3, 2) and r.cross_attentions[0].shape[-1] == rows * cols
    keys = [f"({i},{j})" for i in range(rows) for j in range(cols)]
    rec = attention_record(ours, {"pixel_values": x}, query_tokens=[f"query {q}" for q in range(7)], key_tokens=keys,
                           kind="cross", grid=(rows, cols))
    assert rec.attentions.shape == (2, 4, 7, 6) and rec.grid == (3, 2)
    torch.testing.assert_close(torch.from_numpy(rec.attentions[-1]), r.cross_attentions[-1][0], atol=1e-4, rtol=0)
    enc = attention_record(ours, {"pixel_values": x}, query_tokens=keys, kind="patches", grid=(rows, cols))
    assert enc.attentions.shape == (2, 4, 6, 6)
