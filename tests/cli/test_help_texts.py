"""Help that reads right: no doubled brackets, no markup eating a TOML table name, and an option
shared between commands described for what each command does with it."""

from __future__ import annotations

from conftest import cli


def test_schemas_usage_shows_its_optional_name_once_bracketed() -> None:
    usage = cli("schemas", "--help").stdout
    assert "Usage: qvl schemas [OPTIONS] [NAME]" in usage and "[[NAME]]" not in usage


def test_check_help_names_the_pyproject_table() -> None:
    text = " ".join(cli("check", "--help", env={"COLUMNS": "300"}).stdout.split())
    assert "(default: .qvl.toml or pyproject.toml [tool.qvl])" in text


def test_review_describes_min_confidence_as_shading_and_extract_as_warning() -> None:
    review = " ".join(cli("review", "--help", env={"COLUMNS": "300"}).stdout.split())
    extract = " ".join(cli("extract", "--help", env={"COLUMNS": "300"}).stdout.split())
    assert "Shade fields whose confidence is below this (default: 0.5)." in review
    assert "Warn about fields" not in review
    assert "Warn about fields whose confidence is below this." in extract
