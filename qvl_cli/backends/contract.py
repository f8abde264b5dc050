"""The backend contract and a lazy registry of backends by name.

A backend turns page images and a prompt into generated text. Backends are imported only when
chosen, so ``qvl --help`` never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qvl_cli.answers.decoding import Closing
from qvl_cli.errors import ModelError, QvlError
from qvl_cli.settings import DEFAULT_MODEL as DEFAULT_MODEL  # re-exported for backends' users
from qvl_cli.settings import ModelSettings as ModelSettings

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Turn:
    """A later message in the conversation (a re-ask: the answer, then the feedback)."""

    role: str  # "assistant" or "user"
    text: str


@dataclass(frozen=True)
class GenerationRequest:
    """One conversation: the document's pages and the prompt, then any follow-up turns."""

    images: tuple[Image.Image, ...]
    prompt: str
    max_new_tokens: int
    schema: dict[str, Any] | None = None
    constrain: bool = True  # decode under the schema's grammar when the backend can
    followups: tuple[Turn, ...] = ()
    png: tuple[bytes, ...] = ()  # the images as PNG files, when the render workers encoded them


@dataclass(frozen=True)
class Generation:
    """What the model produced, what it cost, and how sure it was of each token."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    visual_tokens: int
    finish_reason: str  # "stop" (end of turn), "length" (token budget) or "repetition"
    token_spans: tuple[tuple[int, int], ...] = ()  # character span of each token in text
    token_logprobs: tuple[float, ...] = ()  # log-probability the model gave each token
    closing: Closing | None = None  # set when the answer was closed early while decoding
    constrained: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """Provenance recorded in every result."""

    backend: str
    id: str
    revision: str | None = None
    quant: str = "none"
    dtype: str | None = None
    device: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.backend,
            "id": self.id,
            "revision": self.revision,
            "quant": self.quant,
            "dtype": self.dtype,
            "device": self.device,
        }
        return info | self.extra


Outcome = Generation | ModelError  # what one request of a batch gave


class Backend(Protocol):
    """Anything that answers a :class:`GenerationRequest`."""

    @property
    def info(self) -> ModelInfo: ...

    def generate(self, request: GenerationRequest) -> Generation:
        """One answer; raises :class:`ModelError` (:class:`DeviceMemoryError` out of memory)."""
        ...

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        """One outcome per request, in order: its generation, or the error that request met
        (out of memory for the batch as a whole: a :class:`DeviceMemoryError` for each)."""
        ...


BackendFactory = Callable[[ModelSettings], Backend]
ENTRY_POINT_GROUP = "qvl.backends"  # plugins: an entry point ``name = "module:factory"``
_BUILT_IN = {
    "transformers": "qvl_cli.backends.transformers:TransformersBackend",
    "openai": "qvl_cli.backends.openai_server:OpenAIBackend",
}
_REGISTERED: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``--backend name`` create its backend with ``factory(settings)``."""
    _REGISTERED[name] = factory


def backend_names() -> list[str]:
    return sorted({*_BUILT_IN, *_REGISTERED, *(entry.name for entry in _plugins())})


def is_backend(name: str) -> bool:
    """Whether ``--backend name`` names a backend: built in, registered, or a plugin (only an
    unknown name costs a look at the installed plugins)."""
    return name in _BUILT_IN or name in _REGISTERED or any(entry.name == name for entry in _plugins())


def create_backend(name: str, settings: ModelSettings) -> Backend:
    """Import and construct the backend called ``name``: built in, registered, or a plugin."""
    factory = _REGISTERED.get(name) or _load(name)
    return factory(settings)


def _load(name: str) -> BackendFactory:
    target = _BUILT_IN.get(name)
    if target is None:
        plugin = next((entry for entry in _plugins() if entry.name == name), None)
        if plugin is None:
            raise QvlError(f"unknown backend {name!r}", hint=f"choose one of: {', '.join(backend_names())}")
        factory: BackendFactory = plugin.load()
        return factory
    module_name, attribute = target.split(":")
    loaded: BackendFactory = getattr(importlib.import_module(module_name), attribute)
    return loaded


def _plugins() -> tuple[Any, ...]:
    from importlib.metadata import entry_points

    return tuple(entry_points(group=ENTRY_POINT_GROUP))
