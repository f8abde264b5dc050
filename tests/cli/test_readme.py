"""Every command line quoted in README.md runs, so the README and the tool cannot drift apart.

The fenced ``bash`` and ``console`` blocks are parsed (``$ `` lines in console blocks, every line
in bash blocks, ``\\`` continuations joined). Each command runs with bash in a sandbox folder where
the files it names exist (made from ``examples/``), with the tiny random Qwen2-VL as the model
(``QVL_MODEL``) and small budgets added to ``qvl extract`` so it stays quick. A scripted
OpenAI-compatible server on 127.0.0.1 stands in for vLLM. What cannot run here is listed in
``SKIPPED`` with its reason, and a skip that no longer matches a README line fails too.

A command passes when it exits 0, or 1 where the README says 1 means "some result is invalid"
(the tiny model answers nonsense), and prints no usage error and no traceback. Console blocks
that show output are compared line by line where the output does not depend on the model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_openai_server import MODEL as SERVED_MODEL
from fake_openai_server import FakeOpenAIServer
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"
FAST = "--max-new-tokens 24 --max-pixels 50000"

# README text (a substring of the command) -> why it does not run here.
SKIPPED = {
    "pip install torch==2.13.0 && pip install -e . &&": "installs from the package index over the network; "
    ".ci/run performs exactly this install, and the qvl command after it runs below",
    'pip install -e ".[test]" && python -m pytest': "installs from the package index over the network and runs the "
    "whole suite; .ci/run does both",
    "vllm serve": "starts a real vLLM server on a GPU; tests/test_vllm_server.py runs vLLM on the CPU",
    "python -m pytest                     # everything": "runs this test suite from inside itself",
    'python -m pytest -m "not slow"': "runs this test suite from inside itself",
}


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    language: str
    output: tuple[str, ...] = ()  # what a console block shows after the command


def readme_commands(text: str) -> list[Command]:
    commands = []
    for match in re.finditer(r"^```(bash|console)\n(.*?)^```", text, re.S | re.M):
        language, body = match.groups()
        first = text[: match.start(2)].count("\n") + 1
        lines = body.splitlines()
        if language == "console":
            for i, line in enumerate(lines):
                if line.startswith("$ "):
                    output = []
                    for after in lines[i + 1 :]:
                        if after.startswith("$ "):
                            break
                        output.append(after)
                    commands.append(Command(first + i, line[2:], language, tuple(output)))
            continue
        pending, start = "", 0
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if not pending:
                start = first + i
            pending += stripped
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            commands.append(Command(start, pending, language))
            pending = ""
    return commands


def is_synopsis(command: Command) -> bool:
    """The usage summary of ``qvl extract`` (``[--option VALUE]`` and ``A|B`` alternatives)."""
    return command.text.startswith("[") or "PATH|DIR" in command.text


def skip_reason(command: Command) -> str | None:
    return next((reason for text, reason in SKIPPED.items() if text in command.text), None)


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
pytestmark = pytest.mark.slow  # about 30 commands, many loading the tiny model


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A folder where every file the README names exists."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(EXAMPLES, root / "examples")
    invoice, form = EXAMPLES / "invoice.pdf", EXAMPLES / "form.png"
    for name in ("invoice.pdf", "scan.pdf", "report.pdf", "scans/a.pdf", "invoices/a.pdf", "invoices/2024/b.pdf",
                 "inbox/a.pdf", "receipts/X001.pdf", "docs/d1.pdf", "docs/d2.pdf", "docs/d3.pdf",
                 "docs/d4.pdf"):  # fmt: skip
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(invoice, root / name)
    shutil.copy(form, root / "form.png")
    Image.open(form).save(root / "scans" / "b.tif")
    shutil.copy(ROOT / "schemas" / "invoice.json", root / "my-schema.json")
    (root / "my-prompt.txt").write_text("Read the $page_count page(s) and answer with JSON for:\n$schema_json\n")
    expected = json.loads((EXAMPLES / "invoice.expected.json").read_text())
    (root / "extracted").mkdir()
    (root / "extracted" / "kept.json").write_text(json.dumps(expected))
    (root / "run.jsonl").write_text(json.dumps({"file": "a.pdf", "valid": True, "data": expected}) + "\n")
    (root / "sroie" / "key").mkdir(parents=True)
    sroie = {"company": "ACME", "date": "14/03/2024", "address": "1 Road", "total": "9.00"}
    (root / "sroie" / "key" / "X001.json").write_text(json.dumps(sroie))
    (root / "labels").mkdir()
    (root / "labels" / "X001.json").write_text(json.dumps([{"issuer": "ACME", "amount": 9.0, "date": "2024-03-14",
                                                            "invoice_number": "1", "currency": "EUR"}]))  # fmt: skip
    return root


def adapt(text: str, tiny_model_dir: Path, sandbox: Path) -> str:
    """The README's command, made to run here: the tiny model, small budgets, sandbox paths."""
    text = text.replace("/models/Qwen2-VL-7B-Instruct", str(tiny_model_dir))
    text = text.replace("/tmp/tiny", str(sandbox / "tiny-checkpoint"))
    text = text.replace("--model Qwen/Qwen2-VL-7B-Instruct", f"--model {SERVED_MODEL}")  # what the server serves
    return re.sub(r"\bqvl extract\b", f"qvl extract {FAST}", text)


def run(command: Command, sandbox: Path, tiny_model_dir: Path, server_url: str) -> subprocess.CompletedProcess[str]:
    bin_dir = sandbox / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "qvl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m qvl_cli "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "QVL_MODEL": str(tiny_model_dir), "URL": server_url, "COLUMNS": "200"}  # fmt: skip
    text = adapt(command.text, tiny_model_dir, sandbox)
    if "ruff check" in text or text.startswith("python tests/"):  # development commands run in the repository
        return subprocess.run(["bash", "-c", text], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    script = "set -o pipefail\n" + text.replace("http://127.0.0.1:8000/v1", server_url)
    return subprocess.run(["bash", "-c", script], cwd=sandbox, capture_output=True, text=True, env=env, timeout=600)


def check_output(command: Command, stdout: str) -> list[str]:
    """Console output the model does not decide must match (tables compared by their text)."""
    problems = []
    if command.text.startswith("qvl validate"):
        shown = [line for line in command.output if line]
        if stdout.splitlines()[-1:] and not re.fullmatch(r"\d+ documents? checked: \d+ passed, \d+ failed \(\d+ "
                                                          r"problems?\)", stdout.splitlines()[-1]):  # fmt: skip
            problems.append(f"summary line {stdout.splitlines()[-1]!r} is not shaped like {shown[-1]!r}")
    if command.text.startswith("qvl render"):
        for expected in command.output:
            cells = [c.strip() for c in re.split(r"[│┃]", expected) if c.strip()]
            if cells and cells[0].isdigit() and not any(all(c in line for c in cells) for line in stdout.splitlines()):
                problems.append(f"row {expected.strip()!r} not in the output")
        total = command.output[-1].strip()
        if total not in stdout:
            problems.append(f"{total!r} not in the output")
    return problems


def test_readme_commands_run(sandbox: Path, tiny_model_dir: Path) -> None:
    failures = []
    ran = 0
    with FakeOpenAIServer() as server:
        expected = json.loads((EXAMPLES / "invoice.expected.json").read_text())
        server.script.extend([("ok", json.dumps(expected))] * 200)
        for command in COMMANDS:
            if is_synopsis(command) or skip_reason(command):
                continue
            if " && " in command.text and "pip install" in command.text:
                command = Command(command.line, command.text.split(" && ")[-1], command.language)
            result = run(command, sandbox, tiny_model_dir, server.url)
            ran += 1
            usage_error = any(s in result.stderr.lower() for s in ("usage:", "no such option", "missing option"))
            if result.returncode not in (0, 1) or usage_error or "Traceback" in result.stderr:
                failures.append(f"README.md:{command.line}: {command.text}\n  exit {result.returncode}\n"
                                f"  {result.stderr.strip()[-800:]}")  # fmt: skip
                continue
            failures += [f"README.md:{command.line}: {problem}" for problem in check_output(command, result.stdout)]
    assert not failures, "\n".join(failures)
    assert ran >= 15


def test_the_synopsis_lists_only_options_that_exist() -> None:
    synopsis = " ".join(command.text for command in COMMANDS if is_synopsis(command))
    options = set(re.findall(r"(?<![\w-])(--?[a-z0-9][a-z0-9-]*)", synopsis))
    assert "--schema" in options
    from typer.testing import CliRunner

    from qvl_cli.cli import app

    help_text = CliRunner().invoke(app, ["extract", "--help"], env={"COLUMNS": "300"}, terminal_width=300).output
    missing = sorted(option for option in options if option not in help_text)
    assert not missing, f"README's qvl extract synopsis names options the command does not have: {missing}"


def test_every_skip_is_still_needed_and_says_why() -> None:
    for text, reason in SKIPPED.items():
        assert any(text in command.text for command in COMMANDS), f"no README line contains {text!r} any more"
        assert len(reason) > 20
    skipped = [command.text for command in COMMANDS if skip_reason(command)]
    assert len(skipped) == len(SKIPPED)


@pytest.mark.parametrize("form", ["pyproject.toml", ".qvl.toml"])
def test_readme_configuration_examples_load_where_the_readme_puts_them(tmp_path: Path, form: str) -> None:
    from qvl_cli.gate.config import load_config

    blocks = re.findall(r"^```toml\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)
    pyproject = next(block for block in blocks if block.startswith("[tool.qvl]"))
    own_file = next(block for block in blocks if not block.startswith("[tool.qvl]") and "[[rules]]" in block)
    for text in (pyproject, own_file) if form == ".qvl.toml" else (pyproject,):
        path = tmp_path / form
        path.write_text(text)
        config = load_config(path)
        assert config.rules[0].schema == "invoice" and config.rules[0].min_confidence == 0.6
        assert config.settings(config.rules[0]).render.max_pixels == 1003520


def readme_envelope() -> dict[str, object]:
    """The README's example envelope (the JSON block after "The envelope:"), keys in its order."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"^The envelope:\n\n```json\n(.*?)^```", text, re.S | re.M)
    assert block is not None, "README.md has no example envelope after 'The envelope:'"
    return dict(json.loads(block.group(1)))


# Where the README puts the keys that only some records have: after the key named.
OPTIONAL_AFTER = {"error": "valid", "raw": "data", "origin": "evidence", "windows": "page_count"}


def test_records_keep_the_key_order_of_the_readmes_envelope(tmp_path: Path) -> None:
    """A real record of each kind (plain, one page at a time in windows, an answer that is not
    JSON, a document that failed) has the README example's keys in its order, the optional
    ones where the README says."""
    from conftest import cli, fake
    from pdf_factory import PageSpec, write_pdf
    from samples import VALID_INVOICE

    readme = list(readme_envelope())
    pdf = write_pdf(tmp_path / "a.pdf", [PageSpec(lines=(f"INVOICE page {n}",)) for n in (1, 2)])
    broken = tmp_path / "broken.pdf"
    broken.write_text("not a pdf")
    windowed = [str(pdf), "--window-pages", "1", "--window-overlap", "0"]
    runs = {  # the arguments, the fake model's answers, the optional keys the record has
        "plain": ([str(pdf)], fake(VALID_INVOICE), set()),
        "windows": (windowed, fake(VALID_INVOICE, VALID_INVOICE), {"origin", "windows"}),
        "raw": ([str(pdf), "--reask", "0"], fake("not json at all {"), {"raw"}),
        "failed": ([str(broken)], fake(), {"error"}),
    }
    for kind, (args, env, optional) in runs.items():
        result = cli("extract", *args, "-s", "invoice", "--no-cache", env=env)
        [line] = result.stdout.splitlines()
        keys = list(json.loads(line))
        assert set(keys) & set(OPTIONAL_AFTER) == optional, kind
        expected = list(readme)
        for key, after in OPTIONAL_AFTER.items():
            if key in optional:
                expected.insert(expected.index(after) + 1, key)
        assert keys == expected, kind
