"""`qvl validate` and `qvl check`, and the real pre-commit program running them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE

from qvl_cli.gate.config import ConfigError, load_config
from qvl_cli.gate.rules import evaluate
from qvl_cli.runs.records import Envelope

ROOT = Path(__file__).resolve().parent.parent
VALID = VALID_INVOICE
RULE = "[[tool.qvl.rules]]\n"
RULES = """
[[rules]]
files = ["invoices/**/*.pdf"]
schema = "invoice"
required = ["invoice_number", "total"]
constraints = { properties = { total = { exclusiveMinimum = 0 } } }
"""


def qvl(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qvl_cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)  # fmt: skip


def fake(*replies: dict) -> dict[str, str]:
    return {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps([json.dumps(r) for r in replies])}


# qvl validate ---------------------------------------------------------------------------------


def test_validate_plain_json_and_envelopes(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(VALID))
    envelopes = tmp_path / "run.jsonl"
    lines = [
        {"file": "a.pdf", "valid": True, "data": VALID},
        {"file": "b.pdf", "valid": False, "data": VALID | {"total": "x"}},
    ]
    envelopes.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = qvl("validate", str(good), str(envelopes), "--schema", "invoice")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{envelopes}:2: /total: 'x' is not of type 'number', 'null'",
        "3 documents checked: 2 passed, 1 failed (1 problems)",
    ]
    assert qvl("validate", str(good), "--schema", "invoice").returncode == 0


def test_validate_malformed_json_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"total": ')
    result = qvl("validate", str(broken), "-s", "invoice")
    assert result.returncode == 2
    assert result.stdout.startswith(f"{broken}: not valid JSON: Expecting value at line 1 column 11")
    missing = qvl("validate", str(tmp_path / "nope.json"), "-s", "invoice")
    assert missing.returncode == 2 and "cannot read file: No such file or directory" in missing.stdout


def test_validate_github_and_json_formats(tmp_path: Path) -> None:
    bad = tmp_path / "bad, file.json"
    bad.write_text(json.dumps(VALID | {"currency": "euro"}))
    github = qvl("validate", str(bad), "-s", "invoice", "--format", "github")
    escaped = str(bad).replace(",", "%2C")
    assert github.stdout.splitlines()[0] == (
        f"::error file={escaped},title=qvl /currency::'euro' does not match '^[A-Z]{{3}}$'"
    )
    report = json.loads(qvl("validate", str(bad), "-s", "invoice", "--format", "json").stdout)
    assert report["passed"] is False
    assert report["findings"] == [{"file": str(bad), "field": "/currency", "message": "'euro' does not match "
                                   "'^[A-Z]{3}$'", "severity": "error"}]  # fmt: skip


# configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.other]\nx = 1\n", "has no [tool.qvl] table"),
        ("[tool.qvl]\nmodel = 'x'\n", "needs at least one [[rules]] entry (key 'rules')"),
        (RULE + "schema = 'invoice'\n", "rules[0] is missing the key 'files'"),
        (RULE + "files = ['*.pdf']\nschema = 'x'\nrequried = []\n", "pyproject.toml: rules[0].requried: unknown key"),
        (RULE + "files = '*.pdf'\nschema = 'invoice'\n", "pyproject.toml: rules[0].files: must be list, got str"),
        ("[tool.qvl]\nmax_pixels = 'big'\n" + RULE + "files = []\nschema = 'x'\n",
         "pyproject.toml: max_pixels: must be an integer, got string 'big'"),
        (RULE + "files = ['*']\nschema = 'x'\nmin_confidence = 2\n",
         "pyproject.toml: rules[0].min_confidence: 2 is more than the maximum 1"),
        (RULE + "files = ['*']\nschema = 'x'\ndtype = 'float13'\n",
         "pyproject.toml: rules[0].dtype: 'float13' is not one of auto, bfloat16, float16, float32"),
        ("[tool.qvl\n", "is not valid TOML"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_check_without_configuration_says_how(tmp_path: Path) -> None:
    doc = write_pdf(tmp_path / "a.pdf", [PageSpec()])
    result = qvl("check", str(doc), cwd=tmp_path)
    assert result.returncode == 2
    assert "qvl: error: no qvl configuration found (add [tool.qvl] rules to pyproject.toml or a .qvl.toml" in (
        result.stderr
    )


def test_rules_evaluate_required_constraints_and_confidence(tmp_path: Path) -> None:
    path = tmp_path / ".qvl.toml"
    path.write_text(RULES + "min_confidence = 0.5\n")
    rule = load_config(path).rules[0]
    record = {"file": "x.pdf", "data": VALID | {"invoice_number": None, "total": 0}, "errors": [],
              "warnings": ["subtotal does not add up"], "confidence": {"/total": 0.2, "/currency": 0.9}}  # fmt: skip
    findings = [(f.pointer, f.message, f.severity) for f in evaluate(Envelope.from_dict(record), rule)]
    assert findings == [
        ("/invoice_number", "required by the check rule, but not extracted", "error"),
        ("/total", "0 is less than or equal to the minimum of 0", "error"),
        ("/total", "confidence 0.20 is below min_confidence 0.5", "error"),
        ("", "subtotal does not add up", "warning"),
    ]


# qvl check and pre-commit ---------------------------------------------------------------------


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "documents-repo"
    (root / "invoices").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.qvl]\n" + RULES.replace("[[rules]]", "[[tool.qvl.rules]]"))
    (root / ".pre-commit-config.yaml").write_text(
        "repos:\n  - repo: local\n    hooks:\n      - id: qvl-check\n        name: qvl check\n"
        f"        entry: {sys.executable} -m qvl_cli check\n        language: system\n"
        "        types_or: [pdf, image]\n        require_serial: true\n"
    )
    git(root, "init", "-q")
    git(root, "add", ".")
    assert git(root, "commit", "-qm", "rules").returncode == 0
    return root


def pre_commit(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    home = repo.parent / "pre-commit-home"
    full = {**os.environ, "PRE_COMMIT_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo, capture_output=True, text=True,
                          env=full, timeout=600)  # fmt: skip


def test_pre_commit_runs_qvl_check_on_staged_documents(repo: Path) -> None:
    assert pre_commit(repo, {}, "install").returncode == 0
    write_pdf(repo / "invoices" / "good.pdf", [PageSpec(lines=("INVOICE A-1", "Total 10.50"))])
    git(repo, "add", "invoices/good.pdf")
    env = {"QVL_CACHE_DIR": str(repo.parent / "cache")}
    good = subprocess.run(["git", "commit", "-m", "good invoice"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **env, **fake(VALID), "PRE_COMMIT_HOME": str(repo.parent / "pch"),
                               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "qvl check" in good.stderr + good.stdout and "Passed" in good.stderr + good.stdout

    write_pdf(repo / "invoices" / "bad.pdf", [PageSpec(lines=("INVOICE", "Total -3"))])
    git(repo, "add", "invoices/bad.pdf")
    bad_env = {**env, **fake(VALID | {"invoice_number": None, "total": -3})}
    bad = pre_commit(repo, bad_env, "run", "--files", "invoices/bad.pdf")
    assert bad.returncode == 1
    assert "invoices/bad.pdf: /invoice_number: required by the check rule, but not extracted" in bad.stdout
    assert "invoices/bad.pdf: /total: -3 is less than or equal to the minimum of 0" in bad.stdout

    # Unchanged: answered from the result cache. A model call would run out of memory and fail.
    again = pre_commit(repo, {**env, **fake(), "QVL_FAKE_OOM_ABOVE_PIXELS": "1"}, "run", "--files", "invoices/good.pdf")
    assert again.returncode == 0, again.stdout


def test_check_reuses_sidecars_without_the_model(repo: Path) -> None:
    doc = write_pdf(repo / "invoices" / "a.pdf", [PageSpec(lines=("INVOICE A-1",))])
    first = qvl("check", "invoices/a.pdf", "--write-sidecar", "--no-cache", cwd=repo, env=fake(VALID))
    assert first.returncode == 0, first.stdout + first.stderr
    sidecar = repo / "invoices" / "a.pdf.qvl.json"
    assert json.loads(sidecar.read_text())["data"] == VALID
    no_model = fake() | {"QVL_FAKE_OOM_ABOVE_PIXELS": "1"}
    assert qvl("check", "invoices/a.pdf", "--no-cache", cwd=repo, env=no_model).returncode == 0
    write_pdf(doc, [PageSpec(lines=("INVOICE A-2",))])  # changed content: the sidecar no longer applies
    changed = qvl("check", "invoices/a.pdf", "--no-cache", cwd=repo, env=no_model)
    assert changed.returncode == 1 and "out of memory" in changed.stdout
