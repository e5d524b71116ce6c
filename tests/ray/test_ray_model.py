"""`ray:SPEC`: the same replies as SPEC in-process, spread over replicas, with clear errors."""

from __future__ import annotations

import asyncio
import sys

import pytest

from phalanx.models import Message, ModelSpecError, ModelUnavailable, load_model
from phalanx.models.ray_backend import connect, ray_options


def test_options_split_between_ray_and_the_inner_spec() -> None:
    inner, opts = ray_options("hf:./m?max_batch=8&replicas=3&num_gpus=1")
    assert inner == "hf:./m?max_batch=8"
    assert opts == {"replicas": 3, "num_gpus": 1.0}
    with pytest.raises(ModelSpecError, match="replicas must be >= 1"):
        ray_options("scripted:comply?replicas=0")
    with pytest.raises(ModelSpecError, match="is not a number"):
        ray_options("scripted:comply?replicas=two")
    with pytest.raises(ModelSpecError, match="give the model to serve"):
        ray_options("?replicas=2")


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra
    with pytest.raises(ModelUnavailable, match=r"pip install 'phalanx\[ray\]'"):
        connect(None, "ray:scripted:comply")


async def test_replicas_answer_like_the_inner_model_and_share_the_load(ray_cluster) -> None:
    inner = load_model("scripted:comply")
    model = load_model("ray:scripted:comply?replicas=2")  # a CPU each: one replica per 1-CPU node
    try:
        assert model.name == "ray:scripted:comply" and model.supports_tools == inner.supports_tools
        prompts = [[Message.user(f"question {i}")] for i in range(8)]
        got = await asyncio.gather(*(model.chat(p) for p in prompts))
        want = [await inner.chat(p) for p in prompts]
        assert [r.message.content for r in got] == [r.message.content for r in want]
        # Least in flight: eight calls sent at once go four to each replica.
        assert sorted(model.calls_per_replica) == [4, 4]
        assert len(set(model.nodes)) == 2
        pieces: list[str] = []
        streamed = await model.chat(prompts[0], on_token=pieces.append)
        assert len(pieces) > 1 and "".join(pieces) == streamed.message.content
    finally:
        await model.aclose()


async def test_a_lost_replica_is_routed_around(ray_cluster) -> None:
    import ray

    model = load_model("ray:scripted:comply?replicas=2&num_cpus=0")
    try:
        ray.kill(model._replicas[0])
        replies = await asyncio.gather(*(model.chat([Message.user("hi")]) for _ in range(4)))
        assert all(r.message.content for r in replies)
        assert model.replicas == 1
        ray.kill(model._replicas[1])
        with pytest.raises(ModelUnavailable, match="every replica was lost"):
            await model.chat([Message.user("hi")])
    finally:
        await model.aclose()


def test_a_replica_no_node_can_hold_is_refused(ray_cluster) -> None:
    with pytest.raises(ModelUnavailable, match="asks for 1 GPUs but the largest node has 0"):
        load_model("ray:scripted:comply?num_gpus=1")


def test_a_bad_inner_spec_raises_its_own_error(ray_cluster) -> None:
    with pytest.raises(ModelSpecError, match="not of the form SCHEME:TARGET"):
        load_model("ray:no-scheme-here?replicas=1&num_cpus=0")


def test_an_unreachable_cluster_is_a_clear_error(ray_cluster) -> None:
    with pytest.raises(ModelUnavailable, match="no Ray cluster answers at 127.0.0.1:1"):
        load_model("ray:scripted:comply?address=127.0.0.1:1")
