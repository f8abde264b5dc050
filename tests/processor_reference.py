"""Run by another interpreter (the vLLM virtualenv, which has a working torchvision): build
Qwen2-VL inputs with transformers' real ``AutoProcessor`` and save them for comparison.

    python tests/processor_reference.py MODEL_DIR OUT.npz PROMPT PAGE.png [PAGE.png ...]

The repository root must be on ``PYTHONPATH``: the inputs are laid out by qvl's
``build_inputs_with_processor``, the production path on machines with torchvision.
"""

from __future__ import annotations

import sys

import numpy as np
import torchvision  # noqa: F401 - fail here, clearly, when the interpreter lacks it
from PIL import Image
from transformers import AutoProcessor

from qvl_cli.backends.qwen2_vl_inputs import build_inputs_with_processor


def main(model_dir: str, out: str, prompt: str, *pages: str) -> None:
    processor = AutoProcessor.from_pretrained(model_dir)
    images = [Image.open(page).convert("RGB") for page in pages]
    inputs = build_inputs_with_processor(processor, images, prompt)
    arrays = {key: value.float().numpy() if key == "pixel_values" else value.numpy() for key, value in inputs.items()}
    arrays["processor_class"] = np.array(type(processor).__name__)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
