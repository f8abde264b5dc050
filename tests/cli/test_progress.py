"""What a person sees on a terminal: records never land on the progress bar (real pseudo-terminal)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf

from qvl_cli.commands.progress import eta_text

REPLY = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}
BAR = "━"
CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def fake_env(tmp_path: Path, delay: float = 0.4) -> dict[str, str]:
    replies = json.dumps([json.dumps(REPLY)] * 10)
    return {**os.environ, "TERM": "xterm-256color", "QVL_BACKEND": "fake", "QVL_FAKE_DELAY": str(delay),
            "QVL_FAKE_REPLIES": replies, "QVL_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip


def run_on_terminal(args: list[str], env: dict[str, str], stdout_on_terminal: bool) -> tuple[int, str, str]:
    """Run with stderr (and stdout, if asked) on a 100 x 40 pseudo-terminal; returns the exit
    code, everything written to the terminal, and what went to the stdout pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    stdout = slave if stdout_on_terminal else subprocess.PIPE
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while select.select([master], [], [], 120)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    piped = process.stdout.read().decode() if process.stdout else ""
    process.wait(timeout=60)
    os.close(master)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace"), piped


def screen(raw: str) -> list[str]:
    """What the terminal shows at the end: a small emulator for what rich writes (carriage
    return, newline, erase line, cursor up)."""
    lines, row, col = [""], 0, 0
    pos = 0
    while pos < len(raw):
        match = CSI.match(raw, pos)
        if match:
            arg, code = match.groups()
            if code == "K":
                lines[row] = lines[row][:col] if arg in ("", "0") else ""
            elif code == "A":
                row = max(0, row - int(arg or 1))
            pos = match.end()
            continue
        ch = raw[pos]
        pos += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append("")
        elif ch >= " ":
            line = lines[row].ljust(col)
            lines[row] = line[:col] + ch + line[col + 1 :]
            col += 1
    shown = [line.rstrip() for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def documents(tmp_path: Path, count: int = 3) -> list[str]:
    return [str(write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"FORM {i}",))])) for i in range(count)]


def parse_all(text: str) -> list[dict]:
    decoder, found, pos = json.JSONDecoder(), [], 0
    while (start := text.find("{", pos)) >= 0:
        value, pos = decoder.raw_decode(text, start)
        found.append(value)
    return found


def test_records_on_the_terminal_never_land_on_the_bar(tmp_path: Path) -> None:
    docs = documents(tmp_path)
    code, raw, _ = run_on_terminal([sys.executable, "-m", "qvl_cli", "extract", *docs, "-s", "form"],
                                   fake_env(tmp_path), stdout_on_terminal=True)  # fmt: skip
    assert code == 0, raw
    assert BAR in raw and "ETA" in raw  # the bar was shown while working
    shown = screen(raw)
    assert not [line for line in shown if BAR in line], "\n".join(shown)
    records = [line for line in shown if not line.startswith("qvl: ") and ": valid, 1 page" not in line]
    assert [record["file"] for record in parse_all("\n".join(records))] == docs
    assert [line for line in shown if ": valid, 1 page, " in line] == [
        line for line in shown if re.fullmatch(r".*d\d\.pdf: valid, 1 page, \d+\.\d s", line)
    ]
    assert shown[-1].startswith("qvl: 3 documents: 3 valid")


def test_piped_records_do_not_interleave_with_a_bar(tmp_path: Path) -> None:
    """``qvl extract ... | jq``: jq prints to the same terminal, so stderr shows whole lines only."""
    docs = documents(tmp_path)
    code, raw, piped = run_on_terminal([sys.executable, "-m", "qvl_cli", "extract", *docs, "-s", "form"],
                                       fake_env(tmp_path), stdout_on_terminal=False)  # fmt: skip
    assert code == 0, raw
    assert BAR not in raw and "\x1b[1A" not in raw and "\r\x1b[2K" not in raw
    assert [json.loads(line)["file"] for line in piped.splitlines()] == docs
    lines = raw.replace("\r\n", "\n").splitlines()
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == ["[1/3", "[2/3", "[3/3"]
    assert all("(ETA " in line for line in lines if line.startswith("["))


def test_an_error_is_its_own_line_beside_the_progress_line(tmp_path: Path) -> None:
    docs = documents(tmp_path, 2)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 not really")
    code, raw, _ = run_on_terminal([sys.executable, "-m", "qvl_cli", "extract", docs[0], str(broken), "-s", "form"],
                                   fake_env(tmp_path, delay=0.0), stdout_on_terminal=False)  # fmt: skip
    assert code == 2, raw
    lines = raw.replace("\r\n", "\n").splitlines()
    errors = [line for line in lines if line.startswith(f"qvl: error: {broken}: ")]
    assert len(errors) == 1 and "[" not in errors[0].split(str(broken))[0]
    assert re.fullmatch(rf"\[2/2\] {re.escape(str(broken))}: error \(input\), \d+\.\d s \(ETA 0:00\)", lines[-2]), raw


def test_verbose_logs_a_line_per_document_without_a_terminal(tmp_path: Path) -> None:
    """``qvl extract folder/ -v -o out.jsonl 2> log``: one log line per document as it finishes."""
    folder = tmp_path / "folder"
    folder.mkdir()
    docs = [str(write_pdf(folder / f"d{i}.pdf", [PageSpec(lines=(f"FORM {i}",))])) for i in range(2)]
    (folder / "e.pdf").write_bytes(b"")
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "qvl_cli", "extract", str(folder), "-s", "form", "-v", "-o", str(out)]
    result = subprocess.run(args, capture_output=True, text=True, env=fake_env(tmp_path, delay=0.0), timeout=300)
    assert result.returncode == 2, result.stderr
    prefix = "INFO qvl_cli.commands.progress: "
    logged = [line.removeprefix(prefix) for line in result.stderr.splitlines() if line.startswith(prefix)]
    expected = [
        rf"\[1/3\] {re.escape(docs[0])}: valid, 1 page, \d+\.\d s",
        rf"\[2/3\] {re.escape(docs[1])}: valid, 1 page, \d+\.\d s",
        rf"\[3/3\] {re.escape(str(folder / 'e.pdf'))}: error \(input\), \d+\.\d s",
    ]
    assert len(logged) == 3 and all(re.fullmatch(*pair) for pair in zip(expected, logged, strict=True)), logged
    assert f"qvl: error: {folder / 'e.pdf'}: " in result.stderr  # the error itself, on its own line
    quiet = subprocess.run(args[:-3] + ["-o", str(out)], capture_output=True, text=True, env=fake_env(tmp_path))
    assert "INFO" not in quiet.stderr and quiet.returncode == 2  # without -v: errors and the summary only


def test_resume_counts_only_the_documents_left(tmp_path: Path) -> None:
    docs = documents(tmp_path)
    out = tmp_path / "out.jsonl"
    env = fake_env(tmp_path)
    first = subprocess.run([sys.executable, "-m", "qvl_cli", "extract", *docs[:2], "-s", "form", "-o", str(out)],
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stderr
    code, raw, _ = run_on_terminal(
        [sys.executable, "-m", "qvl_cli", "extract", *docs, "-s", "form", "-o", str(out), "--resume"],
        env, stdout_on_terminal=True,
    )  # fmt: skip
    assert code == 0, raw
    frames = [CSI.sub("", frame) for frame in raw.split("\r") if BAR in frame]
    counts = [re.search(r"(\d+)/(\d+)", frame).groups() for frame in frames]  # type: ignore[union-attr]
    assert counts[-1] == ("0", "1") or counts[-1] == ("1", "1")
    assert ("1", "3") not in counts and ("2", "3") not in counts and ("3", "3") not in counts
    assert screen(raw)[-1].startswith("qvl: 1 document: 1 valid")
    assert "; 2 already recorded: 2 valid, 0 invalid, 0 failed; " in raw


@pytest.mark.parametrize(
    ("elapsed", "done", "total", "text"),
    [(None, 0, 5, "ETA --:--"), (10.0, 0, 5, "ETA --:--"), (10.0, 2, 6, "ETA 0:20"), (7200.0, 1, 2, "ETA 2:00:00")],
)
def test_eta_comes_from_the_average_per_document(elapsed: float | None, done: int, total: int, text: str) -> None:
    assert eta_text(elapsed, done, total) == text
