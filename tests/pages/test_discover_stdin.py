"""``-`` reads a list of paths: a document piped in, or a list in the other separator form, is one
usage error (exit 2) that says what to do, not one "no such file" record per fragment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from samples import fake_env, make_pdf

from qvl_cli.errors import EXIT_USAGE, InputError
from qvl_cli.pages.discover import find_documents

EXAMPLES = Path(__file__).parents[2] / "examples"


def stdin_of(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


def test_a_pdf_piped_to_dash_is_one_usage_error_naming_what_to_do() -> None:
    pdf = (EXAMPLES / "invoice.pdf").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "qvl_cli", "extract", "-", "-s", "invoice"],
        input=pdf,
        capture_output=True,
        env={**os.environ, **fake_env()},
        timeout=120,
    )
    stderr = done.stderr.decode()
    assert done.returncode == EXIT_USAGE
    assert done.stdout == b""
    assert stderr.count("\n") == 1, stderr
    assert "standard input holds a PDF document, not a list of paths" in stderr
    assert "one per line or NUL-separated with -0" in stderr and "pass the file's path" in stderr


@pytest.mark.parametrize("name", ["form.png", "invoice.pdf"])
def test_documents_on_stdin_are_refused_with_or_without_dash_zero(name: str) -> None:
    data = (EXAMPLES / name).read_bytes()
    for null_separated in (False, True):
        with pytest.raises(InputError, match="standard input holds a .* document, not a list of paths"):
            find_documents(["-"], null_separated=null_separated, stdin=stdin_of(data))


def test_dash_zero_with_a_newline_separated_list_says_to_drop_it(tmp_path: Path) -> None:
    files = [make_pdf(tmp_path / f"{n}.pdf", n) for n in "ab"]
    listed = "".join(f"{p}\n" for p in files).encode()
    with pytest.raises(InputError, match="drop -0") as caught:
        find_documents(["-"], null_separated=True, stdin=stdin_of(listed))
    assert caught.value.exit_code == EXIT_USAGE
    assert find_documents(["-"], stdin=stdin_of(listed)) == files
    with pytest.raises(InputError, match="drop -0"):  # `echo a.pdf | qvl extract -0 -`
        find_documents(["-"], null_separated=True, stdin=stdin_of(f"{files[0]}\n".encode()))


def test_a_nul_separated_list_without_dash_zero_says_to_add_it(tmp_path: Path) -> None:
    files = [make_pdf(tmp_path / f"{n}.pdf", n) for n in "ab"]
    listed = "".join(f"{p}\0" for p in files).encode()
    with pytest.raises(InputError, match="add -0"):
        find_documents(["-"], stdin=stdin_of(listed))
    assert find_documents(["-"], null_separated=True, stdin=stdin_of(listed)) == files


def test_dash_zero_keeps_one_name_without_a_separator_and_names_with_newlines(tmp_path: Path) -> None:
    odd = make_pdf(tmp_path / "new\nline.pdf", "x")
    plain = make_pdf(tmp_path / "plain.pdf", "y")
    assert find_documents(["-"], null_separated=True, stdin=stdin_of(str(plain).encode())) == [plain]
    listed = f"{odd}\0{plain}\0".encode()
    assert find_documents(["-"], null_separated=True, stdin=stdin_of(listed)) == [odd, plain]


def test_file_names_that_are_not_utf8_survive_the_list(tmp_path: Path) -> None:
    name = tmp_path / "caf\udce9.pdf"  # a Latin-1 byte in a file name, as os.fsdecode gives it
    try:
        make_pdf(name, "z")
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system does not take a name that is not UTF-8")
    assert find_documents(["-"], stdin=stdin_of(bytes(name) + b"\n")) == [name]
