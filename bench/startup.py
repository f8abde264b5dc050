"""Start-up cost: `qvl --help`, `qvl extract --help` and a `qvl validate` of five records (a
command that loads jsonschema and checks a file, as a pre-commit hook does) against
`python -c pass` (goal for `qvl --help`: < 0.3 s more).

python bench/startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys

from harness import ROOT, Case, Ratio, arguments, compare, run_command


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    args = parser.parse_args()
    python = sys.executable
    cases = [
        Case("python -c pass", run_command([python, "-c", "pass"]), "python -c pass"),
        Case("qvl --help", run_command([python, "-m", "qvl_cli", "--help"]), "python -m qvl_cli --help"),
        Case("qvl extract --help", run_command([python, "-m", "qvl_cli", "extract", "--help"]),
             "python -m qvl_cli extract --help"),
        Case("qvl validate", run_command([python, "-m", "qvl_cli", "validate", str(ROOT / "examples/records.jsonl"),
             "--schema", "invoice"], accept=(0, 1)), "python -m qvl_cli validate examples/records.jsonl -s invoice"),
    ]  # fmt: skip
    ratios = [
        Ratio("qvl --help - python", cases[1].name, cases[0].name, "< 0.3 s", difference=True),
        Ratio("qvl extract --help - python", cases[2].name, cases[0].name, difference=True),
        Ratio("qvl validate - python", cases[3].name, cases[0].name, difference=True),
    ]
    compare("startup", cases, ratios, args)


if __name__ == "__main__":
    main()
