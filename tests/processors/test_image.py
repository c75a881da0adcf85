"""Image processors against the reference's (its PIL backend, what it uses without torchvision): the same
pixel values for every input form, every `size` form, centre-crop and padding; reading rules for forms the
reference refuses (16-bit, 2-d grayscale arrays); URLs only online; DETR box post-processing."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

from workbench import AutoProcessor
from workbench.errors import InputError
from workbench.processors.image import ImageProcessor, post_process_object_detection, to_rgb

from tests.support import free_port
from tests.vision import photo, photo_path

import transformers  # the test-only oracle: missing means a broken test install, which must fail

# The hub checkpoints' own files (google/vit-base-patch16-224, facebook/detr-resnet-50) and newer forms.
CONFIGS = {
    "vit-hub": {"feature_extractor_type": "ViTFeatureExtractor", "do_normalize": True, "do_resize": True,
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224},
    "detr-hub": {"feature_extractor_type": "DetrFeatureExtractor", "do_normalize": True, "do_resize": True,
                 "format": "coco_detection", "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                 "max_size": 1333, "size": 800},
    "detr-small": {"image_processor_type": "DetrImageProcessor", "size": {"shortest_edge": 96, "longest_edge": 128}},
    "detr-max-hw": {"image_processor_type": "DetrImageProcessor", "size": {"max_height": 100, "max_width": 90}},
    "deit-crop": {"image_processor_type": "DeiTImageProcessor", "size": {"height": 72, "width": 80},
                  "crop_size": {"height": 64, "width": 100}, "do_center_crop": True, "resample": 3},
    "clip-short": {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 60},
                   "crop_size": {"height": 56, "width": 56}},
}


def processors(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "preprocessor_config.json").write_text(json.dumps(CONFIGS[name]))
    return AutoProcessor.from_pretrained(folder), transformers.AutoImageProcessor.from_pretrained(folder)


def reference(ref, images, **kw):
    out = ref(images=images, return_tensors="pt", **kw)
    return {k: v for k, v in out.items()}


def assert_same(ours, ref_out):
    torch.testing.assert_close(ours["pixel_values"], ref_out["pixel_values"].float(), atol=1e-6, rtol=0)
    if "pixel_mask" in ref_out:
        assert torch.equal(ours["pixel_mask"], ref_out["pixel_mask"])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_size_form_matches_reference_on_photos(tmp_path, name):
    ours, ref = processors(tmp_path, name)
    assert isinstance(ours, ImageProcessor)
    images = [photo("chelsea"), photo("rocket")]  # different sizes: padded together where the type pads
    if name == "detr-hub":
        images = images[:1]  # full size: one is enough
    assert_same(ours(images), reference(ref, images))


def test_every_input_form_matches_reference(tmp_path):
    ours, ref = processors(tmp_path, "vit-hub")
    pil = photo("coffee")
    hwc = np.asarray(pil)
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    expected = reference(ref, pil)
    forms = {"path": photo_path("coffee"), "bytes": photo_path("coffee").read_bytes(), "pil": pil, "hwc": hwc,
             "chw": chw, "tensor-chw": torch.from_numpy(chw), "tensor-hwc": torch.from_numpy(hwc)}
    for form, x in forms.items():
        torch.testing.assert_close(ours(x)["pixel_values"], expected["pixel_values"], atol=1e-6, rtol=0, msg=form)
    batch = ours(list(forms.values()))["pixel_values"]
    assert batch.shape == (len(forms), 3, 224, 224)
    assert all(torch.equal(b, batch[0]) for b in batch)
    # floats in 0..1 are images already scaled: the reference gives the same numbers with do_rescale=False
    f = hwc.astype(np.float32) / 255
    want = reference(ref, f, do_rescale=False)["pixel_values"]
    torch.testing.assert_close(ours(f)["pixel_values"], want, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(torch.from_numpy(f).permute(2, 0, 1))["pixel_values"], want, atol=1e-6, rtol=0)


def test_colour_modes_match_reference_conversion(tmp_path):
    ours, ref = processors(tmp_path, "detr-small")
    rgb = photo("chelsea")
    rgba = rgb.convert("RGBA")
    alpha = Image.linear_gradient("L").resize(rgb.size)
    rgba.putalpha(alpha)
    cases = {"L": rgb.convert("L"), "CMYK": rgb.convert("CMYK"), "RGBA": rgba, "P": rgb.convert("P"),
             "LA": rgba.convert("LA")}
    for mode, img in cases.items():
        assert_same(ours(img), reference(ref, img, do_convert_rgb=True))
    arr = np.asarray(rgba)  # an RGBA array: composited onto white as the reference's convert_to_rgb
    assert_same(ours(arr), reference(ref, arr, do_convert_rgb=True))
    # forms the reference cannot take: a 2-d grayscale array, 16-bit pixels -> as their 8-bit RGB equivalents
    gray = np.asarray(rgb.convert("L"))
    assert_same(ours(gray), reference(ref, rgb.convert("L"), do_convert_rgb=True))
    sixteen = gray.astype(np.uint16) * 257
    assert_same(ours(sixteen), reference(ref, rgb.convert("L"), do_convert_rgb=True))
    buf = io.BytesIO()
    Image.fromarray(sixteen).save(buf, format="PNG")  # a real 16-bit PNG file
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I")
    assert_same(ours(buf.getvalue()), reference(ref, rgb.convert("L"), do_convert_rgb=True))


def test_exif_orientation_is_applied(tmp_path):
    ours, ref = processors(tmp_path, "detr-small")
    img = photo("rocket")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = tmp_path / "turned.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    upright = transformers.image_utils.load_image(str(path))  # the reference applies the tag when it reads a file
    assert upright.size == (img.height, img.width)
    assert to_rgb(str(path)).shape == (img.width, img.height, 3)
    assert_same(ours(str(path)), reference(ref, upright))
    assert ours(str(path))["original_sizes"] == [(img.width, img.height)]


def test_bad_inputs_say_what_to_pass(tmp_path):
    ours, _ = processors(tmp_path, "vit-hub")
    with pytest.raises(InputError, match="does not exist"):
        ours(str(tmp_path / "nope.png"))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image file"):
        ours(str(tmp_path / "text.png"))
    with pytest.raises(InputError, match="colour channels"):
        ours(np.zeros((10, 10, 7), dtype=np.uint8))
    with pytest.raises(InputError, match="neither in 0..1 nor in 0..255"):
        ours(np.full((10, 10, 3), 300.0, dtype=np.float32))
    with pytest.raises(InputError, match="cannot read an image from a dict"):
        ours({"image": 1})


class _Photo(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_urls_through_the_hub_session_only_online(monkeypatch):
    _Photo.body = photo_path("rocket").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Photo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/rocket.jpg"
    try:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(InputError, match="offline"):
            to_rgb(url)
        monkeypatch.delenv("HF_HUB_OFFLINE")
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        assert np.array_equal(to_rgb(url), np.asarray(photo("rocket")))
    finally:
        server.shutdown()


def test_detr_post_processing_matches_reference(tmp_path):
    _, ref = processors(tmp_path, "detr-small")
    g = torch.Generator().manual_seed(0)
    logits, boxes = torch.randn(2, 12, 6, generator=g) * 3, torch.rand(2, 12, 4, generator=g)
    sizes = [(300, 451), (427, 640)]
    out = type("Out", (), {"logits": logits, "pred_boxes": boxes})()
    want = ref.post_process_object_detection(out, threshold=0.3, target_sizes=sizes)
    got = post_process_object_detection(logits, boxes, threshold=0.3, target_sizes=sizes)
    for g_, w in zip(got, want):
        assert len(g_["scores"]) > 0
        for key in ("scores", "labels", "boxes"):
            torch.testing.assert_close(g_[key], w[key], atol=1e-5, rtol=0)
    top = post_process_object_detection(logits, boxes, threshold=0.0, top_k=3)
    assert [len(t["scores"]) for t in top] == [3, 3]
    best = torch.softmax(logits, -1)[..., :-1].max(-1).values.topk(3).values.sort(descending=True).values
    torch.testing.assert_close(top[0]["scores"].sort(descending=True).values, best[0])
