"""Every per-document error names its file, on stderr and in the record's message, whether the
document was read in a render worker or in the qvl process: two documents failing alike must not
give two identical lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, qvl, records
from samples import fake_env


@pytest.mark.parametrize("workers", ["0", "2"])
def test_page_range_and_input_errors_name_each_file(tmp_path: Path, workers: str) -> None:
    for name in ("chart.png", "form.png"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    (tmp_path / "invoice.pdf").write_bytes((EXAMPLES / "invoice.pdf").read_bytes())  # 2 pages: page 2 exists
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00" * 64)
    args = ("extract", str(tmp_path), "-s", "form", "--pages", "2", "--render-workers", workers, "--no-cache")
    result = qvl(*args, "--evidence", "off", env=fake_env())
    assert "Traceback" not in result.stderr
    failed = {Path(r["file"]).name: r["error"]["message"] for r in records(result.stdout) if r.get("error")}
    assert sorted(failed) == ["broken.pdf", "chart.png", "empty.png", "form.png"]
    for name in ("chart.png", "form.png"):
        assert failed[name] == f"{tmp_path / name}: --pages '2' asks for page 2 but the document has 1"
    assert all(message.startswith(f"{tmp_path / name}: ") for name, message in failed.items())
    errors = [line for line in result.stderr.splitlines() if line.startswith("qvl: error: ")]
    assert sorted(errors) == sorted(f"qvl: error: {message}" for message in failed.values())
