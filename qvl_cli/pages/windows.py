"""Windows of pages: a legibility floor per page, and long documents split to honour it.

Pure functions. A document whose pages, shrunk evenly to fit ``--max-total-pixels``, stay at or
above the floor is one window with exactly the plan :func:`plan_pages` gives. Otherwise it is
split into windows of consecutive pages, each within ``--max-total-pixels`` with every page at
or above the floor, neighbours sharing ``overlap`` pages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from qvl_cli.errors import BudgetError
from qvl_cli.pages.budgets import FACTOR, PagePlan, PixelBudget, fit_size, plan_pages
from qvl_cli.wording import page_ranges

# 512 visual tokens a page (about 560 x 728 for A4): the smallest budget at which OCR of the
# corpus' text-layer pages keeps >= 0.95 character accuracy (bench/legibility.py).
DEFAULT_MIN_PAGE_PIXELS = 28 * 28 * 512
LEAST_MIN_PAGE_PIXELS = 28 * 28 * 256  # Qwen2-VL's own document examples use this min_pixels
DEFAULT_WINDOW_OVERLAP = 1


@dataclass(frozen=True)
class WindowSettings:
    """The legibility floor and how to split documents that cannot honour it in one go."""

    min_page_pixels: int = DEFAULT_MIN_PAGE_PIXELS
    window_pages: int | None = None  # at most this many pages a window (None: as many as fit)
    window_overlap: int = DEFAULT_WINDOW_OVERLAP

    def __post_init__(self) -> None:
        if self.min_page_pixels < LEAST_MIN_PAGE_PIXELS:
            raise BudgetError(f"--min-page-pixels must be at least {LEAST_MIN_PAGE_PIXELS} (256 x 28 x 28)")
        if self.window_pages is not None and self.window_pages < 1:
            raise BudgetError("--window-pages must be at least 1")
        if self.window_overlap < 0:
            raise BudgetError("--window-overlap must not be negative")
        if self.window_pages is not None and self.window_overlap >= self.window_pages:
            raise BudgetError("--window-overlap must be smaller than --window-pages")


@dataclass(frozen=True)
class Window:
    """Consecutive selected pages (``start``..``stop - 1``, positions in the selection) and their sizes."""

    start: int
    stop: int
    plan: PagePlan

    @property
    def positions(self) -> range:
        return range(self.start, self.stop)


def legible_floors(native: list[tuple[float, float]], budget: PixelBudget, settings: WindowSettings) -> list[int]:
    """Each page's legibility floor: the setting, but never more than the page's own size under
    ``--max-pixels`` (a small image is sent as it is)."""
    floor = min(settings.min_page_pixels, budget.max_pixels)
    return [min(floor, w * h) for w, h in (fit_size(w, h, budget.min_pixels, budget.max_pixels) for w, h in native)]


def at_least(width: float, height: float, pixels: int) -> tuple[int, int]:
    """The smallest 28-multiple size of this aspect ratio with at least ``pixels`` pixels."""
    beta = math.sqrt(pixels / (width * height))
    return math.ceil(width * beta / FACTOR) * FACTOR, math.ceil(height * beta / FACTOR) * FACTOR


def window_plan(native: list[tuple[float, float]], floors: list[int], budget: PixelBudget) -> PagePlan:
    """``plan_pages``, with any page it shrank below its floor raised to the floor."""
    plan = plan_pages(native, budget)
    if all(w * h >= floor for (w, h), floor in zip(plan.sizes, floors, strict=True)):
        return plan
    full = [fit_size(w, h, budget.min_pixels, budget.max_pixels) for w, h in native]
    sizes = tuple(
        size if size[0] * size[1] >= floor else min(at_least(*page, floor), whole, key=lambda s: s[0] * s[1])
        for size, page, floor, whole in zip(plan.sizes, native, floors, full, strict=True)
    )
    return PagePlan(sizes, plan.per_page_max_pixels, shrunk=True)


def _fits(plan: PagePlan, budget: PixelBudget) -> bool:
    return budget.max_total_pixels is None or plan.total_pixels <= budget.max_total_pixels


def plan_windows(
    native: list[tuple[float, float]], budget: PixelBudget, settings: WindowSettings | None = None
) -> tuple[Window, ...]:
    """Split the selected pages into windows (one window when the whole document fits)."""
    settings = settings or WindowSettings()
    legible = legible_floors(native, budget, settings)
    cap = budget.max_total_pixels or budget.max_pixels
    floors = [min(floor, cap) for floor in legible]  # the floors the windows honour
    limit = settings.window_pages or len(native)
    windows: tuple[Window, ...] | None = None
    if len(native) <= limit:
        whole = window_plan(native, floors, budget)
        if _fits(whole, budget):
            windows = (Window(0, len(native), whole),)
        elif len(native) == 1:
            windows = (Window(0, 1, plan_pages(native, budget)),)
    if windows is None:
        capacity = _capacity(native, floors, budget, limit)
        windows = tuple(_even_windows(native, floors, budget, capacity, settings.window_overlap))
    return tuple(_marked(window, native, legible, budget) for window in windows)


def _marked(window: Window, native: list[tuple[float, float]], legible: list[int], budget: PixelBudget) -> Window:
    """The window, its pages below their legibility floor marked in its plan, with the least
    ``--max-total-pixels`` that would hold each of them at its floor (alone in a window)."""
    pages = native[window.start : window.stop]
    floors = legible[window.start : window.stop]
    sizes = window.plan.sizes
    below = tuple(i for i, ((w, h), floor) in enumerate(zip(sizes, floors, strict=True)) if w * h < floor)
    if not below:
        return window
    needed = []
    for i in below:
        whole = fit_size(*pages[i], budget.min_pixels, budget.max_pixels)
        least = min(at_least(*pages[i], floors[i]), whole, key=lambda s: s[0] * s[1])
        needed.append(least[0] * least[1])
    return replace(window, plan=replace(window.plan, below_floor=below, floor_total=max(needed)))


def legibility_warning(plans: list[tuple[tuple[int, ...], PagePlan]], cap: int | None, floor: int) -> str | None:
    """The warning for pages sent below their legibility floor, or None when there is none
    (``plans``: each plan with the page numbers of its pages, in order)."""
    below = sorted({numbers[i] for numbers, plan in plans for i in plan.below_floor})
    if not below:
        return None
    needed = max(plan.floor_total for _, plan in plans)
    return (
        f"{page_ranges(below)} sent below legible size: --max-total-pixels {cap} cannot hold "
        f"a page at --min-page-pixels {floor}; raise --max-total-pixels to at least {needed}"
    )


def _window(native: list[tuple[float, float]], floors: list[int], budget: PixelBudget, start: int, stop: int) -> Window:
    return Window(start, stop, window_plan(native[start:stop], floors[start:stop], budget))


def _capacity(native: list[tuple[float, float]], floors: list[int], budget: PixelBudget, limit: int) -> int:
    """The longest window that greedy packing finds (at most ``limit`` pages)."""
    largest = 1
    start = 0
    while start < len(native):
        stop = start + 1
        while stop < len(native) and stop + 1 - start <= limit:
            if not _fits(_window(native, floors, budget, start, stop + 1).plan, budget):
                break
            stop += 1
        largest = max(largest, stop - start)
        start = stop
    return largest


def _even_windows(
    native: list[tuple[float, float]], floors: list[int], budget: PixelBudget, capacity: int, overlap: int
) -> list[Window]:
    """Windows of (nearly) equal length, each fitting: shorter where pages are larger."""
    count = len(native)
    overlap = min(overlap, capacity - 1)
    needed = max(1, math.ceil((count - overlap) / (capacity - overlap)))
    length = min(capacity, math.ceil((count + (needed - 1) * overlap) / needed))
    windows = []
    start = 0
    while True:
        stop = min(count, start + length)
        window = _window(native, floors, budget, start, stop)
        while stop - start > 1 and not _fits(window.plan, budget):
            stop -= 1
            window = _window(native, floors, budget, start, stop)
        if not _fits(window.plan, budget):  # one page larger than the cap even at its floor
            window = Window(start, stop, plan_pages(native[start:stop], budget))
        windows.append(window)
        if stop >= count:
            return windows
        start = max(start + 1, stop - overlap)
