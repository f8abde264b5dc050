"""What the benchmarks share: the model to run (tiny random by default) and the NullSink."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


class NullSink:
    """Records go nowhere: the benchmark measures the work, not the writing."""

    def write(self, record: object) -> None:
        return None


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint folder or hub id (default: a tiny random Qwen2-VL)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")


def load_backend(args: argparse.Namespace) -> tuple[Any, str]:
    """The transformers backend for ``--model`` (built tiny and random when not given)."""
    from qvl_cli.backends.contract import ModelSettings
    from qvl_cli.backends.transformers import TransformersBackend

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = args.model
    if model is None:
        from tiny_model import build_tiny_qwen2_vl

        model = str(build_tiny_qwen2_vl(tempfile.mkdtemp(prefix="qvl-bench-")))
    return TransformersBackend(ModelSettings(model=model, device=args.device)), model
