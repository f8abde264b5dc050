"""Any OpenAI-compatible server (vLLM, SGLang, ...) serving Qwen2-VL, through the official client.

Pages go as the PNG images qvl rasterized under its own budgets (sides already multiples of 28
within the processor's bounds, so the server does not resize them and budgets mean the same as
locally). Structured output uses ``response_format`` with the schema (strict); token
log-probabilities are requested so per-field confidence works here too. The client retries 429,
5xx and timeouts with exponential backoff and jitter.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qvl_cli.answers.decoding import grammar_schema
from qvl_cli.backends.contract import Generation, GenerationRequest, ModelInfo, Outcome
from qvl_cli.backends.tokens import char_spans
from qvl_cli.errors import ModelError
from qvl_cli.pages.budgets import visual_tokens
from qvl_cli.settings import DEFAULT_MODEL, ModelSettings

log = logging.getLogger(__name__)
NO_KEY = "not-needed"  # local servers accept any key; the client insists on one


def png_files(request: GenerationRequest) -> tuple[bytes, ...]:
    """The pages as PNG files (lossless, fast: see :mod:`qvl_cli.pages.png`): as the render
    workers encoded them, else encoded here."""
    if len(request.png) == len(request.images):
        return request.png
    from qvl_cli.pages.png import encode_png

    return tuple(encode_png(image) for image in request.images)


def messages_for(request: GenerationRequest) -> list[dict[str, Any]]:
    urls = ["data:image/png;base64," + base64.b64encode(png).decode("ascii") for png in png_files(request)]
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    content.append({"type": "text", "text": request.prompt})
    return [{"role": "user", "content": content}] + [{"role": t.role, "content": t.text} for t in request.followups]


def chat_arguments(model: str, request: GenerationRequest) -> dict[str, Any]:
    """The chat completion arguments for ``request``: greedy, with token log-probabilities, and
    the schema as strict structured output when the request is constrained."""
    arguments: dict[str, Any] = {
        "model": model,
        "messages": messages_for(request),
        "max_tokens": request.max_new_tokens,
        "temperature": 0.0,
        "logprobs": True,
    }
    if request.constrain and request.schema is not None:
        arguments["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "qvl_answer", "schema": grammar_schema(request.schema), "strict": True},
        }
    return arguments


def server_error(base_url: str, exc: Exception) -> ModelError:
    """One clear line for what the client raised."""
    import openai

    hint = "check --base-url (env QVL_BASE_URL) and that the server is running"
    if isinstance(exc, openai.APITimeoutError):
        return ModelError(f"the server at {base_url} did not answer in time", hint="raise --timeout")
    if isinstance(exc, openai.APIConnectionError):
        if "without sending complete message body" in str(exc.__cause__ or ""):
            # Reached, but the answer broke off (the server crashed or a proxy cut it).
            return ModelError(
                f"the server at {base_url} closed the connection in the middle of its answer",
                hint="check the server's log; the request is retried with --retries",
            )
        return ModelError(f"cannot reach the server at {base_url}", hint=hint)
    if isinstance(exc, openai.APIStatusError):
        detail = str(getattr(exc, "message", "") or exc).splitlines()[0][:300]
        return ModelError(f"the server at {base_url} answered {exc.status_code}: {detail}")
    return ModelError(f"the server at {base_url} sent an answer qvl cannot read: {exc}")


class OpenAIBackend:
    """Requests to an OpenAI-compatible chat completions endpoint; several in flight at once."""

    def __init__(self, settings: ModelSettings):
        import openai

        if not settings.base_url:
            raise ModelError("--backend openai needs --base-url (env QVL_BASE_URL), e.g. http://127.0.0.1:8000/v1")
        self.settings = settings
        self.client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or NO_KEY,
            timeout=settings.timeout,
            max_retries=settings.retries,
        )
        self.model = self._served_model(settings.model)

    def _served_model(self, wanted: str) -> str:
        """The model name to request; with the default name and one served model, that one."""
        try:
            served = [model.id for model in self.client.models.list()]
        except Exception as exc:  # the client's own errors, mapped to one message
            raise server_error(str(self.settings.base_url), exc) from None
        if wanted in served:
            return wanted
        if wanted == DEFAULT_MODEL and len(served) == 1:
            return served[0]
        raise ModelError(
            f"the server at {self.settings.base_url} does not serve {wanted!r}",
            hint=f"it serves: {', '.join(served) or 'nothing'}; pass --model with one of them",
        )

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(backend="openai", id=self.model, extra={"base_url": self.settings.base_url})

    def generate(self, request: GenerationRequest) -> Generation:
        import openai

        arguments = chat_arguments(self.model, request)
        constrained = "response_format" in arguments
        try:
            response = self.client.chat.completions.create(**arguments)
            choice = response.choices[0]
        except (openai.OpenAIError, IndexError, AttributeError, ValueError) as exc:
            raise server_error(str(self.settings.base_url), exc) from None
        text = choice.message.content or ""
        spans, logprobs = _token_scores(choice, text)
        usage = response.usage
        return Generation(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            generated_tokens=int(getattr(usage, "completion_tokens", 0) or len(logprobs)),
            visual_tokens=sum(visual_tokens(*image.size) for image in request.images),
            finish_reason="length" if choice.finish_reason == "length" else "stop",
            token_spans=spans,
            token_logprobs=logprobs,
            constrained=constrained,
        )

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        """Up to ``concurrency`` requests in flight; answers (or each one's error) in request order."""

        def attempt(request: GenerationRequest) -> Outcome:
            try:
                return self.generate(request)
            except ModelError as exc:
                return exc

        workers = max(1, min(self.settings.concurrency, len(requests)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qvl-request") as pool:
            return list(pool.map(attempt, requests))


def _token_scores(choice: Any, text: str) -> tuple[tuple[tuple[int, int], ...], tuple[float, ...]]:
    """Character spans and log-probabilities of the answer's tokens, when the server sent them.

    Spans come from each token's UTF-8 bytes when given (a character may span tokens), else from
    its text. A stop token reported after the answer is dropped; tokens that do not add up to
    the answer give no confidence rather than a wrong one.
    """
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    use_bytes = bool(content) and all(getattr(item, "bytes", None) is not None for item in content)
    pieces = [bytes(item.bytes) if use_bytes else (item.token or "").encode("utf-8") for item in content]
    total = len(text.encode("utf-8"))
    byte_spans: list[tuple[int, int]] = []
    position = 0
    for piece in pieces:
        if position + len(piece) > total:
            break
        byte_spans.append((position, position + len(piece)))
        position += len(piece)
    spans = char_spans(byte_spans, text) if position == total else None
    if spans is None:
        return (), ()
    return tuple(spans), tuple(float(item.logprob) for item in content[: len(spans)])
