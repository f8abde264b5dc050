"""What the README's Settings section promises about configuration files and the environment:
``[tool.qvl]`` in ``pyproject.toml`` found from a subfolder, ``qvl render`` reading the file, no
password in a file, empty variables ignored, the listed variables being the declared ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, cli, fake, records
from pdf_factory import PageSpec, write_pdf
from PIL import Image

from qvl_cli.cli import RENDER_ONLY
from qvl_cli.runs.cache import CACHE_ENV
from qvl_cli.settings import RenderSettings, all_settings
from qvl_cli.settings.declare import declared

FORM = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}
# A US letter page at the default 200 dpi is 1700 x 2200; these budgets give these sizes.
DEFAULT_SIZE = [868, 1120]
SMALL_PIXELS = 100_000
SMALL_SIZE = [252, 336]


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "letter.pdf", [PageSpec(lines=("FORM", "Name: Maria"))])


def extracted(pdf: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = cli("extract", str(pdf), "-s", "form", *args, env=fake(FORM) | (env or {}))
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    return record


def test_pyproject_tool_qvl_is_read_from_a_folder_above(
    tmp_path: Path, letter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pyproject.toml without a [tool.qvl] table is passed over for the one above that has it."""
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n[tool.qvl]\nmax_pixels = {SMALL_PIXELS}\n')
    inner = tmp_path / "project" / "docs"
    inner.mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text('[project]\nname = "inner"\n[tool.ruff]\nline-length = 99\n')
    monkeypatch.chdir(inner)
    record = extracted(letter)
    assert record["budget"]["max_pixels"] == SMALL_PIXELS and record["pages"][0]["size"] == SMALL_SIZE
    monkeypatch.chdir(tmp_path.parent)  # outside: no configuration, the defaults
    assert extracted(letter)["pages"][0]["size"] == DEFAULT_SIZE


@pytest.mark.parametrize("form", [".qvl.toml", "pyproject.toml"])
def test_render_reads_the_configuration_file_under_the_environment(
    tmp_path: Path, letter: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    table = "[tool.qvl]\n" if form == "pyproject.toml" else ""
    (tmp_path / form).write_text(f"{table}max_pixels = {SMALL_PIXELS}\ndpi = 100\n")
    monkeypatch.chdir(tmp_path)

    def rendered_size(out: str, env: dict[str, str] | None = None) -> list[int]:
        result = cli("render", str(letter), "--out", out, env=env)
        assert result.exit_code == 0, result.output
        with Image.open(tmp_path / out / "letter-p001.png") as image:
            return list(image.size)

    assert rendered_size("from-file") == SMALL_SIZE
    assert "850 x 1100" in cli("render", str(letter), "--out", "again").stdout  # dpi 100 from the file
    assert rendered_size("from-env", {"QVL_MAX_PIXELS": "200000"}) == [392, 504]  # the environment wins


@pytest.mark.parametrize(
    ("command", "config", "where"),
    [
        ("extract", 'password = "secret"\n', "password"),
        ("render", 'password = "secret"\n', "password"),
        ("check", 'password = "secret"\n[[rules]]\nfiles = ["*.pdf"]\nschema = "form"\n', "password"),
        ("check", '[[rules]]\nfiles = ["*.pdf"]\nschema = "form"\npassword = "secret"\n', "rules[0].password"),
    ],
)
def test_a_password_in_a_configuration_file_is_refused(
    tmp_path: Path, letter: Path, monkeypatch: pytest.MonkeyPatch, command: str, config: str, where: str
) -> None:
    (tmp_path / ".qvl.toml").write_text(config)
    monkeypatch.chdir(tmp_path)
    args = {"extract": ["-s", "form"], "render": ["--out", "pages"], "check": []}[command]
    result = cli(command, letter.name, *args, env=fake(FORM))
    assert result.exit_code == 2
    assert result.stderr == (
        f"qvl: error: .qvl.toml: {where}: is not allowed in a configuration file "
        "(pass --password or set QVL_PDF_PASSWORD)\n"
    )
    assert result.stdout == "" and not (tmp_path / "pages").exists()


def test_empty_environment_variables_are_ignored(tmp_path: Path, letter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty (or blank) variables neither fail nor hide the configuration file's values."""
    (tmp_path / ".qvl.toml").write_text(f"max_pixels = {SMALL_PIXELS}\nmax_new_tokens = 77\n")
    monkeypatch.chdir(tmp_path)
    empty = {"QVL_MAX_PIXELS": "", "QVL_DTYPE": "  ", "QVL_MAX_PAGES": "", "QVL_EVIDENCE": "", "QVL_PDF_PASSWORD": ""}
    record = extracted(letter, env=empty)
    assert record["budget"]["max_pixels"] == SMALL_PIXELS and record["budget"]["max_new_tokens"] == 77
    assert record["evidence"] is not None  # QVL_EVIDENCE="" is not "off" (nor an error)
    assert cli("extract", str(letter), "-s", "form", env=fake(FORM) | {"QVL_DTYPE": "x"}).exit_code == 2  # not blank


def test_the_readme_lists_exactly_the_declared_environment_variables() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Settings") :]
    section = section[section.index("- **Environment**") : section.index("- **Command line**")]
    listed = set(re.findall(r"`((?:QVL|OPENAI)_[A-Z_]+)`", section))
    declared = {setting.spec.env for setting in all_settings().values() if setting.spec.env}
    assert listed == declared | {CACHE_ENV}  # the cache folder is a location, not a setting


@pytest.mark.parametrize("command", ["extract", "render"])
def test_each_options_help_line_names_its_variable(command: str) -> None:
    lines = cli(command, "--help", env={"COLUMNS": "300"}).stdout.splitlines()
    shown = 0
    for setting in all_settings().values():
        rows = [line for line in lines if re.search(rf"{re.escape(setting.flag)}\b(?!-)", line)]
        if setting.spec.env and rows:
            shown += 1
            assert f"[env var: {setting.spec.env}]" in rows[0], setting.name
    everything_but_render_only = [s for s in all_settings().values() if s.name not in RENDER_ONLY]
    settings = everything_but_render_only if command == "extract" else declared(RenderSettings)
    assert shown == len([setting for setting in settings if setting.spec.env])


@pytest.mark.parametrize("command", ["extract", "render"])
def test_a_password_in_pyproject_tool_qvl_is_refused(
    tmp_path: Path, letter: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.qvl]\npassword = "secret"\n')
    monkeypatch.chdir(tmp_path)
    args = {"extract": ["-s", "form"], "render": ["--out", "pages"]}[command]
    result = cli(command, letter.name, *args, env=fake(FORM))
    assert result.exit_code == 2
    assert result.stderr == (
        "qvl: error: pyproject.toml: password: is not allowed in a configuration file "
        "(pass --password or set QVL_PDF_PASSWORD)\n"
    )
    assert result.stdout == "" and not (tmp_path / "pages").exists()


def test_the_openai_backend_without_a_server_address_is_refused_up_front(letter: Path) -> None:
    for args, env in ((["--backend", "openai"], {}), ([], {"QVL_BACKEND": "openai"})):
        result = cli("extract", str(letter), "-s", "form", *args, env=env)
        assert result.exit_code == 2
        assert result.stderr == (
            "qvl: error: the openai backend needs --base-url (env QVL_BASE_URL), e.g. http://127.0.0.1:8000/v1\n"
        )
