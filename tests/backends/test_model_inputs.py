"""qvl's hand-built Qwen2-VL inputs match transformers' own Qwen2VLProcessor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from PIL import Image

from qvl_cli.backends.qwen2_vl_inputs import IMAGE_TOKEN, build_inputs, build_inputs_with_processor, expand_image_tokens

PROMPT = "Extract the invoice as JSON."


@pytest.fixture(scope="module")
def parts(tiny_model_dir: Path):
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return AutoTokenizer.from_pretrained(tiny_model_dir), Qwen2VLImageProcessorPil.from_pretrained(tiny_model_dir)


def pages() -> list[Image.Image]:
    import numpy as np

    noise = np.random.default_rng(7).integers(0, 256, size=(28 * 8, 28 * 12, 3), dtype=np.uint8)
    first = Image.fromarray(noise, mode="RGB")
    second = Image.linear_gradient("L").convert("RGB").resize((28 * 6, 28 * 10))
    return [first, second]


def transformers_processor(tokenizer, image_processor):
    """transformers' Qwen2VLProcessor: the real one, or the same class without its video half.

    Its constructor insists on the torchvision-backed video processor. Images never touch it,
    so without torchvision the class is assembled attribute by attribute; the code that lays out
    the tokens is transformers' own either way.
    """
    from transformers import Qwen2VLProcessor

    if importlib.util.find_spec("torchvision") is not None:
        return Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor = Qwen2VLProcessor.__new__(Qwen2VLProcessor)
    processor.chat_template = tokenizer.chat_template
    processor.tokenizer = tokenizer
    processor.image_processor = image_processor
    processor.video_processor = None
    processor.image_token, processor.video_token = IMAGE_TOKEN, "<|video_pad|>"
    processor.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    processor.video_token_id = tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return processor


def test_token_layout_is_vision_start_pads_vision_end(parts) -> None:
    tokenizer, image_processor = parts
    inputs = build_inputs(tokenizer, image_processor, pages(), PROMPT)
    ids = inputs["input_ids"][0].tolist()
    pad = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    start = tokenizer.convert_tokens_to_ids("<|vision_start|>")
    end = tokenizer.convert_tokens_to_ids("<|vision_end|>")

    # Grids count 14-pixel patches: the pages kept their size (336 x 224 and 168 x 280).
    assert inputs["image_grid_thw"].tolist() == [[1, 16, 24], [1, 20, 12]]
    runs = []
    for i, token in enumerate(ids):
        if token == start:
            j = i + 1
            while ids[j] == pad:
                j += 1
            assert ids[j] == end
            runs.append(j - i - 1)
    assert runs == [16 * 24 // 4, 20 * 12 // 4]
    assert inputs["mm_token_type_ids"][0].tolist() == [int(t == pad) for t in ids]
    assert inputs["pixel_values"].shape == (16 * 24 + 20 * 12, 3 * 2 * 14 * 14)
    assert tokenizer.decode(ids).endswith(f"{PROMPT}<|im_end|>\n<|im_start|>assistant\n")


def test_same_inputs_as_transformers_processor(parts) -> None:
    tokenizer, image_processor = parts
    ours = build_inputs(tokenizer, image_processor, pages(), PROMPT)
    theirs = build_inputs_with_processor(transformers_processor(tokenizer, image_processor), pages(), PROMPT)

    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])
    assert torch.equal(ours["mm_token_type_ids"], theirs["mm_token_type_ids"])
    assert torch.equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    assert torch.allclose(ours["pixel_values"], theirs["pixel_values"], atol=0.015)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="needs a working torchvision")
def test_same_inputs_as_auto_processor(parts, tiny_model_dir: Path) -> None:
    from transformers import AutoProcessor

    tokenizer, image_processor = parts
    ours = build_inputs(tokenizer, image_processor, pages(), PROMPT)
    theirs = build_inputs_with_processor(AutoProcessor.from_pretrained(tiny_model_dir), pages(), PROMPT)
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    assert torch.allclose(ours["pixel_values"], theirs["pixel_values"], atol=0.015)


def test_expand_image_tokens_checks_the_count() -> None:
    assert expand_image_tokens(f"a{IMAGE_TOKEN}b{IMAGE_TOKEN}c", [2, 1]) == f"a{IMAGE_TOKEN * 2}b{IMAGE_TOKEN}c"
    with pytest.raises(ValueError, match="1 image placeholders for 2 images"):
        expand_image_tokens(f"a{IMAGE_TOKEN}b", [1, 1])
