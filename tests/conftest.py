"""Shared fixtures: an isolated Hugging Face home, the tiny Qwen2-VL, documents, the corpus."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

CORPUS = TESTS.parent.parent / "shared" / "corpus"
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


def clear_qvl_environment(environ: MutableMapping[str, str]) -> None:
    for name in [name for name in environ if name.startswith("QVL_") or name == "OPENAI_API_KEY"]:
        del environ[name]


def install_fake_backend_plugin(folder: Path) -> Path:
    """A distribution (metadata only) whose ``qvl.backends`` entry point is the fake backend."""
    info = folder / "qvl_test_fake_backend-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qvl-test-fake-backend\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[qvl.backends]\nfake = fake_backend:FakeBackend\n")
    return folder


@pytest.fixture(autouse=True)
def clean_qvl_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``QVL_*`` variable of the developer's shell (or an earlier test) reaches a test."""
    for name in [name for name in os.environ if name.startswith("QVL_") or name == "OPENAI_API_KEY"]:
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
        pytest.skip("../shared/corpus is not present beside the repository")
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
