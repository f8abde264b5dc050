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
from conftest import ROOT, cli, fake, qvl
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE

from qvl_cli.gate.config import ConfigError, load_config
from qvl_cli.gate.rules import evaluate
from qvl_cli.runs.records import Envelope

VALID = VALID_INVOICE
RULE = "[[tool.qvl.rules]]\n"
RULES = """
[[rules]]
files = ["invoices/**/*.pdf"]
schema = "invoice"
required = ["invoice_number", "total"]
constraints = { properties = { total = { exclusiveMinimum = 0 } } }
"""


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
    result = cli("validate", str(good), str(envelopes), "--schema", "invoice")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{envelopes}:2: /total: 'x' is not of type 'number', 'null'",
        "3 documents checked: 2 passed, 1 failed (1 problem)",
    ]
    assert cli("validate", str(good), "--schema", "invoice").exit_code == 0


def test_validate_honours_the_records_own_verdict(tmp_path: Path) -> None:
    """Values cut short by the token budget have the right types, but extract marked them invalid."""
    cut = VALID | {"invoice_number": "NW-20"}
    message = "value cut short: the answer reached the --max-new-tokens budget"
    truncated = {"reason": "budget", "cut": ["/invoice_number"], "added": ["/total"]}
    errors = [{"path": "/invoice_number", "message": message}]
    record = {"file": "a.pdf", "valid": False, "data": cut, "truncated": truncated, "errors": errors}
    unexplained = {"file": "b.pdf", "valid": False, "data": VALID}
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(record) + "\n" + json.dumps(unexplained) + "\n")
    result = qvl("validate", str(run), "--schema", "invoice")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{run}:1: /invoice_number: value cut short: the answer reached the --max-new-tokens budget"
        ' (once corrected, remove the record\'s "truncated" key)',
        f"{run}:1: /total: not extracted: filled in when the answer was closed"
        ' (once corrected, remove the record\'s "truncated" key)',
        f"{run}:2: qvl extract marked this result invalid without saying why"
        ' (once checked, set the record\'s "valid" to true)',
        "2 documents checked: 0 passed, 2 failed (3 problems)",
    ]


def test_validate_malformed_json_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"total": ')
    result = cli("validate", str(broken), "-s", "invoice")
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{broken}: not valid JSON: Expecting value at line 1 column 11")
    missing = cli("validate", str(tmp_path / "nope.json"), "-s", "invoice")
    assert missing.exit_code == 2 and "cannot read file: No such file or directory" in missing.stdout


def test_validate_github_and_json_formats(tmp_path: Path) -> None:
    bad = tmp_path / "bad, file.json"
    bad.write_text(json.dumps(VALID | {"currency": "euro"}))
    github = cli("validate", str(bad), "-s", "invoice", "--format", "github")
    escaped = str(bad).replace(",", "%2C")
    assert github.stdout.splitlines()[0] == (
        f"::error file={escaped},title=qvl /currency::'euro' does not match '^[A-Z]{{3}}$'"
    )
    report = json.loads(cli("validate", str(bad), "-s", "invoice", "--format", "json").stdout)
    assert report["passed"] is False
    assert report["findings"] == [{"file": str(bad), "field": "/currency", "message": "'euro' does not match "
                                   "'^[A-Z]{3}$'", "severity": "error"}]  # fmt: skip


def test_validate_reports_the_line_of_a_json_lines_record_apart_from_the_file(tmp_path: Path) -> None:
    """GitHub annotations get ``line=``, the JSON report a ``line`` key; the text keeps ``run.jsonl:2``."""
    run = tmp_path / "run.jsonl"
    bad = {"file": "b.pdf", "valid": False, "data": VALID | {"currency": "euro"}}
    run.write_text(json.dumps({"file": "a.pdf", "valid": True, "data": VALID}) + "\n" + json.dumps(bad) + "\n")
    text = cli("validate", str(run), "-s", "invoice").stdout.splitlines()
    assert text[0] == f"{run}:2: /currency: 'euro' does not match '^[A-Z]{{3}}$'"
    github = cli("validate", str(run), "-s", "invoice", "--format", "github").stdout.splitlines()
    assert github[0] == f"::error file={run},line=2,title=qvl /currency::'euro' does not match '^[A-Z]{{3}}$'"
    report = json.loads(cli("validate", str(run), "-s", "invoice", "--format", "json").stdout)
    assert report["documents"] == [
        {"file": str(run), "line": 1, "passed": True},
        {"file": str(run), "line": 2, "passed": False},
    ]
    assert [(f["file"], f["line"], f["field"]) for f in report["findings"]] == [(str(run), 2, "/currency")]


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


def test_a_field_is_reported_once(tmp_path: Path) -> None:
    """A total cut short by the budget is not also "not extracted" and "below min_confidence"."""
    path = tmp_path / ".qvl.toml"
    path.write_text(RULES + "min_confidence = 0.5\n")
    rule = load_config(path).rules[0]
    message = "not extracted: the --max-new-tokens budget ran out first"
    errors = [{"path": "/total", "message": message}]
    record = {"file": "x.pdf", "data": VALID | {"total": None}, "confidence": {"/total": 0.0}, "errors": errors}
    findings = [(f.pointer, f.message) for f in evaluate(Envelope.from_dict(record), rule)]
    assert findings == [("/total", message)]


def test_check_names_a_missing_file_once_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / ".qvl.toml").write_text(RULES)
    (tmp_path / "invoices").mkdir()
    for name in ("missing.pdf", "invoices/missing.pdf"):
        result = qvl("check", name, cwd=tmp_path, env=fake(VALID))
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout.splitlines() == [
            f"{name}: no such file",
            "1 document checked: 0 passed, 1 failed (1 problem)",
        ]
    empty = qvl("check", "invoices", cwd=tmp_path, env=fake(VALID))
    assert empty.returncode == 2
    assert "qvl: error: no documents found: looked for PDF or image files in invoices" in empty.stderr


def test_check_with_an_unknown_schema_names_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / ".qvl.toml"
    config.write_text(RULES.replace('"invoice"', '"invocie"'))
    (tmp_path / "invoices").mkdir()
    doc = write_pdf(tmp_path / "invoices" / "a.pdf", [PageSpec()])
    result = qvl("check", str(doc), cwd=tmp_path, env=fake(VALID))
    assert result.returncode == 2
    assert result.stderr.startswith(f"qvl: error: {config}: rules[0]: ")
    assert "invocie" in result.stderr


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


def test_hooks_manifest_is_valid() -> None:
    manifest = str(ROOT / ".pre-commit-hooks.yaml")
    result = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", manifest],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def head_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.skip("this checkout is not a git repository: pre-commit needs a rev to install from")
    return result.stdout.strip()


@pytest.mark.slow
def test_published_hooks_as_users_run_them(repo: Path, tmp_path: Path) -> None:
    """``repo:`` this checkout at its HEAD, as a user's .pre-commit-config.yaml names qvl. pre-commit
    clones it and installs qvl into a hook environment of its own; torch is pinned to the CPU
    build through pip's constraints (as the README advises), so no CUDA wheels are fetched."""
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT}\n    rev: {head_commit()}\n    hooks:\n"
        "      - id: qvl-validate\n        args: [--schema, invoice]\n        files: ^extracted/\n"
        "      - id: qvl-check\n"
    )
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch==2.13.0\n")
    env = {"PIP_CONSTRAINT": str(constraints), "QVL_CACHE_DIR": str(tmp_path / "cache"), **fake(VALID)}

    (repo / "extracted").mkdir()
    (repo / "extracted" / "good.jsonl").write_text(json.dumps({"file": "a.pdf", "valid": True, "data": VALID}) + "\n")
    good = pre_commit(repo, env, "run", "qvl-validate", "--files", "extracted/good.jsonl")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout

    (repo / "extracted" / "bad.json").write_text(json.dumps(VALID | {"total": "a lot"}))
    bad = pre_commit(repo, env, "run", "qvl-validate", "--files", "extracted/bad.json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "extracted/bad.json: /total: 'a lot' is not of type 'number', 'null'" in bad.stdout

    write_pdf(repo / "invoices" / "a.pdf", [PageSpec(lines=("INVOICE A-1", "Total 10.50"))])
    checked = pre_commit(repo, env, "run", "qvl-check", "--files", "invoices/a.pdf")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 document checked: 1 passed, 0 failed (0 problems)" in checked.stdout or "Passed" in checked.stdout
    write_pdf(repo / "invoices" / "b.pdf", [PageSpec(lines=("INVOICE B-2", "Total -3"))])
    failing = pre_commit(repo, {**env, **fake(VALID | {"total": -3})}, "run", "qvl-check", "--files",
                         "invoices/b.pdf")  # fmt: skip
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "invoices/b.pdf: /total: -3 is less than or equal to the minimum of 0" in failing.stdout


def test_check_reuses_sidecars_without_the_model(repo: Path) -> None:
    doc = write_pdf(repo / "invoices" / "a.pdf", [PageSpec(lines=("INVOICE A-1",))])
    first = qvl("check", "invoices/a.pdf", "--write-sidecar", "--no-cache", cwd=repo, env=fake(VALID))
    assert first.returncode == 0, first.stdout + first.stderr
    sidecar = repo / "invoices" / "a.pdf.qvl.json"
    assert json.loads(sidecar.read_text())["data"] == VALID
    no_model = fake(oom_above_pixels=1)
    assert qvl("check", "invoices/a.pdf", "--no-cache", cwd=repo, env=no_model).returncode == 0
    write_pdf(doc, [PageSpec(lines=("INVOICE A-2",))])  # changed content: the sidecar no longer applies
    changed = qvl("check", "invoices/a.pdf", "--no-cache", cwd=repo, env=no_model)
    assert changed.returncode == 1 and "out of memory" in changed.stdout
