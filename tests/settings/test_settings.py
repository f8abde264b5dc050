"""One settings layer: defaults < configuration file < environment < command line, for every
setting, checked with one-line errors that name the source and the key."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from fake_backend import FakeBackend
from fake_openai_server import FakeOpenAIServer
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE
from typer.testing import CliRunner

from qvl_cli.backends.contract import register_backend
from qvl_cli.cli import app
from qvl_cli.commands import extract as extract_command
from qvl_cli.settings import Layer, ModelSettings, Settings, SettingsError, all_settings, build_settings, env_layer
from qvl_cli.settings.declare import check_value, parse_text

FORM = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}

# Every setting: (value in .qvl.toml, value in its environment variable, value on the command line).
# Each differs from the one before, so the test sees which layer won. None: that layer cannot set it.
LAYERS: dict[str, tuple[Any, str | None, str | bool | None]] = {
    "model": ("m-file", "m-env", "m-flag"),
    "revision": ("r-file", None, "r-flag"),
    "quant": ("4bit", "8bit", "none"),
    "dtype": ("bfloat16", "float16", "float32"),
    "device": ("cpu", "cuda", "mps"),
    "attention": ("sdpa", "flash_attention_2", "eager"),
    "backend": ("spy-file", "spy-env", "spy-flag"),
    "base_url": ("http://file/v1", "http://env/v1", "http://flag/v1"),
    "api_key": ("key-file", "key-env", "key-flag"),
    "concurrency": (2, "5", "3"),
    "timeout": (5, "7.5", "6.5"),
    "retries": (0, "1", "2"),
    "min_pixels": (4000, "5000", "6000"),
    "max_pixels": (400000, "300000", "200000"),
    "max_total_pixels": (0, "5000000", "4000000"),
    "min_page_pixels": (300000, "250000", "220000"),
    "window_pages": (9, "8", "7"),
    "window_overlap": (2, "3", "0"),
    "dpi": (100, None, "150"),
    "pages": ("1", None, "1-"),
    "password": (None, "pw-env", "pw-flag"),
    "max_pages": (5, "6", "7"),
    "max_file_size": (10, "11", "12"),
    "render_workers": (0, "1", "2"),
    "render_timeout": (0, "40", "50"),  # 0 in the file: it renders in-process (workers 0)
    "png_compression": (9, "6", None),  # a flag of `qvl render` only (tests/pages/test_png.py)
    "prompt": ("generic-v1", None, "form-v1"),
    "max_new_tokens": (50, None, "60"),
    "constrain": (False, None, True),
    "reasks": (0, None, "2"),
    "min_confidence": (0.25, None, "0.75"),
    "evidence": ("text", "ocr", "auto"),
    "require_evidence": (False, None, True),
    "batch_size": (2, "3", "4"),
    "cache": (False, None, True),
}


def test_the_table_covers_every_declared_setting() -> None:
    assert set(LAYERS) == set(all_settings())
    for name, (_, env, _) in LAYERS.items():
        assert (env is not None) == (all_settings()[name].spec.env is not None), name


def expected(*layers: int) -> dict[str, Any]:
    """What each setting should be when the given layers (0 file, 1 env, 2 flags) are set."""
    values = {}
    for name, options in LAYERS.items():
        setting = all_settings()[name]
        for layer in layers:
            raw = options[layer]
            if raw is None:
                continue
            text = raw if isinstance(raw, str) else str(raw).lower()
            values[name] = check_value(setting, raw) if layer == 0 else parse_text(setting, text)
    return values


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Records the settings each command built and the backends it created (fake backends)."""
    seen: dict[str, Any] = {"backends": []}
    for name in ("spy-file", "spy-env", "spy-flag"):

        def make(settings: ModelSettings, name: str = name) -> FakeBackend:
            backend = FakeBackend(settings, replies=[json.dumps(FORM)] * 3)
            seen["backends"].append((name, backend))
            return backend

        register_backend(name, make)
    prepare = extract_command.ExtractRun.prepare

    def capture(schema_ref: str, settings: Settings) -> extract_command.ExtractRun:
        seen["settings"] = settings
        return prepare(schema_ref, settings)

    monkeypatch.setattr(extract_command.ExtractRun, "prepare", staticmethod(capture))
    monkeypatch.chdir(tmp_path)
    return seen


def run_extract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layers: tuple[int, ...]) -> Any:
    doc = write_pdf(tmp_path / "doc.pdf", [PageSpec(lines=("FORM", "Name: Maria"))])
    args = ["extract", str(doc), "-s", "form"]
    if 0 in layers:
        lines = [f"{name} = {toml_value(v[0])}" for name, v in LAYERS.items() if v[0] is not None]
        (tmp_path / ".qvl.toml").write_text("\n".join(lines) + "\n")
    if 1 in layers:
        for name, (_, env, _) in LAYERS.items():
            if env is not None:
                monkeypatch.setenv(str(all_settings()[name].spec.env), env)
    if 2 in layers:
        for name, (_, _, flag) in LAYERS.items():
            setting = all_settings()[name]
            if isinstance(flag, bool):
                args.append(setting.flag if flag else setting.negative_flag)
            elif flag is not None:
                args += [setting.flag, flag]
    return CliRunner().invoke(app, args, catch_exceptions=False)


@pytest.mark.parametrize("layers", [(0,), (0, 1), (0, 1, 2)], ids=["file", "file+env", "file+env+flags"])
def test_every_setting_from_each_layer_reaches_the_run_and_the_backend(
    spy: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layers: tuple[int, ...]
) -> None:
    result = run_extract(tmp_path, monkeypatch, layers)
    assert result.exit_code in (0, 1), result.output
    want = expected(*layers)
    built: Settings = spy["settings"]
    flat = {k: v for record in asdict(built).values() for k, v in record.items()}
    assert flat == {name: want.get(name, all_settings()[name].default) for name in flat}
    # The backend was created by the chosen name, with the model settings as built.
    [(name, backend)] = spy["backends"]
    assert name == want["backend"] and backend.settings == built.model
    # Decoding and budgets reached the request and the envelope.
    call = backend.calls[0]
    assert call.max_new_tokens == want["max_new_tokens"] and call.constrain == want["constrain"]
    envelope = json.loads(result.stdout.splitlines()[0])
    budget = envelope["budget"]
    assert (budget["min_pixels"], budget["max_pixels"]) == (want["min_pixels"], want["max_pixels"])
    assert budget["max_total_pixels"] == (want["max_total_pixels"] or None) and budget["pdf_dpi"] == want["dpi"]
    assert envelope["prompt"] == want["prompt"]


def test_defaults_when_nothing_is_set() -> None:
    assert build_settings() == Settings()
    assert build_settings(env_layer({})) == Settings()


CHOICES = "is not one of auto, bfloat16, float16, float32"


@pytest.mark.parametrize(
    ("command", "where", "message"),
    [
        ("extract", "file", f".qvl.toml: dtype: 'float13' {CHOICES}"),
        ("extract", "env", f"QVL_DTYPE: 'float13' {CHOICES}"),
        ("extract", "flag", f"--dtype: 'float13' {CHOICES}"),
        ("check", "file", f".qvl.toml: dtype: 'float13' {CHOICES}"),
        ("check", "rule", f".qvl.toml: rules[0].dtype: 'float13' {CHOICES}"),
        ("check", "env", f"QVL_DTYPE: 'float13' {CHOICES}"),
        ("check", "flag", f"--dtype: 'float13' {CHOICES}"),
    ],
)
def test_a_bad_value_from_each_layer_is_one_line_naming_source_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, where: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = write_pdf(tmp_path / "a.pdf", [PageSpec()])
    top = "dtype = 'float13'\n" if where == "file" else ""
    rule = "dtype = 'float13'\n" if where == "rule" else ""
    (tmp_path / ".qvl.toml").write_text(f"{top}[[rules]]\nfiles = ['*.pdf']\nschema = 'invoice'\n{rule}")
    if where == "env":
        monkeypatch.setenv("QVL_DTYPE", "float13")
    args = [command, "a.pdf", *(["-s", "invoice"] if command == "extract" else [])]
    args += ["--dtype", "float13"] if where == "flag" else []
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"qvl: error: {message}\n" and result.stdout == ""
    assert doc.exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--max-pixels", "lots"], {}, "--max-pixels: 'lots' is not an integer"),
        ([], {"QVL_MAX_PIXELS": "lots"}, "QVL_MAX_PIXELS: 'lots' is not an integer"),
        ([], {"QVL_QUANT": "3bit"}, "QVL_QUANT: '3bit' is not one of none, 4bit, 8bit"),
        (["--min-confidence", "2"], {}, "--min-confidence: 2.0 is more than the maximum 1"),
        (
            ["--min-pixels", "9000", "--max-pixels", "8000"],
            {},
            "--max-pixels: 8000 is smaller than the smallest page size 9000 (--min-pixels)",
        ),
        (
            ["--max-pixels", "3000"],
            {},
            "--max-pixels: 3000 is smaller than the smallest page size 3136 (--min-pixels)",
        ),
        # only one side of a conflict set: named as set, the other side as its flag
        (
            ["--min-pixels", "2000000"],
            {},
            "--min-pixels: 2000000 is larger than the largest page size 1003520 (--max-pixels)",
        ),
        (
            [],
            {"QVL_MIN_PIXELS": "2000000"},
            "QVL_MIN_PIXELS: 2000000 is larger than the largest page size 1003520 (--max-pixels)",
        ),
        (
            ["--max-pixels", "2000000"],
            {"QVL_MIN_PIXELS": "3000000"},
            "--max-pixels: 2000000 is smaller than the smallest page size 3000000 (QVL_MIN_PIXELS)",
        ),
        (["--window-pages", "1"], {}, "--window-pages: 1 must be larger than the overlap 1 (--window-overlap)"),
        ([], {"QVL_BATCH_SIZE": "0"}, "QVL_BATCH_SIZE: 0 is less than the minimum 1"),
        (
            ["--backend", "openai", "--base-url", "http://"],
            {},
            "--base-url: 'http://' is not a server URL: it names no host, e.g. http://127.0.0.1:8000/v1",
        ),
        (
            [],
            {"QVL_BASE_URL": "localhost:8000/v1"},
            "QVL_BASE_URL: 'localhost:8000/v1' is not a server URL: it must start with http:// or https://, e.g."
            " http://127.0.0.1:8000/v1",
        ),
        # a rule between two settings names each the way the user set it
        (
            ["--window-overlap", "3"],
            {"QVL_WINDOW_PAGES": "3"},
            "--window-overlap: 3 must be smaller than the window length 3 (QVL_WINDOW_PAGES)",
        ),
        (
            ["--window-pages", "2"],
            {"QVL_WINDOW_OVERLAP": "2"},
            "QVL_WINDOW_OVERLAP: 2 must be smaller than the window length 2 (--window-pages)",
        ),
        (
            ["--require-evidence"],
            {"QVL_EVIDENCE": "off"},
            "--require-evidence: needs evidence auto, text or ocr, not off (QVL_EVIDENCE)",
        ),
        ([], {"QVL_TIMEOUT": "soon"}, "QVL_TIMEOUT: 'soon' is not a number"),
        ([], {"QVL_CONCURRENCY": "0"}, "QVL_CONCURRENCY: 0 is less than the minimum 1"),
        # a timeout of no time: the value as given, the bound it must pass, in the setting's unit
        ([], {"QVL_TIMEOUT": "0"}, "QVL_TIMEOUT: 0 must be more than 0 seconds"),
        (["--timeout", "0"], {}, "--timeout: 0 must be more than 0 seconds"),
        (["--timeout", "-1.5"], {}, "--timeout: -1.5 must be more than 0 seconds"),
        # a render timeout cannot stop a page rendered in the qvl process
        (
            ["--render-workers", "0", "--render-timeout", "30"],
            {},
            "--render-timeout: 30 s cannot apply with --render-workers 0: a page rendered in the qvl process"
            " cannot be stopped (set --render-workers to 1 or more, or --render-timeout to 0 for no limit)",
        ),
        (
            ["--render-workers", "0"],
            {"QVL_RENDER_TIMEOUT": "5"},
            "QVL_RENDER_TIMEOUT: 5 s cannot apply with --render-workers 0: a page rendered in the qvl process"
            " cannot be stopped (set --render-workers to 1 or more, or QVL_RENDER_TIMEOUT to 0 for no limit)",
        ),
    ],
)
def test_bad_values_name_their_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["extract", "x.pdf", "-s", "invoice", *args], catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (2, f"qvl: error: {message}\n")


def test_a_conflict_set_in_a_configuration_file_or_the_api_names_the_key_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".qvl.toml").write_text("min_pixels = 2000000\n")
    result = CliRunner().invoke(app, ["extract", "x.pdf", "-s", "invoice"], catch_exceptions=False)
    expected = ".qvl.toml: min_pixels: 2000000 is larger than the largest page size 1003520 (--max-pixels)"
    assert (result.exit_code, result.stderr) == (2, f"qvl: error: {expected}\n")
    with pytest.raises(SettingsError) as raised:
        build_settings(Layer({"window_pages": 1}, {"window_pages": "window_pages"}))
    assert str(raised.value) == "window_pages: 1 must be larger than the overlap 1 (window_overlap)"


def test_quantized_weights_with_the_openai_backend_are_a_usage_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server loads the model: --quant cannot apply there and is refused, never dropped silently."""
    monkeypatch.chdir(tmp_path)
    url = ("--base-url", "http://127.0.0.1:9/v1")
    args = ["extract", "x.pdf", "-s", "invoice", *url, "--quant", "4bit", "--backend", "openai"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("qvl: error: --quant: 4bit cannot apply with the openai backend (--backend): ")
    assert "leave --quant out" in result.stderr and len(result.stderr.splitlines()) == 1
    monkeypatch.setenv("QVL_BACKEND", "openai")
    result = CliRunner().invoke(app, ["extract", "x.pdf", "-s", "invoice", *url, "--quant", "8bit"])
    assert result.exit_code == 2 and "8bit cannot apply with the openai backend (QVL_BACKEND)" in result.stderr
    assert ModelSettings(backend="openai", base_url=url[1], quant="none").quant == "none"
    assert ModelSettings(quant="4bit").quant == "4bit"  # the local backend loads them


def test_a_bound_a_value_must_pass_is_declared_as_such() -> None:
    """A positive amount (a timeout) is declared ``more_than=0``, never as a small ``minimum``
    standing in for "more than 0", which users would read back as "less than the minimum 0.001"."""
    for name, setting in all_settings().items():
        minimum = setting.spec.minimum
        assert minimum is None or float(minimum).is_integer(), name
    timeout = all_settings()["timeout"]
    assert check_value(timeout, 0.001) == 0.001
    with pytest.raises(SettingsError, match=r"^0 must be more than 0 seconds$"):
        check_value(timeout, 0)
    with pytest.raises(SettingsError, match=r"^0\.0 must be more than 0 seconds$"):
        parse_text(timeout, " 0.0 ")  # as written


def test_records_check_themselves() -> None:
    with pytest.raises(SettingsError, match=r"^dtype: 'float13' is not one of auto, bfloat16, float16, float32$"):
        ModelSettings(dtype="float13")
    assert "key-1" not in repr(ModelSettings(api_key="key-1"))


def test_check_honours_the_openai_backend_and_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "invoices").mkdir()
    write_pdf(tmp_path / "invoices" / "a.pdf", [PageSpec(lines=("INVOICE A-1", "Total 10.50"))])
    with FakeOpenAIServer() as server:
        server.script.append(("ok", json.dumps(VALID_INVOICE)))
        (tmp_path / ".qvl.toml").write_text(
            f'backend = "openai"\nbase_url = "{server.url}"\napi_key = "sk-test"\nmax_pixels = 200000\n'
            '[[rules]]\nfiles = ["invoices/*.pdf"]\nschema = "invoice"\nrequired = ["total"]\n'
        )
        monkeypatch.setenv("QVL_MAX_PIXELS", "100000")  # the environment wins over the file
        result = CliRunner().invoke(app, ["check", "invoices/a.pdf", "--no-cache"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("1 document checked: 1 passed, 0 failed (0 problems)\n")
    [body] = server.requests
    assert body["model"] == "fake-qwen2-vl"
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    import base64
    import io

    from PIL import Image

    url = body["messages"][0]["content"][0]["image_url"]["url"]
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.width * image.height <= 100000
