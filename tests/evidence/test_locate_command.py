"""``qvl locate`` as users run it: its summary line on stderr, its error lines and exit codes, and
``--evidence auto|text|ocr`` (a text layer, OCR, or the first where there is one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, records
from pdf_factory import PageSpec, write_pdf

DATA = {"number": "NW-2024-0117", "total": 598.57, "order": "ZZ-99"}
NOT_FOUND = '/order "ZZ-99" does not appear in the document'


@pytest.fixture
def small_pdf(tmp_path: Path) -> Path:
    return write_pdf(
        tmp_path / "small.pdf", [PageSpec(width=300, height=100, lines=(f"Invoice {DATA['number']}", "Total 598.57"))]
    )


@pytest.fixture
def small_scan(small_pdf: Path, tmp_path: Path) -> Path:
    """The same page as a PNG: no text layer, only pixels."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(small_pdf))
    path = tmp_path / "small.png"
    pdf[0].render(scale=200 / 72).to_pil().save(path)
    pdf.close()
    return path


def jsonl(*lines: object) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def test_the_summary_counts_values_and_failures(small_pdf: Path, tmp_path: Path) -> None:
    source = tmp_path / "run.jsonl"
    source.write_text(
        jsonl(
            {"file": str(small_pdf), "data": DATA},  # two values located, one not found
            {"file": str(small_pdf), "data": None, "error": {"type": "model", "message": "x"}},  # nothing to locate
            "not json",  # left out
            {"file": str(small_pdf)},  # no data: left out
            {"file": str(tmp_path / "gone.pdf"), "data": {"a": "b"}},  # written unchanged
            {"file": str(small_pdf), "data": {"number": DATA["number"], "empty": "", "paid": True}},
        )
    )
    result = cli("locate", str(source))
    assert result.exit_code == 2
    written = records(result.stdout)
    assert [record.get("evidence", "absent") is None for record in written] == [False, True, False, False]
    assert written[2] == {"file": str(tmp_path / "gone.pdf"), "data": {"a": "b"}}
    assert written[0]["warnings"] == [NOT_FOUND] and written[3]["warnings"] == []
    stderr = result.stderr.splitlines()
    assert stderr[0].startswith(f"qvl: error: {source}:3: not a JSON object (") and stderr[0].endswith(
        "); line left out"
    )
    assert stderr[1:] == [
        f"qvl: error: {source}:4: a record needs 'file' and 'data'; line left out",
        f"qvl: error: {source}:5: {tmp_path / 'gone.pdf'}: no such file",
        # 4 records written; 3 values located (2 + 1; a boolean or empty string is never counted),
        # 1 not found; 1 record written unchanged (its file is gone); 2 lines that are no records.
        "qvl: 4 records: 3 values located, 1 not found, 1 record failed, 2 lines left out",
    ]


def test_lines_left_out_alone_still_exit_2_and_are_counted_apart(small_pdf: Path) -> None:
    lines = jsonl({"file": str(small_pdf), "data": {"number": DATA["number"]}}, "[1, 2]", {"data": {}})
    result = cli("locate", "-", stdin=lines)
    assert result.exit_code == 2 and len(records(result.stdout)) == 1
    assert (
        result.stderr.splitlines()[-1]
        == "qvl: 1 record: 1 value located, 0 not found, 0 records failed, 2 lines left out"
    )


def test_all_found_exits_0_and_quiet_prints_nothing(small_pdf: Path) -> None:
    line = jsonl({"file": str(small_pdf), "data": {"number": DATA["number"]}})
    result = cli("locate", "-", stdin=line)
    assert (result.exit_code, result.stderr) == (0, "qvl: 1 record: 1 value located, 0 not found, 0 records failed\n")
    quiet = cli("locate", "-", "-q", stdin=line + jsonl({"file": "gone.pdf", "data": {}}))
    assert quiet.exit_code == 2 and quiet.stderr == "" and len(records(quiet.stdout)) == 2


def test_the_summary_goes_to_stderr_when_writing_a_file(small_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "located.jsonl"
    result = cli("locate", "-", "-o", str(out), stdin=jsonl({"file": str(small_pdf), "data": DATA}))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "qvl: 1 record: 2 values located, 1 not found, 0 records failed\n"
    assert records(out.read_text())[0]["warnings"] == [NOT_FOUND]


def sources(result_stdout: str) -> dict[str, str | None]:
    (record,) = records(result_stdout)
    return {pointer: found and found.get("source") for pointer, found in record["evidence"].items()}


def test_evidence_text_reads_the_text_layer_and_never_runs_ocr(small_pdf: Path, small_scan: Path) -> None:
    for mode in ("auto", "text"):
        result = cli("locate", "-", "--evidence", mode, stdin=jsonl({"file": str(small_pdf), "data": DATA}))
        assert sources(result.stdout) == {"/number": "text", "/total": "text", "/order": None}, mode
    scan = cli("locate", "-", "--evidence", "text", stdin=jsonl({"file": str(small_scan), "data": DATA}))
    (record,) = records(scan.stdout)  # no text layer, no OCR: nothing was looked for
    assert record["evidence"] == dict.fromkeys(("/number", "/total", "/order"), {"searched": False})
    assert scan.exit_code == 0
    assert (
        scan.stderr
        == "qvl: 1 record: 0 values located, 0 not found, 3 not looked for (no text layer), 0 records failed\n"
    )


def test_evidence_ocr_reads_pixels_even_where_a_text_layer_exists(small_pdf: Path) -> None:
    line = jsonl({"file": str(small_pdf), "data": DATA})
    by_text = records(cli("locate", "-", stdin=line).stdout)[0]["evidence"]
    by_ocr = records(cli("locate", "-", "--evidence", "ocr", stdin=line).stdout)[0]["evidence"]
    assert {pointer: found and found["source"] for pointer, found in by_ocr.items()} == {
        "/number": "ocr",
        "/total": "ocr",
        "/order": None,
    }
    for pointer in ("/number", "/total"):
        assert by_ocr[pointer]["text"] == by_text[pointer]["text"]
        assert by_ocr[pointer]["boxes"][0] == pytest.approx(by_text[pointer]["boxes"][0], abs=0.03)  # same place


def test_evidence_auto_reads_a_scan_with_ocr_and_the_environment_chooses_too(small_scan: Path) -> None:
    line = jsonl({"file": str(small_scan), "data": DATA})
    assert sources(cli("locate", "-", stdin=line).stdout) == {"/number": "ocr", "/total": "ocr", "/order": None}
    from_env = cli("locate", "-", stdin=line, env={"QVL_EVIDENCE": "text"})
    assert "3 not looked for (no text layer)" in from_env.stderr


@pytest.mark.parametrize("mode", ["off", "OCR", ""])
def test_a_bad_evidence_mode_is_one_line(mode: str) -> None:
    result = cli("locate", "-", "--evidence", mode, stdin="")
    assert result.exit_code == 2
    assert result.stderr == f"qvl: error: --evidence: {mode!r}: qvl locate needs auto, text or ocr\n"
    assert result.stdout == ""


def test_a_bad_evidence_mode_from_the_environment_names_the_variable() -> None:
    """``QVL_EVIDENCE=off`` suits extract; locate says where the value came from, not a flag never given."""
    result = cli("locate", "-", stdin="", env={"QVL_EVIDENCE": "off"})
    assert result.exit_code == 2
    assert result.stderr == "qvl: error: QVL_EVIDENCE: 'off': qvl locate needs auto, text or ocr\n"
    flag_wins = cli("locate", "-", "--evidence", "text", stdin="", env={"QVL_EVIDENCE": "off"})
    assert "QVL_EVIDENCE" not in flag_wins.stderr


def test_nothing_to_locate_is_exit_2_and_the_previous_output_stays(tmp_path: Path) -> None:
    out = tmp_path / "located.jsonl"
    out.write_text("previous\n")
    empty = tmp_path / "empty.jsonl"
    for content in ("", "\n  \n"):
        empty.write_text(content)
        result = cli("locate", str(empty), "-o", str(out))
        assert result.exit_code == 2
        assert result.stderr.startswith(f"qvl: error: {empty}: empty: no record to locate (")
        assert out.read_text() == "previous\n"
    piped = cli("locate", "-", stdin="")
    assert piped.exit_code == 2 and piped.stderr.startswith("qvl: error: stdin: empty: no record to locate (")
    left_out = cli("locate", "-", "-o", str(out), stdin="not json\n")  # no record written: nothing replaced
    assert left_out.exit_code == 2 and out.read_text() == "previous\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_output_dash_is_stdout(small_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("locate", "-", "-o", "-", stdin=jsonl({"file": str(small_pdf), "data": DATA}))
    assert result.exit_code == 0 and records(result.stdout)[0]["warnings"] == [NOT_FOUND]
    assert not (tmp_path / "-").exists()


def test_a_second_run_reads_ocr_from_the_cache_not_the_engine(
    small_scan: Path, isolated_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the OCR engine gone, the same scan is still located from the cache (``$QVL_CACHE_DIR/ocr``);
    with an empty cache the same run fails, so the engine really was gone."""
    from qvl_cli.evidence import ocr

    line = jsonl({"file": str(small_scan), "data": DATA})
    first = cli("locate", "-", stdin=line)
    assert first.exit_code == 0 and list((isolated_cache / "ocr").rglob("*.json"))

    def unavailable() -> None:
        raise ocr.OcrUnavailableError("OCR engine removed for this test")

    monkeypatch.setattr(ocr, "engine", unavailable)
    again = cli("locate", "-", stdin=line)
    assert again.exit_code == 0 and again.stdout == first.stdout and again.stderr == first.stderr
    elsewhere = cli("locate", "-", stdin=line, env={"QVL_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert elsewhere.exit_code == 2
    assert elsewhere.stderr.splitlines()[0] == "qvl: error: -:1: OCR engine removed for this test"


@pytest.mark.parametrize("kind", ["png", "pdf"])
def test_a_scan_is_read_at_the_page_size_its_record_gives(
    small_scan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """OCR reads the page as it was sent to the model (``pages[].size``), not at qvl's default size
    for the file: an image, and a PDF without text layer."""
    from PIL import Image

    from qvl_cli.evidence import ocr

    path = small_scan
    if kind == "pdf":
        path = tmp_path / "scan.pdf"
        Image.open(small_scan).save(path, resolution=200)
    real, shapes = ocr.engine(), []
    monkeypatch.setattr(ocr, "engine", lambda: lambda pixels, **o: shapes.append(pixels.shape) or real(pixels, **o))
    given = {"file": str(path), "data": DATA, "pages": [{"page": 1, "size": [588, 196]}]}
    result = cli("locate", "-", stdin=jsonl(given))
    assert result.exit_code == 0, result.stderr
    assert shapes == [(196, 588, 3)]
    assert sources(result.stdout) == {"/number": "ocr", "/total": "ocr", "/order": None}
    default = cli("locate", "-", stdin=jsonl({"file": str(path), "data": DATA}), env={"QVL_CACHE_DIR": str(tmp_path)})
    assert default.exit_code == 0 and len(shapes) == 2 and shapes[1] != shapes[0]  # qvl's own size is another
