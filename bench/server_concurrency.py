"""Server backend: `qvl extract --backend openai --concurrency N` against a bare async client.

Starts vLLM (from QVL_VLLM_PYTHON, see `.ci/vllm-env`) serving the tiny random Qwen2-VL on
127.0.0.1. Every side sends the same requests (same page images, prompt, schema, token limit)
to the same server:
- qvl at --concurrency N: the whole pipeline (rendering, requests, answer checks, records);
- a bare `openai.AsyncOpenAI` client with N requests in flight, images encoded beforehand;
- qvl at --concurrency 1.
Goal: qvl at N >= 0.95x the bare client's throughput (qvl adds no bottleneck at scale).

    QVL_VLLM_PYTHON=/path/to/vllm/bin/python python bench/server_concurrency.py [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import NullSink
from harness import Case, Ratio, arguments, compare

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["total"],
    "properties": {"total": {"type": ["number", "null"]}},
}


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--documents", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    python = os.environ.get("QVL_VLLM_PYTHON")
    if not python:
        raise SystemExit("set QVL_VLLM_PYTHON to a Python with vLLM (bash .ci/vllm-env DIR)")
    from PIL import Image, ImageDraw
    from tiny_model import build_tiny_qwen2_vl
    from vllm_server import start_vllm, stop

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-server-"))
    model = str(build_tiny_qwen2_vl(work / "model"))
    paths = []
    for i in range(args.documents):
        image = Image.new("RGB", (336, 224), "white")
        ImageDraw.Draw(image).text((10, 10), f"Receipt {i}\nTotal {i}.50 EUR", fill="black")
        paths.append(work / f"r{i:02d}.png")
        image.save(paths[-1])
    process, url = start_vllm(python, model, work / "server.log")
    try:
        run_cases(args, url, paths)
    finally:
        stop(process)


def run_cases(args: argparse.Namespace, url: str, paths: list[Path]) -> None:
    import asyncio

    import openai

    from qvl_cli.backends.contract import GenerationRequest, ModelSettings
    from qvl_cli.backends.openai_server import OpenAIBackend
    from qvl_cli.pages.pool import ProcessRenderer
    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import Schema
    from qvl_cli.schemas.prompts import load_prompt

    schema = Schema("receipt", SCHEMA, "bench", "")
    prompt = load_prompt(None, schema)
    options = ExtractOptions(max_new_tokens=args.max_new_tokens, reasks=0)

    def qvl(concurrency: int) -> None:
        backend = OpenAIBackend(ModelSettings(base_url=url, concurrency=concurrency))
        with ProcessRenderer(2) as renderer:
            extractor = Extractor(schema, prompt, options, lambda: backend, renderer)
            BatchRunner(extractor, {}, NullSink(), batch_size=concurrency).run(paths)

    # The bare client sends exactly what qvl's backend sends for each page.
    probe = OpenAIBackend(ModelSettings(base_url=url))
    bodies = []
    for path in paths:
        document = Extractor(schema, prompt, options, lambda: probe).load(path)
        request = Extractor(schema, prompt, options, lambda: probe).prepare(document, 0.0).request
        if not isinstance(request, GenerationRequest):
            raise SystemExit(f"{path}: blank page in the benchmark set")
        bodies.append(request_body(probe, request))

    def bare() -> None:
        async def send_all() -> None:
            client = openai.AsyncOpenAI(base_url=url, api_key="not-needed")
            limit = asyncio.Semaphore(args.concurrency)

            async def send(body: dict) -> None:
                async with limit:
                    await client.chat.completions.create(**body)

            await asyncio.gather(*(send(body) for body in bodies))
            await client.close()

        asyncio.run(send_all())

    n = args.concurrency
    cases = [
        Case(f"qvl --concurrency {n}", lambda: qvl(n), f"qvl extract DOCS --backend openai --concurrency {n}"),
        Case(f"bare async client, {n} in flight", bare, "openai.AsyncOpenAI, asyncio.gather under a semaphore"),
        Case("qvl --concurrency 1", lambda: qvl(1), "qvl extract DOCS --backend openai --concurrency 1"),
    ]
    ratios = [
        Ratio(f"qvl throughput / bare client at {n}", cases[1].name, cases[0].name, ">= 0.95"),
        Ratio(f"qvl at 1 / qvl at {n} time", cases[2].name, cases[0].name),
    ]
    info = {"server": "vLLM (CPU), tiny random Qwen2-VL", "documents": len(paths), "max_tokens": args.max_new_tokens}
    compare("server_concurrency", cases, ratios, args, work=info)


def request_body(backend: object, request: object) -> dict:
    """The chat completion arguments qvl's OpenAI backend builds for ``request``."""
    from qvl_cli.answers.decoding import grammar_schema
    from qvl_cli.backends.openai_server import messages_for

    body = {
        "model": backend.model,  # type: ignore[attr-defined]
        "messages": messages_for(request),  # type: ignore[arg-type]
        "max_tokens": request.max_new_tokens,  # type: ignore[attr-defined]
        "temperature": 0.0,
        "logprobs": True,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "qvl_answer", "schema": grammar_schema(SCHEMA), "strict": True},
        },
    }
    return body


if __name__ == "__main__":
    main()
