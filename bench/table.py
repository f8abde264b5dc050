"""The results table of bench/README.md, from bench/results/*.json (one row per case and ratio),
and one row "awaiting figures" for each benchmark that has no results file yet.

python bench/table.py [results/rendering.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness import RESULTS

# Every benchmark on the harness: its results file's name, its goal, and how to run it.
BENCHMARKS = {
    "rendering": (">= 1.7x one process; >= 1.5x pypdfium2 CLI, >= 2x pdftoppm, same zlib", "python bench/rendering.py"),
    "pipeline": ("<= 1.1x the model alone", "python bench/pipeline.py"),
    "evidence": ("evidence on <= 1.1x off", "python bench/evidence.py --batch-only"),
    "evidence_pages": ("", "python bench/evidence.py --pages-only"),
    "memory": ("<= 1.3x pages, <= 1.5x files", "python bench/memory.py"),
    "startup": ("< 0.3 s over python", "python bench/startup.py"),
    "constrained_decoding": ("<= 1.1x (on a real model)", "python bench/constrained_decoding.py"),
    "batching": ("", "python bench/batching.py"),
    "server_concurrency": (
        ">= 0.95x the bare client",
        "QVL_VLLM_PYTHON=/path/to/vllm/bin/python python bench/server_concurrency.py",
    ),
    "gpu_throughput_bf16": ("(needs a CUDA GPU)", "python bench/gpu_throughput.py"),
    "gpu_throughput_4bit": ("(needs a CUDA GPU)", "python bench/gpu_throughput.py"),
}


def rows(report: dict) -> list[str]:
    unit, name = report["unit"], report["benchmark"]
    m = report["machine"]
    when = f"{m['date'][:10]}, load {m['load_average'][0]:.0f}" if m.get("load_average") else m["date"][:10]
    out = []
    for case in report["cases"]:
        figure = f"{case['median']:.3f} {unit}"
        spread = f"{case['min']:.3f}-{case['max']:.3f}"
        out.append(f"| {name} | {case['name']} | {figure} | {spread} | | `{case['command']}` | {when} |")
    for ratio in report["ratios"]:
        mark = f" {unit}" if ratio["difference"] else "x"
        figure = f"**{ratio['value']:.2f}{mark}**"
        spread = f"{ratio['min']:.2f}-{ratio['max']:.2f}"
        sign = "-" if ratio["difference"] else "/"
        command = f"{ratio['numerator']} {sign} {ratio['denominator']}"
        out.append(f"| {name} | {ratio['name']} | {figure} | {spread} | {ratio['goal']} | {command} | {when} |")
    return out


def awaiting(name: str) -> str:
    goal, command = BENCHMARKS[name]
    return f"| {name} | *awaiting figures* | | | {goal} | `{command}` | |"


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or sorted(RESULTS.glob("*.json"))
    print("| benchmark | row | median | spread (min-max) | goal | command | date, load |")
    print("|---|---|---|---|---|---|---|")
    for path in files:
        for row in rows(json.loads(path.read_text())):
            print(row)
    if not sys.argv[1:]:
        for name in BENCHMARKS:
            if not (RESULTS / f"{name}.json").exists():
                print(awaiting(name))


if __name__ == "__main__":
    main()
