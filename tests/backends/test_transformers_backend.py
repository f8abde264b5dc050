"""The real loading and generation path, on a tiny random Qwen2-VL saved with save_pretrained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from qvl_cli.backends.contract import GenerationRequest, ModelSettings
from qvl_cli.backends.transformers import TransformersBackend
from qvl_cli.errors import ModelError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> TransformersBackend:
    return TransformersBackend(ModelSettings(model=str(tiny_model_dir), device="cpu"))


def request(max_new_tokens: int = 12) -> GenerationRequest:
    page = Image.linear_gradient("L").convert("RGB").resize((28 * 8, 28 * 6))
    return GenerationRequest(images=(page, page), prompt="Return JSON.", max_new_tokens=max_new_tokens)


def test_loads_a_local_checkpoint_with_from_pretrained(backend: TransformersBackend, tiny_model_dir: Path) -> None:
    from transformers import Qwen2VLForConditionalGeneration

    assert isinstance(backend.model, Qwen2VLForConditionalGeneration)
    assert backend.info.to_dict() == {
        "backend": "transformers",
        "id": str(tiny_model_dir),
        "revision": None,
        "quant": "none",
        "dtype": "float32",
        "device": "cpu",
    }
    assert backend.model.config._attn_implementation == "sdpa"


def test_generation_is_greedy_and_accounted(backend: TransformersBackend) -> None:
    first = backend.generate(request())
    second = backend.generate(request())
    assert first == second  # greedy decoding is deterministic
    assert first.visual_tokens == 2 * (12 * 16 // 4)
    assert first.prompt_tokens > first.visual_tokens
    assert 1 <= first.generated_tokens <= 12
    assert first.finish_reason in ("stop", "length")
    if first.finish_reason == "length":
        assert first.generated_tokens == 12


def test_loads_a_hub_id_from_the_cache_offline(hub_model_id: str) -> None:
    backend = TransformersBackend(ModelSettings(model=hub_model_id, device="cpu"))
    assert backend.info.id == hub_model_id
    assert backend.generate(request(4)).generated_tokens >= 1


def test_uncached_hub_model_offline_says_how_to_get_it() -> None:
    with pytest.raises(ModelError) as info:
        TransformersBackend(ModelSettings(model="Qwen/Qwen2-VL-2B-Instruct"))
    message = str(info.value)
    assert "'Qwen/Qwen2-VL-2B-Instruct' is not in the Hugging Face cache and HF_HUB_OFFLINE is set" in message
    assert "--model /path/to/checkpoint" in message


def test_a_revision_not_in_the_cache_is_named_with_the_command_that_gets_it(hub_model_id: str, tmp_path: Path) -> None:
    """The model is cached at ``main`` only: asking for another revision names that revision,
    in the message and in the download command, through the real command line."""
    from conftest import qvl
    from pdf_factory import PageSpec, write_pdf

    pdf = write_pdf(tmp_path / "a.pdf", [PageSpec(lines=("Name Ann",))])
    result = qvl("extract", str(pdf), "-s", "form", "--model", hub_model_id, "--revision", "v2.0", "--no-cache")
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr == (
        f"qvl: error: model '{hub_model_id}' at revision 'v2.0' is not in the Hugging Face cache and HF_HUB_OFFLINE "
        f"is set (download it on a machine with internet access (`hf download {hub_model_id} --revision v2.0`) "
        "and copy the Hugging Face cache, or pass --model /path/to/checkpoint (env QVL_MODEL))\n"
    )


def test_missing_local_folder() -> None:
    with pytest.raises(ModelError, match="model folder './no/such/model' does not exist"):
        TransformersBackend(ModelSettings(model="./no/such/model"))


def test_wrong_architecture_names_what_was_expected(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "not-qwen2-vl"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1} | {"vocab_size": 10}))
    assert config["model_type"] == "qwen2_vl"
    with pytest.raises(ModelError, match="is a 'gpt2' checkpoint; qvl needs a Qwen2-VL checkpoint"):
        TransformersBackend(ModelSettings(model=str(folder)))


def test_checkpoint_without_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"cannot load model '.*no-weights'"):
        TransformersBackend(ModelSettings(model=str(folder)))


def test_pickle_weights_are_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Only safetensors load: a pickled checkpoint can run code when unpickled."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="cannot load model"):
        TransformersBackend(ModelSettings(model=str(folder)))


def _bitsandbytes_works() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _bitsandbytes_works(), reason="bitsandbytes does not import on this machine")
def test_4bit_loads_nf4_double_quantized_and_generates(tiny_model_dir: Path) -> None:
    import bitsandbytes as bnb

    backend = TransformersBackend(ModelSettings(model=str(tiny_model_dir), quant="4bit", device="cpu"))
    quantized = {name: m for name, m in backend.model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    language_linears = [n for n in quantized if n.startswith("model.language_model.")]
    assert len(language_linears) == 2 * 7  # q, k, v, o, gate, up, down in both layers
    weight = quantized[language_linears[0]].weight
    assert weight.quant_state.quant_type == "nf4"
    assert weight.quant_state.nested  # double quantization
    assert not any(n.startswith("model.visual") for n in quantized)  # vision tower kept precise
    assert backend.info.quant == "4bit"
    assert backend.generate(request(4)).generated_tokens >= 1


def test_out_of_memory_in_generate_halves_the_budget_and_retries(
    backend: TransformersBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real backend's generate raises torch's own error above a pixel count, as a GPU would."""
    import torch
    from pdf_factory import PageSpec, write_pdf

    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    limit = 300_000
    real_generate = backend.model.generate
    seen: list[int] = []

    def generate(*args, **kwargs):
        grid = kwargs["image_grid_thw"]
        pixels = int((grid[:, 1] * grid[:, 2]).sum()) * 14 * 14
        seen.append(pixels)
        if pixels > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(backend.model, "generate", generate)
    doc = write_pdf(tmp_path / "big.pdf", [PageSpec(lines=("INVOICE 1",))])
    schema = load_schema("form")
    extractor = Extractor(schema, load_prompt(None, schema), ExtractOptions(max_new_tokens=16), lambda: backend)
    envelope = extractor.extract(doc)
    assert envelope.error is None, envelope.error
    assert envelope.degraded == {"retries": 2, "max_pixels": 250880, "max_total_pixels": 3211264}
    assert seen[0] > seen[1] > limit >= seen[2]
    assert len(seen) == 3  # 1003520 -> 501760 -> 250880 pixels a page
    assert any("ran out of memory" in warning for warning in envelope.warnings)
