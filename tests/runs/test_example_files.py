"""The ``examples/`` folder is consistent and reproducible: every sample record names a file
that is there and says what qvl says about it, and the generator writes the same bytes each run."""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import EXAMPLES, ROOT, fake, qvl


def sample_records() -> list[dict]:
    return [json.loads(line) for line in (EXAMPLES / "records.jsonl").read_text(encoding="utf-8").splitlines()]


def test_every_sample_record_names_a_file_in_examples() -> None:
    files = [record["file"] for record in sample_records()]
    assert len(files) == len(set(files)) == 5
    assert [name for name in files if not (ROOT / name).is_file()] == []


def test_the_failed_sample_record_says_what_qvl_says_and_the_password_opens_it(tmp_path: Path) -> None:
    (failed,) = [record for record in sample_records() if record.get("error")]
    result = qvl("extract", failed["file"], "-s", failed["schema"], "--no-cache", cwd=ROOT, env=fake())
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"] == failed["error"]
    rendered = qvl("render", failed["file"], "--password", "statement", "--out", str(tmp_path), cwd=ROOT)
    assert rendered.returncode == 0, rendered.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["statement-p001.png"]


def test_the_generator_writes_the_same_bytes_every_run(tmp_path: Path) -> None:
    runs = []
    for name in ("first", "second"):
        time.sleep(1.1 if runs else 0)  # a clock-dependent date would differ
        copy = tmp_path / name
        shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, str(copy / "make_examples.py")], check=True, capture_output=True)
        runs.append(copy)
    names = sorted(path.name for path in EXAMPLES.iterdir() if path.is_file())
    match, mismatch, errors = filecmp.cmpfiles(runs[0], runs[1], names, shallow=False)
    assert (mismatch, errors) == ([], []) and len(match) == len(names)
    # the encrypted statement does not depend on the fonts installed: the same bytes as committed
    assert (runs[0] / "statement.pdf").read_bytes() == (EXAMPLES / "statement.pdf").read_bytes()
