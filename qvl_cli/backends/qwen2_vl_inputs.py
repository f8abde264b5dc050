"""Qwen2-VL model inputs, built exactly as ``Qwen2VLProcessor`` lays them out.

``Qwen2VLProcessor`` needs torchvision (for its video processor), which many CPU installs lack.
Without it, qvl builds the same inputs from the tokenizer's chat template and the PIL image
processor: each ``<|image_pad|>`` becomes ``grid_t * grid_h * grid_w / merge_size**2`` copies,
and ``mm_token_type_ids`` marks them (generation needs it for multimodal RoPE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

IMAGE_TOKEN = "<|image_pad|>"


def conversation(image_count: int, prompt: str, followups: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A user turn with every page image first, then the instructions; then any follow-ups."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(image_count)]
    content.append({"type": "text", "text": prompt})
    messages = [{"role": "user", "content": content}]
    messages += [{"role": turn.role, "content": turn.text} for turn in followups]
    return messages


def exact_size_kwargs(images: Sequence[Image.Image]) -> dict[str, Any]:
    """Image-processor bounds under which already-budgeted images are not resized again.

    qvl sizes pages itself (multiples of 28); with the pixel bounds set to the smallest and
    largest page area, ``smart_resize`` returns every page's own size.
    """
    areas = [image.width * image.height for image in images]
    return {"size": {"shortest_edge": min(areas), "longest_edge": max(areas)}}


def chat_text(tokenizer: Any, image_count: int, prompt: str, followups: Sequence[Any] = ()) -> str:
    messages = conversation(image_count, prompt, followups)
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def build_inputs(
    tokenizer: Any, image_processor: Any, images: Sequence[Image.Image], prompt: str, followups: Sequence[Any] = ()
) -> dict[str, Any]:
    """Token ids, attention mask, pixel values, grids and ``mm_token_type_ids`` as tensors."""
    text = chat_text(tokenizer, len(images), prompt, followups)
    vision = image_processor(images=list(images), return_tensors="pt", **exact_size_kwargs(images))
    merge_length = image_processor.merge_size**2
    counts = [int(grid.prod()) // merge_length for grid in vision["image_grid_thw"]]
    text = expand_image_tokens(text, counts)
    encoded = tokenizer(text, return_tensors="pt")
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "mm_token_type_ids": (encoded["input_ids"] == image_token_id).long(),
        "pixel_values": vision["pixel_values"],
        "image_grid_thw": vision["image_grid_thw"],
    }


def build_inputs_with_processor(
    processor: Any, images: Sequence[Image.Image], prompt: str, followups: Sequence[Any] = ()
) -> dict[str, Any]:
    """The same inputs through transformers' own ``Qwen2VLProcessor``."""
    text = chat_text(processor.tokenizer, len(images), prompt, followups)
    encoded = processor(text=[text], images=list(images), return_tensors="pt", **exact_size_kwargs(images))
    return dict(encoded)


def expand_image_tokens(text: str, counts: Sequence[int]) -> str:
    """Replace the n-th ``<|image_pad|>`` with ``counts[n]`` copies of itself."""
    parts = text.split(IMAGE_TOKEN)
    if len(parts) - 1 != len(counts):
        raise ValueError(f"prompt has {len(parts) - 1} image placeholders for {len(counts)} images")
    pieces = [parts[0]]
    for count, rest in zip(counts, parts[1:], strict=True):
        pieces.append(IMAGE_TOKEN * count)
        pieces.append(rest)
    return "".join(pieces)


def collate(batch: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Stack single-document inputs into one batch, padded on the left as generation needs.

    Pixel values and grids are concatenated in row order, which is how Qwen2-VL matches images
    to the ``<|image_pad|>`` runs of each row.
    """
    import torch

    width = max(int(item["input_ids"].shape[1]) for item in batch)

    def left_pad(tensor: Any, value: int) -> Any:
        missing = width - int(tensor.shape[1])
        filler = torch.full((1, missing), value, dtype=tensor.dtype, device=tensor.device)
        return torch.cat([filler, tensor], dim=1)

    return {
        "input_ids": torch.cat([left_pad(item["input_ids"], pad_token_id) for item in batch]),
        "attention_mask": torch.cat([left_pad(item["attention_mask"], 0) for item in batch]),
        "mm_token_type_ids": torch.cat([left_pad(item["mm_token_type_ids"], 0) for item in batch]),
        "pixel_values": torch.cat([item["pixel_values"] for item in batch]),
        "image_grid_thw": torch.cat([item["image_grid_thw"] for item in batch]),
    }
