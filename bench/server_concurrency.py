"""Throughput against a real local vLLM server at `--concurrency` 1, 4 and 16.

Starts vLLM (from QVL_VLLM_PYTHON, see `.ci/vllm-env`) serving the tiny random Qwen2-VL on
127.0.0.1, runs the same documents through `--backend openai` at each concurrency, and prints
documents/s and the speed-up over one request at a time.

    QVL_VLLM_PYTHON=/path/to/vllm/bin/python python bench/server_concurrency.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from common import NullSink


def main() -> None:
    python = os.environ.get("QVL_VLLM_PYTHON")
    if not python:
        raise SystemExit("set QVL_VLLM_PYTHON to a Python with vLLM (bash .ci/vllm-env DIR)")
    from PIL import Image, ImageDraw
    from tiny_model import build_tiny_qwen2_vl

    from qvl_cli.backends.contract import ModelSettings
    from qvl_cli.backends.openai_server import OpenAIBackend
    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import Schema
    from qvl_cli.schemas.prompts import load_prompt

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-server-"))
    model = str(build_tiny_qwen2_vl(work / "model"))
    paths = []
    for i in range(32):
        image = Image.new("RGB", (336, 224), "white")
        ImageDraw.Draw(image).text((10, 10), f"Receipt {i}\nTotal {i}.50 EUR", fill="black")
        paths.append(work / f"r{i:02d}.png")
        image.save(paths[-1])
    schema = Schema("receipt", {"type": "object", "additionalProperties": False, "required": ["total"],
                                "properties": {"total": {"type": ["number", "null"]}}}, "bench", "")  # fmt: skip
    from vllm_server import start_vllm, stop

    process, url = start_vllm(python, model, work / "server.log")
    try:
        rates = {}
        for concurrency in (1, 4, 16):
            backend = OpenAIBackend(ModelSettings(base_url=url, concurrency=concurrency))
            options = ExtractOptions(max_new_tokens=32, reasks=0)
            extractor = Extractor(schema, load_prompt(None, schema), options, lambda b=backend: b)
            started = time.perf_counter()
            BatchRunner(extractor, {}, NullSink(), batch_size=concurrency).run(paths)
            rates[concurrency] = len(paths) / (time.perf_counter() - started)
    finally:
        stop(process)
    print(f"vLLM (CPU) serving the tiny random Qwen2-VL; {len(paths)} one-page documents, 32 new tokens")
    for concurrency, rate in rates.items():
        print(f"--concurrency {concurrency:2d}: {rate:6.2f} documents/s ({rate / rates[1]:.2f}x)")


if __name__ == "__main__":
    main()
