"""Pixel budgets: Qwen2-VL's "naive dynamic resolution" rule as pure functions.

A page keeps its aspect ratio and native resolution as far as the budgets allow. Sides are
multiples of 28 (vision patch 14 x spatial merge 2); every 28 x 28 block becomes one visual token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qvl_cli.errors import BudgetError

PATCH_SIZE = 14
MERGE_SIZE = 2
FACTOR = PATCH_SIZE * MERGE_SIZE
MAX_ASPECT_RATIO = 200

# Per page, the defaults of transformers' Qwen2-VL image processor. Per document, 16,384 visual
# tokens: half of Qwen2-VL's 32,768-token context, and a bound on memory however long the PDF.
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 28 * 28 * 1280
DEFAULT_MAX_TOTAL_PIXELS = 28 * 28 * 16384


@dataclass(frozen=True)
class PixelBudget:
    """Per-page pixel bounds and an optional cap on the whole document."""

    min_pixels: int = DEFAULT_MIN_PIXELS
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_total_pixels: int | None = DEFAULT_MAX_TOTAL_PIXELS

    def __post_init__(self) -> None:
        if self.min_pixels < FACTOR * FACTOR:
            raise BudgetError(f"--min-pixels must be at least {FACTOR * FACTOR} (one 28x28 patch)")
        if self.max_pixels < self.min_pixels:
            raise BudgetError("--max-pixels must not be smaller than --min-pixels")
        if self.max_total_pixels is not None and self.max_total_pixels < FACTOR * FACTOR:
            raise BudgetError(f"--max-total-pixels must be at least {FACTOR * FACTOR}")


@dataclass(frozen=True)
class PagePlan:
    """Target sizes for every selected page of one document."""

    sizes: tuple[tuple[int, int], ...]  # (width, height) per page
    per_page_max_pixels: int
    shrunk: bool  # True when --max-total-pixels lowered the per-page budget
    # Pages (positions in ``sizes``) sized below the legibility floor, which happens only when
    # --max-total-pixels cannot hold even one of them at it; ``floor_total``: the least
    # --max-total-pixels that would (see qvl_cli.pages.windows).
    below_floor: tuple[int, ...] = ()
    floor_total: int = 0

    @property
    def total_pixels(self) -> int:
        return sum(w * h for w, h in self.sizes)


def smart_resize(
    height: float,
    width: float,
    factor: int = FACTOR,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """Return ``(height, width)`` as Qwen2-VL's image processor would resize to.

    Identical to ``transformers.models.qwen2_vl.image_processing_qwen2_vl.smart_resize``
    (checked by a test), but raises :class:`BudgetError` for extreme aspect ratios.
    """
    if min(height, width) <= 0:
        raise BudgetError(f"page has no area ({width:g} x {height:g})")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise BudgetError(
            f"aspect ratio {ratio:.0f}:1 exceeds Qwen2-VL's limit of {MAX_ASPECT_RATIO}:1",
            hint="crop the page or split it into parts",
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def visual_tokens(width: int, height: int) -> int:
    """Number of ``<|image_pad|>`` tokens Qwen2-VL spends on an image of this size."""
    return (height // PATCH_SIZE) * (width // PATCH_SIZE) // (MERGE_SIZE * MERGE_SIZE)


def fit_size(width: float, height: float, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` of a page of native size ``width x height`` under the budgets."""
    h, w = smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)
    return w, h


def plan_pages(native_sizes: list[tuple[float, float]], budget: PixelBudget) -> PagePlan:
    """Size every page; if the document exceeds ``max_total_pixels``, shrink all pages evenly.

    Shrinking lowers one shared per-page ``max_pixels`` to ``max_total_pixels // pages``, so the
    total stays within the cap (``smart_resize`` never exceeds ``max_pixels`` when shrinking).
    """
    sizes = [fit_size(w, h, budget.min_pixels, budget.max_pixels) for w, h in native_sizes]
    total = sum(w * h for w, h in sizes)
    cap = budget.max_total_pixels
    if cap is None or total <= cap or not sizes:
        return PagePlan(tuple(sizes), budget.max_pixels, shrunk=False)
    per_page = max(FACTOR * FACTOR, cap // len(sizes))
    floor = min(budget.min_pixels, per_page)
    sizes = [fit_size(w, h, floor, per_page) for w, h in native_sizes]
    return PagePlan(tuple(sizes), per_page, shrunk=True)
