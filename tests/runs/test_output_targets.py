"""Where ``-o`` output lands: a symbolic link's target (the link kept), a FIFO or a ``/dev/fd`` pipe
written directly as records come, ``-`` for stdout; an input or a document is never overwritten.

Only FIFOs and links made here and pipes of this test's own processes are written to, never a
real device under /dev.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import cli, records
from samples import fake_env, make_pdf

from qvl_cli.runs.targets import OutputFile


def read_in_thread(path: Path) -> tuple[threading.Thread, list[bytes]]:
    """A reader of the FIFO ``path`` (its writer's open blocks until one comes)."""
    got: list[bytes] = []

    def read() -> None:
        with path.open("rb") as handle:
            got.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, got


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_fifo_is_written_directly_and_stays_a_fifo(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"d{i}.pdf", str(i)) for i in range(2)]
    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    thread, got = read_in_thread(fifo)
    result = cli("extract", *map(str, docs), "-s", "form", "-o", str(fifo), env=fake_env())
    thread.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [r["file"] for r in records(got[0].decode())] == list(map(str, docs))
    assert no_temporary_files(tmp_path)


def test_a_fifo_gets_each_line_as_it_is_written(tmp_path: Path) -> None:
    """Streaming: the reader has the first line before the output is complete."""
    fifo = tmp_path / "lines.fifo"
    os.mkfifo(fifo)
    lines: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as handle:
            lines.append(handle.readline())
            seen.set()
            lines.append(handle.read())

    seen = threading.Event()
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    output = OutputFile(fifo)
    output.write("first\n")
    assert seen.wait(timeout=30), "the first line did not reach the reader before the output was complete"
    output.write("second\n")
    output.commit()
    thread.join(timeout=30)
    assert lines == [b"first\n", b"second\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and no_temporary_files(tmp_path)


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symlink_is_followed_and_kept(tmp_path: Path, dangling: bool) -> None:
    doc = make_pdf(tmp_path / "a.pdf", "a")
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.jsonl"
    if not dangling:
        target.write_text("previous\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(Path("real") / "out.jsonl")
    result = cli("extract", str(doc), "-s", "form", "-o", str(link), env=fake_env())
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "out.jsonl")
    assert [r["file"] for r in records(target.read_text())] == [str(doc)]
    assert no_temporary_files(tmp_path) and no_temporary_files(tmp_path / "real")


def test_a_dev_fd_pipe_is_written_directly(tmp_path: Path) -> None:
    """``-o >(wc -c)``: the shell passes /dev/fd/N, a pipe that qvl opens and writes."""
    doc = make_pdf(tmp_path / "a.pdf", "a")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", str(doc), "-s", "form", "-o", f"/dev/fd/{write_end}"],
        pass_fds=(write_end,),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **fake_env()},
        cwd=tmp_path,
    )
    os.close(write_end)  # the pipe ends when qvl closes its end
    with os.fdopen(read_end, "rb") as pipe:
        written = pipe.read()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert [r["file"] for r in records(written.decode())] == [str(doc)] and stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf"]


def test_a_descriptor_of_a_regular_file_is_written_where_the_shell_opened_it(tmp_path: Path) -> None:
    """``-o /dev/fd/3 3>>log``: the file the descriptor holds is appended to, not replaced."""
    log = tmp_path / "log.jsonl"
    log.write_text("earlier\n")
    inode = log.stat().st_ino
    with log.open("a") as opened:
        output = OutputFile(f"/dev/fd/{opened.fileno()}")
        output.write("new\n")
        output.commit()
    assert log.read_text() == "earlier\nnew\n" and log.stat().st_ino == inode
    assert no_temporary_files(tmp_path)


def test_output_dash_is_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = make_pdf(tmp_path / "a.pdf", "a")
    result = cli("extract", str(doc), "-s", "form", "-o", "-", env=fake_env())
    assert result.exit_code == 0, result.stderr
    assert [r["file"] for r in records(result.stdout)] == [str(doc)]
    assert not (tmp_path / "-").exists()
    resume = cli("extract", str(doc), "-s", "form", "-o", "-", "--resume", env=fake_env())
    assert resume.exit_code == 2 and "--resume needs -o FILE or --output-dir DIR" in resume.stderr


def test_a_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    doc = make_pdf(tmp_path / "a.pdf", "a")
    result = cli("extract", str(doc), "-s", "form", "-o", str(tmp_path), env=fake_env())
    assert result.exit_code == 3
    assert result.stderr.startswith(f"qvl: error: {tmp_path}: is a folder, not a file")


def test_an_input_is_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = make_pdf(tmp_path / "victim.pdf", "a")
    before = doc.read_bytes()
    (tmp_path / "alias.pdf").symlink_to("victim.pdf")
    spellings = (("victim.pdf", "victim.pdf"), ("victim.pdf", str(doc)), ("alias.pdf", "victim.pdf"))
    for given, output in spellings:
        result = cli("extract", given, "-s", "form", "-o", output, env=fake_env())
        assert result.exit_code == 2, (given, output, result.stderr)
        assert result.stderr.startswith(f"qvl: error: {output}: is ")
        assert "-o would replace it (give -o another file)" in result.stderr
        assert doc.read_bytes() == before
    other = make_pdf(tmp_path / "other.pdf", "b")  # not an input, but a document
    result = cli("extract", "victim.pdf", "-s", "form", "-o", "other.pdf", env=fake_env())
    assert result.exit_code == 2
    assert result.stderr == ("qvl: error: other.pdf: is a PDF document; -o would replace it (give -o another file)\n")
    assert other.read_bytes()[:5] == b"%PDF-" and no_temporary_files(tmp_path)


def test_review_and_locate_refuse_to_overwrite_their_input_or_a_document(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    run.write_text('{"file": "a.pdf", "data": {"title": "x"}}\n')
    doc = make_pdf(tmp_path / "a.pdf", "a")
    for command in ("review", "locate"):
        for output in (run, doc):
            result = cli(command, str(run), "-o", str(output))
            assert result.exit_code == 2, (command, result.stderr)
            assert "-o would replace it" in result.stderr
    assert run.read_text() == '{"file": "a.pdf", "data": {"title": "x"}}\n' and doc.read_bytes()[:5] == b"%PDF-"


def test_review_writes_through_a_symlink(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    run.write_text('{"file": "gone.pdf", "data": {"title": "x"}}\n')
    (tmp_path / "report.html").write_text("old")
    link = tmp_path / "latest.html"
    link.symlink_to("report.html")
    result = cli("review", str(run), "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
