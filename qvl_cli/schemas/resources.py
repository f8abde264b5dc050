"""Locate the built-in ``schemas/`` and ``prompts/`` folders.

An installed wheel carries them inside the package (``qvl_cli/data/``); a source checkout
(``pip install -e .``) has them at the repository's top level.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def data_dir(name: str) -> Path:
    """The folder of built-in ``name`` files (``"schemas"`` or ``"prompts"``)."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "data" / name
    if packaged.is_dir():
        return packaged
    return package.parent / name


def builtin_names(name: str, suffix: str) -> list[str]:
    """Stems of the built-in files in ``name`` ending with ``suffix``, sorted."""
    folder = data_dir(name)
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))
