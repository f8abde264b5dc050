"""Overhead of constrained decoding per generated token, against unconstrained generation.

Both runs use the same model, pages, prompt and schema; each prints seconds per generated
token, and the ratio is the overhead of the grammar mask, budget-aware closing and loop guard.

    python bench/constrained_decoding.py                      # tiny random Qwen2-VL, built on the fly
    python bench/constrained_decoding.py --model /path/to/Qwen2-VL-2B-Instruct --device cuda

With the tiny model a forward pass takes well under a millisecond, so this measures the fixed
per-token cost of the constraint machinery against almost nothing; on a real model the same
absolute cost is compared with a forward pass tens of times longer.
"""

from __future__ import annotations

import argparse
import time

from common import ROOT, add_model_arguments, load_backend
from harness import Case, Ratio, arguments, compare


def run(backend, requests) -> tuple[float, int]:
    """Seconds spent generating and tokens generated over all requests."""
    seconds, tokens = 0.0, 0
    for request in requests:
        started = time.perf_counter()
        generation = backend.generate(request)
        seconds += time.perf_counter() - started
        tokens += generation.generated_tokens
    return seconds, tokens


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    add_model_arguments(parser)
    parser.add_argument("--schemas", default="invoice,form,chart,multilingual")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()

    from qvl_cli.backends.contract import GenerationRequest
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    backend, model = load_backend(args)
    page = render_document(ROOT / "examples/invoice.pdf", PixelBudget(max_pixels=200_000), "1").pages[0].image

    def requests(constrain: bool) -> list[GenerationRequest]:
        out = []
        for name in args.schemas.split(","):
            schema = load_schema(name)
            prompt = load_prompt(None, schema).render(schema, 1)
            out.append(GenerationRequest((page,), prompt, args.max_new_tokens, schema.document, constrain))
        return out

    def per_token(constrain: bool) -> float:
        seconds, tokens = run(backend, requests(constrain))
        return seconds / max(tokens, 1) * 1000

    cases = [
        Case("unconstrained", lambda: per_token(False), "generate with --no-constrain, 4 schemas"),
        Case("constrained", lambda: per_token(True), "generate with the schema's grammar, 4 schemas"),
    ]
    ratios = [
        Ratio("constrained / unconstrained", "constrained", "unconstrained", "<= 1.1 (on a real model)"),
        Ratio("constrained - unconstrained", "constrained", "unconstrained", difference=True),
    ]
    info = {"model": model, "device": args.device, "schemas": args.schemas, "max_new_tokens": args.max_new_tokens}
    compare("constrained_decoding", cases, ratios, args, unit="ms/token", work=info)


if __name__ == "__main__":
    main()
