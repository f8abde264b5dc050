"""Build a tiny, randomly initialised Qwen2-VL checkpoint entirely offline.

The checkpoint has the real file layout of a hub checkpoint (config, safetensors weights,
byte-level BPE tokenizer with Qwen2-VL's special tokens and chat template, Qwen2-VL image
processor config, generation config), so qvl loads it through exactly the same
``from_pretrained`` path as ``Qwen/Qwen2-VL-2B-Instruct``.

Run it on its own to reuse the checkpoint in benchmarks or by hand::

    python tests/tiny_model.py /tmp/tiny-qwen2-vl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL-Instruct's chat template, as shipped with the real checkpoints.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the BPE merges are learnt from: JSON punctuation and document words, so
# generated JSON uses multi-byte tokens as a real vocabulary would.
TRAINING_TEXT = [
    '{"invoice_number": "INV-001", "total": 1234.50, "currency": "EUR", "date": "2024-01-31"}',
    '{"vendor": {"name": "ACME GmbH", "address": "Main Street 1"}, "line_items": []}',
    "null true false Invoice Total Subtotal Tax Date Customer Vendor Form Chart Page",
    "The quick brown fox jumps over the lazy dog. 0123456789 , : ; [ ] { } \" ' \n",
]
MODEL_VOCAB_SIZE = 640
N_MERGES = 200


def build_tokenizer(out_dir: Path):
    """A byte-level BPE tokenizer with Qwen2-VL's special tokens and chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + N_MERGES, initial_alphabet=alphabet, show_progress=False)
    scratch = Tokenizer(models.BPE())
    scratch.pre_tokenizer = byte_level
    scratch.train_from_iterator(TRAINING_TEXT * 4, trainer=trainer)
    learnt = json.loads(scratch.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learnt["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=learnt["vocab"],
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=SPECIAL_TOKENS[1:],
    )
    tokenizer.add_tokens([t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab()], special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 32768
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def build_image_processor(out_dir: Path) -> None:
    """The slow (PIL) Qwen2-VL image processor with the checkpoint's default budgets."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    processor.save_pretrained(out_dir)
    config_path = out_dir / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    # Real checkpoints name the torchvision-backed class; transformers picks its PIL twin when
    # torchvision is missing.
    config["image_processor_type"] = "Qwen2VLImageProcessor"
    config_path.write_text(json.dumps(config, indent=2))


def build_model(out_dir: Path, tokenizer, seed: int = 0) -> None:
    """A ~0.2 M parameter Qwen2-VL with head_dim 32 (loadable by vLLM as well)."""
    import torch
    from transformers import GenerationConfig, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    def token_id(token: str) -> int:
        return tokenizer.convert_tokens_to_ids(token)

    config = Qwen2VLConfig(
        text_config={
            "vocab_size": MODEL_VOCAB_SIZE,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]},
            "bos_token_id": token_id("<|endoftext|>"),
            "eos_token_id": token_id("<|im_end|>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=token_id("<|endoftext|>"),
        eos_token_id=[token_id("<|im_end|>"), token_id("<|endoftext|>")],
        pad_token_id=token_id("<|endoftext|>"),
        do_sample=False,
    )
    model.save_pretrained(out_dir, safe_serialization=True)


def build_tiny_qwen2_vl(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a complete tiny Qwen2-VL checkpoint to ``out_dir`` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    build_image_processor(out)
    build_model(out, tokenizer, seed=seed)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/tiny_model.py OUT_DIR")
    print(build_tiny_qwen2_vl(sys.argv[1]))
