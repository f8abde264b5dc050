"""Batches in shell pipelines: folders, stdin lists, resume after a crash, cache, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from PIL import Image

from qvl_cli.pages.discover import expand_inputs
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.writers import AppendingFileWriter, DirectoryWriter, StreamWriter, safe_stem
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

REPLY = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}


def qvl(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qvl_cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def fake_env(count: int = 50, delay: float = 0.0) -> dict[str, str]:
    return {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps([json.dumps(REPLY)] * count),
            "QVL_FAKE_DELAY": str(delay)}  # fmt: skip


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def make_pdf(path: Path, label: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_pdf(path, [PageSpec(lines=(f"FORM {label}", "Name: Maria"))])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    make_pdf(root / "a.pdf", "a")
    make_pdf(root / "sub" / "b.pdf", "b")
    Image.new("RGB", (300, 200), "white").save(root / "c.png")
    ImageDraw_text(root / "c.png")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00" * 100)
    (root / "notes.txt").write_text("not a document")
    (root / ".hidden.pdf").write_bytes((root / "a.pdf").read_bytes())
    return root


def ImageDraw_text(path: Path) -> None:  # noqa: N802 - a tiny helper named after what it uses
    from PIL import ImageDraw

    image = Image.open(path).convert("RGB")
    ImageDraw.Draw(image).text((20, 20), "Receipt 42", fill="black")
    image.save(path)


def test_folders_are_walked_and_non_documents_skipped(folder: Path) -> None:
    flat = [p.relative_to(folder).as_posix() for p in expand_inputs([folder])]
    assert flat == ["a.pdf", "broken.pdf", "c.png"]
    deep = [p.relative_to(folder).as_posix() for p in expand_inputs([folder], recursive=True, glob="*.pdf")]
    assert deep == ["a.pdf", "broken.pdf", "sub/b.pdf"]


def test_every_input_gets_exactly_one_record(folder: Path, tmp_path: Path, corpus: Path) -> None:
    shutil.copy(corpus / "pypdf/docs/encryption/r6-both-passwords.pdf", folder / "locked.pdf")
    notes = folder / "notes.txt"
    result = qvl("extract", str(folder), str(notes), "-r", "-s", "form", env=fake_env())
    assert result.returncode == 2
    by_name = {Path(r["file"]).name: r for r in records(result.stdout)}
    assert sorted(by_name) == ["a.pdf", "b.pdf", "broken.pdf", "c.png", "locked.pdf", "notes.txt"]
    assert by_name["a.pdf"]["valid"] and by_name["b.pdf"]["valid"] and by_name["c.png"]["valid"]
    assert by_name["broken.pdf"]["error"]["message"].endswith("cannot open PDF: the file is damaged or not a PDF")
    assert by_name["locked.pdf"]["error"]["type"] == "encrypted"
    assert "not a supported document" in by_name["notes.txt"]["error"]["message"]
    assert all(r["key"] for r in by_name.values())
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("qvl: 6 documents: 3 valid, 0 invalid, 3 failed;")
    assert "pages/s" in summary


def test_stdin_lists_with_any_file_name(tmp_path: Path) -> None:
    odd = [tmp_path / "with space.pdf", tmp_path / "new\nline.pdf", tmp_path / "ünï cødé.pdf"]
    for index, path in enumerate(odd):
        make_pdf(path, str(index))
    listed = "".join(f"{p}\0" for p in odd)
    result = qvl("extract", "-0", "-", "-s", "form", env=fake_env(), stdin=listed)
    assert result.returncode == 0, result.stderr
    assert [r["file"] for r in records(result.stdout)] == [str(p) for p in odd]
    lines = qvl("extract", "-", "-s", "form", env=fake_env(), stdin=f"{odd[0]}\n\n{odd[2]}\n")
    assert [r["file"] for r in records(lines.stdout)] == [str(odd[0]), str(odd[2])]


def test_output_dir_writes_one_complete_file_per_document(tmp_path: Path) -> None:
    first, second = make_pdf(tmp_path / "x" / "scan.pdf", "1"), make_pdf(tmp_path / "y" / "scan.pdf", "2")
    out = tmp_path / "out"
    result = qvl("extract", str(first), str(second), "-s", "form", "--output-dir", str(out), env=fake_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and "scan.json" in names
    assert any(name.startswith("scan-") and len(name) == len("scan-12345678.json") for name in names)
    files = {json.loads(p.read_text())["file"] for p in out.iterdir()}
    assert files == {str(first), str(second)}


@pytest.mark.parametrize(
    ("name", "stem"),
    [("../../etc/passwd", "passwd"), ("..", "document"), (".bashrc", "bashrc"), ("a\x00b:c.pdf", "a_b_c"),
     ("report.final.pdf", "report.final")],
)  # fmt: skip
def test_output_names_cannot_escape_the_folder(tmp_path: Path, name: str, stem: str) -> None:
    assert safe_stem(Path(name).name) == stem
    writer = DirectoryWriter(tmp_path)
    writer.write(Envelope(file=name, schema="form", valid=True))
    (written,) = tmp_path.iterdir()
    assert written.parent == tmp_path and written.name == f"{stem}.json"


def test_resume_after_kill_records_every_input_exactly_once(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i:02d}.pdf", str(i)) for i in range(10)]
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "-o", str(out), "--resume"]
    process = subprocess.Popen(args, env={**os.environ, **fake_env(delay=0.3)}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 3):
        time.sleep(0.05)
    process.kill()  # SIGKILL: no chance to clean up
    process.wait()
    with out.open("a") as handle:
        handle.write('{"file": "half a reco')  # as if killed in the middle of a write
    done_before = out.read_text().count("\n")
    assert 3 <= done_before < 10

    rerun = qvl("extract", *map(str, docs), "-s", "form", "-o", str(out), "--resume", env=fake_env())
    assert rerun.returncode == 0, rerun.stderr
    final = records(out.read_text())
    assert sorted(r["file"] for r in final) == sorted(map(str, docs))
    assert f"({done_before} already recorded)" in rerun.stderr


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
        text=True,
    )
    first_line = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = [first_line, *rest.splitlines(keepends=True)]
    assert all(line.endswith("\n") for line in lines)
    assert 1 <= len(records("".join(lines))) < 20
    assert "qvl: " in stderr and "documents:" in stderr and "Traceback" not in stderr


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
    assert 1 <= len(records(out.read_text())) < 20  # finished records committed, whole lines only
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def runner_for(fake_factory, cache_dir: Path, sink) -> BatchRunner:
    from qvl_cli.runs.cache import ResultCache

    schema = load_schema("form")
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(), fake_factory)
    return BatchRunner(extractor, {"test": 1}, sink, ResultCache(cache_dir))


def test_cache_hit_skips_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(3)]
    sink = StreamWriter(sys.stdout)
    first = runner_for(lambda: FakeBackend(replies=[json.dumps(REPLY)] * 3), tmp_path / "cache", sink)
    first.run(docs)
    fresh = records(capsys.readouterr().out)

    def no_model():
        raise AssertionError("the model must not be loaded for cached documents")

    second = runner_for(no_model, tmp_path / "cache", sink)
    summary = second.run(docs)
    cached = records(capsys.readouterr().out)
    assert summary.cached == 3
    assert [r["cached"] for r in cached] == [True] * 3
    assert [r["data"] for r in cached] == [r["data"] for r in fresh]
    make_pdf(docs[1], "changed")  # new content: a new key, so the model runs again
    calls = []
    third = runner_for(lambda: calls.append(1) or FakeBackend(replies=[json.dumps(REPLY)]), tmp_path / "cache", sink)
    assert third.run(docs).cached == 2 and calls == [1]


def test_no_cache_option(tmp_path: Path) -> None:
    doc = make_pdf(tmp_path / "doc.pdf", "1")
    qvl("extract", str(doc), "-s", "form", env=fake_env())
    again = qvl("extract", str(doc), "-s", "form", "--no-cache", env=fake_env())
    assert records(again.stdout)[0]["cached"] is False
    cached = qvl("extract", str(doc), "-s", "form", env=fake_env())
    assert records(cached.stdout)[0]["cached"] is True


def test_out_of_memory_degrades_the_budget_instead_of_failing(tmp_path: Path) -> None:
    doc = make_pdf(tmp_path / "big.pdf", "1")
    env = fake_env() | {"QVL_FAKE_OOM_ABOVE_PIXELS": "300000"}
    result = qvl("extract", str(doc), "-s", "form", env=env)
    assert result.returncode == 0, result.stderr
    (record,) = records(result.stdout)
    assert record["degraded"] == {"retries": 2, "max_pixels": 250880, "max_total_pixels": 3211264}
    assert record["pages"][0]["size"][0] * record["pages"][0]["size"][1] <= 250880
    assert any("ran out of memory" in w for w in record["warnings"])


def test_out_of_memory_at_the_floor_is_a_per_document_error(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(2)]
    result = qvl("extract", *map(str, docs), "-s", "form", env=fake_env() | {"QVL_FAKE_OOM_ABOVE_PIXELS": "1"})
    assert result.returncode == 3
    assert [r["error"]["type"] for r in records(result.stdout)] == ["out_of_memory"] * 2


def test_appending_writer_repairs_a_cut_line(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text('{"key": "k1", "valid": true}\n{"key": "k2", "val')
    writer = AppendingFileWriter(target)
    assert writer.recorded() == {"k1": 0}  # its exit code: valid
    writer.write(Envelope(file="b.pdf", schema="form", valid=False, key="k2"))
    writer.close()
    assert [(r["key"], r["valid"]) for r in records(target.read_text())] == [("k1", True), ("k2", False)]


@pytest.mark.slow
def test_batched_generation_gives_the_same_records_in_input_order(tiny_model_dir: Path, tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", "x" * i) for i in range(3)]
    Image.new("RGB", (500, 300), (200, 30, 30)).save(tmp_path / "photo.png")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7 nothing")
    inputs = [str(docs[0]), str(tmp_path / "broken.pdf"), str(docs[1]), str(tmp_path / "photo.png"), str(docs[2])]
    common = ["extract", *inputs, "-s", "chart", "--model", str(tiny_model_dir), "--max-new-tokens", "80",
              "--max-pixels", "60000", "--no-cache"]  # fmt: skip
    one = records(qvl(*common).stdout)
    batched = records(qvl(*common, "--batch-size", "3").stdout)
    assert [r["file"] for r in batched] == inputs
    strip = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in batched] == [
        {k: v for k, v in r.items() if k not in strip} for r in one
    ]
