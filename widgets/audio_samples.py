"""Sounds to try a classifier on without a file: synthetic ones always, spoken keywords where espeak-ng is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

RATE = 16000
KEYWORDS = "yes. [[ ]] no. [[ ]] up. [[ ]] down. [[ ]] left. [[ ]] right. [[ ]] stop. [[ ]] go."


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def siren(seconds: float = 4.0) -> np.ndarray:
    """A two-tone sweep, up and down twice a second, like an emergency siren."""
    t = _t(seconds)
    freq = 900 + 300 * np.sin(2 * np.pi * 0.5 * t)
    return (0.4 * np.sin(2 * np.pi * np.cumsum(freq) / RATE)).astype(np.float32)


def beeps_and_noise(seconds: float = 6.0) -> np.ndarray:
    """Silence, 1 kHz beeps, then hiss: three different sounds one after the other."""
    t = _t(seconds)
    x = np.zeros_like(t)
    beeps = (t > 1) & (t < 3) & ((t * 4) % 1 < 0.5)
    x[beeps] = 0.4 * np.sin(2 * np.pi * 1000 * t[beeps])
    hiss = t > 4
    x[hiss] = np.random.default_rng(0).standard_normal(int(hiss.sum())) * 0.1
    return x.astype(np.float32)


def chord(seconds: float = 3.0) -> np.ndarray:
    """A major chord on A (220, 277, 330 Hz) with a soft attack."""
    t = _t(seconds)
    x = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    return (0.5 * x * np.minimum(1, t / 0.05)).astype(np.float32)


def spoken_keywords() -> np.ndarray:
    """espeak-ng saying eight of the Speech Commands keywords with pauses between them."""
    from workbench.processors import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keywords.wav"
        subprocess.run(["espeak-ng", "-s", "130", "-w", str(path), KEYWORDS], check=True, capture_output=True)
        return load_audio(str(path)).array


def samples() -> dict[str, Callable[[], np.ndarray]]:
    """name -> a function making the sound (16 kHz mono float32)."""
    out: dict[str, Callable[[], np.ndarray]] = {}
    if shutil.which("espeak-ng"):
        out["spoken keywords (espeak-ng)"] = spoken_keywords
    out.update({"siren (synthetic)": siren, "beeps, silence and hiss (synthetic)": beeps_and_noise,
                "A major chord (synthetic)": chord})
    return out
