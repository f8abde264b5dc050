"""qvl's hand-built Qwen2-VL inputs match transformers' own Qwen2VLProcessor."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
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
    """Token layout against transformers' own processor code. Both sides share one image
    processor here, so pixels prove little; the real ``AutoProcessor`` comparison is below."""
    tokenizer, image_processor = parts
    ours = build_inputs(tokenizer, image_processor, pages(), PROMPT)
    theirs = build_inputs_with_processor(transformers_processor(tokenizer, image_processor), pages(), PROMPT)

    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])
    assert torch.equal(ours["mm_token_type_ids"], theirs["mm_token_type_ids"])
    assert torch.equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    assert torch.allclose(ours["pixel_values"], theirs["pixel_values"], atol=0.015)


def test_same_inputs_as_the_real_auto_processor(parts, tiny_model_dir: Path, tmp_path: Path) -> None:
    """transformers' real ``AutoProcessor`` (``Qwen2VLProcessor`` with its own image processor, the
    production path on GPU machines) against qvl's inputs. It needs a torchvision that works, which
    the CPU test environment cannot have; the vLLM virtualenv has the matching pair, so the real
    processor runs there, in a subprocess."""
    python = os.environ.get("QVL_VLLM_PYTHON")
    if not python:
        reason = "needs QVL_VLLM_PYTHON: a Python with a working torchvision (bash .ci/vllm-env DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, but the real AutoProcessor comparison cannot run: {reason}")
        pytest.skip(reason)
    files = []
    for index, image in enumerate(pages()):
        files.append(tmp_path / f"page{index}.png")
        image.save(files[-1])
    out = tmp_path / "theirs.npz"
    script = Path(__file__).resolve().parents[1] / "processor_reference.py"
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [python, str(script), str(tiny_model_dir), str(out), PROMPT, *map(str, files)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": root},
    )  # fmt: skip
    assert result.returncode == 0, f"the real processor failed under {python}:\n{result.stderr[-3000:]}"
    theirs = np.load(out)
    assert str(theirs["processor_class"]) == "Qwen2VLProcessor"

    tokenizer, image_processor = parts
    ours = build_inputs(tokenizer, image_processor, [Image.open(f).convert("RGB") for f in files], PROMPT)
    assert ours["input_ids"].tolist() == theirs["input_ids"].tolist()
    assert ours["attention_mask"].tolist() == theirs["attention_mask"].tolist()
    assert ours["image_grid_thw"].tolist() == theirs["image_grid_thw"].tolist()
    if "mm_token_type_ids" in theirs:
        assert ours["mm_token_type_ids"].tolist() == theirs["mm_token_type_ids"].tolist()
    assert np.abs(ours["pixel_values"].float().numpy() - theirs["pixel_values"]).max() <= 0.015


def test_expand_image_tokens_checks_the_count() -> None:
    assert expand_image_tokens(f"a{IMAGE_TOKEN}b{IMAGE_TOKEN}c", [2, 1]) == f"a{IMAGE_TOKEN * 2}b{IMAGE_TOKEN}c"
    with pytest.raises(ValueError, match="1 image placeholders for 2 images"):
        expand_image_tokens(f"a{IMAGE_TOKEN}b", [1, 1])
