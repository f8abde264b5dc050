"""Standard output that cannot be written, whichever command (or ``--help``) writes it: a full
disk is one error line and exit 3, a reader that went away is a quiet exit 141; never a
traceback, never an "Exception ignored" line as the interpreter exits.

The full disk is ``> /dev/full`` in a shell: a redirection only opens the device (nothing is
written to it that stays), so the test is safe even as root. The closed pipe is a pipe whose
reading end is closed before qvl starts, so that its first write fails.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES
from samples import fake_env, make_pdf

FULL = "qvl: error: cannot write to standard output: No space left on device\n"
COMMANDS = {
    "extract": ["extract", "{doc}", "-s", "form"],
    "validate": ["validate", str(EXAMPLES / "records.jsonl"), "-s", "invoice"],
    "review -o -": ["review", str(EXAMPLES / "records.jsonl"), "-o", "-"],
    "schemas": ["schemas"],
    "schemas NAME": ["schemas", "invoice"],
    "eval": ["eval", str(EXAMPLES / "records.jsonl"), "--gold", "{gold}", "--format", "json"],
    "locate": ["locate", "{run}", "--evidence", "text"],
    "render": ["render", "{doc}", "--out", "{pages}"],
    "--help": ["--help"],
    "extract --help": ["extract", "--help"],
    "--version": ["--version"],
}


@pytest.fixture
def arguments(tmp_path: Path) -> dict[str, str]:
    doc = make_pdf(tmp_path / "a.pdf", "a")
    gold = tmp_path / "gold"
    gold.mkdir()
    shutil.copy(EXAMPLES / "invoice.expected.json", gold / "invoice.json")
    run = tmp_path / "run.jsonl"
    run.write_text(f'{{"file": "{doc}", "data": {{"title": "FORM a"}}}}\n')
    return {"doc": str(doc), "gold": str(gold), "run": str(run), "pages": str(tmp_path / "pages")}


def command_line(name: str, arguments: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "qvl_cli", *(part.format(**arguments) for part in COMMANDS[name])]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="this system has no /dev/full to stand for a full disk")
@pytest.mark.parametrize("name", COMMANDS)
def test_a_full_disk_on_stdout_is_one_line_and_exit_3(name: str, arguments: dict[str, str]) -> None:
    shell = f"{shlex.join(command_line(name, arguments))} > /dev/full"
    result = subprocess.run(
        shell, shell=True, capture_output=True, text=True, env={**os.environ, **fake_env()}, timeout=300
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.endswith(FULL) and result.stderr.count("qvl: error:") == 1
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.parametrize("name", ["extract", "validate", "schemas", "--help", "extract --help", "render"])
def test_a_reader_gone_before_the_first_write_is_a_quiet_exit_141(name: str, arguments: dict[str, str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        result = subprocess.run(
            command_line(name, arguments),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **fake_env()},
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""
