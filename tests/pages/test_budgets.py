"""Budgets are Qwen2-VL's own rule: sizes must equal transformers' smart_resize exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qvl_cli.errors import BudgetError
from qvl_cli.pages.budgets import (
    FACTOR,
    PixelBudget,
    fit_size,
    plan_pages,
    smart_resize,
    visual_tokens,
)

sides = st.integers(min_value=1, max_value=20_000)
budgets = st.tuples(st.integers(min_value=28 * 28, max_value=4_000_000), st.integers(min_value=0, max_value=8_000_000))


@settings(max_examples=3000, deadline=None)
@given(height=sides, width=sides, bounds=budgets)
def test_smart_resize_equals_transformers(height: int, width: int, bounds: tuple[int, int]) -> None:
    # The PIL module's copy: the torchvision-backed module does not import without torchvision.
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as reference

    min_pixels, extra = bounds
    max_pixels = min_pixels + extra
    try:
        expected = reference(height, width, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError:
        with pytest.raises(BudgetError, match="aspect ratio"):
            smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)
        return
    assert smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels) == expected


@settings(max_examples=500, deadline=None)
@given(height=st.integers(100, 20_000), width=st.integers(100, 20_000))
def test_sizes_are_multiples_of_28_within_budget_and_keep_aspect(height: int, width: int) -> None:
    if max(height, width) / min(height, width) > 20:
        return
    budget = PixelBudget()
    w, h = fit_size(width, height, budget.min_pixels, budget.max_pixels)
    assert w % FACTOR == 0 and h % FACTOR == 0
    assert budget.min_pixels <= w * h <= budget.max_pixels
    # Each side moves by less than one 28-pixel step, so the aspect ratio error is bounded.
    relative_error = abs((w / h) / (width / height) - 1)
    assert relative_error <= 2 * FACTOR / min(w, h) + 1e-9


def test_extreme_aspect_ratio_is_a_clear_error() -> None:
    with pytest.raises(BudgetError, match=r"aspect ratio 250:1 exceeds Qwen2-VL's limit of 200:1"):
        smart_resize(10, 2500)


def test_visual_tokens_count_28px_blocks() -> None:
    assert visual_tokens(28, 28) == 1
    assert visual_tokens(868, 1120) == 31 * 40


def test_max_total_pixels_shrinks_every_page_evenly() -> None:
    letter = (1700.0, 2200.0)
    unlimited = plan_pages([letter] * 4, PixelBudget())
    assert not unlimited.shrunk
    assert unlimited.total_pixels > 3_000_000

    capped = plan_pages([letter] * 4, PixelBudget(max_total_pixels=2_000_000))
    assert capped.shrunk
    assert capped.per_page_max_pixels == 500_000
    assert capped.total_pixels <= 2_000_000
    assert len(set(capped.sizes)) == 1  # every page shrank the same way


def test_max_total_pixels_leaves_small_documents_alone() -> None:
    plan = plan_pages([(600.0, 800.0)], PixelBudget(max_total_pixels=2_000_000))
    assert not plan.shrunk
    assert plan.sizes == ((588, 812),)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_pixels": 100}, "--min-pixels must be at least 784"),
        ({"min_pixels": 10_000, "max_pixels": 5_000}, "--max-pixels must not be smaller than --min-pixels"),
        ({"max_total_pixels": 10}, "--max-total-pixels must be at least 784"),
    ],
)
def test_invalid_budgets_are_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(BudgetError, match=message):
        PixelBudget(**kwargs)
