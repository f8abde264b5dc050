"""`qvl extract --backend openai` against a real vLLM server on 127.0.0.1 serving the tiny model.

vLLM lives in its own virtualenv (``bash .ci/vllm-env DIR``); point ``QVL_VLLM_PYTHON`` at its
Python to run this test. The server takes about a minute to start on a CPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import qvl, records
from PIL import Image, ImageDraw
from vllm_server import ServerFailed, start_vllm, stop

from qvl_cli.answers.validation import make_validator
from qvl_cli.schemas.catalog import load_schema

pytestmark = [pytest.mark.server, pytest.mark.slow]
VLLM_PYTHON = os.environ.get("QVL_VLLM_PYTHON")
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["invoice_number", "total", "currency"],
    "properties": {
        "invoice_number": {"type": ["string", "null"], "description": "The invoice number."},
        "total": {"type": ["number", "null"], "description": "Amount due."},
        "currency": {"enum": ["EUR", "USD", None], "description": "Currency code."},
    },
}


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    if not VLLM_PYTHON:
        reason = "set QVL_VLLM_PYTHON to a Python with vLLM (bash .ci/vllm-env DIR) to run the real server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, but the real-server test cannot run: {reason}")
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    try:
        process, url = start_vllm(VLLM_PYTHON, str(tiny_model_dir), log)
    except ServerFailed as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        stop(process)


def test_extract_through_a_real_vllm_server(vllm_server: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    schema_file = tmp_path / "receipt.json"
    schema_file.write_text(json.dumps(SCHEMA))
    documents = []
    for index in range(3):
        image = Image.new("RGB", (336, 224), "white")
        ImageDraw.Draw(image).text((10, 10), f"Invoice R-{index}\nTotal 12.50 EUR", fill="black")
        documents.append(tmp_path / f"receipt{index}.png")
        image.save(documents[-1])
    check = qvl("serve-check", "--base-url", vllm_server, timeout=60)
    assert check.returncode == 0 and str(tiny_model_dir) in check.stdout
    result = qvl("extract", *map(str, documents), "--schema", str(schema_file), "--backend", "openai",
                 "--base-url", vllm_server, "--concurrency", "3", "--max-new-tokens", "48", "--no-cache",
                 timeout=600)  # fmt: skip
    assert "Traceback" not in result.stderr
    found = records(result.stdout)
    assert [Path(r["file"]).name for r in found] == [d.name for d in documents]
    validate = make_validator(load_schema(str(schema_file)))
    for record in found:
        assert record["error"] is None if "error" in record else True, record.get("error")
        assert record["model"]["backend"] == "openai" and record["model"]["id"] == str(tiny_model_dir)
        assert record["constrained"] is True
        assert validate(record["data"]) == []  # the answer has the schema's shape, whatever the weights
        assert record["usage"]["visual_tokens"] == (336 // 28) * (224 // 28)
        assert record["confidence"] is not None
