"""What a newcomer meets first: every mistake is one line naming what is wrong and where it was
set (exit 2, before any document is read), `qvl validate` on files that are not JSON, and help
laid out wide enough that nothing is cut."""

from __future__ import annotations

import os
import pty
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cli, fake, qvl
from pdf_factory import PageSpec, write_pdf
from PIL import Image

from qvl_cli import Extractor
from qvl_cli.settings import SettingsError, all_settings
from qvl_cli.widths import HELP_WIDTH, help_width

FORM = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}
BACKEND_ERROR = re.compile(r"^qvl: error: (?P<where>.+): 'nope' is not one of (?P<names>[a-z0-9_, -]+)\n$")


def one_line(stderr: str) -> str:
    assert len(stderr.splitlines()) == 1, stderr
    assert "Usage:" not in stderr and "╭" not in stderr and "Traceback" not in stderr
    return stderr


def backend_names(stderr: str, where: str) -> set[str]:
    match = BACKEND_ERROR.match(one_line(stderr))
    assert match and match["where"] == where, stderr
    return set(match["names"].split(", "))


# an unknown backend -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "args", "env", "config"),
    [
        ("--backend", ["--backend", "nope"], {}, None),
        ("QVL_BACKEND", [], {"QVL_BACKEND": "nope"}, None),
        (".qvl.toml: backend", [], {}, (".qvl.toml", 'backend = "nope"\n')),
        ("pyproject.toml: backend", [], {}, ("pyproject.toml", '[tool.qvl]\nbackend = "nope"\n')),
    ],
)
def test_an_unknown_backend_is_refused_up_front_naming_its_source(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    args: list[str],
    env: dict[str, str],
    config: tuple[str, str] | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    if config:
        (tmp_path / config[0]).write_text(config[1])
    doc = write_pdf(tmp_path / "a.pdf", [PageSpec()])
    result = cli("extract", str(doc), "missing.pdf", "-s", "form", *args, env=env)
    assert result.exit_code == 2
    assert result.stdout == ""  # refused before any document: no record, not even for the missing one
    assert {"fake", "openai", "transformers"} <= backend_names(result.stderr, where)


def test_a_rules_backend_is_checked_with_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".qvl.toml").write_text('[[rules]]\nfiles = ["*.pdf"]\nschema = "form"\nbackend = "nope"\n')
    write_pdf(tmp_path / "a.pdf", [PageSpec()])
    result = cli("check", "a.pdf")
    assert result.exit_code == 2
    assert "openai" in backend_names(result.stderr, ".qvl.toml: rules[0].backend")


def test_the_real_command_refuses_an_unknown_backend_and_takes_a_plugin(tmp_path: Path) -> None:
    doc = write_pdf(tmp_path / "a.pdf", [PageSpec(lines=("FORM", "Name: Maria"))])
    refused = qvl("extract", str(doc), "-s", "form", env={"QVL_BACKEND": "nope"})
    assert (refused.returncode, refused.stdout) == (2, "")
    assert {"fake", "openai", "transformers"} <= backend_names(refused.stderr, "QVL_BACKEND")
    taken = qvl("extract", str(doc), "-s", "form", "--render-workers", "0", env=fake(FORM))  # fake: a plugin here
    assert taken.returncode == 0, taken.stderr
    assert '"valid":true' in taken.stdout


def test_the_python_api_refuses_an_unknown_backend() -> None:
    with pytest.raises(SettingsError, match=r"^backend: 'nope' is not one of .*openai, .*transformers"):
        Extractor("form", backend="nope")


# usage errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["extract"], "missing argument 'PATH' (see qvl extract --help)"),
        (["extract", "a.pdf"], "missing option '--schema' / '-s' (see qvl extract --help)"),
        (["render", "a.pdf"], "missing option '--out' (see qvl render --help)"),
        (["validate", "-s", "form"], "missing argument 'FILE' (see qvl validate --help)"),
        (["extract", "a.pdf", "-s", "form", "--max-pixels"], "option '--max-pixels' requires an argument"),
        (["extract", "a.pdf", "-s", "form", "--bogus"], "no such option: --bogus"),
        (["--bogus"], "no such option: --bogus"),
        (["nope"], "no such command 'nope' (see qvl --help)"),
        (["eval", "p.jsonl", "--gold", "g", "--tolerance", "abc"], "invalid value for '--tolerance'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert one_line(result.stderr).startswith(f"qvl: error: {message}")


def test_usage_errors_are_caught_through_typers_public_exception() -> None:
    """qvl catches typer's usage errors as ``typer.TyperException``, their public base since typer
    0.28 (typer vendors click privately: ``typer._click`` is no API). If typer stops deriving them
    from it, usage errors would come out as tracebacks: this fails first."""
    import typer
    from typer.main import get_command

    from qvl_cli import cli_display

    tiny = typer.Typer()

    @tiny.command()
    def main(name: str) -> None:  # pragma: no cover - never runs: its argument is missing
        """One required argument."""

    with pytest.raises(typer.TyperException) as raised:
        get_command(tiny).main([], prog_name="tiny", standalone_mode=False)
    assert raised.value.exit_code == 2 and raised.value.format_message() == "Missing argument 'name'."
    assert cli_display.usage_message(raised.value) == "missing argument 'name' (see tiny --help)"
    assert "_click" not in Path(cli_display.__file__).read_text(encoding="utf-8")


def test_the_real_command_prints_a_missing_option_as_one_line() -> None:
    result = qvl("extract", "a.pdf")
    assert result.returncode == 2 and result.stdout == ""
    assert re.fullmatch(r"qvl: error: missing option '--schema' / '-s' \(see .+ extract --help\)\n", result.stderr)


def test_qvl_alone_still_shows_its_help() -> None:
    result = qvl()
    assert "[OPTIONS] COMMAND [ARGS]" in result.stdout and "extract" in result.stdout


# qvl validate on files that are not JSON ----------------------------------------------------------


def test_validate_names_binary_files_and_documents(tmp_path: Path) -> None:
    binary = tmp_path / "blob.json"
    binary.write_bytes(b'{"title": "\xff\xfe"}')
    lines = tmp_path / "run.jsonl"
    lines.write_bytes(b'{"title": "ok"}\n{"title": "\x89"}\n')
    page = tmp_path / "scan.json"  # a document whatever its name says
    Image.new("RGB", (8, 8), "white").save(page, format="PNG")
    pdf = write_pdf(tmp_path / "invoice.pdf", [PageSpec()])
    result = cli("validate", str(binary), str(lines), str(page), str(pdf), "-s", "form")
    assert result.exit_code == 2
    out = result.stdout.splitlines()
    advice = "give a JSON or JSON Lines file saved as UTF-8"
    assert out[0] == f"{binary}: not JSON: not UTF-8 text (byte 0xff on line 1): {advice}"
    assert out[1] == f"{lines}: not JSON: not UTF-8 text (byte 0x89 on line 2): {advice}"
    for name, kind in ((page, "PNG"), (pdf, "PDF")):
        assert f"{name}: not JSON: a {kind} document, not extracted data: extract it first (qvl " in result.stdout
    assert "codec" not in result.stdout + result.stderr
    named = tmp_path / "results.jsonl"  # an ASCII PDF named like results: one line, not one a line
    named.write_bytes(pdf.read_bytes().replace(b"%\xe2\xe3\xcf\xd3\n", b""))  # no binary comment line
    named.read_bytes().decode("ascii")
    result = cli("validate", str(named), "-s", "form")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0] == (
        f"{named}: not JSON: a PDF document, not extracted data: extract it first (qvl extract FILE"
        " --schema NAME -o out.jsonl) and validate out.jsonl"
    )
    assert "1 failed (1 problem)" in result.stdout


# help ---------------------------------------------------------------------------------------------


def help_text(output: str) -> str:
    """The words of a help screen, its boxes and line breaks taken out."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_help_is_not_cut_when_not_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # a developer's shell may export them
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    result = cli("extract", "--help")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) == HELP_WIDTH
    assert "…" not in result.stdout
    text = help_text(result.stdout)
    assert "--require-evidence --no-require-evidence" in text
    for name in ("render_timeout", "require_evidence", "min_page_pixels"):
        assert " ".join(all_settings()[name].spec.help.split()) in text, name


def test_help_follows_columns_when_wider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    result = cli("extract", "--help", env={"COLUMNS": "160"})
    assert max(len(line) for line in result.stdout.splitlines()) == 160
    assert help_width({"COLUMNS": "60"}, terminal=False) == HELP_WIDTH
    assert help_width({"TERMINAL_WIDTH": "72"}, terminal=False) == 72
    assert help_width({}, terminal=True) is None  # rich measures the terminal


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_help_on_a_terminal_fills_its_width() -> None:
    import fcntl
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 150, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", "--help"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm"},
        cwd=ROOT,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode("utf-8", "replace"))
    widths = [len(line) for line in plain.replace("\r", "").splitlines()]
    assert max(widths) == 150


@pytest.mark.parametrize(
    ("env", "width"),
    [
        ({"TERMINAL_WIDTH": "72"}, 72),  # set outright, narrower than off a terminal's 100
        ({"TERMINAL_WIDTH": "130", "COLUMNS": "90"}, 130),  # TERMINAL_WIDTH wins over COLUMNS
        ({"COLUMNS": "140"}, 140),  # COLUMNS when wider than 100
        ({"COLUMNS": "60"}, HELP_WIDTH),  # never narrower than 100 off a terminal
        ({}, HELP_WIDTH),
    ],
)
def test_the_real_command_lays_help_out_at_the_width_asked(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], width: int
) -> None:
    """What the README promises, through the real entry point in a fresh process (stdout a pipe)."""
    for name in ("COLUMNS", "LINES", "TERMINAL_WIDTH"):
        monkeypatch.delenv(name, raising=False)
    result = qvl("extract", "--help", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) == width
    assert sum(len(line) == width for line in lines) > 10  # the panels' borders span the width
    if width >= HELP_WIDTH:  # narrower, a long default may be cut, as the user asked for
        assert "…" not in result.stdout and "--require-evidence --no-require-evidence" in help_text(result.stdout)
