"""zero-shot-image-classification against the reference's pipeline on the sample photos (tiny CLIP and SigLIP built by
the reference): the same labels in the same order, scores within 1e-4, one image or a batch; the image x label matrix,
the cached text embeddings, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import pipeline
from workbench.errors import InputError

from tests.models.harness import transformers
from tests.vision import photo, photo_path
from tests.vision_text import clip_folder, siglip_folder

PHOTOS = ["chelsea", "coffee", "rocket", "astronaut"]
LABELS = ["a cat", "a cup of coffee", "a rocket launch", "an astronaut", "two red bicycles"]


@pytest.fixture(scope="module", params=["clip", "siglip"])
def folder(request, tmp_path_factory):
    make = clip_folder if request.param == "clip" else siglip_folder
    return make(tmp_path_factory.mktemp(request.param))


def assert_same(got, want):
    """Same labels and scores (1e-4), best first (labels whose scores tie within that may come in either order)."""
    scores = {w["label"]: w["score"] for w in want}
    assert sorted(g["label"] for g in got) == sorted(scores)
    np.testing.assert_allclose([g["score"] for g in got], [scores[g["label"]] for g in got], atol=1e-4, rtol=0)
    assert all(a["score"] >= b["score"] for a, b in zip(got, got[1:]))


def test_equals_reference_pipeline(folder):
    ours = pipeline("zero-shot-image-classification", model=folder)
    ref = transformers.pipeline("zero-shot-image-classification", model=str(folder))
    paths = [str(photo_path(p)) for p in PHOTOS]
    got = ours(paths, candidate_labels=LABELS, batch_size=3)
    for path, result in zip(paths, got):
        assert_same(result, ref(path, candidate_labels=LABELS))
    template = "a blurry picture of {}"
    assert_same(ours(photo("coffee"), candidate_labels=LABELS[:2], hypothesis_template=template),
                ref(photo("coffee"), candidate_labels=LABELS[:2], hypothesis_template=template))
    assert_same(ours(images=paths[0], candidate_labels=", ".join(LABELS)), got[0])  # a comma-separated string too
    total = sum(r["score"] for r in got[0])
    assert (abs(total - 1) < 1e-5) != ours.sigmoid  # softmax over labels (CLIP) or a sigmoid each (SigLIP)


def test_similarity_matrix_and_text_cache(folder):
    ours = pipeline("zero-shot-image-classification", model=folder)
    images = [photo(p) for p in PHOTOS[:3]]
    sim = ours.similarity(images, LABELS)
    assert sim["logits"].shape == sim["scores"].shape == (3, len(LABELS))
    for row, image in zip(sim["scores"], images):
        single = {r["label"]: r["score"] for r in ours(image, candidate_labels=LABELS)}
        np.testing.assert_allclose(row, [single[label] for label in LABELS], atol=1e-5)
    prompts = [f"This is a photo of {label}." for label in LABELS]
    cached = ours.embed_texts(prompts)
    fresh = ours.model.get_text_features(**ours.text_inputs(prompts)).pooler_output
    np.testing.assert_allclose(cached.numpy(), fresh.detach().numpy(), atol=1e-5)
    rec = ours.attention(images[0])
    assert rec.kind == "patches" and rec.grid == (4, 4)
    assert rec.attentions.shape[-1] == 16 + (0 if ours.sigmoid else 1)


def test_bad_inputs_name_the_problem(folder):
    ours = pipeline("zero-shot-image-classification", model=folder)
    with pytest.raises(InputError, match="candidate_labels"):
        ours(photo("rocket"), candidate_labels=[])
    with pytest.raises(InputError, match="hypothesis_template"):
        ours(photo("rocket"), candidate_labels=LABELS, hypothesis_template="no slot")
    with pytest.raises(InputError, match="input 1 is a int"):
        ours([photo("rocket"), 3], candidate_labels=LABELS)
