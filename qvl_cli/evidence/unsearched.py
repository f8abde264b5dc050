"""Pages that could not be searched for values: pages without a text layer read with
``--evidence text`` (a scan, an image). A value that may be printed there was never looked for, so
it is not reported as "not found" (invented): its evidence is ``{"searched": false}``, the record
gets one warning naming the pages, and ``--require-evidence`` (or a ``grounded`` rule) fails with
that reason instead of passing.
"""

from __future__ import annotations

from collections.abc import Collection

from qvl_cli.wording import page_ranges, plural

NO_TEXT = "none"  # the ``source`` of a page whose text was not read (no text layer, --evidence text)
NOT_SEARCHED = {"searched": False}  # the evidence of a value that could not be looked for
NO_TEXT_LAYER = "no text layer"
ADVICE = "use --evidence auto or ocr"


def is_unsearched(entry: object) -> bool:
    """Whether an evidence entry says its value could not be looked for."""
    return isinstance(entry, dict) and entry.get("searched") is False


def may_be_on(span: tuple[int, int] | None, blind: Collection[int]) -> bool:
    """Whether a value read from pages ``span`` (the whole document when ``None``) may be printed on
    one of the ``blind`` pages."""
    return any(span is None or span[0] <= page <= span[1] for page in blind)


def pages_have(blind: Collection[int]) -> str:
    """``page 3 has`` or ``pages 1-3, 5 have``."""
    numbers = sorted(set(blind))
    return f"{page_ranges(numbers)} {'have' if len(numbers) > 1 else 'has'}"


WARNING_END = f"(--evidence text reads text layers only: {ADVICE})"  # how a refresh knows the warning
ERROR_MIDDLE = f"{NO_TEXT_LAYER}, so --require-evidence could not check"


def unsearched_warning(blind: Collection[int], count: int) -> str:
    return (
        f"{pages_have(blind)} {NO_TEXT_LAYER}, so {plural(count, 'value')} could not be looked for there {WARNING_END}"
    )


def unsearched_error(blind: Collection[int], count: int) -> str:
    return f"{pages_have(blind)} {ERROR_MIDDLE} {plural(count, 'value')} ({ADVICE})"
