"""Shared fixtures: an isolated Hugging Face home, the tiny Qwen2-VL, documents, the corpus."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

CORPUS = TESTS.parent.parent / "shared" / "corpus"
HUB_REPO = "qvl-test/tiny-qwen2-vl"
HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pytest_configure(config: pytest.Config) -> None:
    """No test touches the network or the user's Hugging Face cache, subprocesses included.

    Set before anything imports huggingface_hub, which reads these once at import.
    """
    home = Path(tempfile.mkdtemp(prefix="qvl-test-hf-home-"))
    os.environ["HF_HOME"] = str(home)
    os.environ["HF_HUB_CACHE"] = str(home / "hub")
    os.environ["HF_HUB_OFFLINE"] = "1"
    for name in ("QVL_MODEL", "QVL_PDF_PASSWORD", "QVL_BACKEND", "QVL_DEBUG", "QVL_RENDER_WORKERS"):
        os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
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
