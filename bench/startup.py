"""Start-up cost: `qvl --help` against `python -c pass` (target: under 0.3 s more).

python bench/startup.py
"""

from __future__ import annotations

import subprocess
import sys
import time


def best_of(runs: int, command: list[str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    python = best_of(10, [sys.executable, "-c", "pass"])
    qvl = best_of(10, [sys.executable, "-m", "qvl_cli", "--help"])
    extract = best_of(10, [sys.executable, "-m", "qvl_cli", "extract", "--help"])
    print(f"python -c pass:      {python * 1000:6.0f} ms")
    print(f"qvl --help:          {qvl * 1000:6.0f} ms   (+{(qvl - python) * 1000:.0f} ms)")
    print(f"qvl extract --help:  {extract * 1000:6.0f} ms   (+{(extract - python) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
