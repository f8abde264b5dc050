"""An installed qvl finds its built-in schemas and prompts: they ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_wheel_carries_builtin_schemas_and_prompts(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("qvl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in (ROOT / "schemas").glob("*.json"):
        assert f"qvl_cli/data/schemas/{schema.name}" in names
    for prompt in (ROOT / "prompts").glob("*.txt"):
        assert f"qvl_cli/data/prompts/{prompt.name}" in names
    assert "qvl_cli/cli.py" in names
    assert {"qvl_cli/evaluation/adapters/sroie.json", "qvl_cli/evaluation/adapters/invoice2data.json"} <= names
    templates = {f"qvl_cli/review/templates/{name}" for name in ("report.html.j2", "report.css", "report.js")}
    assert templates <= names
