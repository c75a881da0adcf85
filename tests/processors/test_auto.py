"""AutoProcessor picks what a checkpoint needs from its own files; Whisper's processor matches the reference."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import AutoProcessor, Tokenizer
from workbench.processors import WhisperProcessor

from tests.support import MINILM, minilm_folder


def test_text_checkpoint_gets_its_tokenizer():
    proc = AutoProcessor.from_pretrained(minilm_folder())
    assert isinstance(proc, Tokenizer)
    assert proc("hello world")["input_ids"][0] == proc.cls_token_id


def test_ctranslate2_whisper_folder_gets_features_and_tokenizer():
    from workbench.embedded import embedded_folder

    folder = embedded_folder("Systran/faster-whisper-tiny.en")
    proc = AutoProcessor.from_pretrained(folder, model_type="whisper")  # no preprocessor_config.json there
    assert isinstance(proc, WhisperProcessor) and isinstance(proc.tokenizer, Tokenizer)
    audio = np.sin(np.linspace(0, 400 * np.pi, 16000)).astype(np.float32)
    feats = proc(audio, sampling_rate=16000)["input_features"]
    assert tuple(feats.shape) == (1, 80, 3000)
    assert proc.decode(proc.tokenizer("hello")["input_ids"], skip_special_tokens=True).strip() == "hello"


def test_whisper_processor_round_trip_and_reference_features(tmp_path):
    import transformers  # the oracle (test extra)
    from workbench.embedded import embedded_folder

    proc = AutoProcessor.from_pretrained(embedded_folder("Systran/faster-whisper-tiny.en"), model_type="whisper")
    proc.save_pretrained(tmp_path)
    again = AutoProcessor.from_pretrained(tmp_path)  # now from preprocessor_config.json
    assert isinstance(again, WhisperProcessor) and again.feature_extractor.feature_size == 80
    ref = transformers.WhisperFeatureExtractor.from_pretrained(tmp_path)  # the reference reads our file
    audio = np.random.default_rng(0).standard_normal(24000).astype(np.float32) * 0.1
    theirs = ref(audio, sampling_rate=16000, return_tensors="np")["input_features"]
    ours = again(audio, sampling_rate=16000)["input_features"].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_pipeline_resolves_a_hub_id_once(monkeypatch):
    import workbench.hub as hub
    from workbench import pipeline

    calls = []
    real = hub.resolve_model_folder

    def counting(name, **kw):
        calls.append(str(name))
        return real(name, **kw)

    for module in ("workbench.pipelines.base", "workbench.auto", "workbench.processors.auto", "workbench.models.modeling",
                   "workbench.tokenizer"):
        mod = __import__(module, fromlist=["x"])
        if hasattr(mod, "resolve_model_folder"):
            monkeypatch.setattr(mod, "resolve_model_folder", counting)
    monkeypatch.setattr(hub, "resolve_model_folder", counting)
    pipeline("feature-extraction", model=MINILM)
    assert calls.count(MINILM) == 1, calls  # later loaders get the folder, not the id
