"""Small helpers shared by test modules (standard library only at import time)."""

from __future__ import annotations

import socket
from pathlib import Path

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def minilm_folder() -> Path:
    """The embedded all-MiniLM-L6-v2 (the `offline` extra), digests checked like any user's load."""
    from workbench.embedded import embedded_folder

    folder = embedded_folder(MINILM)
    if folder is None:
        raise RuntimeError("the embedded MiniLM is missing: install the project with its `offline` extra")
    return folder


def reference_whisper_folder(ours, target: Path) -> Path:
    """The speech pipeline's loaded Whisper in hub layout, with what the reference pipeline needs next to it
    (tokenizer, feature extractor, generation config), so both run the same weights."""
    import transformers as T

    from workbench.embedded import embedded_folder

    ours.model.save_pretrained(target)
    T.WhisperTokenizerFast(tokenizer_file=str(embedded_folder("Systran/faster-whisper-tiny.en") / "tokenizer.json")
                           ).save_pretrained(target)  # the reference's pipeline needs its Whisper tokenizer class
    T.WhisperFeatureExtractor(feature_size=ours.model.config.num_mel_bins).save_pretrained(target)
    tokens, config = ours.tokens, ours.model.config
    T.GenerationConfig(
        decoder_start_token_id=tokens.sot, eos_token_id=tokens.eot, pad_token_id=tokens.eot, bos_token_id=tokens.eot,
        no_timestamps_token_id=tokens.no_timestamps, is_multilingual=False, alignment_heads=config.alignment_heads,
        suppress_tokens=config.suppress_tokens, begin_suppress_tokens=config.begin_suppress_tokens,
        max_initial_timestamp_index=50, prev_sot_token_id=tokens.sot_prev, max_length=448,
    ).save_pretrained(target)
    return target
