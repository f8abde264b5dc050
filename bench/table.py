"""The results table of bench/README.md, from bench/results/*.json (one row per case and ratio).

python bench/table.py [results/rendering.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness import RESULTS


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


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or sorted(RESULTS.glob("*.json"))
    print("| benchmark | row | median | spread (min-max) | goal | command | date, load |")
    print("|---|---|---|---|---|---|---|")
    for path in files:
        for row in rows(json.loads(path.read_text())):
            print(row)


if __name__ == "__main__":
    main()
