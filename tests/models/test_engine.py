"""The `hf:` generation engine on tiny random Llamas with a real tokenizer.

Constrained decoding (every row of a mixed batch valid for its own schema), shared
prefixes and the prefix cache (same tokens as plain batched `generate`, prompt tokens
not recomputed), continuous batching, cancellation and the load-time self-test.
"""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest

from phalanx.models import GenerationConfig, Message, ModelRequestError
from phalanx.models.engine import GenerationEngine
from phalanx.models.hf import HFChatModel

CALL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"enum": ["add", "lookup"]},
        "arguments": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "key": {"type": "string"}},
            "required": ["a"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}
LIST_SCHEMA = {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"type": {"const": "answer"}, "content": {"type": "string"}, "score": {"type": "number"}},
    "required": ["type", "content"],
    "additionalProperties": False,
}

ENDLESS = {"type": "string", "minLength": 100000}
"""A schema no reply can complete within its limit: the row runs to its limit, EOS is never allowed."""

SYSTEM = (
    "You are the leader of a team. Reply with a JSON object. The tools are add(a, b), lookup(key) "
    "and search(query). Members hold disjoint parts of a long document; never guess."
)


@pytest.fixture(scope="module", params=[True, False], ids=["engine", "generate"])
def model(request, varied_model_dir) -> HFChatModel:
    return HFChatModel.from_pretrained(varied_model_dir, window_s=0.05, engine=request.param)


async def test_every_row_of_a_mixed_batch_is_valid_json_of_its_own_schema(model) -> None:
    if model.engine is None:
        assert model.engine_problem == "turned off (engine=False)"
    schemas = [CALL_SCHEMA, LIST_SCHEMA, ANSWER_SCHEMA, True, CALL_SCHEMA, None]
    prompts = [f"Question {i}: who is the grandmother of Carol?" for i in range(len(schemas))]
    cfg = GenerationConfig(max_new_tokens=40)
    replies = await asyncio.gather(
        *(
            model.chat([Message.user(p)], config=cfg, json_mode=s if s is not None else False)
            for p, s in zip(prompts, schemas, strict=True)
        )
    )
    if model.engine is not None:
        assert model.engine.stats.largest >= 4  # constrained and free rows decoded together
    for reply, schema in zip(replies, schemas, strict=True):
        if schema is None:
            continue
        value = json.loads(reply.message.content or "")
        jsonschema.validate(value, {"type": "object"} if schema is True else schema)
    await model.aclose()


async def test_a_schema_that_cannot_compile_is_a_clear_request_error(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir)
    with pytest.raises(ModelRequestError, match="cannot compile the JSON schema"):
        await model.chat([Message.user("x")], json_mode={"type": "string", "format": "no-such-format"})
    with pytest.raises(ModelRequestError, match="json_mode must be"):
        await model.chat([Message.user("x")], json_mode="yes")  # type: ignore[arg-type]
    await model.aclose()


async def test_shared_prefixes_and_the_cache_give_the_same_tokens_as_plain_generate(varied_model_dir) -> None:
    engine = HFChatModel.from_pretrained(varied_model_dir, window_s=0.05)
    plain = HFChatModel.from_pretrained(varied_model_dir, window_s=0.05, engine=False)
    assert engine.engine is not None
    convos = [[Message.system(SYSTEM * 2), Message.user(f"Find item {i} in your part.")] for i in range(6)]
    cfg = GenerationConfig(max_new_tokens=12)
    first = await asyncio.gather(*(engine.chat(c, config=cfg) for c in convos))
    stats = engine.engine.stats
    assert stats.shared_tokens > 0  # the system prompt was computed once for the group
    computed_first = stats.computed_tokens
    again = await asyncio.gather(*(engine.chat(c, config=cfg) for c in convos))
    assert stats.cached_tokens > 0
    # the second round recomputed at most each prompt's last partial block (and its last token)
    block = engine.engine.prefix_cache.block_tokens
    assert stats.computed_tokens - computed_first <= len(convos) * (block + 1) < computed_first / 2
    assert stats.computed_tokens + stats.cached_tokens + stats.shared_tokens == stats.prompt_tokens
    reference = await asyncio.gather(*(plain.chat(c, config=cfg) for c in convos))
    assert len({r.message.content for r in reference}) > 1
    for a, b, ref in zip(first, again, reference, strict=True):
        assert a.message.content == b.message.content == ref.message.content
        assert a.usage == ref.usage
    await engine.aclose()
    await plain.aclose()


async def test_a_new_request_joins_while_a_long_one_decodes(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir, window_s=0.0)
    assert model.engine is not None
    order: list[str] = []

    async def ask(tag: str, tokens: int) -> None:
        cfg = GenerationConfig(max_new_tokens=tokens, stop_on_loop=False)
        await model.chat([Message.user(f"{tag}: tell a long story")], config=cfg, json_mode=ENDLESS)
        order.append(tag)

    long = asyncio.create_task(ask("long", 2000))
    while model.engine.stats.decode_steps < 5:  # the long row is decoding
        await asyncio.sleep(0.001)
    await ask("short", 3)
    assert not long.done()  # the short request did not wait for the long one
    await long
    assert order == ["short", "long"]
    assert model.engine.stats.batches == 2 and model.engine.stats.requests == 2
    await model.aclose()


async def test_a_cancelled_request_frees_its_row(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir, window_s=0.0)
    assert model.engine is not None
    long = GenerationConfig(max_new_tokens=3000, stop_on_loop=False)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(model.chat([Message.user("go on")], config=long, json_mode=ENDLESS), 0.3)
    reply = await model.chat([Message.user("hi")], config=GenerationConfig(max_new_tokens=3))
    assert reply.usage.completion_tokens == 3
    await asyncio.sleep(0.05)
    assert model.engine._rows == [] and model.engine.stats.decode_steps < 1000
    await model.aclose()


async def test_a_model_that_fails_the_self_test_runs_on_generate(varied_model_dir, monkeypatch) -> None:
    monkeypatch.setattr(GenerationEngine, "checked", lambda self: "logits differ by 1.0")
    model = HFChatModel.from_pretrained(varied_model_dir)
    assert model.engine is None and model.engine_problem == "logits differ by 1.0"
    reply = await model.chat([Message.user("hi")], config=GenerationConfig(max_new_tokens=4))
    assert reply.usage.completion_tokens == 4 and model.generate_stats.generate_calls == 1
    await model.aclose()


def test_the_self_test_passes_on_llama_with_grouped_query_attention(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir)
    assert model.engine is not None and model.engine_problem is None
    assert model.engine.self_test() is None
    assert model.model.config.num_key_value_heads < model.model.config.num_attention_heads


def test_a_passed_self_test_is_remembered_per_architecture(varied_model_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PHALANX_HOME", str(tmp_path))
    runs: list[int] = []
    real = GenerationEngine.self_test

    def counted(self: GenerationEngine) -> str | None:
        runs.append(1)
        return real(self)

    monkeypatch.setattr(GenerationEngine, "self_test", counted)
    first = HFChatModel.from_pretrained(varied_model_dir)
    second = HFChatModel.from_pretrained(varied_model_dir)
    assert first.engine is not None and second.engine is not None and len(runs) == 1
    assert len(list((tmp_path / "engine-checks").iterdir())) == 1


async def test_closed_model_refuses_new_requests(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir)
    await model.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await model.chat([Message.user("hi")], config=GenerationConfig(max_new_tokens=2))


async def test_an_open_object_schema_is_closed_and_finishes_within_its_limit(varied_model_dir) -> None:
    # JSON Schema allows undeclared keys unless told otherwise; a rambling model then wrote
    # keys until the token limit. phalanx closes such objects (xgrammar's strict mode).
    from phalanx.models.grammar import schema_for, strict_objects

    open_schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert schema_for(open_schema) == {**open_schema, "additionalProperties": False}
    # Names under "properties" are not schema keywords; an explicit choice is kept.
    nested = {
        "type": "object",
        "properties": {"properties": {"type": "object", "properties": {"a": {"type": "string"}}}},
        "additionalProperties": True,
    }
    closed = strict_objects(nested)
    assert closed["additionalProperties"] is True
    assert set(closed["properties"]) == {"properties"}
    assert closed["properties"]["properties"]["additionalProperties"] is False
    model = HFChatModel.from_pretrained(varied_model_dir, window_s=0.05)
    cfg = GenerationConfig(max_new_tokens=24)
    try:
        replies = await asyncio.gather(
            *(model.chat([Message.user(f"count {i}")], config=cfg, json_mode=open_schema) for i in range(4))
        )
    finally:
        await model.aclose()
    for reply in replies:
        assert set(json.loads(reply.message.content or "")) == {"n"}, reply.message.content


def test_only_tokens_made_of_closers_count_as_closing(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir, engine=False)
    closing = model.grammar_compiler().closing_tokens()
    vocab = model.tokenizer.get_vocab()
    pieces = {model.tokenizer.decode([i]): i for i in vocab.values()}
    assert closing[pieces['"']] and closing[pieces["}"]]
    opening_again = [p for p in pieces if '"' in p and "," in p]
    assert opening_again and not any(closing[pieces[p]] for p in opening_again)
