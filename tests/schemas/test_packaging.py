"""An installed qvl finds its built-in schemas and prompts: they ship inside the wheel."""

from __future__ import annotations

import os
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


# .ci: the vLLM environment --------------------------------------------------------------------


def ensure_vllm(tmp_path: Path, ci: bool, succeed_on: int) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run .ci/vllm-ensure with a stand-in build script that fails until attempt ``succeed_on``."""
    counter = tmp_path / "attempts"
    stub = tmp_path / "vllm-env"
    stub.write_text(
        f"n=$(($(cat {counter} 2>/dev/null || echo 0) + 1)); echo $n > {counter}\n"
        f'[ "$n" -ge {succeed_on} ] && mkdir -p "$1/bin" && touch "$1/bin/python"\n'
        f'[ "$n" -ge {succeed_on} ]\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"QVL_VLLM_ENV_SCRIPT": str(stub)}
    if ci:
        env["CI"] = "true"
    result = subprocess.run(["bash", str(ROOT / ".ci" / "vllm-ensure")], capture_output=True, text=True, env=env)
    return result, int(counter.read_text())


def test_ci_retries_a_failed_vllm_build_once_then_fails(tmp_path: Path) -> None:
    result, attempts = ensure_vllm(tmp_path, ci=True, succeed_on=99)
    assert result.returncode == 1 and attempts == 2 and result.stdout == ""
    assert "vLLM environment build failed (attempt 2 of 2)" in result.stderr


def test_ci_second_vllm_build_attempt_can_succeed(tmp_path: Path) -> None:
    result, attempts = ensure_vllm(tmp_path, ci=True, succeed_on=2)
    assert result.returncode == 0 and attempts == 2
    assert result.stdout.strip().endswith("/vllm/bin/python")


def test_outside_ci_a_failed_vllm_build_is_tried_once(tmp_path: Path) -> None:
    result, attempts = ensure_vllm(tmp_path, ci=False, succeed_on=99)
    assert result.returncode == 1 and attempts == 1


def test_ci_run_fails_when_ci_and_the_vllm_build_fails() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    assert 'vllm_python="$(bash .ci/vllm-ensure)"' in text
    assert 'elif [ "${CI:-}" = "true" ]; then' in text and "exit 1" in text
    assert 'if [ "$status" -eq 5 ]; then' in text  # no tests collected still counts as success
