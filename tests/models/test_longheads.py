"""LongHeads attention on tiny random Llama models with grouped-query attention (4 query heads, 2 KV heads).

What is proven: with a budget that covers the sequence it *is* ordinary attention (prefill
and decoding); past the budget it computes exactly the official algorithm (checked against
a slow per-query reference that gathers the selected chunks and re-positions them);
prefill at once equals decoding token by token; a chunk whose keys align with the query
is selected by every head; bad settings fail with clear messages.
"""

from __future__ import annotations

import asyncio

import pytest
import torch
import torch.nn.functional as F

from phalanx.models import GenerationConfig, Message, ModelSpecError, load_model
from phalanx.models.longheads import install_longheads
from phalanx.models.longheads.attention import attend, select_chunks
from phalanx.models.longheads.cache import (
    LongHeadsCache,
    LongHeadsLayer,
    LongHeadsRuntime,
    LongHeadsSettings,
    chunk_representations,
)
from phalanx.models.longheads.rope import RopeTable

TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(scope="module")
def gqa_dir(tmp_path_factory):
    from phalanx.models.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("gqa"), num_heads=4, num_kv_heads=2, initializer_range=0.3, num_layers=2
    )


def _models(path, chunk, budget):
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    longheads = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return plain, install_longheads(longheads, chunk=chunk, budget=budget)


def _ids(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(5, 300, (1, n), generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def test_budget_covering_the_sequence_is_ordinary_attention(gqa_dir) -> None:
    plain, longheads = _models(gqa_dir, chunk=4, budget=64)
    ids = _ids(64)  # exactly the budget: every token uses ordinary attention
    expected = plain(ids).logits
    torch.testing.assert_close(longheads(ids).logits, expected, **TOL)
    cache = LongHeadsCache(longheads)
    stepped = torch.cat([longheads(ids[:, i : i + 1], cache=cache).logits for i in range(64)], dim=1)
    torch.testing.assert_close(stepped, expected, **TOL)
    # A prefill followed by decoding steps, as generate runs it.
    cache = LongHeadsCache(longheads)
    head = longheads(ids[:, :41], cache=cache).logits
    tail = torch.cat([longheads(ids[:, i : i + 1], cache=cache).logits for i in range(41, 64)], dim=1)
    torch.testing.assert_close(torch.cat([head, tail], dim=1), expected, **TOL)


@torch.inference_mode()
def test_past_the_budget_prefill_equals_token_by_token_and_differs_from_full(gqa_dir) -> None:
    plain, longheads = _models(gqa_dir, chunk=4, budget=16)
    ids = _ids(90, seed=1)
    prefilled = longheads(ids).logits
    cache = LongHeadsCache(longheads)
    stepped = torch.cat([longheads(ids[:, i : i + 1], cache=cache).logits for i in range(90)], dim=1)
    torch.testing.assert_close(stepped, prefilled, **TOL)
    cache = LongHeadsCache(longheads)
    parts = [longheads(ids[:, a:b], cache=cache).logits for a, b in ((0, 37), (37, 38), (38, 90))]
    torch.testing.assert_close(torch.cat(parts, dim=1), prefilled, **TOL)
    full = plain(ids).logits
    torch.testing.assert_close(prefilled[:, :16], full[:, :16], **TOL)  # inside the budget: unchanged
    assert (prefilled[:, 17:] - full[:, 17:]).abs().max() > 1e-2  # past it: chunks were dropped


def _runtime(chunk: int, budget: int, head_dim: int = 16) -> LongHeadsRuntime:
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    config = LlamaConfig(hidden_size=head_dim * 4, num_attention_heads=4, num_key_value_heads=2)
    rope = RopeTable(LlamaRotaryEmbedding(config), torch.float32, "cpu")
    return LongHeadsRuntime(LongHeadsSettings(chunk, budget), rope)


def _filled_layer(runtime, length: int, seed: int = 0, keys=None, queries=None):
    g = torch.Generator().manual_seed(seed)
    d = 16
    keys = torch.randn(1, 2, length, d, generator=g) if keys is None else keys
    values = torch.randn(1, 2, length, d, generator=g)
    queries = torch.randn(1, 4, length, d, generator=g) if queries is None else queries
    positions = torch.arange(length)
    layer = LongHeadsLayer(runtime)
    layer.update(runtime.rope.rotate(keys, positions), values, kwargs={"position_ids": positions[None]})
    layer.absorb_queries(queries, 0.25)
    return layer, keys, values, queries


def _reference_chunk_keys(runtime, keys, values, queries, scale):
    """Per chunk and head, straight from the description: local RoPE, non-causal attention,
    mean-pool, attention pooling of the chunk's keys."""
    w = runtime.settings.chunk
    local = torch.arange(w)
    rows = []
    for c in range(keys.shape[2] // w):
        span = slice(c * w, (c + 1) * w)
        heads = []
        for h in range(4):
            q = runtime.rope.rotate(queries[0, h, span], local)
            k = runtime.rope.rotate(keys[0, h // 2, span], local)
            mixed = torch.softmax(q @ k.T * scale, dim=-1) @ values[0, h // 2, span]
            mean = mixed.mean(dim=0)
            heads.append(torch.softmax(k @ mean / k.shape[-1] ** 0.5, dim=-1) @ k)
        rows.append(torch.stack(heads))
    return torch.stack(rows, dim=1).unsqueeze(0)  # (1, H, C, d)


def _reference_attention(runtime, layer, keys, values, queries, scale):
    """The official decoding rule for every query past the budget, one query and head at a time:
    gather the selected chunks' raw keys, give them positions 0..R-1 and the query R-1."""
    w, n = runtime.settings.chunk, runtime.settings.chunks
    budget, length = runtime.settings.budget, keys.shape[2]
    out = torch.zeros(1, 4, length - budget, keys.shape[-1])
    for t in range(budget, length):
        c, o = divmod(t, w)
        for h in range(4):
            q = queries[0, h, t]
            scores = layer.chunk_keys[0, h, 1 : c - 1] @ q
            middle = sorted((torch.topk(scores, n - 3).indices + 1).tolist())
            chunks = [0, *middle, c - 1]
            pieces = [keys[0, h // 2, j * w : (j + 1) * w] for j in chunks] + [keys[0, h // 2, c * w : t + 1]]
            vals = [values[0, h // 2, j * w : (j + 1) * w] for j in chunks] + [
                values[0, h // 2, c * w : t + 1]
            ]
            k = torch.cat(pieces)
            r = k.shape[0]
            assert r == (n - 1) * w + o + 1 <= budget  # no position reaches the budget
            k_rot = runtime.rope.rotate(k, torch.arange(r))
            q_rot = runtime.rope.rotate(q, torch.tensor(r - 1))
            out[0, h, t - budget] = torch.softmax(k_rot @ q_rot * scale, dim=-1) @ torch.cat(vals)
    return out


@torch.inference_mode()
def test_matches_a_per_query_reference_of_the_official_algorithm() -> None:
    runtime = _runtime(chunk=4, budget=20)  # 5 chunks: first, 2 chosen, previous, own
    layer, keys, values, queries = _filled_layer(runtime, 70)
    torch.testing.assert_close(
        layer.chunk_keys[:, :, : layer.done],
        _reference_chunk_keys(runtime, keys, values, queries, 0.25),
        **TOL,
    )
    expected = _reference_attention(runtime, layer, keys, values, queries, 0.25)
    torch.testing.assert_close(attend(layer, queries[:, :, 20:], 20, 0.25), expected, **TOL)  # prefill blocks
    for t in (20, 23, 24, 51, 69):  # the decoding path, one query at a time
        torch.testing.assert_close(
            attend(layer, queries[:, :, t : t + 1], t, 0.25)[:, :, 0], expected[:, :, t - 20]
        )


@torch.inference_mode()
def test_a_chunk_aligned_with_the_query_is_selected_by_every_head() -> None:
    runtime = _runtime(chunk=4, budget=16)  # one free slot per head: a single chunk is chosen
    settings = runtime.settings
    length, target = 84, 9  # the last query's chunk is 20; candidates are chunks 1..18
    g = torch.Generator().manual_seed(3)
    keys = torch.randn(1, 2, length, 16, generator=g)
    queries = torch.randn(1, 4, length, 16, generator=g)
    directions = torch.nn.functional.normalize(torch.randn(2, 16, generator=g), dim=-1)
    last = torch.tensor([length - 1])

    control, *_ = _filled_layer(runtime, length, keys=keys, queries=queries)
    control_choice = select_chunks(queries[:, :, -1:], control.chunk_keys, last, settings)[0, :, 0, 1]
    assert not bool((control_choice == target).all())  # by chance, not every head reads chunk 9

    aligned_keys, aligned_queries = keys.clone(), queries.clone()
    for kv in range(2):  # chunk 9's keys point along each KV head's direction...
        aligned_keys[0, kv, target * 4 : target * 4 + 4] = 6.0 * directions[kv]
        for h in (2 * kv, 2 * kv + 1):  # ...and so do the last queries of that head's group
            aligned_queries[0, h, -1] = 6.0 * directions[kv]
    layer, *_ = _filled_layer(runtime, length, keys=aligned_keys, queries=aligned_queries)
    choice = select_chunks(aligned_queries[:, :, -1:], layer.chunk_keys, last, settings)[0, :, 0]
    assert choice[:, 1].tolist() == [target] * 4
    assert choice[:, 0].tolist() == [0] * 4 and choice[:, -1].tolist() == [19] * 4  # first and previous


def test_chunk_representation_shapes_and_grouping() -> None:
    q = torch.randn(1, 4, 3, 4, 8)
    k = torch.randn(1, 2, 3, 4, 8)
    v = torch.randn(1, 2, 3, 4, 8)
    reps = chunk_representations(q, k, v, 0.3)
    assert reps.shape == (1, 4, 3, 8)
    # Heads 0 and 1 share KV head 0: with equal queries they get equal chunk keys.
    q[:, 1] = q[:, 0]
    same = chunk_representations(q, k, v, 0.3)
    torch.testing.assert_close(same[:, 0], same[:, 1])
    mean = F.scaled_dot_product_attention(q[0, 2, 1], k[0, 1, 1], v[0, 1, 1], scale=0.3).mean(0)
    torch.testing.assert_close(
        same[0, 2, 1], F.scaled_dot_product_attention(mean[None], k[0, 1, 1], k[0, 1, 1])[0]
    )


def test_longheads_spec_serves_prompts_past_the_pretrained_window(tmp_path) -> None:
    from phalanx.models.tiny import build_tiny_checkpoint

    path = build_tiny_checkpoint(tmp_path / "short", num_heads=4, num_kv_heads=2, max_position_embeddings=64)
    model = load_model(f"longheads:hf:{path}?chunk=8&budget=32&dtype=float32&device=cpu")
    assert model.engine is None and model.context_limit is None
    prompt = [Message.user("The quick brown fox jumps over the lazy dog. " * 12)]  # ~150 tokens > 64
    assert len(model.render_prompt(prompt)) > 64

    async def go():
        try:
            return await model.chat(prompt, config=GenerationConfig(max_new_tokens=6))
        finally:
            await model.aclose()

    reply = asyncio.run(go())
    assert reply.usage.completion_tokens == 6 and reply.usage.prompt_tokens > 64


def test_longheads_spec_equals_hf_within_the_budget(gqa_dir) -> None:
    async def answer(spec: str) -> str:
        model = load_model(spec)
        try:
            reply = await model.chat(
                [Message.user("Who is the grandmother of Carol?")], config=GenerationConfig(max_new_tokens=12)
            )
            return reply.message.content or ""
        finally:
            await model.aclose()

    plain = asyncio.run(answer(f"hf:{gqa_dir}?engine=off"))
    assert plain and asyncio.run(answer(f"longheads:{gqa_dir}?chunk=4&budget=256")) == plain


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("chunk=4&budget=18", "multiple of chunk"),
        ("chunk=8&budget=16", "at least 3"),
        ("chunk=x", "integers"),
        ("chunk=64&budget=8192", "trained positions"),
        ("colour=red", "unknown longheads: option"),
        ("dtype=float8", "dtype must be one of"),
        ("max_batch=4", "one sequence at a time"),
    ],
)
def test_bad_longheads_settings_are_refused(gqa_dir, options: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        load_model(f"longheads:{gqa_dir}?{options}")
