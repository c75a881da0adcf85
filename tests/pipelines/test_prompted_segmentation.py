"""image-segmentation with a text-prompted segmenter (CLIPSeg, tiny, built by the reference) against the reference's
documented way: its processor and model on the image repeated once per prompt, a sigmoid of the logits resized to the
photo. Heat maps within 1e-4, masks at the threshold, the processor's tensors equal, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import AutoProcessor, pipeline
from workbench.errors import InputError

from tests.models.harness import transformers
from tests.vision import photo
from tests.vision_text import clipseg_folder

PROMPTS = ["a cat", "a cup of coffee", "whiskers"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return clipseg_folder(tmp_path_factory.mktemp("clipseg"))


def reference_heatmaps(folder, image, prompts):
    processor = transformers.CLIPSegProcessor.from_pretrained(folder)
    model = transformers.CLIPSegForImageSegmentation.from_pretrained(folder).eval()
    inputs = processor(text=prompts, images=[image] * len(prompts), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    size = (image.height, image.width)
    return F.interpolate(logits[:, None], size=size, mode="bilinear", align_corners=False)[:, 0].sigmoid().numpy()


def test_processor_equals_reference(folder):
    ours = AutoProcessor.from_pretrained(folder)
    ref = transformers.CLIPSegProcessor.from_pretrained(folder)
    images = [photo("chelsea"), photo("rocket")]
    got, want = ours(images=images, text=PROMPTS[:2]), ref(images=images, text=PROMPTS[:2], padding=True,
                                                              return_tensors="pt")
    assert got["pixel_values"].shape == (2, 3, 48, 48)
    torch.testing.assert_close(got["pixel_values"], want["pixel_values"], atol=1e-5, rtol=0)
    for key in ("input_ids", "attention_mask"):
        assert got[key].tolist() == want[key].tolist(), key


def test_heatmaps_and_masks_equal_reference(folder):
    pipe = pipeline("image-segmentation", model=folder)
    image = photo("chelsea")
    want = reference_heatmaps(folder, image, PROMPTS)
    found = pipe.explain(image, prompts=PROMPTS)
    assert found["heatmaps"].shape == (3, image.height, image.width) and found["labels"] == PROMPTS
    np.testing.assert_allclose(found["heatmaps"], want, atol=1e-4, rtol=0)
    assert np.ptp(want, axis=(1, 2)).min() > 0.01  # the maps are not flat: the comparison means something
    threshold = float(np.median(want))  # a threshold that really splits the random maps
    got = pipe(image, prompts=", ".join(PROMPTS), threshold=threshold)  # one comma-separated string too
    assert [r["label"] for r in got] == PROMPTS
    for result, heat in zip(got, want):
        assert result["score"] == pytest.approx(float(heat.max()), abs=1e-4)
        mask = np.asarray(result["mask"]) == 255
        assert result["mask"].mode == "L" and mask.shape == heat.shape
        sure = np.abs(heat - threshold) > 1e-3  # pixels at the threshold may fall either side within 1e-4
        assert (mask[sure] == (heat[sure] >= threshold)).all()
        assert 0 < mask.sum() < mask.size
    batch = pipe([photo("rocket"), image], prompts=PROMPTS[:1])  # a list of images: one list of results each
    assert len(batch) == 2 and batch[1][0]["score"] == pytest.approx(got[0]["score"], abs=1e-5)


def test_prompts_are_required_and_checked(folder):
    pipe = pipeline("image-segmentation", model=folder)
    with pytest.raises(InputError, match=r"prompts=\[\.\.\.\]"):
        pipe(photo("chelsea"))
    with pytest.raises(InputError, match="prompts"):
        pipe(photo("chelsea"), prompts=[])
    with pytest.raises(InputError, match="threshold must be a number from 0 to 1"):
        pipe(photo("chelsea"), prompts=PROMPTS, threshold=2)
    with pytest.raises(InputError, match="subtask='semantic'"):
        pipe(photo("chelsea"), prompts=PROMPTS, subtask="semantic")
