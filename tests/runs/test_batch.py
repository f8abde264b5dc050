"""Batches in shell pipelines: folders, stdin lists, resume after a crash, cache, signals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import cli, fake, qvl, records
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from PIL import Image
from samples import FORM_REPLY, fake_env, make_pdf

from qvl_cli.backends.contract import Generation, GenerationRequest
from qvl_cli.pages.discover import expand_inputs
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.writers import DirectoryWriter, StreamWriter, safe_stem
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt


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


def test_files_named_as_documents_always_get_a_record(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", "a")
    (tmp_path / "b.pdf").write_bytes(b"")
    (tmp_path / "c.PDF").write_text("plain text named like a PDF")
    (tmp_path / "d.JPeG").write_bytes(b"\x00" * 10)
    (tmp_path / "notes.txt").write_text("not a document")
    result = qvl("-v", "extract", str(tmp_path), "-s", "form", env=fake_env())
    assert result.returncode == 2, result.stderr
    errors = {Path(r["file"]).name: r["error"]["message"] for r in records(result.stdout) if r.get("error")}
    assert errors == {
        "b.pdf": f"{tmp_path / 'b.pdf'}: file is empty (0 bytes)",
        "c.PDF": f"{tmp_path / 'c.PDF'}: not a supported document; expected PDF, PNG, JPEG, TIFF, WebP, BMP or GIF",
        "d.JPeG": f"{tmp_path / 'd.JPeG'}: not a supported document; expected PDF, PNG, JPEG, TIFF, WebP, BMP or GIF",
    }
    assert len(records(result.stdout)) == 4
    assert f"skipping {tmp_path / 'notes.txt'}: not a PDF or image" in result.stderr


@pytest.mark.parametrize(
    ("layout", "args", "message", "hint"),
    [
        ({}, [], "no documents found: looked for PDF or image files in {root} (subfolders not searched)", None),
        ({"sub/a.pdf": True}, [], "(subfolders not searched)", "(pass -r to search subfolders)"),
        ({"a.pdf": True}, ["--glob", "*.tif"], "looked for files matching --glob '*.tif' in {root}",
         "(check the --glob pattern"),
        ({"notes.txt": False}, ["-r"], "looked for PDF or image files in {root}\n", None),
    ],
)  # fmt: skip
def test_nothing_found_says_what_was_looked_for_and_exits_2(
    tmp_path: Path, layout: dict[str, bool], args: list[str], message: str, hint: str | None
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for name, is_pdf in layout.items():
        if is_pdf:
            make_pdf(root / name, "x")
        else:
            (root / name).write_text("text")
    result = qvl("extract", str(root), *args, "-s", "form", env=fake_env())
    assert result.returncode == 2
    assert result.stdout == ""
    assert message.format(root=root) in result.stderr
    assert result.stderr.startswith("qvl: error: no documents found")
    if hint:
        assert hint in result.stderr


def test_an_empty_path_list_on_stdin_is_an_error() -> None:
    result = qvl("extract", "-", "-s", "form", env=fake_env(), stdin="\n")
    assert result.returncode == 2
    assert "no documents found: looked for PDF or image files in standard input" in result.stderr
    assert "subfolders" not in result.stderr  # a list of paths has none


def test_every_input_gets_exactly_one_record(folder: Path, tmp_path: Path) -> None:
    """Needs no corpus: every kind of input is made here, an encrypted PDF included."""
    (folder / "locked.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00" * 10)  # a second unreadable PDF
    write_pdf(folder / "secret.pdf", [PageSpec()], password="pw")
    notes = folder / "notes.txt"
    result = qvl("extract", str(folder), str(notes), "-r", "-s", "form", env=fake_env())
    assert result.returncode == 2
    by_name = {Path(r["file"]).name: r for r in records(result.stdout)}
    assert sorted(by_name) == ["a.pdf", "b.pdf", "broken.pdf", "c.png", "locked.pdf", "notes.txt", "secret.pdf"]
    assert by_name["a.pdf"]["valid"] and by_name["b.pdf"]["valid"] and by_name["c.png"]["valid"]
    assert by_name["broken.pdf"]["error"]["message"].endswith("cannot open PDF: the file is damaged or not a PDF")
    assert by_name["locked.pdf"]["error"]["type"] == "input"
    assert by_name["secret.pdf"]["error"]["type"] == "encrypted"
    assert "not a supported document" in by_name["notes.txt"]["error"]["message"]
    assert all(r["key"] for r in by_name.values())
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("qvl: 7 documents: 3 valid, 0 invalid, 4 failed;")
    assert "pages/s" in summary


def test_stdin_lists_with_any_file_name(tmp_path: Path) -> None:
    odd = [tmp_path / "with space.pdf", tmp_path / "new\nline.pdf", tmp_path / "ünï cødé.pdf"]
    for index, path in enumerate(odd):
        make_pdf(path, str(index))
    listed = "".join(f"{p}\0" for p in odd)
    result = cli("extract", "-0", "-", "-s", "form", env=fake_env(), stdin=listed)
    assert result.exit_code == 0, result.stderr
    assert [r["file"] for r in records(result.stdout)] == [str(p) for p in odd]
    lines = cli("extract", "-", "-s", "form", env=fake_env(), stdin=f"{odd[0]}\n\n{odd[2]}\n")
    assert [r["file"] for r in records(lines.stdout)] == [str(odd[0]), str(odd[2])]


def test_output_dir_writes_one_complete_file_per_document(tmp_path: Path) -> None:
    first, second = make_pdf(tmp_path / "x" / "scan.pdf", "1"), make_pdf(tmp_path / "y" / "scan.pdf", "2")
    out = tmp_path / "out"
    result = cli("extract", str(first), str(second), "-s", "form", "--output-dir", str(out), env=fake_env())
    assert result.exit_code == 0, result.stderr
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


def runner_for(fake_factory, cache_dir: Path, sink) -> BatchRunner:
    from qvl_cli.runs.cache import ResultCache

    schema = load_schema("form")
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(), fake_factory)
    return BatchRunner(extractor, {"test": 1}, sink, ResultCache(cache_dir))


def test_cache_hit_skips_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(3)]
    sink = StreamWriter(sys.stdout)
    first = runner_for(lambda: FakeBackend(replies=[json.dumps(FORM_REPLY)] * 3), tmp_path / "cache", sink)
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
    third = runner_for(
        lambda: calls.append(1) or FakeBackend(replies=[json.dumps(FORM_REPLY)]), tmp_path / "cache", sink
    )
    assert third.run(docs).cached == 2 and calls == [1]


def test_no_cache_option(tmp_path: Path) -> None:
    doc = make_pdf(tmp_path / "doc.pdf", "1")
    cli("extract", str(doc), "-s", "form", env=fake_env())
    again = cli("extract", str(doc), "-s", "form", "--no-cache", env=fake_env())
    assert records(again.stdout)[0]["cached"] is False
    cached = cli("extract", str(doc), "-s", "form", env=fake_env())
    assert records(cached.stdout)[0]["cached"] is True


def test_out_of_memory_degrades_the_budget_instead_of_failing(tmp_path: Path) -> None:
    doc = make_pdf(tmp_path / "big.pdf", "1")
    env = fake(*[FORM_REPLY] * 50, oom_above_pixels=300_000)
    result = cli("extract", str(doc), "-s", "form", env=env)
    assert result.exit_code == 0, result.stderr
    (record,) = records(result.stdout)
    assert record["degraded"] == {"retries": 2, "max_pixels": 250880, "max_total_pixels": 3211264}
    assert record["pages"][0]["size"][0] * record["pages"][0]["size"][1] <= 250880
    assert any("ran out of memory" in w for w in record["warnings"])


def test_out_of_memory_at_the_floor_is_a_per_document_error(tmp_path: Path) -> None:
    docs = [make_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(2)]
    result = cli("extract", *map(str, docs), "-s", "form", env=fake(*[FORM_REPLY] * 50, oom_above_pixels=1))
    assert result.exit_code == 3
    assert [r["error"]["type"] for r in records(result.stdout)] == ["out_of_memory"] * 2


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


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_output_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    import stat

    doc = make_pdf(tmp_path / "a.pdf", "a")
    repo = tmp_path / "repo"
    (repo / "invoices").mkdir(parents=True)
    (repo / ".qvl.toml").write_text('[[rules]]\nfiles = ["invoices/*.pdf"]\nschema = "form"\n')
    shutil.copy(doc, repo / "invoices" / "a.pdf")
    runs = {
        tmp_path / "out.jsonl": ["extract", str(doc), "-s", "form", "-o", str(tmp_path / "out.jsonl")],
        tmp_path / "resumed.jsonl": ["extract", str(doc), "-s", "form", "-o", str(tmp_path / "resumed.jsonl"),
                                     "--resume"],
        tmp_path / "dir" / "a.json": ["extract", str(doc), "-s", "form", "--output-dir", str(tmp_path / "dir")],
        repo / "invoices" / "a.pdf.qvl.json": ["check", "invoices/a.pdf", "--write-sidecar"],
    }  # fmt: skip
    previous = os.umask(umask)
    try:
        for target, args in runs.items():
            result = subprocess.run([sys.executable, "-m", "qvl_cli", *args], capture_output=True, text=True,
                                    cwd=repo, env={**os.environ, **fake_env()}, timeout=300)  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask, target
    finally:
        os.umask(previous)


@pytest.mark.corpus
def test_an_encrypted_pdf_in_a_folder_gets_its_record(corpus: Path, tmp_path: Path) -> None:
    shutil.copy(corpus / "pypdf/docs/encryption/r6-both-passwords.pdf", tmp_path / "locked.pdf")
    make_pdf(tmp_path / "a.pdf", "a")
    result = qvl("extract", str(tmp_path), "-s", "form", env=fake_env())
    by_name = {Path(r["file"]).name: r for r in records(result.stdout)}
    assert by_name["locked.pdf"]["error"]["type"] == "encrypted" and by_name["a.pdf"]["valid"]


class HeldFirst(FakeBackend):
    """The first request is answered only once ``others`` later ones have been (or after 10 s)."""

    def __init__(self, others: int):
        super().__init__(replies=[json.dumps(FORM_REPLY)] * 50)
        self.others = others
        self.asked = 0
        self.answered = 0
        self.released: list[bool] = []
        self.turn = threading.Condition()

    def generate(self, request: GenerationRequest) -> Generation:
        with self.turn:
            self.asked += 1
            first = self.asked == 1
        if first:
            with self.turn:
                self.released.append(self.turn.wait_for(lambda: self.answered >= self.others, 10))
        generation = super().generate(request)
        with self.turn:
            self.answered += 1
            self.turn.notify_all()
        return generation


def test_documents_in_flight_go_past_a_slow_one_in_input_order_with_pages_bounded(tmp_path: Path) -> None:
    """Three documents with the model at once: while the first waits, six later ones are
    answered; one record per input, in input order; documents holding pages stay within the
    documents in flight plus one rendered ahead."""
    docs = [make_pdf(tmp_path / f"d{i}.pdf", str(i)) for i in range(10)]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00" * 100)
    docs.insert(4, broken)
    backend = HeldFirst(others=6)
    schema = load_schema("form")
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(evidence="off"), lambda: backend)
    holding, most, lock = [0], [0], threading.Lock()
    load, extract = extractor.load, extractor.extract_document

    def counted_load(*args: Any, **kwargs: Any) -> Any:
        document = load(*args, **kwargs)
        with lock:
            holding[0] += 1
            most[0] = max(most[0], holding[0])
        return document

    def counted_extract(*args: Any, **kwargs: Any) -> Envelope:
        try:
            return extract(*args, **kwargs)
        finally:
            with lock:
                holding[0] -= 1

    extractor.load, extractor.extract_document = counted_load, counted_extract  # type: ignore[method-assign]
    written: list[Envelope] = []

    class Sink:
        def write(self, record: Envelope) -> None:
            written.append(record)

    summary = BatchRunner(extractor, {}, Sink(), in_flight=3).run(docs)
    assert backend.released == [True]
    assert [Path(record.file).name for record in written] == [doc.name for doc in docs]
    assert [record.status for record in written] == ["valid"] * 4 + ["input"] + ["valid"] * 6
    assert summary.documents == 11 and summary.failed == 1
    assert most[0] <= 3 + extractor.renderer.parallelism


class StopsAt(FakeBackend):
    """Raises ``error`` at its ``at``-th request (1-based) instead of answering it."""

    def __init__(self, at: int, error: BaseException) -> None:
        super().__init__(replies=[json.dumps(FORM_REPLY)] * 20)
        self.at, self.error, self.seen = at, error, 0

    def generate(self, request: GenerationRequest) -> Generation:
        self.seen += 1
        if self.seen == self.at:
            raise self.error
        return super().generate(request)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("the device fell over")])
@pytest.mark.parametrize("batch_size", [1, 2])
def test_documents_the_model_answered_are_written_when_the_batch_stops(
    tmp_path: Path, error: BaseException, batch_size: int
) -> None:
    """Grounding runs behind the model; when the batch is interrupted (or the model fails) at the
    fifth document, the four answered before are still written, in input order."""
    docs = [make_pdf(tmp_path / f"d{i}.pdf", str(i)) for i in range(8)]
    schema = load_schema("form")
    backend = StopsAt(5, error)
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(evidence="auto"), lambda: backend)
    written: list[Envelope] = []

    class Sink:
        def write(self, record: Envelope) -> None:
            written.append(record)

    with pytest.raises(type(error)):
        BatchRunner(extractor, {}, Sink(), batch_size=batch_size).run(docs)
    extractor.renderer.close()
    assert [Path(record.file).name for record in written] == [f"d{i}.pdf" for i in range(4)]
    assert all(record.valid and record.evidence is not None for record in written)


def test_grounding_behind_the_model_is_bounded_and_written_in_order() -> None:
    """At most ``limit`` answered documents wait for their grounding: one more waits for the
    oldest; results finished out of order are written in input order."""
    from concurrent.futures import Future

    from qvl_cli.runs.answered import Answered
    from qvl_cli.runs.behind import Behind

    gates = [threading.Event() for _ in range(4)]

    class Slow(Answered):  # an answer whose grounding ends when its gate opens
        def __init__(self, number: int) -> None:
            self.number = number

        def envelope(self) -> Envelope:  # type: ignore[override]
            gates[self.number].wait(10)
            return Envelope(file=f"d{self.number}.pdf", schema="form", valid=True)

    written: list[str] = []
    behind: Behind[int] = Behind(lambda item, envelope: written.append(envelope.file if envelope else f"#{item}"), 2)
    behind.add(0, Slow(0))
    behind.add(1, Slow(1))
    assert behind.waiting == 2 and written == []  # the model went on without waiting
    third: Future[None] = Future()
    threading.Thread(target=lambda: third.set_result(behind.add(2, Slow(2)))).start()
    gates[2].set()  # the third is grounded first...
    assert not third.done()  # ...but adding it waits for the oldest
    gates[0].set()
    third.result(10)
    assert written == ["d0.pdf"]
    gates[1].set()
    behind.add(3, None)  # a cached or failed document keeps its place too
    behind.drain()
    assert written == ["d0.pdf", "d1.pdf", "d2.pdf", "#3"] and behind.waiting == 0
    behind.close()
