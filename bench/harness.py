"""The one harness every benchmark uses: warm-up, alternating repetitions, median and spread.

Each benchmark declares its cases (what runs, and the command a reader can rerun) and the ratios
it claims. The harness runs every case once to warm up, then ``--repeats`` rounds with the order
of the cases reversed every other round (so a drifting machine load hits both sides alike),
prints a table with the median and the spread (min-max) of each case and each ratio, and
writes the whole run, with the machine and the date, to ``bench/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LIBRARIES = ("qvl", "torch", "transformers", "pypdfium2", "pillow", "xgrammar", "bitsandbytes", "vllm")


@dataclass(frozen=True)
class Case:
    """One side of a comparison: ``run`` does the work once and returns its measure.

    ``run`` returns ``None`` to be timed by the harness (seconds, wall clock), or a number it
    measured itself in ``unit`` (e.g. peak MiB, or seconds of only the part that counts).
    """

    name: str
    run: Callable[[], float | None]
    command: str  # what a reader runs to reproduce this side
    setup: Callable[[], None] | None = None  # untimed, before every run (e.g. empty the output folder)


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two cases' medians (``difference``: ``numerator - denominator``)."""

    name: str
    numerator: str
    denominator: str
    goal: str = ""  # e.g. ">= 1.7"
    difference: bool = False


@dataclass
class Measured:
    name: str
    command: str
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--repeats", type=int, default=5, help="alternating repetitions (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded runs of every case first (default 1)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/<name>.json")
    return parser


def machine() -> dict[str, Any]:
    """Cores, CPU, memory, load and library versions: what a figure depends on."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    if shutil.which("pdftoppm"):
        result = subprocess.run(["pdftoppm", "-v"], capture_output=True, text=True, check=False)
        info["poppler"] = (result.stderr or result.stdout).split("\n", 1)[0].strip()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_command(
    argv: Sequence[str], env: dict[str, str] | None = None, accept: Sequence[int] = (0,)
) -> Callable[[], None]:
    """A case body that runs a whole process and fails loudly if it fails (an exit code not in
    ``accept``)."""

    def run() -> None:
        result = subprocess.run(list(argv), capture_output=True, text=True, env={**os.environ, **(env or {})})
        if result.returncode not in accept:
            raise SystemExit(f"benchmark command failed ({result.returncode}): {' '.join(argv)}\n{result.stderr}")

    return run


def compare(
    name: str,
    cases: Sequence[Case],
    ratios: Sequence[Ratio],
    args: argparse.Namespace,
    *,
    unit: str = "s",
    work: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Warm up, run alternating rounds, print the table and save the JSON (see the module docstring)."""
    measured = {case.name: Measured(case.name, case.command) for case in cases}
    for _ in range(args.warmup):
        for case in cases:
            _once(case)
    for round_ in range(args.repeats):
        for case in cases if round_ % 2 == 0 else reversed(cases):
            measured[case.name].values.append(_once(case))
    report = {
        "benchmark": name,
        "unit": unit,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "work": work or {},
        "machine": machine(),
        "cases": [
            asdict(m) | {"median": m.median, "min": min(m.values), "max": max(m.values)} for m in measured.values()
        ],
        "ratios": [_ratio(ratio, measured) for ratio in ratios],
    }
    _print(report)
    if not getattr(args, "no_save", False):
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _once(case: Case) -> float:
    if case.setup is not None:
        case.setup()
    started = time.perf_counter()
    value = case.run()
    return time.perf_counter() - started if value is None else float(value)


def _ratio(ratio: Ratio, measured: dict[str, Measured]) -> dict[str, Any]:
    """The ratio of the medians, and its spread over the rounds (each round's pair divided)."""
    top, bottom = measured[ratio.numerator], measured[ratio.denominator]
    pairs = zip(top.values, bottom.values, strict=True)
    per_round = [a - b if ratio.difference else a / b for a, b in pairs]
    return asdict(ratio) | {
        "value": top.median - bottom.median if ratio.difference else top.median / bottom.median,
        "min": min(per_round),
        "max": max(per_round),
    }


def _print(report: dict[str, Any]) -> None:
    unit = report["unit"]
    out = sys.stdout
    m = report["machine"]
    out.write(f"\n{report['benchmark']}: {m['date']}, {m['cores']} cores ({m['cpu']}), load {m['load_average']}\n")
    if report["work"]:
        out.write("work: " + ", ".join(f"{k}={v}" for k, v in report["work"].items()) + "\n")
    out.write(f"median of {report['repeats']} alternating runs after {report['warmup']} warm-up; spread = min-max\n")
    for case in report["cases"]:
        out.write(f"  {case['name']:<40} {case['median']:9.3f} {unit}  ({case['min']:.3f}-{case['max']:.3f})\n")
    for ratio in report["ratios"]:
        goal = f"  goal {ratio['goal']}" if ratio["goal"] else ""
        mark = f" {unit}" if ratio["difference"] else "x"
        low, high = ratio["min"], ratio["max"]
        out.write(f"  {ratio['name']:<40} {ratio['value']:9.3f}{mark}  ({low:.3f}-{high:.3f}){goal}\n")
