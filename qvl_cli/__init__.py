"""qvl: turn documents into validated JSON with Qwen2-VL.

``from qvl_cli import extract, Extractor`` is the Python API (:mod:`qvl_cli.api`); it is imported
on first use, so ``import qvl_cli`` (and ``qvl --help``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Envelope", "Extractor", "Settings", "__version__", "extract"]

if TYPE_CHECKING:
    from qvl_cli.api import Extractor, extract
    from qvl_cli.runs.records import Envelope
    from qvl_cli.settings import Settings

_LAZY = {
    "extract": "qvl_cli.api",
    "Extractor": "qvl_cli.api",
    "Envelope": "qvl_cli.runs.records",
    "Settings": "qvl_cli.settings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qvl_cli' has no attribute {name!r}")
