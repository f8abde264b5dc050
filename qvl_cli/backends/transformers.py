"""Qwen2-VL through Hugging Face transformers: full precision, or 4/8-bit with bitsandbytes.

Checkpoints load with ``from_pretrained`` from a hub id (HF cache, ``HF_HUB_OFFLINE`` honoured)
or a local folder, as safetensors only and never with ``trust_remote_code``.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import socket
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from qvl_cli.answers.decoding import BatchDecoder, GrammarCache, StructuredDecoder
from qvl_cli.backends.contract import Generation, GenerationRequest, ModelInfo, Outcome
from qvl_cli.backends.qwen2_vl_inputs import build_inputs, build_inputs_with_processor, collate
from qvl_cli.backends.tokens import token_spans
from qvl_cli.errors import DeviceMemoryError, ModelError
from qvl_cli.settings import ModelSettings

log = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("qwen2_vl",)
DOWNLOAD_HINT = (
    "download it on a machine with internet access (`{command}`) and copy the Hugging Face "
    "cache, or pass --model /path/to/checkpoint (env QVL_MODEL)"
)
# Keep the vision tower and output head in full precision: quantizing them costs OCR accuracy,
# and bitsandbytes' CPU kernels cannot handle small vision layers.
QUANT_SKIP_MODULES = ["lm_head", "model.visual"]


class TransformersBackend:
    """Loads the model once; every :meth:`generate` call reuses it."""

    def __init__(self, settings: ModelSettings):
        self.settings = settings
        _quiet_libraries()
        import torch

        self._torch = torch
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        _require_available(settings.model, settings.revision)
        started = time.perf_counter()
        self.config = _load_config(settings)
        self.tokenizer, self.image_processor, self.processor = _load_preprocessing(settings)
        self.model = _load_model(settings, self.device, self.dtype)
        self._grammars: GrammarCache | None = None
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s on %s (%s) in %.1fs", settings.model, self.device, self.dtype, self.load_seconds)

    @property
    def info(self) -> ModelInfo:
        commit = getattr(self.config, "_commit_hash", None)
        return ModelInfo(
            backend="transformers",
            id=self.settings.model,
            revision=self.settings.revision or commit,
            quant=self.settings.quant,
            dtype=str(self.dtype).removeprefix("torch."),
            device=self.device,
        )

    def model_inputs(self, request: GenerationRequest, to_device: bool = True) -> dict[str, Any]:
        """Tensors for ``generate``, through the real processor when it could be loaded."""
        if self.processor is not None:
            inputs = build_inputs_with_processor(self.processor, request.images, request.prompt, request.followups)
        else:
            inputs = build_inputs(
                self.tokenizer, self.image_processor, request.images, request.prompt, request.followups
            )
        if not to_device:
            return inputs
        return {key: value.to(self.model.device) for key, value in inputs.items()}

    def generate(self, request: GenerationRequest) -> Generation:
        [outcome] = self.generate_batch([request])
        if isinstance(outcome, ModelError):
            raise outcome
        return outcome

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        """Several conversations in one ``generate`` call (left-padded); one decoder per row.

        Out of memory, every request of the batch gets the error (each may be retried alone).
        """
        torch = self._torch
        single = [self.model_inputs(request, to_device=False) for request in requests]
        inputs = single[0] if len(single) == 1 else collate(single, self.tokenizer.pad_token_id)
        inputs = {key: value.to(self.model.device) for key, value in inputs.items()}
        decoders = [self._decoder(request) for request in requests]
        width = int(inputs["input_ids"].shape[1])
        try:
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    generation_config=self._greedy(max(request.max_new_tokens for request in requests)),
                    logits_processor=[decoders[0] if len(decoders) == 1 else BatchDecoder(decoders)],
                )
        except torch.OutOfMemoryError:
            if self.device == "cuda":
                torch.cuda.empty_cache()
            error = DeviceMemoryError(
                "the device ran out of memory while generating",
                hint="lower --max-pixels / --max-total-pixels or --batch-size, select fewer --pages, "
                "or use --quant 4bit",
            )
            return [error for _ in requests]
        return [
            self._generation(request, single[row], output[row, width:].tolist(), decoders[row])
            for row, request in enumerate(requests)
        ]

    def _generation(
        self, request: GenerationRequest, inputs: dict[str, Any], new_tokens: list[int], decoder: StructuredDecoder
    ) -> Generation:
        stops = self._stop_ids()
        end = next((i + 1 for i, token in enumerate(new_tokens) if token in stops), len(new_tokens))
        new_tokens = new_tokens[:end]  # a finished row is padded while the others go on
        decoder.finish(new_tokens)
        return Generation(
            text=self.tokenizer.decode(new_tokens, skip_special_tokens=True),
            prompt_tokens=int(inputs["input_ids"].shape[1]),
            generated_tokens=len(new_tokens),
            visual_tokens=int((inputs["input_ids"] == self.config.image_token_id).sum()),
            finish_reason=self._finish_reason(new_tokens, request.max_new_tokens, decoder),
            token_spans=tuple(token_spans(self.tokenizer, new_tokens)),
            token_logprobs=tuple(decoder.logprobs[: len(new_tokens)]),
            closing=decoder.closing,
            constrained=request.constrain and request.schema is not None,
        )

    def _decoder(self, request: GenerationRequest) -> StructuredDecoder:
        """Grammar mask and budget-aware closing when constrained; token scores always."""
        stop_ids = sorted(self._stop_ids())
        if not (request.constrain and request.schema is not None):
            return StructuredDecoder(self.tokenizer, request.max_new_tokens, stop_ids)
        if self._grammars is None:
            vocab_size = self.config.get_text_config().vocab_size
            self._grammars = GrammarCache(self.tokenizer, vocab_size, stop_ids)
        grammar = self._grammars.compile(request.schema)
        return StructuredDecoder(self.tokenizer, request.max_new_tokens, stop_ids, request.schema, grammar)

    def _finish_reason(self, new_tokens: list[int], budget: int, decoder: StructuredDecoder) -> str:
        if decoder.stopped_by_loop or (decoder.closing is not None and decoder.closing.reason == "repetition"):
            return "repetition"
        if new_tokens and new_tokens[-1] in self._stop_ids():
            return "stop"
        return "length" if len(new_tokens) >= budget else "stop"

    def _greedy(self, max_new_tokens: int) -> Any:
        config = copy.deepcopy(self.model.generation_config)
        config.do_sample = False
        config.temperature = None
        config.top_p = None
        config.top_k = None
        config.max_new_tokens = max_new_tokens
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id
        return config

    def _stop_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        return set(eos) if isinstance(eos, list) else {eos} if eos is not None else set()


def resolve_device(setting: str) -> str:
    import torch

    if setting != "auto":
        if setting == "cuda" and not torch.cuda.is_available():
            raise ModelError("--device cuda was asked for but no CUDA GPU is visible to torch")
        if setting == "mps" and not torch.backends.mps.is_available():
            raise ModelError("--device mps was asked for but Apple MPS is not available")
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(setting: str, device: str) -> Any:
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def quantization_config(quant: str, dtype: Any) -> Any:
    """bitsandbytes NF4 with double quantization (4bit) or LLM.int8 (8bit); ``None`` for none."""
    if quant == "none":
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError(f"--quant {quant} needs bitsandbytes", hint="pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    if quant == "4bit":
        return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            llm_int8_skip_modules=QUANT_SKIP_MODULES,
        )
    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=QUANT_SKIP_MODULES)  # type: ignore[no-untyped-call]
    raise ModelError(f"unknown --quant {quant!r}", hint="choose none, 4bit or 8bit")


def attention_implementation(setting: str, device: str) -> str:
    if setting != "auto":
        return setting
    if device == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def is_local_reference(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().exists()


def _require_available(model: str, revision: str | None) -> None:
    """Fail fast with a clear message when a hub model is neither cached nor downloadable."""
    if is_local_reference(model):
        if not Path(model).expanduser().is_dir():
            raise ModelError(f"model folder {model!r} does not exist")
        return
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str):
        return
    missing, hint = not_cached(model, revision)
    if constants.HF_HUB_OFFLINE:
        raise ModelError(f"{missing} and HF_HUB_OFFLINE is set", hint=hint)
    if not _hub_reachable(constants.ENDPOINT):
        raise ModelError(f"{missing} and {constants.ENDPOINT} cannot be reached", hint=hint)


def not_cached(model: str, revision: str | None) -> tuple[str, str]:
    """What is missing from the cache (the revision named, when one was asked for: another may
    be there) and how to get exactly that."""
    import shlex

    command = f"hf download {shlex.quote(model)}"
    if revision is None:
        return f"model {model!r} is not in the Hugging Face cache", DOWNLOAD_HINT.format(command=command)
    command += f" --revision {shlex.quote(revision)}"
    missing = f"model {model!r} at revision {revision!r} is not in the Hugging Face cache"
    return missing, DOWNLOAD_HINT.format(command=command)


def _hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides; let the real request try
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_config(settings: ModelSettings) -> Any:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(settings.model, revision=settings.revision)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(settings.model, exc) from None
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelError(
            f"{settings.model!r} is a {config.model_type!r} checkpoint; qvl needs a Qwen2-VL checkpoint "
            "(model_type 'qwen2_vl'), such as Qwen/Qwen2-VL-2B-Instruct"
        )
    return config


def _load_preprocessing(settings: ModelSettings) -> tuple[Any, Any, Any]:
    """Tokenizer, PIL image processor, and the full processor when torchvision allows it."""
    from transformers import AutoProcessor, AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    kwargs: dict[str, Any] = {"revision": settings.revision}
    try:
        tokenizer = AutoTokenizer.from_pretrained(settings.model, **kwargs)
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(settings.model, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(settings.model, exc) from None
    processor = None
    if importlib.util.find_spec("torchvision") is not None:
        try:
            processor = AutoProcessor.from_pretrained(settings.model, **kwargs)  # type: ignore[no-untyped-call]
        except (ImportError, OSError, ValueError, AttributeError) as exc:
            log.debug("full Qwen2VLProcessor unavailable (%s); building inputs by hand", exc)
    return tokenizer, image_processor, processor


def _load_model(settings: ModelSettings, device: str, dtype: Any) -> Any:
    from transformers import AutoModelForImageTextToText

    quant = quantization_config(settings.quant, dtype)
    kwargs: dict[str, Any] = {
        "revision": settings.revision,
        "dtype": dtype,
        "attn_implementation": attention_implementation(settings.attention, device),
        "use_safetensors": True,
        "trust_remote_code": False,
    }
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": device}
    elif device == "cuda":
        kwargs["device_map"] = "auto"
    try:
        model = AutoModelForImageTextToText.from_pretrained(settings.model, **kwargs)
    except (OSError, ValueError, KeyError, ImportError, RuntimeError) as exc:
        raise _load_error(settings.model, exc) from None
    if quant is None and device != "cuda":
        model = model.to(device)  # type: ignore[arg-type]  # transformers' stubs type .to() narrowly
    return model.eval()  # type: ignore[no-untyped-call]


def _load_error(model: str, exc: BaseException) -> ModelError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(f"cannot load model {model!r}: {first_line}")


def _quiet_libraries() -> None:
    """Keep transformers' progress bars and advice off stderr unless -v asked for logs."""
    if logging.getLogger("qvl_cli").getEffectiveLevel() <= logging.INFO:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast", category=UserWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
