"""Server backend: `qvl extract --backend openai --concurrency N` against a bare async client.

Starts vLLM (from QVL_VLLM_PYTHON, see `.ci/vllm-env`) serving the tiny random Qwen2-VL on
127.0.0.1, pinned to the first core; every client side is pinned to the others, as a server on its
own GPU would leave the client's CPU alone. The documents are PDFs of 1 to 3 pages, so requests
take different times, as real ones do. Every side is a whole process sending the same requests
(same page images, prompt, schema, token limit) to the same server:
- qvl at --concurrency N: the real CLI (hashing, rendering in workers, requests, answer checks,
  records; evidence off: the bare client locates nothing either);
- a bare `openai.AsyncOpenAI` client doing the same work: it renders each PDF's pages (pypdfium2,
  the sizes qvl chose, PNG at zlib 1, in one thread beside its event loop, ahead of the requests)
  and sends them with N requests in flight, prompt and schema as qvl sends them;
- the same bare client with its request bodies built beforehand by qvl's own request code
  (untimed) and read from a file: the server's own pace, with no client work at all;
- qvl at --concurrency 1.
Goal: qvl at N >= 0.95x the throughput of the bare client doing the same work (qvl adds no
bottleneck at scale).

    QVL_VLLM_PYTHON=/path/to/vllm/bin/python python bench/server_concurrency.py [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import common  # noqa: F401 - puts tests/ on the path
from harness import Case, Ratio, arguments, compare, run_command

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["total"],
    "properties": {"total": {"type": ["number", "null"]}},
}
PAGE_POINTS = (336, 224)  # small pages: the tiny model's server time stays in proportion


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--bare", nargs=3, metavar=("URL", "BODIES", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--bare-render", nargs=3, metavar=("URL", "JOBS", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        url, bodies, in_flight = args.bare
        return send_all(url, json.loads(Path(bodies).read_text()), int(in_flight))
    if args.bare_render:
        url, jobs, in_flight = args.bare_render
        return render_and_send_all(url, json.loads(Path(jobs).read_text()), int(in_flight))
    python = os.environ.get("QVL_VLLM_PYTHON")
    if not python:
        raise SystemExit("set QVL_VLLM_PYTHON to a Python with vLLM (bash .ci/vllm-env DIR)")
    from tiny_model import build_tiny_qwen2_vl
    from vllm_server import start_vllm, stop

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-server-"))
    model = str(build_tiny_qwen2_vl(work / "model"))
    paths = write_documents(work, args.documents)
    server_cores, client_cores = split_cores()
    pinned = write_pinned_python(work, python, server_cores)
    process, url = start_vllm(pinned, model, work / "server.log")
    try:
        if client_cores:
            os.sched_setaffinity(0, client_cores)  # inherited by every side's process
        run_cases(args, url, work, paths, server_cores, client_cores)
    finally:
        stop(process)


def split_cores() -> tuple[set[int], set[int]]:
    """The first core for the server, the rest for the clients (none pinned on one core)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), set()
    return {cores[0]}, set(cores[1:])


def write_pinned_python(work: Path, python: str, cores: set[int]) -> str:
    """A launcher running ``python`` on ``cores`` only (vLLM's own threads included)."""
    launcher = work / "python-pinned"
    launcher.write_text(f'#!/bin/sh\nexec taskset -c {",".join(map(str, sorted(cores)))} "{python}" "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def write_documents(work: Path, count: int) -> list[Path]:
    """PDFs of 1, 2 or 3 pages, each page with its own receipt number."""
    from pdf_factory import PageSpec, write_pdf

    docs = work / "docs"
    docs.mkdir()
    paths = []
    for i in range(count):
        pages = [
            PageSpec(*PAGE_POINTS, lines=(f"Receipt {i}-{page}", f"Total {i}.{page}0 EUR")) for page in range(1 + i % 3)
        ]
        paths.append(write_pdf(docs / f"r{i:03d}.pdf", pages))
    return paths


def run_cases(
    args: argparse.Namespace, url: str, work: Path, paths: list[Path], server_cores: set[int], client_cores: set[int]
) -> None:
    schema = work / "receipt.json"
    schema.write_text(json.dumps(SCHEMA))
    flags = ["--schema", str(schema), "--backend", "openai", "--base-url", url, "--max-new-tokens",
             str(args.max_new_tokens), "--reask", "0", "--evidence", "off", "--no-cache", "--quiet"]  # fmt: skip
    built = [request_body(url, flags, path) for path in paths]
    bodies, jobs = work / "bodies.json", work / "jobs.json"
    bodies.write_text(json.dumps(built))
    jobs.write_text(json.dumps([render_job(path, body) for path, body in zip(paths, built, strict=True)]))
    n = args.concurrency

    def qvl(concurrency: int) -> list[str]:
        out = work / f"out-{concurrency}.jsonl"
        return [sys.executable, "-m", "qvl_cli", "extract", str(work / "docs"), *flags,
                "--concurrency", str(concurrency), "-o", str(out)]  # fmt: skip

    bare = [sys.executable, __file__, "--bare", url, str(bodies), str(n)]
    rendering = [sys.executable, __file__, "--bare-render", url, str(jobs), str(n)]
    shown = "qvl extract DOCS --backend openai --evidence off --no-cache --reask 0"
    same, prebuilt = f"bare async client rendering, {n} in flight", f"bare async client, bodies prebuilt, {n} in flight"
    cases = [
        Case(f"qvl --concurrency {n}", run_command(qvl(n), accept=(0, 1)), f"{shown} --concurrency {n}"),
        Case(same, run_command(rendering), f"server_concurrency.py --bare-render URL JOBS {n}"),
        Case(prebuilt, run_command(bare), f"server_concurrency.py --bare URL BODIES {n}"),
        Case("qvl --concurrency 1", run_command(qvl(1), accept=(0, 1)), f"{shown} --concurrency 1"),
    ]  # fmt: skip
    ratios = [
        Ratio(f"qvl throughput / bare client rendering at {n}", same, cases[0].name, ">= 0.95"),
        Ratio(f"qvl throughput / bare client, bodies prebuilt, at {n}", prebuilt, cases[0].name),
        Ratio(f"qvl at 1 / qvl at {n} time", cases[3].name, cases[0].name),
    ]
    info = {
        "server": f"vLLM (CPU, cores {sorted(server_cores)}), tiny random Qwen2-VL",
        "clients": f"cores {sorted(client_cores)}" if client_cores else "not pinned (one core)",
        "documents": f"{len(paths)} PDFs of 1-3 pages",
        "max_tokens": args.max_new_tokens,
    }
    compare("server_concurrency", cases, ratios, args, work=info)


def request_body(url: str, flags: list[str], path: Path) -> dict:
    """The chat completion arguments qvl's OpenAI backend sends for ``path`` with ``flags``."""
    from qvl_cli.api import Extractor
    from qvl_cli.backends.openai_server import chat_arguments

    schema_path, max_tokens = flags[1], int(flags[flags.index("--max-new-tokens") + 1])
    options = {"backend": "openai", "base_url": url, "max_new_tokens": max_tokens, "reasks": 0, "evidence": "off"}
    with Extractor(schema_path, render_workers=0, **options) as extractor:
        engine = extractor.engine
        request = engine.prepare(engine.load(path), 0.0).request
        assert request is not None, f"{path}: blank page in the benchmark set"
        return chat_arguments(engine.backend.model, request)  # type: ignore[attr-defined]


def render_job(path: Path, body: dict) -> dict:
    """What the rendering bare client starts from: the PDF, its pages' sizes as qvl chose them,
    and the request without its images."""
    import base64
    import io

    from PIL import Image

    content = body["messages"][0]["content"]
    sizes = []
    for part in content[:-1]:
        with Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))) as image:
            sizes.append(image.size)
    text_only = {**body, "messages": [{"role": "user", "content": content[-1:]}]}
    return {"pdf": str(path), "sizes": sizes, "body": text_only}


def render_pages(pdf: str, sizes: list[list[int]]) -> list[str]:
    """Each page drawn at its size and written as a PNG data URL (Pillow, zlib 1)."""
    import base64
    import io

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    urls = []
    for index, (width, height) in enumerate(sizes):
        page = document[index]
        bitmap = pdfium.PdfBitmap.new_native(width, height, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
        pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, pdfium_c.FPDF_ANNOT)
        png = io.BytesIO()
        bitmap.to_pil().save(png, "PNG", compress_level=1)
        urls.append("data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii"))
    document.close()
    return urls


def render_and_send_all(url: str, jobs: list[dict], in_flight: int) -> None:
    """The bare client doing qvl's work: every document rendered (one thread, PDFium is not
    thread-safe, in input order, ahead of the requests) and sent, ``in_flight`` at once."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import openai

    async def run() -> None:
        client = openai.AsyncOpenAI(base_url=url, api_key="not-needed")
        limit = asyncio.Semaphore(in_flight)
        renderer = ThreadPoolExecutor(max_workers=1)
        loop = asyncio.get_running_loop()

        async def send(job: dict) -> None:
            urls = await loop.run_in_executor(renderer, render_pages, job["pdf"], job["sizes"])
            body = job["body"]
            images = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
            messages = [{"role": "user", "content": images + body["messages"][0]["content"]}]
            async with limit:
                await client.chat.completions.create(**{**body, "messages": messages})

        await asyncio.gather(*(send(job) for job in jobs))
        renderer.shutdown()
        await client.close()

    asyncio.run(run())


def send_all(url: str, bodies: list[dict], in_flight: int) -> None:
    """The bare client: every body sent with ``in_flight`` requests at the server at once."""
    import asyncio

    import openai

    async def run() -> None:
        client = openai.AsyncOpenAI(base_url=url, api_key="not-needed")
        limit = asyncio.Semaphore(in_flight)

        async def send(body: dict) -> None:
            async with limit:
                await client.chat.completions.create(**body)

        await asyncio.gather(*(send(body) for body in bodies))
        await client.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
