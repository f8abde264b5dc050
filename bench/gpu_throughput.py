"""GPU throughput: a Qwen2-VL-2B-sized model through qvl against a naive one-page-at-a-time loop.

The model has the published Qwen2-VL-2B-Instruct architecture (values below) with random
weights, built on the spot: nothing is downloaded. The tokenizer and image processor are the
test suite's tiny ones (byte-level BPE with Qwen2-VL's special tokens); the model keeps the real
vocabulary size. Both sides generate exactly ``--max-new-tokens`` tokens per page (unconstrained,
the minimum forced), on the same one-page documents:
- naive loop: for each page, build the inputs and call ``generate`` alone;
- qvl: the batch pipeline (render workers, ``--batch-size`` pages per ``generate`` call).
Both in bfloat16 and in 4-bit (NF4, bitsandbytes); the JSON adds peak GPU memory.

    python bench/gpu_throughput.py [--pages 64] [--batch-size 8] [--max-new-tokens 128]

Without a CUDA GPU it prints one line and exits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import ROOT, NullSink
from harness import Case, Ratio, arguments, compare

# Qwen/Qwen2-VL-2B-Instruct config.json (text model and vision tower).
TEXT_CONFIG = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
VISION_CONFIG = {
    "depth": 32,
    "embed_dim": 1280,
    "hidden_size": 1536,
    "hidden_act": "quick_gelu",
    "mlp_ratio": 4,
    "num_heads": 16,
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}


def build_checkpoint(out: Path) -> Path:
    """Tokenizer and image processor from the tests, the 2B architecture with random weights (bf16)."""
    import torch
    from transformers import GenerationConfig, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_model import build_image_processor, build_tokenizer

    tokenizer = build_tokenizer(out)
    build_image_processor(out)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ("<|endoftext|>", "<|im_end|>")}
    text = TEXT_CONFIG | {"bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                          "pad_token_id": ids["<|endoftext|>"]}  # fmt: skip
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=VISION_CONFIG,
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
        dtype="bfloat16",
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad_token_id=ids["<|endoftext|>"], do_sample=False
    )
    model.save_pretrained(out, safe_serialization=True)
    del model
    torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--pages", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--quant", default="none,4bit", help="comma-separated: none (bf16), 4bit")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_throughput: skipped, no CUDA GPU (torch.cuda.is_available() is False)")
        return
    from PIL import Image, ImageDraw

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-gpu-"))
    model = str(build_checkpoint(work / "model"))
    paths = []
    for i in range(args.pages):
        image = Image.new("RGB", (1008, 1288), "white")
        ImageDraw.Draw(image).text((80, 80), f"Invoice {i}\nTotal: {i * 3}.50 EUR", fill="black")
        paths.append(work / f"page{i:03d}.png")
        image.save(paths[-1])
    for quant in args.quant.split(","):
        run_quant(args, model, quant, paths)


def run_quant(args: argparse.Namespace, model: str, quant: str, paths: list[Path]) -> None:
    import torch

    from qvl_cli.backends.contract import ModelSettings
    from qvl_cli.backends.qwen2_vl_inputs import build_inputs
    from qvl_cli.backends.transformers import TransformersBackend
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.pool import ProcessRenderer
    from qvl_cli.pages.rasterize import render_document
    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    backend = TransformersBackend(ModelSettings(model=model, device="cuda", dtype="bfloat16", quant=quant))
    budget = PixelBudget()
    schema = load_schema("invoice")
    prompt = load_prompt(None, schema).render(schema, 1)
    config = backend._greedy(args.max_new_tokens)
    config.min_new_tokens = args.max_new_tokens  # equal tokens on both sides
    backend._greedy = lambda n: config  # type: ignore[method-assign]
    pages = [render_document(path, budget).pages[0].image for path in paths]
    torch.cuda.reset_peak_memory_stats()

    def naive() -> None:
        for image in pages:
            inputs = build_inputs(backend.tokenizer, backend.image_processor, [image], prompt)
            with torch.inference_mode():
                backend.model.generate(**{k: v.to("cuda") for k, v in inputs.items()}, generation_config=config)
        torch.cuda.synchronize()

    def qvl() -> None:
        options = ExtractOptions(budget=budget, max_new_tokens=args.max_new_tokens, constrain=False, reasks=0)
        with ProcessRenderer(2) as renderer:
            extractor = Extractor(schema, load_prompt(None, schema), options, lambda: backend, renderer)
            BatchRunner(extractor, {}, NullSink(), batch_size=args.batch_size).run(paths)
        torch.cuda.synchronize()

    label = "bf16" if quant == "none" else quant
    cases = [
        Case(f"naive loop, {label}", naive, "build_inputs + generate, one page at a time"),
        Case(f"qvl, {label}", qvl, f"qvl extract PAGES --no-constrain --batch-size {args.batch_size} --quant {quant}"),
    ]
    ratios = [Ratio(f"naive / qvl time ({label})", cases[0].name, cases[1].name)]
    info = {
        "gpu": torch.cuda.get_device_name(),
        "pages": len(paths),
        "new_tokens_per_page": args.max_new_tokens,
        "batch_size": args.batch_size,
        "quant": quant,
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }
    report = compare(f"gpu_throughput_{label}", cases, ratios, args, work=info)
    for case in report["cases"]:
        print(f"  {case['name']}: {len(paths) / case['median']:.2f} pages/s")
    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
