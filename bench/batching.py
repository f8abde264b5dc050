"""Throughput of `--batch-size`: single-page documents per second at batch sizes 1, 4 and 8.

Runs the real pipeline (rendering, constrained decoding, checks) through one loaded model on the
same documents at each batch size, and prints documents/s and the speed-up over batch size 1.

    python bench/batching.py                                  # tiny random Qwen2-VL on the CPU
    python bench/batching.py --model /path/to/Qwen2-VL-2B-Instruct --device cuda --documents 64
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import NullSink, add_model_arguments, load_backend
from harness import Case, Ratio, arguments, compare


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    add_model_arguments(parser)
    parser.add_argument("--documents", type=int, default=24)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--sizes", default="1,4,8")
    args = parser.parse_args()

    from PIL import Image, ImageDraw

    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    backend, model = load_backend(args)
    work = Path(tempfile.mkdtemp(prefix="qvl-bench-batch-"))
    paths = []
    for i in range(args.documents):
        image = Image.new("RGB", (850, 1100), "white")
        ImageDraw.Draw(image).text((60, 60), f"Receipt {i}\nShop {i % 7}\nTotal: {i * 3}.50 EUR", fill="black")
        paths.append(work / f"receipt{i:03d}.png")
        image.save(paths[-1])

    schema = load_schema("invoice")
    options = ExtractOptions(budget=PixelBudget(max_pixels=200_000), max_new_tokens=args.max_new_tokens, reasks=0)

    def run(size: int) -> None:
        extractor = Extractor(schema, load_prompt(None, schema), options, lambda: backend)
        BatchRunner(extractor, {}, NullSink(), batch_size=size).run(paths)

    sizes = [int(size) for size in args.sizes.split(",")]
    cases = [
        Case(f"--batch-size {size}", lambda s=size: run(s), f"qvl extract DOCS --batch-size {size}") for size in sizes
    ]
    ratios = [Ratio(f"{case.name} / {cases[0].name} time", case.name, cases[0].name) for case in cases[1:]]
    info = {"model": model, "device": args.device, "documents": len(paths), "max_new_tokens": args.max_new_tokens}
    compare("batching", cases, ratios, args, work=info)


if __name__ == "__main__":
    main()
