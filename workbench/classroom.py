"""The classroom pack: every real checkpoint the notebooks use, and how a notebook picks it or says why not.

`MANIFEST` lists them (hub id, revision, what uses them, rough size); `python -m workbench.prefetch`
downloads them into the standard Hugging Face cache while online, and `python -m workbench.doctor`
says offline what will work. In a notebook, `real_or_tiny(hub_id, make_tiny)` gives the real
checkpoint when it is cached (or downloadable), else a tiny random model, and says so in the
cell's output; panels then show their untrained-weights badge.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import CheckpointNotFoundError
from .hub import resolve_model_folder


@dataclass(frozen=True)
class ManifestEntry:
    hub_id: str
    revision: str  # a commit sha where the project pins one; "main" otherwise
    used_by: tuple[str, ...]  # notebooks (without .ipynb) and panels
    approx_mb: int  # download size, for the disk estimate
    files: tuple[str, ...] = field(default=())  # allow patterns beyond the defaults (e.g. a GGUF file), if any


# One line per checkpoint a notebook or panel uses by hub id. Family issues add theirs.
MANIFEST: list[ManifestEntry] = [
    ManifestEntry("sentence-transformers/all-MiniLM-L6-v2", "main", ("00_tour", "04_attention", "06_finetune"), 91),
    ManifestEntry("Systran/faster-whisper-tiny.en", "main", ("05_speech",), 75),
    ManifestEntry("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "main", ("03_text_tasks",), 268),
    ManifestEntry("distilbert/distilroberta-base", "main", ("03_text_tasks",), 331),
    ManifestEntry("dslim/bert-base-NER", "main", ("03_text_tasks",), 433),
    ManifestEntry("distilbert/distilbert-base-cased-distilled-squad", "main", ("03_text_tasks",), 261),
    ManifestEntry("superb/wav2vec2-base-superb-ks", "main", ("11_audio_classification", "AudioClassifier"), 380),
    ManifestEntry("MIT/ast-finetuned-audioset-10-10-0.4593", "main", ("11_audio_classification",), 346),
    ManifestEntry("facebook/wav2vec2-base-960h", "main", ("11_audio_classification",), 380),
]


def real_or_tiny(hub_id: str, make_tiny: Callable[[], Any], *, revision: str | None = None,
                 say: Callable[[str], None] = print) -> tuple[Any, bool]:
    """(the real checkpoint's folder, True) when it is cached or can be downloaded; else (make_tiny(), False).

    Either way the choice is said plainly (`say`, print by default), so a notebook's saved output
    tells a reader which model produced it.
    """
    try:
        folder = resolve_model_folder(hub_id, revision=revision)
    except CheckpointNotFoundError as err:
        reason = str(err).splitlines()[0]
        say(f"{hub_id} is not available here ({reason}). Running on a tiny model with RANDOM weights instead: its "
            "outputs mean nothing (the panels show an 'untrained weights' badge). While online, run "
            "`python -m workbench.prefetch` to fetch the real checkpoints for every notebook.")
        return make_tiny(), False
    say(f"Using {hub_id} from {os.fspath(folder)}.")
    return folder, True
