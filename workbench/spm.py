"""SentencePiece model files (`spiece.model`) read without sentencepiece or protobuf, as a Rust tokenizer.

An `spiece.model` is one protobuf message (`ModelProto`): the pieces (text, score, type), the trainer's
settings (model type, special ids) and the normalizer's (a precompiled character map, whitespace rules).
The few fields a tokenizer needs are read here with a bounds-checked wire-format reader (nothing is
executed, nothing is allocated from an untrusted size), and the unigram vocabulary becomes a `tokenizers`
Unigram model, so one Rust backend serves every tokenizer family.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointNotFoundError

UNIGRAM = 1  # TrainerSpec.model_type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # SentencePiece.type


@dataclass
class SentencePieceModel:
    pieces: list[tuple[str, float, int]]  # (text, score, type) in id order
    model_type: int = UNIGRAM
    unk_id: int = 0
    byte_fallback: bool = False
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True

    @property
    def unk_piece(self) -> str:
        return self.pieces[self.unk_id][0]


def _fields(data: bytes, source: Path):
    """(field number, wire type, value) of one message: ints for varints, bytes for length-delimited, raw bytes
    for fixed 32/64-bit values."""
    pos, end = 0, len(data)

    def varint() -> int:
        nonlocal pos
        shift, value = 0, 0
        while True:
            if pos >= end or shift > 63:
                raise CheckpointNotFoundError(f"{source} is not a SentencePiece model (a truncated number); "
                                              "re-download the tokenizer.")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    while pos < end:
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 2:
            size = varint()
            if pos + size > end:
                raise CheckpointNotFoundError(f"{source} is not a SentencePiece model (a field runs past the end of "
                                              "the file); re-download the tokenizer.")
            yield number, wire, data[pos: pos + size]
            pos += size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise CheckpointNotFoundError(f"{source} is not a SentencePiece model (truncated); re-download it.")
            yield number, wire, data[pos: pos + size]
            pos += size
        else:
            raise CheckpointNotFoundError(f"{source} is not a SentencePiece model (wire type {wire}); re-download the "
                                          "tokenizer.")


def read_sentencepiece(path: Path) -> SentencePieceModel:
    """The pieces and settings of an `spiece.model` file."""
    data = Path(path).read_bytes()
    pieces: list[tuple[str, float, int]] = []
    model = SentencePieceModel(pieces=pieces)
    for number, wire, value in _fields(data, path):
        if number == 1 and wire == 2:  # SentencePiece { piece = 1; score = 2; type = 3 }
            text, score, kind = "", 0.0, NORMAL
            for n, w, v in _fields(value, path):
                if n == 1 and w == 2:
                    text = v.decode("utf-8", errors="replace")
                elif n == 2 and w == 5:
                    score = struct.unpack("<f", v)[0]
                elif n == 3 and w == 0:
                    kind = v
            pieces.append((text, score, kind))
        elif number == 2 and wire == 2:  # TrainerSpec
            for n, w, v in _fields(value, path):
                if n == 3 and w == 0:
                    model.model_type = v
                elif n == 40 and w == 0:
                    model.unk_id = v
                elif n == 35 and w == 0:
                    model.byte_fallback = bool(v)
        elif number == 3 and wire == 2:  # NormalizerSpec
            for n, w, v in _fields(value, path):
                if n == 2 and w == 2:
                    model.precompiled_charsmap = bytes(v)
                elif n == 3 and w == 0:
                    model.add_dummy_prefix = bool(v)
    if not pieces:
        raise CheckpointNotFoundError(f"{path} holds no SentencePiece vocabulary; re-download the tokenizer.")
    if not 0 <= model.unk_id < len(pieces):
        raise CheckpointNotFoundError(f"{path} names unknown-token id {model.unk_id}, outside its {len(pieces)} pieces.")
    if model.model_type != UNIGRAM:
        raise CheckpointNotFoundError(f"{path} is a SentencePiece model of type {model.model_type} (not unigram); only "
                                      "unigram models are read here.")
    return model


def unigram_backend(model: SentencePieceModel):
    """The `tokenizers` Unigram model of the vocabulary (normalizer and splitting are the family's to set)."""
    import tokenizers
    from tokenizers.models import Unigram

    return tokenizers.Tokenizer(Unigram([(text, score) for text, score, _ in model.pieces], unk_id=model.unk_id,
                                        byte_fallback=model.byte_fallback))


__all__ = ["SentencePieceModel", "read_sentencepiece", "unigram_backend"]
