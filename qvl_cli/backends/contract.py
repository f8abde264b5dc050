"""The backend contract and a lazy registry of backends by name.

A backend turns page images and a prompt into generated text. Backends are imported only when
chosen, so ``qvl --help`` never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qvl_cli.answers.decoding import Closing
from qvl_cli.errors import QvlError

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"


@dataclass(frozen=True)
class ModelSettings:
    """How to load and run the model."""

    model: str = DEFAULT_MODEL
    revision: str | None = None
    quant: str = "none"  # none | 4bit | 8bit
    dtype: str = "auto"  # auto | bfloat16 | float16 | float32
    device: str = "auto"  # auto | cpu | cuda | mps
    attention: str = "auto"  # auto | sdpa | flash_attention_2 | eager
    # OpenAI-compatible servers (vLLM and others)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 4
    timeout: float = 120.0
    retries: int = 4

    def identity(self) -> dict[str, Any]:
        """What shapes results (for cache keys): everything but the secret and the plumbing."""
        return {
            "model": self.model,
            "revision": self.revision,
            "quant": self.quant,
            "dtype": self.dtype,
            "device": self.device,
            "attention": self.attention,
            "base_url": self.base_url,
        }


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


class Backend(Protocol):
    """Anything that answers a :class:`GenerationRequest`."""

    @property
    def info(self) -> ModelInfo: ...

    def generate(self, request: GenerationRequest) -> Generation: ...


_REGISTRY = {
    "transformers": "qvl_cli.backends.transformers:TransformersBackend",
    "openai": "qvl_cli.backends.openai_server:OpenAIBackend",
    "fake": "qvl_cli.backends.fake:FakeBackend",
}


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def create_backend(name: str, settings: ModelSettings) -> Backend:
    """Import and construct the backend called ``name``."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise QvlError(f"unknown backend {name!r}", hint=f"choose one of: {', '.join(backend_names())}") from None
    module_name, class_name = target.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = backend_class(settings)
    return backend
