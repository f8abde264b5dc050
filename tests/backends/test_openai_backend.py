"""The OpenAI-compatible backend against a scripted local server: retries, timeouts, bad answers."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import qvl, records
from fake_openai_server import MODEL, FakeOpenAIServer
from pdf_factory import PageSpec, write_pdf
from PIL import Image

from qvl_cli.backends.contract import GenerationRequest, ModelSettings
from qvl_cli.backends.openai_server import OpenAIBackend
from qvl_cli.errors import ModelError
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

ANSWER = {"title": "Loan", "fields": [], "checkboxes": [], "signatures": []}


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def backend(server: FakeOpenAIServer, **settings) -> OpenAIBackend:
    return OpenAIBackend(ModelSettings(base_url=server.url, retries=settings.pop("retries", 3), **settings))


def request(text: str = "Extract.") -> GenerationRequest:
    image = Image.new("RGB", (56, 84), "white")
    return GenerationRequest((image,), text, 64, load_schema("form").document)


def test_request_carries_images_schema_and_asks_for_logprobs(server: FakeOpenAIServer) -> None:
    server.script.append(("ok", json.dumps(ANSWER)))
    generation = backend(server).generate(request())
    body = server.requests[0]
    assert body["model"] == MODEL  # the one model served replaces the default name
    image, text = body["messages"][0]["content"]
    assert image["image_url"]["url"].startswith("data:image/png;base64,") and text["text"] == "Extract."
    png = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as sent:  # the page's pixels exactly
        assert sent.convert("RGB").tobytes() == Image.new("RGB", (56, 84), "white").tobytes()
    assert body["response_format"]["type"] == "json_schema" and body["response_format"]["json_schema"]["strict"]
    assert body["logprobs"] is True and body["temperature"] == 0.0
    assert json.loads(generation.text) == ANSWER
    assert generation.token_logprobs and len(generation.token_spans) == len(generation.token_logprobs)
    assert generation.visual_tokens == 6  # (56/28) * (84/28)


def test_429_and_5xx_are_retried(server: FakeOpenAIServer) -> None:
    server.script.extend([("status", 429), ("status", 500), ("status", 503), ("ok", json.dumps(ANSWER))])
    started = time.monotonic()
    generation = backend(server, retries=3).generate(request())
    assert json.loads(generation.text) == ANSWER
    assert len(server.requests) == 4
    assert time.monotonic() - started > 0.3  # backed off between attempts


def test_retries_run_out_into_a_clear_error(server: FakeOpenAIServer) -> None:
    server.script.extend([("status", 500)] * 3)
    with pytest.raises(ModelError, match=r"answered 500: .*scripted 500"):
        backend(server, retries=2).generate(request())


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (("slow", 3, "{}"), r"^the server at http://127\.0\.0\.1:\d+/v1 did not answer in time \(raise --timeout\)$"),
        (
            ("truncated",),
            r"^the server at http://127\.0\.0\.1:\d+/v1 closed the connection in the middle of its answer",
        ),
        (("garbage",), r"^the server at http://127\.0\.0\.1:\d+/v1 sent an answer qvl cannot read"),
    ],
)
def test_slow_truncated_and_invalid_answers(server: FakeOpenAIServer, step: tuple, message: str) -> None:
    server.script.extend([step] * 3)
    with pytest.raises(ModelError, match=message):
        backend(server, retries=0, timeout=1.0).generate(request())


def test_unreachable_server_and_unknown_model() -> None:
    with pytest.raises(ModelError, match=r"cannot reach the server at http://127.0.0.1:9/v1"):
        OpenAIBackend(ModelSettings(base_url="http://127.0.0.1:9/v1", retries=0, timeout=2))
    with FakeOpenAIServer() as running, pytest.raises(ModelError, match=r"does not serve 'other' .it serves: fake"):
        OpenAIBackend(ModelSettings(base_url=running.url, model="other"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("notaurl", "it must start with http:// or https://"),
        ("http://", "it names no host"),
        ("http://127.0.0.1:99999/v1", "its port is not a number from 0 to 65535"),
        ("http://local host/v1", "it has a space in it"),
    ],
)
def test_serve_check_refuses_a_malformed_url_as_a_usage_error(url: str, problem: str) -> None:
    for args, env, where in ((["--base-url", url], {}, "--base-url"), ([], {"QVL_BASE_URL": url}, "QVL_BASE_URL")):
        result = qvl("serve-check", *args, "--timeout", "2", env=env)
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr.startswith(f"qvl: error: {where}: {url!r} is not a server URL: {problem}")


def test_serve_check_names_a_reachable_server_and_its_models(server: FakeOpenAIServer) -> None:
    result = qvl("serve-check", "--base-url", server.url)
    assert (result.returncode, result.stdout) == (0, f"{server.url}: reachable, serving 1 model\n  {MODEL}\n")


def test_batch_with_concurrency_keeps_order_and_records_failures(server: FakeOpenAIServer, tmp_path: Path) -> None:
    docs = [write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"form {i}",))]) for i in range(6)]
    server.script.extend([("slow", 0.5, json.dumps(ANSWER | {"title": f"t{i}"})) for i in range(6)])
    schema = load_schema("form")
    client = backend(server, concurrency=3)
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(reasks=0), lambda: client)
    records: list[dict] = []

    class Sink:
        def write(self, record: Envelope) -> None:
            records.append(record.to_dict())

    started = time.monotonic()
    BatchRunner(extractor, {}, Sink(), batch_size=3).run(docs)
    elapsed = time.monotonic() - started
    assert [Path(r["file"]).name for r in records] == [f"d{i}.pdf" for i in range(6)]
    assert all(r["valid"] for r in records) and all(r["confidence"] for r in records)
    assert elapsed < 6 * 0.5  # requests overlapped

    server.script.extend([("ok", json.dumps(ANSWER)), ("status", 400), ("ok", json.dumps(ANSWER))])
    records.clear()
    BatchRunner(extractor, {}, Sink(), batch_size=3).run(docs[:3])
    errors = [r["error"] for r in records if r.get("error")]  # which one fails depends on arrival order
    assert len(errors) == 1 and errors[0]["type"] == "model" and "answered 400" in errors[0]["message"]
    assert sum(r["valid"] for r in records) == 2
    assert len(server.requests) == 9  # no document was asked twice


def test_server_errors_name_the_document_on_stderr_and_in_its_record(server: FakeOpenAIServer, tmp_path: Path) -> None:
    """An HTTP error, a timeout and an answer that is not JSON each give that document an error
    record and a ``qvl: error: <file>: ...`` line naming it, as any other error does; the rest goes on."""
    docs = [write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"form {i}",))]) for i in range(4)]
    server.script.extend([("ok", json.dumps(ANSWER)), ("status", 500), ("garbage",), ("slow", 3, "{}")])
    result = qvl(
        "extract", *map(str, docs), "-s", "form", "--backend", "openai", "--base-url", server.url,
        "--concurrency", "1", "--retries", "0", "--timeout", "1", "--no-cache", "--evidence", "off",
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    failed = {r["file"]: r["error"]["message"] for r in records(result.stdout) if r.get("error")}
    assert sorted(failed) == sorted(map(str, docs[1:]))  # which one fails how depends on arrival order
    assert all(message.startswith(f"{file}: the server at {server.url} ") for file, message in failed.items())
    errors = [line for line in result.stderr.splitlines() if line.startswith("qvl: error: ")]
    assert sorted(errors) == sorted(f"qvl: error: {message}" for message in failed.values())


def test_an_answer_that_is_not_json_is_kept_raw_with_no_invented_data(server: FakeOpenAIServer, tmp_path: Path) -> None:
    doc = write_pdf(tmp_path / "d.pdf", [PageSpec(lines=("form",))])
    server.script.append(("ok", "not json at all {"))
    schema = load_schema("form")
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(reasks=0), lambda: backend(server))
    record = extractor.extract(doc).to_dict()
    assert record["raw"] == "not json at all {"
    assert record["data"] is None and record["truncated"] is None and not record["valid"]
    assert [e["path"] for e in record["errors"]] == [""]
    assert record["errors"][0]["message"].startswith("the answer is not valid JSON")


def test_verbose_shows_qvls_lines_not_http_debug_chatter(server: FakeOpenAIServer, tmp_path: Path) -> None:
    docs = [write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"form {i}",))]) for i in range(2)]
    server.script.extend([("ok", json.dumps(ANSWER))] * 2)
    result = qvl(
        "-v", "extract", *map(str, docs), "-s", "form", "--backend", "openai", "--base-url", server.url,
        "--no-cache", "--evidence", "off", "-o", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("INFO qvl_cli.commands.progress: ")] != []
    assert not [line for line in lines if line.startswith("DEBUG") or "httpcore" in line or "httpx" in line], lines


def test_a_slow_document_does_not_hold_back_the_requests_behind_it(server: FakeOpenAIServer, tmp_path: Path) -> None:
    """With ``in_flight`` documents at the server, the first request to arrive is answered only
    once three more have arrived: in batches of two that never happens (the next batch waits
    for the slow one); document by document it does, and records still keep input order."""
    docs = [write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"form {i}",))]) for i in range(5)]
    answers = [json.dumps(ANSWER | {"title": f"t{i}"}) for i in range(5)]
    schema = load_schema("form")
    client = backend(server, concurrency=2)
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(reasks=0, evidence="off"), lambda: client)
    records: list[dict] = []

    class Sink:
        def write(self, record: Envelope) -> None:
            records.append(record.to_dict())

    server.script.extend([("wait", 3, answers[0]), *[("ok", text) for text in answers[1:]]])
    BatchRunner(extractor, {}, Sink(), in_flight=2).run(docs)
    assert server.released == [True]
    assert [Path(r["file"]).name for r in records] == [f"d{i}.pdf" for i in range(5)]
    assert all(r["valid"] for r in records) and len(server.requests) == 5


def test_ctrl_c_with_documents_in_flight_keeps_whole_records_and_exits_130(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """Ctrl-C while four documents are at a slow server: finished records stay whole, neither the
    documents not yet sent nor the requests still at the server (30 s each) are waited for, exit
    130 with the interrupted line."""
    docs = [write_pdf(tmp_path / f"d{i:02d}.pdf", [PageSpec(lines=(f"form {i}",))]) for i in range(20)]
    server.script.extend([("slow", 1.0, json.dumps(ANSWER))] * 4 + [("slow", 30.0, json.dumps(ANSWER))] * 16)
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "--backend", "openai",
         "--base-url", server.url, "--concurrency", "4", "--no-cache", "--evidence", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,  # unbuffered: readline takes one line only
    )  # fmt: skip
    first_line = process.stdout.readline().decode() if process.stdout else ""
    time.sleep(0.5)  # the next requests are at the server by now
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    out, err = process.communicate(timeout=60)
    rest, stderr = out.decode(), err.decode()
    assert time.monotonic() - interrupted < 20  # not the 30 s of a request in flight
    assert process.returncode == 130, stderr
    lines = [first_line, *rest.splitlines(keepends=True)]
    done = len([line for line in lines if line.strip()])
    assert all(line.endswith("\n") and json.loads(line)["valid"] for line in lines if line.strip())
    assert 1 <= done < 20 and len(server.requests) < 20  # the rest was never sent
    assert f"qvl: interrupted after {done} of 20 documents\n" in stderr and "Traceback" not in stderr


def test_pages_rendered_in_workers_are_sent_as_the_workers_png_files(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render workers encode the pages for a server backend and measure their ink (the qvl
    process, which sends every request, gets no raw pixels, encodes and measures none): the
    pages' own pixels, at their sizes, a blank page left out."""
    import qvl_cli.answers.guards
    import qvl_cli.pages.png
    from qvl_cli import Extractor as ApiExtractor
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document
    from qvl_cli.pages.workers import RenderedPage

    blank = PageSpec(lines=())
    pdf = write_pdf(tmp_path / "three.pdf", [PageSpec(lines=("Page one",)), blank, PageSpec(lines=("Page three",))])
    server.script.append(("ok", json.dumps(ANSWER)))
    options = {"backend": "openai", "base_url": server.url, "evidence": "off", "cache": False, "max_pixels": 200_000}

    def not_here(*args: object) -> bytes:
        raise AssertionError("the qvl process encoded a page")

    received = []  # raw pixel bytes per page, as it came from the worker
    unpack = RenderedPage.unpacked

    def unpacking(page: RenderedPage) -> RenderedPage:
        received.append(len(page.pixels))
        return unpack(page)

    monkeypatch.setattr(qvl_cli.pages.png, "encode_png", not_here)  # the worker processes are not patched
    monkeypatch.setattr(qvl_cli.answers.guards, "ink_fraction", not_here)
    monkeypatch.setattr(RenderedPage, "unpacked", unpacking)
    with ApiExtractor("form", render_workers=1, **options) as extractor:
        envelope = extractor.extract(pdf)
    assert received and set(received) == {0}
    assert envelope.valid and [page["blank"] for page in envelope.pages] == [False, True, False]
    drawn = render_document(pdf, PixelBudget(max_pixels=200_000)).pages  # in this process, for comparison
    expected = [(page.image.size, page.image.convert("RGB").tobytes()) for page in drawn if page.number != 2]
    assert [_pixels(part) for part in server.requests[0]["messages"][0]["content"][:-1]] == expected


def _pixels(part: dict[str, Any]) -> tuple[tuple[int, int], bytes]:
    png = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    with Image.open(io.BytesIO(png)) as image:
        return image.size, image.convert("RGB").tobytes()


def test_results_outlive_a_change_of_the_servers_address(tmp_path: Path) -> None:
    """The same model at another address: ``qvl check`` reuses its sidecar (the cache off) and
    ``qvl extract`` its cached result, with no request to the new server."""
    doc = write_pdf(tmp_path / "a.pdf", [PageSpec(lines=("Name Ann",))])
    named = ("--backend", "openai", "--model", MODEL, "--evidence", "off")
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        first.script.extend([("ok", json.dumps(ANSWER))] * 2)
        for server in (first, second):
            rules = f'base_url = "{server.url}"\n[[rules]]\nfiles = ["*.pdf"]\nschema = "form"\n'
            (tmp_path / ".qvl.toml").write_text(rules)
            checked = qvl("check", "a.pdf", "--write-sidecar", "--no-cache", *named, cwd=tmp_path)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            extracted = qvl("extract", str(doc), "-s", "form", *named, "--base-url", server.url)
            assert extracted.returncode == 0, extracted.stderr
            assert [record["data"] for record in records(extracted.stdout)] == [ANSWER]
        assert len(first.requests) == 2 and second.requests == []


def test_the_default_model_name_at_another_address_is_another_model() -> None:
    """Without --model, a server's only model is used, whatever it is: there the address tells
    results apart. A named model, or a local one, does not depend on any address."""
    from qvl_cli.settings import DEFAULT_MODEL

    def identity(backend: str, url: str, model: str = DEFAULT_MODEL) -> dict[str, Any]:
        return ModelSettings(backend=backend, base_url=url, model=model).identity()

    a, b = "http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"
    assert identity("openai", a) != identity("openai", b)
    assert identity("openai", a, MODEL) == identity("openai", b, MODEL) == {"model": MODEL}
    assert identity("transformers", a) == identity("transformers", b)
    assert "http" not in json.dumps(identity("transformers", a))
