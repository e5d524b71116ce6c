"""The GPU route: `ray:vllm:DIR` runs vLLM engines as replica actors that each reserve a GPU."""

from __future__ import annotations

import asyncio

import pytest

from phalanx.models import GenerationConfig, Message, load_model


@pytest.mark.requires_gpu
def test_a_vllm_replica_on_a_gpu_node(ray_cluster, tiny_model_dir) -> None:
    pytest.importorskip("vllm", reason="needs vLLM: pip install 'phalanx[vllm]'")
    ray_cluster.add_node(num_gpus=1)
    spec = f"ray:vllm:{tiny_model_dir}?dtype=float32&gpu_memory_utilization=0.2&replicas=1&num_gpus=1"
    model = load_model(spec)

    async def go():
        cfg = GenerationConfig(max_new_tokens=8)
        pieces: list[str] = []
        streamed = await model.chat([Message.user("hello")], config=cfg, on_token=pieces.append)
        many = await asyncio.gather(*(model.chat([Message.user(f"q{i}")], config=cfg) for i in range(4)))
        await model.aclose()
        return pieces, streamed, many

    pieces, streamed, many = asyncio.run(go())
    assert "".join(pieces) == streamed.message.content
    assert all(r.usage.completion_tokens <= 8 for r in many)
