"""Fixtures of the review tests: a PDF with a text layer, and a real Chromium.

The browser is Debian's ``chromium`` driven by Playwright (its own browser download is not used).
Without either, browser tests skip saying why; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pdf_factory import PageSpec, write_pdf
from review_helpers import PAGE_ONE, PAGE_TWO


@pytest.fixture
def invoice_pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "invoice.pdf", [PageSpec(lines=PAGE_ONE), PageSpec(lines=PAGE_TWO)])


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[test]')"
    if executable is None:
        reason = "no Chromium found on PATH (apt-get install -y chromium)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()
