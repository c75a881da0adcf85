"""OneFormer against the reference on tiny random weights (the shared harness): Mask2Former's Swin backbone and pixel
decoder, the task token (an MLP over the task text's token ids), the query transformer that makes queries from it,
the masked-attention decoder and its class and mask heads; class and mask logits, the queries, the task token and
the backbone's and pixel decoder's maps within 1e-4, for each of the three tasks; every earlier decoder step's
predictions and the decoder's attentions too; our checkpoint loads in the reference."""

from __future__ import annotations

import pytest
import torch

from workbench import AutoModel, AutoModelForUniversalSegmentation
from workbench.errors import ConfigError, InputError, UnsupportedModelError
from workbench.models.oneformer import OneFormerConfig

from tests.models import harness

transformers = harness.transformers

TASK_LEN = 12
BACKBONE = dict(model_type="swin", embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], window_size=4,
                mlp_ratio=2.0, drop_path_rate=0.0, out_features=["stage1", "stage2", "stage3", "stage4"])
CONFIG = dict(backbone_config=BACKBONE, conv_dim=32, mask_dim=32, hidden_dim=32, encoder_feedforward_dim=48,
              dim_feedforward=48, encoder_layers=2, decoder_layers=5, query_dec_layers=2, num_attention_heads=4,
              num_queries=7, task_seq_len=TASK_LEN)
FIELDS = ("class_queries_logits", "masks_queries_logits", "transformer_decoder_object_queries",
          "transformer_decoder_contrastive_queries", "transformer_decoder_mask_predictions",
          "transformer_decoder_class_predictions", "task_token")
INTERNALS = (("encoder_hidden_states", "decoder"), ("pixel_decoder_hidden_states", "decoder"))
# token ids of "the task is {semantic|instance|panoptic}" as a CLIP tokenizer pads them (made up: a real vocabulary's
# ids go to 49407; the processor's own tokenization is tested with the pipeline)
TASK_IDS = {"semantic": [49406, 518, 2920, 533, 10139, 49407], "instance": [49406, 518, 2920, 533, 4010, 49407],
            "panoptic": [49406, 518, 2920, 533, 36115, 49407]}


def task_inputs(*tasks: str) -> torch.Tensor:
    return torch.tensor([ids + [0] * (TASK_LEN - len(ids)) for ids in (TASK_IDS[t] for t in tasks)], dtype=torch.long)


def inputs(tasks: tuple[str, str] = ("semantic", "panoptic"), height: int = 70, width: int = 100):
    """A size no stage divides evenly: patches, windows and merging all pad. Two images, two tasks."""

    def make() -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(1)),
                "task_inputs": task_inputs(*tasks)}

    return make


FAMILY = harness.Family(
    "oneformer", "OneFormer", config=CONFIG,
    heads={"base": ("Model", AutoModel),
           "universal-segmentation": ("ForUniversalSegmentation", AutoModelForUniversalSegmentation)},
    inputs=inputs(), head_config=lambda head: {"num_labels": 5}, output_fields=FIELDS, internals=INTERNALS,
    # learned tables, offsets and embeddings the reference initialises to zero or constants: random, so a misuse shows
    perturb=("relative_position_bias_table", "sampling_offsets", "attention_weights", "level_embed", "in_proj"),
)

test_reference_checkpoint, _, _ = harness.standard_tests(FAMILY)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    ref = harness.reference_model(FAMILY, "universal-segmentation")
    folder = tmp_path_factory.mktemp("oneformer")
    ref.save_pretrained(folder)
    ours = AutoModelForUniversalSegmentation.from_pretrained(folder)
    assert ours.loading_report.ok, str(ours.loading_report)
    return ours, ref


@pytest.mark.parametrize("task", ["semantic", "instance", "panoptic"])
def test_each_task_matches_and_steers_the_predictions(pair, task):
    ours, ref = pair
    x = inputs((task, task))()
    with torch.no_grad():
        o, r = ours(**x), ref(**x)
        other = ours(**inputs(("semantic", "semantic") if task != "semantic" else ("panoptic", "panoptic"))())
    harness.assert_outputs_close(o, r, None, FIELDS, ())
    assert (o.class_queries_logits - other.class_queries_logits).abs().max() > 1e-2  # the task token conditions them


def test_auxiliary_predictions_and_attentions_match(pair):
    ours, ref = pair
    x = inputs()()
    with torch.no_grad():
        o = ours(**x, output_attentions=True)
        r = ref(**x, output_attentions=True)
        plain = ours(**x, output_auxiliary_logits=False)
    assert len(o.auxiliary_predictions) == len(r.auxiliary_predictions) == CONFIG["decoder_layers"] - 1
    for a, b in zip(o.auxiliary_predictions, r.auxiliary_predictions):
        for key in ("class_queries_logits", "masks_queries_logits"):
            torch.testing.assert_close(a[key], b[key], atol=1e-4, rtol=0)
    assert len(o.attentions) == len(r.attentions) == CONFIG["decoder_layers"] - 1
    for mine, theirs in zip(o.attentions, r.attentions):  # (self-attention, masked cross-attention averaged over heads)
        for a, b in zip(mine, theirs):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    on = (o.auxiliary_predictions[0]["masks_queries_logits"] > 0).float().mean()
    assert 0.02 < on < 0.98  # the first masks are partly on: the next layer's attention is really masked
    assert plain.auxiliary_predictions is None
    # watching the attentions changes nothing
    torch.testing.assert_close(plain.masks_queries_logits, o.masks_queries_logits, atol=1e-5, rtol=0)


def test_round_trip(tmp_path, pair):
    """Our save loads in the reference with the same outputs; as for Mask2Former the reference reports only the final
    norm of the SwinModel it wraps the backbone around, which hub checkpoints do not hold either."""
    ours, _ = pair
    ours.save_pretrained(tmp_path)
    back, info = transformers.OneFormerForUniversalSegmentation.from_pretrained(tmp_path, output_loading_info=True,
                                                                               attn_implementation="eager")
    assert all(".encoder.swin.layernorm." in k for k in info["missing_keys"]), info
    assert not info["unexpected_keys"] and not info["mismatched_keys"], info
    harness.assert_outputs_close(*harness.run_both(ours, back.eval(), inputs()()), None, FIELDS, INTERNALS)


def test_text_mapper_keys_are_skipped_and_bad_inputs_refused(tmp_path, pair):
    """A checkpoint saved for training (is_training: the contrastive text encoder) loads for inference."""
    ref = harness.reference_model(FAMILY, "universal-segmentation", is_training=True)
    assert any(k.startswith("model.text_mapper.") for k in ref.state_dict())
    ref.save_pretrained(tmp_path)
    ours = AutoModelForUniversalSegmentation.from_pretrained(tmp_path)
    assert ours.loading_report.ok, str(ours.loading_report)
    model, _ = pair
    x = inputs()()
    with pytest.raises(InputError, match="task_inputs"):
        model(pixel_values=x["pixel_values"], task_inputs=x["task_inputs"][:, :5])
    with pytest.raises(UnsupportedModelError, match="training loss"):
        model(**x, mask_labels=[torch.zeros(1, 70, 100)], class_labels=[torch.zeros(1, dtype=torch.long)])
    with pytest.raises(ConfigError, match="conv_dim"):  # projections the reference never saves
        OneFormerConfig(**{**CONFIG, "conv_dim": 64})
