"""Tables printed to a pipe or a file keep every file path and field name whole, on one line
(rich alone lays them out in 80 columns there, folding paths and cutting names with "…")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, qvl


@pytest.fixture(autouse=True)
def no_width_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # a developer's shell may export them
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)


def test_render_table_in_a_pipe_shows_whole_paths(tmp_path: Path) -> None:
    deep = tmp_path / "a_rather_long_folder_name_for_page_images" / "and_another_level_below_it"
    source = deep / "invoice_with_a_long_file_name.pdf"
    deep.mkdir(parents=True)
    source.write_bytes((EXAMPLES / "invoice.pdf").read_bytes())
    out = deep / "pages"
    result = qvl("render", str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert result.stdout.splitlines()[0].startswith(f"{source} (2 pages)")
    for png in sorted(out.glob("*.png")):
        assert any(f"│ {png} │" in line for line in result.stdout.splitlines()), result.stdout


def test_eval_table_in_a_pipe_shows_whole_field_names(tmp_path: Path) -> None:
    name = "a_field_name_long_enough_to_be_cut_in_eighty_columns_of_output_text"
    gold = {name: {"nested_value_with_a_long_name_as_well": "x"}, "total": 1}
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"file": "a.pdf", "data": gold}) + "\n")
    (tmp_path / "a.json").write_text(json.dumps(gold))
    result = qvl("eval", str(predictions), "--gold", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert f"/{name}/nested_value_with_a_long_name_as_well " in result.stdout


def test_schema_descriptions_in_a_pipe_are_whole_lines() -> None:
    from qvl_cli.schemas.catalog import builtin_schema_names, load_schema

    result = qvl("schemas")
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    for name in builtin_schema_names():
        assert any(line.startswith(name) and line.endswith(load_schema(name).description) for line in lines)


def test_terminal_width_fixes_the_width_of_tables_too() -> None:
    result = qvl("schemas", env={"TERMINAL_WIDTH": "60"})
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 60
