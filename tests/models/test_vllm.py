"""The optional `vllm:` backend: clear errors without vLLM/GPU, a real run on a GPU machine."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from phalanx.models import GenerationConfig, Message, ModelSpecError, ModelUnavailable, load_model


def _vllm_and_gpu() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_vllm_and_gpu(), reason="vLLM and a GPU are present: the backend loads")
def test_without_vllm_or_gpu_says_how_to_install(tiny_model_dir) -> None:
    with pytest.raises(ModelUnavailable, match=r"pip install 'phalanx\[vllm\]'"):
        load_model(f"vllm:{tiny_model_dir}")


def test_bad_vllm_paths(tmp_path) -> None:
    with pytest.raises(ModelSpecError, match="does not exist"):
        load_model(f"vllm:{tmp_path / 'missing'}")
    with pytest.raises(ModelSpecError, match="no config.json"):
        load_model(f"vllm:{tmp_path}")


@pytest.mark.requires_gpu
def test_vllm_generates_and_streams(varied_model_dir) -> None:
    pytest.importorskip("vllm")
    from phalanx.models.vllm_backend import VLLMChatModel

    model = VLLMChatModel(varied_model_dir, dtype="float32", gpu_memory_utilization=0.2, enforce_eager=True)
    pieces: list[str] = []

    async def go():
        cfg = GenerationConfig(max_new_tokens=12)
        streamed = await model.chat([Message.user("The quick brown fox")], config=cfg, on_token=pieces.append)
        many = await asyncio.gather(*(model.chat([Message.user(f"q{i}")], config=cfg) for i in range(4)))
        await model.aclose()
        return streamed, many

    streamed, many = asyncio.run(go())
    assert "".join(pieces) == streamed.message.content
    assert all(r.usage.completion_tokens <= 12 for r in many)


def test_vllm_options_are_checked_before_vllm_or_a_gpu_is_needed(tmp_path) -> None:
    from phalanx.models.vllm_backend import vllm_options

    path, kwargs = vllm_options(
        f"{tmp_path}?tp=2&dtype=bfloat16&gpu_memory_utilization=0.5&max_model_len=4096"
    )
    assert path == str(tmp_path)
    assert kwargs == {
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.5,
        "max_model_len": 4096,
    }
    for bad, message in (
        ("tp=two", "not an integer"),
        ("tp=0", "tp must be >= 1"),
        ("pp=2", "unknown vllm: option"),
        ("gpu_memory_utilization=2", r"in \(0, 1\]"),
    ):
        with pytest.raises(ModelSpecError, match=message):
            load_model(f"vllm:{tmp_path}?{bad}")


@pytest.mark.skipif(_vllm_and_gpu(), reason="vLLM and a GPU are present: the backend loads")
def test_tensor_parallel_spec_without_vllm_or_gpu_says_how_to_install(tiny_model_dir) -> None:
    with pytest.raises(ModelUnavailable, match=r"pip install 'phalanx\[vllm\]'"):
        load_model(f"vllm:{tiny_model_dir}?tp=2")


@pytest.mark.requires_gpu
def test_vllm_tensor_parallel_matches_one_gpu(varied_model_dir) -> None:
    pytest.importorskip("vllm")
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("tensor parallelism needs 2 CUDA GPUs")

    async def greedy(tp: int) -> list[str]:
        model = load_model(f"vllm:{varied_model_dir}?tp={tp}&dtype=float32&gpu_memory_utilization=0.2")
        try:
            cfg = GenerationConfig(max_new_tokens=12)
            replies = await asyncio.gather(
                *(model.chat([Message.user(f"q{i}")], config=cfg) for i in range(4))
            )
            return [r.message.content or "" for r in replies]
        finally:
            await model.aclose()

    assert asyncio.run(greedy(2)) == asyncio.run(greedy(1))
