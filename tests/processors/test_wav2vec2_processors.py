"""Wav2Vec2's feature extractor and CTC tokenizer against the reference's; AutoProcessor on the audio families' files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests import audio_models
from tests.audio_models import one_thread  # noqa: F401  (a fixture)
from workbench.processors import AutoProcessor, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

import transformers  # the test-only oracle: missing means a broken test install, which must fail
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("normalize", [True, False])
def test_feature_extractor_equals_the_reference(mask, normalize):
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.3 + 0.05 for n in (3000, 2200)]
    ref = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=mask, do_normalize=normalize)
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=mask, do_normalize=normalize)
    for batch in ([clips[0]], clips):  # one clip, and a padded batch (normalised with or without its padding)
        r = ref(batch, sampling_rate=16000, padding=True, return_tensors="pt")
        o = ours(batch, sampling_rate=16000)
        torch.testing.assert_close(o["input_values"], r["input_values"], atol=1e-6, rtol=0)
        assert ("attention_mask" in o) == mask
        if mask:
            assert torch.equal(o["attention_mask"].long(), r["attention_mask"].long())


@pytest.fixture(scope="module")
def ctc_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(audio_models.CHARS)}))
    transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), do_lower_case=True).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return folder


def test_ctc_decoding_and_offsets_equal_the_reference(ctc_folder):
    ref = transformers.Wav2Vec2CTCTokenizer.from_pretrained(str(ctc_folder))
    ours = Wav2Vec2CTCTokenizer.from_pretrained(ctc_folder)
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        # frame ids as a CTC model emits them: long runs, many blanks (0), word breaks (4), some special tokens
        ids = torch.randint(0, 12, (60,), generator=g)
        ids = ids.masked_fill(torch.rand(60, generator=g) < 0.4, 0).repeat_interleave(torch.randint(1, 4, (60,), generator=g))
        for skip in (False, True):
            expected = ref.decode(ids, skip_special_tokens=skip, output_char_offsets=True, output_word_offsets=True)
            got = ours.decode(ids, skip_special_tokens=skip, output_char_offsets=True, output_word_offsets=True)
            assert got["text"] == expected.text
            assert got["char_offsets"] == [{k: (int(v) if k != "char" else v) for k, v in d.items()} for d in expected.char_offsets]
            assert got["word_offsets"] == [{k: (int(v) if k != "word" else v) for k, v in d.items()} for d in expected.word_offsets]
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)
    assert ours("hello <unk>world")["input_ids"] == ref("hello <unk>world")["input_ids"]


def test_auto_processor_reads_the_audio_families(ctc_folder, tmp_path):
    from workbench.processors import ASTFeatureExtractor

    processor = AutoProcessor.from_pretrained(ctc_folder)
    assert isinstance(processor, Wav2Vec2Processor) and processor.tokenizer.do_lower_case
    transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(tmp_path / "ks")
    spotter = AutoProcessor.from_pretrained(tmp_path / "ks")  # a keyword spotter has no vocabulary: features only
    assert isinstance(spotter, Wav2Vec2FeatureExtractor) and spotter.return_attention_mask
    transformers.ASTFeatureExtractor(max_length=512).save_pretrained(tmp_path / "ast")
    ast = AutoProcessor.from_pretrained(tmp_path / "ast")
    assert isinstance(ast, ASTFeatureExtractor) and ast.max_length == 512
    # the reference 5.x writes a processor as one processor_config.json with the features nested
    transformers.Wav2Vec2Processor.from_pretrained(str(ctc_folder)).save_pretrained(tmp_path / "nested")
    assert not (tmp_path / "nested" / "preprocessor_config.json").exists()
    assert isinstance(AutoProcessor.from_pretrained(tmp_path / "nested"), Wav2Vec2Processor)
    processor.save_pretrained(tmp_path / "ours")  # and ours saves the hub layout the reference reads
    back = transformers.Wav2Vec2Processor.from_pretrained(str(tmp_path / "ours"))
    assert back.tokenizer.decode([11, 11, 5, 0, 15, 4, 8]) == processor.decode([11, 11, 5, 0, 15, 4, 8]) == "hel o"
