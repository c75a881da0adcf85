"""Tiny image-text checkpoints built by the reference (weights, tokenizer, image processor), for pipeline and panel
tests: CLIP (a BPE vocabulary trained here) and SigLIP (a SentencePiece model trained here)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from tests.models.harness import transformers
from tests.test_tokenizer_vision_text import clip_vocab, corpus

TOWER = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)


def clip_folder(folder: Path, image_size: int = 32, patch_size: int = 8) -> Path:
    vocab, merges = clip_vocab()
    config = transformers.CLIPConfig(
        text_config=dict(TOWER, vocab_size=len(vocab), max_position_embeddings=32, eos_token_id=vocab["<|endoftext|>"],
                         bos_token_id=vocab["<|startoftext|>"], pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(TOWER, image_size=image_size, patch_size=patch_size), projection_dim=16,
        logit_scale_init_value=4.0, attn_implementation="eager")
    torch.manual_seed(0)
    transformers.CLIPModel(config).eval().save_pretrained(folder)
    transformers.CLIPTokenizer(vocab=vocab, merges=merges).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": image_size},
        "crop_size": {"height": image_size, "width": image_size}}))
    return folder


def siglip_folder(folder: Path, image_size: int = 32, patch_size: int = 8) -> Path:
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=model, vocab_size=150,
                                             model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                             character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(model.getvalue())
    tokenizer = transformers.SiglipTokenizer(str(folder / "spiece.model"))
    config = transformers.SiglipConfig(
        text_config=dict(TOWER, vocab_size=len(tokenizer), max_position_embeddings=64),
        vision_config=dict(TOWER, image_size=image_size, patch_size=patch_size), attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.SiglipModel(config).eval()
    with torch.no_grad():
        model.logit_scale.fill_(3.0)
        model.logit_bias.fill_(-2.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "SiglipImageProcessor", "size": {"height": image_size, "width": image_size}}))
    return folder


def owlv2_folder(folder: Path, image_size: int = 32, patch_size: int = 8) -> Path:
    """A tiny OWLv2 detector (the CLIP vocabulary with its start and end tokens last, as CLIP's real one: OWLv2 pools
    the largest id and reads a first id of 0 as a padded query; the projection as wide as the text tower)."""
    vocab, merges = clip_vocab()
    specials = ("<|startoftext|>", "<|endoftext|>")
    vocab = {t: i for i, t in enumerate(sorted(vocab, key=lambda t: (t in specials, vocab[t])))}
    config = transformers.Owlv2Config(
        text_config=dict(TOWER, vocab_size=len(vocab), max_position_embeddings=16, eos_token_id=vocab["<|endoftext|>"],
                         bos_token_id=vocab["<|startoftext|>"], pad_token_id=0),
        vision_config=dict(TOWER, image_size=image_size, patch_size=patch_size), projection_dim=TOWER["hidden_size"],
        attn_implementation="eager")
    torch.manual_seed(0)
    transformers.Owlv2ForObjectDetection(config).eval().save_pretrained(folder)
    transformers.CLIPTokenizer(vocab=vocab, merges=merges, pad_token="!").save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Owlv2ImageProcessor", "size": {"height": image_size, "width": image_size}}))
    return folder


def clipseg_folder(folder: Path, image_size: int = 32, patch_size: int = 8, processed: int = 48) -> Path:
    """A tiny CLIPSeg saved by the reference with its processor (CLIP tokenizer, ViT image processor resizing to
    `processed` pixels: a larger grid than the position table's, as the real checkpoint's 352 over 224)."""
    vocab, merges = clip_vocab()
    config = transformers.CLIPSegConfig(
        text_config=dict(TOWER, vocab_size=len(vocab), max_position_embeddings=32, eos_token_id=vocab["<|endoftext|>"],
                         bos_token_id=vocab["<|startoftext|>"], pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(TOWER, image_size=image_size, patch_size=patch_size), projection_dim=16,
        extract_layers=[0, 1], reduce_dim=16, decoder_num_attention_heads=2, decoder_intermediate_size=24,
        use_complex_transposed_convolution=True, attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.CLIPSegForImageSegmentation(config).eval()
    with torch.no_grad():  # biases that make the random heat maps differ across the image and between prompts
        for name, p in model.named_parameters():
            if name.startswith("decoder") and name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.3)
    model.save_pretrained(folder)
    image_processor = transformers.ViTImageProcessor(size={"height": processed, "width": processed},
                                                     image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=merges)
    transformers.CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder
