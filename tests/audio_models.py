"""Tiny random audio checkpoints built by the reference (keyword spotter, CTC transcriber, AST), and test sounds.

Shared by the pipeline, panel and browser tests. Each builder writes a complete hub-layout folder
(config, weights, preprocessor config, and for CTC the character vocabulary) and returns it. The
weights are random, so outputs mean nothing; the tests compare them with the reference's on the same
folder. Sounds: espeak-ng speech (a system dependency of the suite) and synthetic tones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

RATE = 16000
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_silence_", "_unknown_"]
CHARS = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]  # facebook/wav2vec2-base-960h's order
# conv strides 5 x 4 x 4: one frame per 80 samples (5 ms), small enough to run in milliseconds
TINY_W2V = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, conv_dim=(16, 16, 16),
                conv_stride=(5, 4, 4), conv_kernel=(10, 8, 4), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
TINY_AST = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_length=200,
                num_mel_bins=32)
AUDIOSET_LIKE = ["Speech", "Music", "Dog", "Siren", "Sine wave", "Silence", "Whistle"]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (two threads mostly wait on each other); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _seeded(build):
    import torch

    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():  # non-trivial biases and learned tokens, so labels and characters vary
        for name, p in model.named_parameters():
            if name.endswith("bias") or "token" in name or "position_embeddings" in name:
                p.add_(torch.randn_like(p) * 0.5)
    return model


def keyword_spotter(folder: Path) -> Path:
    """superb/wav2vec2-base-superb-ks in miniature: group norm, post-norm, weighted layer sum, its 12 labels."""
    import transformers

    config = transformers.Wav2Vec2Config(**TINY_W2V, use_weighted_layer_sum=True, classifier_proj_size=24,
                                         id2label=dict(enumerate(KEYWORDS)), attn_implementation="eager")
    _seeded(lambda: transformers.Wav2Vec2ForSequenceClassification(config)).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return Path(folder)


def ctc_transcriber(folder: Path) -> Path:
    """facebook/wav2vec2-base-960h in miniature: the same 32-character vocabulary and files."""
    import torch
    import transformers

    config = transformers.Wav2Vec2Config(**TINY_W2V, vocab_size=len(CHARS), attn_implementation="eager")
    model = _seeded(lambda: transformers.Wav2Vec2ForCTC(config))
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # decisive frame scores: runs of characters, blanks and word breaks
    model.save_pretrained(folder)
    folder = Path(folder)
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(CHARS)}))
    transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return folder


def sound_classifier(folder: Path) -> Path:
    """MIT/ast-finetuned-audioset in miniature (32 mel bins, 200 frames = 2 s, 7 labels)."""
    import transformers

    config = transformers.ASTConfig(**TINY_AST, id2label=dict(enumerate(AUDIOSET_LIKE)), attn_implementation="eager")
    _seeded(lambda: transformers.ASTForAudioClassification(config)).save_pretrained(folder)
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=200).save_pretrained(folder)
    return Path(folder)


def speech(text: str, path: Path, *, speed: int = 160) -> np.ndarray:
    """espeak-ng saying `text`, as float32 at 16 kHz (also written to `path` as espeak's own wav)."""
    from workbench.processors import load_audio

    if not shutil.which("espeak-ng"):
        raise RuntimeError("espeak-ng is a system dependency of the test suite (.ci/run installs it)")
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True)
    return load_audio(str(path)).array


def tone(freq: float, seconds: float, *, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
