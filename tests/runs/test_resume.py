"""Stopping and going on: Ctrl-C and SIGTERM keep finished records, --resume after a kill
records every input exactly once, cut lines and leftover temporary files are repaired."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import qvl, records
from samples import fake_env, make_pdf

from qvl_cli.runs.records import Envelope
from qvl_cli.runs.writers import AppendingFileWriter, resume_id


def run_until_killed(args: list[str], moment: float) -> None:
    """Start qvl, kill it with SIGKILL (no chance to clean up) ``moment`` seconds later."""
    process = subprocess.Popen(args, env={**os.environ, **fake_env(delay=0.2)}, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=moment)
    except subprocess.TimeoutExpired:
        process.kill()
    process.wait()


def assert_resume_records_every_input_once(docs: list[Path], out: Path) -> None:
    before = out.read_text().count("\n") if out.exists() else 0
    rerun = qvl("extract", *map(str, docs), "-s", "form", "-o", str(out), "--resume", env=fake_env())
    assert rerun.returncode == 0, rerun.stderr
    final = records(out.read_text())
    assert sorted(r["file"] for r in final) == sorted(map(str, docs))
    if before:
        assert f"; {before} already recorded: {before} valid, 0 invalid, 0 failed; " in rerun.stderr


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_resume_after_kill_at_a_random_moment_records_every_input_exactly_once(tmp_path: Path, seed: int) -> None:
    import random

    docs = [make_pdf(tmp_path / f"doc{i:02d}.pdf", str(i)) for i in range(8)]
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "-o", str(out), "--resume"]
    moment = random.Random(seed).uniform(0.5, 4.0)  # start-up, model loading, or mid-batch
    run_until_killed(args, moment)
    assert_resume_records_every_input_once(docs, out)


STALL_MID_WRITE = """
import os, runpy, sys, time
real_write = os.write
def write(fd, data):
    if len(data) > 100 and os.fstat(fd).st_size > 0:  # the second record, into a non-empty file
        real_write(fd, bytes(data)[: len(data) // 2])
        open(os.environ["STALLED"], "w").close()
        time.sleep(120)
    return real_write(fd, data)
os.write = write
sys.argv = ["qvl", *sys.argv[1:]]
runpy.run_module("qvl_cli", run_name="__main__")
"""


def test_resume_after_kill_in_the_middle_of_a_write(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i:02d}.pdf", str(i)) for i in range(4)]
    out, stalled = tmp_path / "out.jsonl", tmp_path / "stalled"
    args = [sys.executable, "-c", STALL_MID_WRITE, "extract", *map(str, docs), "-s", "form", "-o", str(out), "--resume"]
    process = subprocess.Popen(args, env={**os.environ, **fake_env(), "STALLED": str(stalled)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not stalled.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert stalled.exists(), process.stderr.read() if process.stderr else ""
    process.kill()
    process.wait()
    text = out.read_text()
    assert text.count("\n") == 1 and not text.endswith("\n")  # one whole record, half of the next
    assert_resume_records_every_input_once(docs, out)


def test_leftover_temporary_output_of_a_killed_run_is_cleaned_and_named(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(10)]
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "-o", str(out)]
    process = subprocess.Popen(args, env={**os.environ, **fake_env(delay=0.3)}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    temps: list[Path] = []
    while time.monotonic() < deadline and not temps:
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.") and p.stat().st_size]
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert temps and temps[0].exists() and not out.exists()
    rerun = qvl("extract", *map(str, docs[:2]), "-s", "form", "-o", str(out), env=fake_env())
    assert rerun.returncode == 0, rerun.stderr
    assert f"qvl: removed {temps[0]}, left by an earlier run that was killed" in rerun.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    assert len(records(out.read_text())) == 2


@pytest.mark.parametrize("content", ["name,total\nACME,10\n", '{"a": 1}\n{"b": 2}\n', "notes without newline"])
def test_resume_refuses_a_file_without_qvl_records(tmp_path: Path, content: str) -> None:
    doc = make_pdf(tmp_path / "a.pdf", "a")
    out = tmp_path / "table.csv"
    out.write_text(content)
    result = qvl("extract", str(doc), "-s", "form", "-o", str(out), "--resume", env=fake_env())
    assert result.returncode == 3
    assert f"qvl: error: {out}: holds no qvl records; --resume appends only to a file that qvl extract -o wrote" in (
        result.stderr
    )
    assert out.read_text() == content  # untouched


def test_resume_needs_an_output() -> None:
    result = qvl("extract", "x.pdf", "-s", "form", "--resume")
    assert result.returncode == 2
    assert "--resume needs -o FILE or --output-dir DIR" in result.stderr


def test_ctrl_c_keeps_finished_records_and_exits_130(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(20)]
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form"],
        env={**os.environ, **fake_env(delay=0.3)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline takes one line, communicate() the rest
    )
    first_line = process.stdout.readline().decode()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    rest, stderr = out.decode(), err.decode()
    assert process.returncode == 130
    lines = [first_line, *rest.splitlines(keepends=True)]
    assert all(line.endswith("\n") for line in lines)
    done = len(records("".join(lines)))
    assert 1 <= done < 20
    assert f"qvl: interrupted after {done} of 20 documents\n" in stderr
    assert f"qvl: {done} document{'s' * (done != 1)}: {done} valid" in stderr and "Traceback" not in stderr


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(20)]
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "-o", str(out)],
        env={**os.environ, **fake_env(delay=0.3)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until a record is in the (still temporary) output
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.")]
        if temps and temps[0].read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    done = len(records(out.read_text()))
    assert 1 <= done < 20  # finished records committed, whole lines only
    assert f"qvl: interrupted after {done} of 20 documents\n" in stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_before_any_record_keeps_the_previous_output(tmp_path: Path, sig: signal.Signals) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(3)]
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "-o", str(out)],
        env={**os.environ, **fake_env(delay=60)},  # no document can finish before the signal
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.")]:
        time.sleep(0.05)  # until the output is open
    time.sleep(1.0)  # and the run under way, the model waiting on its first document
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "qvl: interrupted after 0 of 3 documents\n" in stderr
    assert out.read_text() == "previous\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_appending_writer_repairs_a_cut_line(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"key": "k1", "valid": true}\n{"key": "k2", "val')
    writer = AppendingFileWriter(target)
    assert writer.recorded() == {resume_id(None, "k1"): 0}  # its exit code: valid
    writer.write(Envelope(file="b.pdf", schema="form", valid=False, key="k2"))
    writer.close()
    assert [(r["key"], r["valid"]) for r in records(target.read_text())] == [("k1", True), ("k2", False)]


@pytest.mark.parametrize("folder", [False, True])
def test_resume_records_each_of_two_files_with_the_same_content(tmp_path: Path, folder: bool) -> None:
    first = make_pdf(tmp_path / "g1.pdf", "same")
    copies = [first, *(tmp_path / name for name in ("g2.pdf", "g3.pdf"))]
    for copy in copies[1:]:
        copy.write_bytes(first.read_bytes())
    out = ["--output-dir", str(tmp_path / "out")] if folder else ["-o", str(tmp_path / "out.jsonl")]
    once = qvl("extract", str(first), "-s", "form", *out, "--resume", env=fake_env())
    again = qvl("extract", *map(str, copies), "-s", "form", *out, "--resume", env=fake_env())
    assert once.returncode == again.returncode == 0, again.stderr
    assert "(2 from cache); 1 already recorded: 1 valid" in again.stderr  # the copies: their content is known
    if folder:
        written = sorted(json.loads(p.read_text())["file"] for p in (tmp_path / "out").glob("*.json"))
    else:
        written = sorted(r["file"] for r in records((tmp_path / "out.jsonl").read_text()))
    assert written == sorted(map(str, copies))


def test_resume_accounts_for_recorded_failures_in_its_summary_and_exit_code(tmp_path: Path) -> None:
    """Documents recorded as failed or invalid are counted in the summary by their recorded
    status, and the exit code is the one a fresh run over the same inputs gives."""
    docs = [make_pdf(tmp_path / "good.pdf", "good"), tmp_path / "bad.pdf", make_pdf(tmp_path / "new.pdf", "new")]
    docs[1].write_text("not a pdf")
    out = tmp_path / "out.jsonl"
    first = qvl("extract", *map(str, docs[:2]), "-s", "form", "-o", str(out), env=fake_env())
    assert first.returncode == 2, first.stderr
    rerun = qvl("extract", *map(str, docs), "-s", "form", "-o", str(out), "--resume", env=fake_env())
    assert rerun.returncode == first.returncode, rerun.stderr
    [summary] = [line for line in rerun.stderr.splitlines() if line.startswith("qvl: ")]
    assert summary.startswith(
        "qvl: 1 document: 1 valid, 0 invalid, 0 failed; 2 already recorded: 1 valid, 0 invalid, 1 failed; 1 page in "
    )
    assert [record["file"] for record in records(out.read_text())] == list(map(str, docs))
