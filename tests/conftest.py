"""Shared fixtures and helpers: an isolated environment, ``qvl`` in a subprocess or in this process,
JSONL records, the fake backend's environment, the tiny Qwen2-VL, the corpus.

Test modules import the helpers by name (``from conftest import qvl, records``); ``tests/`` is on the
import path (``pythonpath`` in pyproject.toml), as are the other helper modules beside this file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"
CORPUS = Path(os.environ.get("QVL_CORPUS") or ROOT.parent / "shared" / "corpus")
# The test harness's own settings; every other QVL_* variable is cleared so the user's shell
# cannot change what a test sees.
HARNESS_VARIABLES = frozenset({"QVL_CORPUS", "QVL_FUZZ_CASES", "QVL_UPDATE_GOLDEN", "QVL_VLLM_PYTHON"})
# Fixtures of the review report tests (a real Chromium), shared like the helpers beside this file.
pytest_plugins = ["review_fixtures"]
HUB_REPO = "qvl-test/tiny-qwen2-vl"
HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pytest_configure(config: pytest.Config) -> None:
    """No test touches the network or the user's Hugging Face cache, subprocesses included.

    Set before anything imports huggingface_hub, which reads these once at import. The fake
    backend is registered here for this process, and as a plugin for the ``qvl`` processes
    the tests start.
    """
    home = Path(tempfile.mkdtemp(prefix="qvl-test-hf-home-"))
    os.environ["HF_HOME"] = str(home)
    os.environ["HF_HUB_CACHE"] = str(home / "hub")
    os.environ["HF_HUB_OFFLINE"] = "1"
    clear_qvl_environment(os.environ)
    plugins = install_fake_backend_plugin(home / "plugins")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(TESTS), str(plugins), os.environ.get("PYTHONPATH"))))

    from fake_backend import FakeBackend

    from qvl_cli.backends.contract import register_backend

    register_backend("fake", FakeBackend)
    _handle_ctrl_c()


def _handle_ctrl_c() -> None:
    """The qvl processes the tests start handle Ctrl-C, however pytest was started.

    A shell starts a background job (``pytest &`` in a script) with SIGINT ignored, a process
    inherits that, and Python then leaves Ctrl-C ignored: the tests that press Ctrl-C on qvl
    would see it carry on. A handler is not inherited; the default is.
    """
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads the corpus must say so (``-m "not corpus"`` leaves it out)."""
    unmarked = [
        item.nodeid
        for item in items
        if "corpus" in getattr(item, "fixturenames", ()) and item.get_closest_marker("corpus") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"tests using the corpus fixture without @pytest.mark.corpus: {', '.join(unmarked)}")


def clear_qvl_environment(environ: MutableMapping[str, str]) -> None:
    for name in qvl_variables(environ):
        del environ[name]


def qvl_variables(environ: MutableMapping[str, str]) -> list[str]:
    """The variables qvl reads (``QVL_*``, ``OPENAI_API_KEY``), less the test harness's own."""
    return [
        name
        for name in environ
        if (name.startswith("QVL_") or name == "OPENAI_API_KEY") and name not in HARNESS_VARIABLES
    ]


def install_fake_backend_plugin(folder: Path) -> Path:
    """A distribution (metadata only) whose ``qvl.backends`` entry point is the fake backend."""
    info = folder / "qvl_test_fake_backend-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qvl-test-fake-backend\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[qvl.backends]\nfake = fake_backend:FakeBackend\n")
    return folder


def qvl(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``qvl`` entry point in a fresh process, as a shell would (``env`` adds to ours)."""
    return subprocess.run(
        [sys.executable, "-m", "qvl_cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """Run ``qvl`` in this process (typer's CliRunner; stdout and stderr kept apart), for tests that need no
    fresh process: no signals, no start-up imports, no real entry point. Exceptions are not caught."""
    from qvl_cli.cli import app

    return CliRunner().invoke(app, list(args), env=env, input=stdin, catch_exceptions=False)


def records(text: str) -> list[dict[str, Any]]:
    """The records of a JSONL text, one per line (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines()]


def fake(*replies: object, delay: float = 0.0, oom_above_pixels: int = 0) -> dict[str, str]:
    """Environment that makes a ``qvl`` subprocess use the fake backend: ``replies`` answered in turn
    (strings as they are, anything else as JSON), ``delay`` seconds per call, and an out-of-memory error
    for calls with more than ``oom_above_pixels`` pixels."""
    texts = [reply if isinstance(reply, str) else json.dumps(reply) for reply in replies]
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps(texts)}
    if delay:
        env["QVL_FAKE_DELAY"] = str(delay)
    if oom_above_pixels:
        env["QVL_FAKE_OOM_ABOVE_PIXELS"] = str(oom_above_pixels)
    return env


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """An in-process ``qvl -v`` points the root logger at that run's stderr, which then closes:
    each test ends with the logging it started with, so later output stays clean."""
    root, pil, own = logging.getLogger(), logging.getLogger("PIL"), logging.getLogger("qvl_cli")
    before, level, pil_level, own_level = list(root.handlers), root.level, pil.level, own.level
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)
    pil.setLevel(pil_level)
    own.setLevel(own_level)


@pytest.fixture(autouse=True)
def clean_qvl_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``QVL_*`` variable of the developer's shell (or an earlier test) reaches a test."""
    for name in qvl_variables(os.environ):
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def isolated_cache(
    clean_qvl_environment: None, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test (and its subprocesses) gets an empty result cache."""
    folder = tmp_path_factory.mktemp("qvl-cache")
    monkeypatch.setenv("QVL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2-VL checkpoint saved with ``save_pretrained``, built once per session."""
    from tiny_model import build_tiny_qwen2_vl

    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        reason = f"the document corpus is not at {CORPUS} (set QVL_CORPUS to its folder)"
        if os.environ.get("CI") == "true":  # CI has ../shared beside the clone: corpus tests must run
            pytest.fail(f"CI=true, but {reason}")
        pytest.skip(reason)
    return CORPUS


@pytest.fixture(scope="session")
def hub_model_id(tiny_model_dir: Path) -> str:
    """The tiny checkpoint placed in the Hugging Face cache as the hub client lays out a download."""
    repo = Path(os.environ["HF_HUB_CACHE"]) / f"models--{HUB_REPO.replace('/', '--')}"
    snapshot = repo / "snapshots" / HUB_COMMIT
    if not snapshot.exists():
        shutil.copytree(tiny_model_dir, snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(HUB_COMMIT)
    return HUB_REPO
