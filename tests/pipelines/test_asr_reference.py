"""The speech pipeline against the reference library's pipeline on the same real weights (Whisper tiny.en):
text, segment chunks and word timestamps, greedy and beam search; and the sequential rule that decodes to
the end of a clip when the first pass stops early (issue: the last utterance of a short clip was dropped).

The reference runs our loaded weights saved in hub layout. Our pipeline's own silence rules (a -60 dBFS
gate and the no-speech rule, which the reference leaves off) are switched off here to compare like with like.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import transformers

from tests.pipelines.test_automatic_speech_recognition import SHORT, wer
from tests.support import reference_whisper_folder
from workbench.processors.audio import load_audio

RATE = 16000
SAME = {"no_speech_threshold": None}
LAST = "Tomorrow we will visit the old harbour and count the boats."
EARLY = ["The weather was cold and grey on the morning of the meeting.",
         "Everyone arrived early and the room was full of quiet voices.",
         "The director opened the folder and read the first page aloud."]


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    from workbench import pipeline

    ours = pipeline("automatic-speech-recognition")
    folder = reference_whisper_folder(ours, tmp_path_factory.mktemp("whisper-hub"))
    return ours, transformers.pipeline("automatic-speech-recognition", model=str(folder))


def speak(text: str, folder, speed: int = 175) -> np.ndarray:
    path = folder / f"{abs(hash(text))}-{speed}.wav"
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True)
    return load_audio(str(path)).array


@pytest.fixture(scope="module")
def late_clips(tmp_path_factory):
    """Three sentences with pauses, then silence, then one more sentence in the clip's last seconds."""
    folder = tmp_path_factory.mktemp("late")
    body = np.concatenate([np.concatenate([speak(t, folder, 150), np.zeros(RATE // 2, np.float32)]) for t in EARLY])
    last = speak(LAST, folder, 150)
    clips = {}
    for total in (20.0, 24.0, 29.5):
        x = np.zeros(int(total * RATE), np.float32)
        x[: len(body)] = body
        start = len(x) - len(last) - int(0.3 * RATE)
        x[start : start + len(last)] = last
        clips[total] = x
    return clips


def both(systems, x, **options):
    ours, ref = systems
    gk = options.pop("generate_kwargs", {})
    mine = ours({"array": x, "sampling_rate": RATE}, generate_kwargs={**gk, **SAME}, **options)
    theirs = ref({"raw": x.copy(), "sampling_rate": RATE}, generate_kwargs=dict(gk), **options)
    return mine, theirs


def assert_times_ordered(chunks, duration):
    times = [c["timestamp"] for c in chunks]
    assert all(0 <= s <= e <= duration + 1e-6 for s, e in times), times
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(times, times[1:])), times  # no overlap, in order


@pytest.mark.parametrize("beams", [1, 5])
def test_short_clips_text_and_segments_equal_the_reference(systems, tmp_path, beams):
    x = speak(SHORT[1], tmp_path)
    mine, theirs = both(systems, x, return_timestamps=True, generate_kwargs={"num_beams": beams})
    assert mine["text"] == theirs["text"] and wer(SHORT[1], mine["text"]) < 0.25
    assert [c["text"] for c in mine["chunks"]] == [c["text"] for c in theirs["chunks"]]
    for a, b in zip(mine["chunks"], theirs["chunks"]):
        assert a["timestamp"] == pytest.approx(tuple(min(t, len(x) / RATE) for t in b["timestamp"]), abs=0.02)


def test_word_timestamps_equal_the_reference(systems, tmp_path):
    x = speak(SHORT[0] + " " + SHORT[2], tmp_path)
    mine, theirs = both(systems, x, return_timestamps="word", generate_kwargs={"num_beams": 3})
    assert [c["text"] for c in mine["chunks"]] == [c["text"] for c in theirs["chunks"]]
    for a, b in zip(mine["chunks"], theirs["chunks"]):
        assert a["timestamp"] == pytest.approx(tuple(b["timestamp"]), abs=0.02), (a, b)
    assert_times_ordered(mine["chunks"], len(x) / RATE)


@pytest.mark.parametrize("total,beams", [(20.0, 1), (24.0, 5), (29.5, 1)])
def test_a_first_pass_that_stops_early_is_continued_to_the_end_of_the_clip(systems, late_clips, total, beams):
    """A pass limited to 40 tokens ends before the audio does; as the reference (and the original Whisper),
    decoding continues from the last complete segment, so the last utterance is transcribed."""
    x = late_clips[total]
    gk = {"num_beams": beams, "max_new_tokens": 40}
    mine, theirs = both(systems, x, return_timestamps=True, generate_kwargs=gk)
    assert mine["text"] == theirs["text"] and mine["chunks"] == [
        {**c, "timestamp": tuple(min(t, total) for t in c["timestamp"])} for c in theirs["chunks"]]
    assert "harbo" in mine["text"] and wer(" ".join([*EARLY, LAST]), mine["text"]) < 0.3
    assert_times_ordered(mine["chunks"], total)
    if total == 24.0:  # word times across the continued passes: in order, inside the clip, the last words there
        words = systems[0]({"array": x, "sampling_rate": RATE}, return_timestamps="word", generate_kwargs={**gk, **SAME})
        assert "harbo" in words["text"] and words["chunks"][-1]["timestamp"][1] > total - 5
        assert_times_ordered(words["chunks"], total)
