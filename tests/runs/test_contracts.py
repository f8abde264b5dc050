"""Contracts between stages: the backend's batch call, the typed envelope, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf

from qvl_cli.errors import ModelError, exit_code_of
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

FORM = json.dumps({"title": "T", "fields": [], "checkboxes": [], "signatures": []})


class Collect:
    def __init__(self) -> None:
        self.records: list[Envelope] = []

    def write(self, record: Envelope) -> None:
        self.records.append(record)


def batch(tmp_path: Path, fake: FakeBackend, count: int = 3) -> tuple[list[Envelope], BatchRunner]:
    docs = [write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"FORM {i}",))]) for i in range(count)]
    schema = load_schema("form")
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(reasks=0), lambda: fake)
    sink = Collect()
    runner = BatchRunner(extractor, {}, sink, batch_size=count)
    runner.run(docs)
    return sink.records, runner


def test_a_failed_request_in_a_batch_is_that_documents_error_record(tmp_path: Path) -> None:
    fake = FakeBackend(replies=[FORM, ModelError("the server answered 400"), FORM])
    records, runner = batch(tmp_path, fake)
    assert fake.batches == [3]  # one batched call
    assert [r.status for r in records] == ["valid", "model", "valid"]
    assert records[1].error is not None and "answered 400" in records[1].error.message
    assert runner.summary.exit_codes == [0, 3, 0]


def test_out_of_memory_in_a_batch_retries_each_document_alone(tmp_path: Path) -> None:
    fake = FakeBackend(replies=[FORM] * 3)
    page = write_pdf(tmp_path / "probe.pdf", [PageSpec(lines=("FORM 0",))])
    schema = load_schema("form")
    probe = Extractor(schema, load_prompt(None, schema), ExtractOptions(), lambda: fake).load(page)
    fake.oom_above = probe.pages[0].size[0] * probe.pages[0].size[1] * 2  # two pages fit, three do not
    records, _ = batch(tmp_path, fake)
    assert fake.batches == [3] and len(fake.calls) == 3  # the batch failed; each document then alone
    assert [r.status for r in records] == ["valid"] * 3 and all(r.degraded is None for r in records)


def test_envelopes_read_back_from_json_are_the_same_records() -> None:
    for line in (ROOT / "tests" / "runs" / "golden" / "examples.jsonl").read_text().splitlines():
        record = json.loads(line) | {"seconds": 1.5}
        assert Envelope.from_dict(record).to_dict() == record
    failed = {"file": "x.pdf", "schema": "form", "valid": False, "error": {"type": "out_of_memory", "message": "m"}}
    envelope = Envelope.from_dict(failed)
    assert (envelope.status, envelope.exit_code) == ("out_of_memory", 3)


def test_exit_codes_come_from_the_error_classes() -> None:
    kinds = {"model": 3, "out_of_memory": 3, "output": 3, "input": 2, "encrypted": 2, "budget": 2, "config": 2}
    assert {kind: exit_code_of(kind) for kind in kinds} == kinds
    assert exit_code_of("something new") == 2


def test_the_product_has_no_test_backend() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "qvl_cli").rglob("*.py"))
    assert "QVL_FAKE" not in source and "backends.fake" not in source
