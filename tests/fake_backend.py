"""A deterministic backend for tests of logic: queued replies and a log of every call.

The tests register it as ``--backend fake``: in their own process with ``register_backend``,
and for the ``qvl`` processes they start through the ``qvl.backends`` entry point of a small
distribution that ``conftest.py`` puts on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from qvl_cli.backends.contract import Generation, GenerationRequest, ModelInfo, Outcome, Turn
from qvl_cli.errors import DeviceMemoryError, ModelError
from qvl_cli.pages.budgets import visual_tokens
from qvl_cli.settings import ModelSettings

# For subprocess tests: a JSON list of replies to queue, read when the backend is created;
# seconds to wait per call; and a pixel count above which a call runs "out of memory".
REPLIES_ENV = "QVL_FAKE_REPLIES"
DELAY_ENV = "QVL_FAKE_DELAY"
OOM_ENV = "QVL_FAKE_OOM_ABOVE_PIXELS"


@dataclass(frozen=True)
class FakeCall:
    """What one request asked for (image sizes, not the images: a long batch stays small)."""

    prompt: str
    image_sizes: tuple[tuple[int, int], ...]
    max_new_tokens: int
    constrain: bool
    followups: tuple[Turn, ...]


class FakeBackend:
    """Answers each request with the next queued reply (or ``{}`` when none is queued); a queued
    :class:`ModelError` is that request's failure. ``batches`` logs the size of each batch call."""

    def __init__(self, settings: ModelSettings | None = None, replies: list[str | ModelError] | None = None):
        self.settings = settings or ModelSettings(model="fake")
        queued = replies if replies is not None else json.loads(os.environ.get(REPLIES_ENV, "[]"))
        self.replies: deque[str | ModelError] = deque(queued)
        self.calls: list[FakeCall] = []
        self.batches: list[int] = []
        self.delay = float(os.environ.get(DELAY_ENV, "0"))
        self.oom_above = int(os.environ.get(OOM_ENV, "0")) or None

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(backend="fake", id=self.settings.model)

    def queue(self, *replies: str | ModelError) -> None:
        self.replies.extend(replies)

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        self.batches.append(len(requests))
        pixels = sum(image.width * image.height for request in requests for image in request.images)
        if self.oom_above is not None and pixels > self.oom_above:
            return [DeviceMemoryError(f"fake device out of memory at {pixels} pixels") for _ in requests]
        outcomes: list[Outcome] = []
        for request in requests:
            try:
                outcomes.append(self.generate(request))
            except ModelError as exc:
                outcomes.append(exc)
        return outcomes

    def generate(self, request: GenerationRequest) -> Generation:
        sizes = tuple(image.size for image in request.images)
        self.calls.append(FakeCall(request.prompt, sizes, request.max_new_tokens, request.constrain, request.followups))
        if self.delay:
            time.sleep(self.delay)
        pixels = sum(image.width * image.height for image in request.images)
        if self.oom_above is not None and pixels > self.oom_above:
            raise DeviceMemoryError(f"fake device out of memory at {pixels} pixels")
        text = self.replies.popleft() if self.replies else "{}"
        if isinstance(text, ModelError):
            raise text
        tokens = len(text.split())
        return Generation(
            text=text,
            prompt_tokens=len(request.prompt.split()),
            generated_tokens=tokens,
            visual_tokens=sum(visual_tokens(*image.size) for image in request.images),
            finish_reason="stop",
        )
