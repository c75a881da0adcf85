"""Speech recognition speed: our pipeline vs the reference library's pipeline vs faster-whisper, same clips,
same weights (the embedded Whisper tiny.en CTranslate2 checkpoint), one run, CPU.

- ours: `pipeline("automatic-speech-recognition")` reads the CTranslate2 folder directly.
- reference: our loaded model saved in hub layout (save_pretrained + tokenizer + feature extractor +
  generation config), then `transformers.pipeline(...)` loads that folder.
- faster-whisper: reads the same CTranslate2 folder (float16 weights computed in float32 on CPU).

Greedy decoding everywhere unless `--beams N` (faster-whisper's default is beam 5: set to 1); clips > 30 s use sequential
long-form with timestamps in all three. Real-time factor (RTF) = compute seconds / audio seconds (lower is
better); each clip is timed as the best of `--repeat` runs after one warm-up.

    python benchmarks/bench_asr.py [--threads 2] [--repeat 3] [--device cuda] [--beams 5] [--clips mid,long]

faster-whisper is a benchmark-only dependency: `pip install faster-whisper`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # run from a checkout; the tests hold the shared WER

from tests.pipelines.test_automatic_speech_recognition import LONG, SHORT  # noqa: E402  the clips' texts, as in the tests
from tests.support import reference_whisper_folder  # noqa: E402  the reference pipeline's folder, as in the tests


def make_clips(folder: Path) -> dict[str, tuple[np.ndarray, str]]:
    """espeak-ng clips resampled once to 16 kHz, so every system gets the same samples."""
    from workbench.processors.audio import load_audio

    out = {}
    for i, text in enumerate(SHORT):
        subprocess.run(["espeak-ng", "-w", str(folder / f"s{i}.wav"), text], check=True)
        out[f"short{i}"] = (load_audio(str(folder / f"s{i}.wav")).array, text)
    (folder / "long.txt").write_text(LONG)
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(folder / "long.wav"), "-f", str(folder / "long.txt")], check=True)
    out["long"] = (load_audio(str(folder / "long.wav")).array, LONG)
    # a ~25 s clip: one full window, where beam search's per-step cost shows most
    mid = " ".join(LONG.split(". ")[:5]) + "."
    (folder / "mid.txt").write_text(mid)
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(folder / "mid.wav"), "-f", str(folder / "mid.txt")], check=True)
    out["mid"] = (load_audio(str(folder / "mid.wav")).array, mid)
    return out


def best_of(fn, repeat: int) -> tuple[float, str]:
    fn()  # warm-up
    times, text = [], ""
    for _ in range(repeat):
        t = time.perf_counter()
        text = fn()
        times.append(time.perf_counter() - t)
    return min(times), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--beams", type=int, default=1, help="beam size for all three systems (default: greedy)")
    parser.add_argument("--clips", default=None, help="comma-separated clip names to run (default: all)")
    parser.add_argument("--batched", type=int, default=0,
                        help="also measure batched throughput of ours on N copies of the short clips (GPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    from tests.pipelines.test_automatic_speech_recognition import wer  # the same WER as the tests

    from workbench.embedded import embedded_folder
    from workbench.pipelines import pipeline

    ct2 = embedded_folder("Systran/faster-whisper-tiny.en")
    tmp = Path(tempfile.mkdtemp(prefix="bench_asr_"))
    clips = make_clips(tmp)
    if args.clips:
        clips = {k: v for k, v in clips.items() if k in args.clips.split(",")}
    ours = pipeline("automatic-speech-recognition", device=args.device)

    systems = {}

    def run_ours(x, long):
        gk = {"num_beams": args.beams} if args.beams > 1 else {}
        return lambda: ours({"array": x, "sampling_rate": 16000}, return_timestamps=bool(long), generate_kwargs=gk)["text"]

    systems["workbench"] = run_ours

    try:
        import transformers as T

        ref_pipe = T.pipeline("automatic-speech-recognition", model=str(reference_whisper_folder(ours, tmp / "hub")),
                              device=args.device)

        def run_ref(x, long):
            gk = {"num_beams": args.beams} if args.beams > 1 else {}
            return lambda: ref_pipe({"raw": x.copy(), "sampling_rate": 16000}, return_timestamps=bool(long),
                                    generate_kwargs=gk)["text"]

        systems["transformers"] = run_ref
    except ImportError:
        print("transformers not installed: reference column skipped")

    try:
        from faster_whisper import WhisperModel

        fw = WhisperModel(str(ct2), device=args.device, compute_type="float32", cpu_threads=args.threads)

        def run_fw(x, long):
            def go():
                segments, _ = fw.transcribe(x, beam_size=args.beams, without_timestamps=not long, language="en",
                                            condition_on_previous_text=False, vad_filter=False)
                return "".join(s.text for s in segments)

            return go

        systems["faster-whisper"] = run_fw
    except ImportError:
        print("faster-whisper not installed (`pip install faster-whisper`): its column skipped")

    rows = []
    for name, (x, text) in clips.items():
        seconds = len(x) / 16000
        row = {"clip": name, "audio_s": round(seconds, 1)}
        for system, make in systems.items():
            took, hyp = best_of(make(x, seconds > 30), args.repeat)
            row[f"{system}_rtf"] = took / seconds
            row[f"{system}_wer"] = wer(text, hyp)
        rows.append(row)

    total = sum(len(x) for x, _ in clips.values()) / 16000
    print(f"\nWhisper tiny.en, {args.device}, {args.threads} threads, {total:.0f} s of audio, best of {args.repeat}\n")
    head = "| clip | audio s | " + " | ".join(f"{s} RTF | {s} WER" for s in systems) + " |"
    print(head)
    print("|" + "---|" * (2 + 2 * len(systems)))
    for r in rows:
        print(f"| {r['clip']} | {r['audio_s']} | " + " | ".join(
            f"{r[f'{s}_rtf']:.3f} | {r[f'{s}_wer']:.2f}" for s in systems) + " |")
    if "transformers" in systems:
        ratios = [r["transformers_rtf"] / r["workbench_rtf"] for r in rows]
        print(f"\nreference RTF / ours: {', '.join(f'{v:.2f}' for v in ratios)} (goal >= 1.5)")
    if "faster-whisper" in systems:
        ratios = [r["workbench_rtf"] / r["faster-whisper_rtf"] for r in rows]
        print(f"ours RTF / faster-whisper: {', '.join(f'{v:.2f}' for v in ratios)} (goal <= 1.5)")
    if args.batched:
        batch = [x for x, _ in list(clips.values())[:3]] * max(1, args.batched // 3)
        audio_s = sum(len(x) for x in batch) / 16000
        for bs in (1, 8, 32):
            ours([{"array": x, "sampling_rate": 16000} for x in batch[:bs]], batch_size=bs)  # warm-up
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            ours([{"array": x, "sampling_rate": 16000} for x in batch], batch_size=bs)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            took = time.perf_counter() - t
            print(f"batched ours, batch_size={bs}: {len(batch)} clips, {audio_s:.0f} s audio in {took:.2f} s "
                  f"-> {audio_s / took:.0f}x real time")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
