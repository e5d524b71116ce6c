"""The `hf:` backend on tiny random Llama checkpoints saved to temp dirs (real tokenizer and model class)."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch

from phalanx.models import (
    GenerationConfig,
    Message,
    ModelRequestError,
    ModelSpecError,
    ModelUnavailable,
    load_model,
)
from phalanx.models.hf import JSON_MODE_INSTRUCTION, HFChatModel
from phalanx.models.hf_generate import GenResult, generate_kwargs

PROMPTS = [
    "hi",
    "The quick brown fox jumps over the lazy dog.",
    "Alice is the mother of Bob.",
    "Who is the grandmother of Carol? " * 3,
    "0123456789",
    '{"type": "answer"}',
    "function call arguments " * 5,
    "The needle is hidden here.",
    "?",
    "user assistant system tool",
]


@pytest.fixture(scope="module")
def model(varied_model_dir) -> HFChatModel:
    return load_model(f"hf:{varied_model_dir}")


async def test_loads_from_dir_and_chats(tiny_model_dir) -> None:
    model = load_model(f"hf:{tiny_model_dir}")
    assert isinstance(model, HFChatModel)
    assert model.supports_tools is False
    resp = await model.chat(
        [Message.system("be brief"), Message.user("hello")], config=GenerationConfig(max_new_tokens=5)
    )
    assert resp.message.role == "assistant"
    assert resp.usage.completion_tokens == 5
    assert resp.finish_reason == "length"
    assert resp.usage.prompt_tokens == len(
        model.render_prompt([Message.system("be brief"), Message.user("hello")])
    )
    assert resp.model == f"hf:{tiny_model_dir}"
    await model.aclose()


def test_generation_config_mapping() -> None:
    greedy = generate_kwargs(GenerationConfig(max_new_tokens=7))
    assert greedy["do_sample"] is False and greedy["max_new_tokens"] == 7
    assert "repetition_penalty" not in greedy
    sampled = generate_kwargs(GenerationConfig(temperature=0.7, top_p=0.9, top_k=5, repetition_penalty=1.2))
    assert sampled["do_sample"] is True
    assert (sampled["temperature"], sampled["top_p"], sampled["top_k"]) == (0.7, 0.9, 5)
    assert sampled["repetition_penalty"] == 1.2
    forced = generate_kwargs(GenerationConfig(temperature=0.0, do_sample=True))
    assert forced["do_sample"] is True and forced["temperature"] == 1.0
    assert generate_kwargs(GenerationConfig(temperature=0.5, do_sample=False))["do_sample"] is False


async def test_greedy_is_deterministic_and_prompt_dependent(model) -> None:
    cfg = GenerationConfig(max_new_tokens=12)
    a = await model.chat([Message.user(PROMPTS[1])], config=cfg)
    b = await model.chat([Message.user(PROMPTS[1])], config=cfg)
    c = await model.chat([Message.user(PROMPTS[2])], config=cfg)
    assert a.message.content == b.message.content
    assert a.message.content != c.message.content


async def test_stop_strings_are_trimmed(model) -> None:
    msgs = [Message.user(PROMPTS[3])]
    full = (await model.chat(msgs, config=GenerationConfig(max_new_tokens=30))).message.content
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert stop.strip(), f"pick a visible stop string from {full!r}"
    cut = await model.chat(msgs, config=GenerationConfig(max_new_tokens=30, stop=["never-there", stop]))
    assert cut.message.content == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    assert cut.usage.completion_tokens < 30


async def test_token_callback_streams_the_whole_answer(model) -> None:
    pieces: list[str] = []
    resp = await model.chat(
        [Message.user("stream me")], config=GenerationConfig(max_new_tokens=20), on_token=pieces.append
    )
    assert len(pieces) > 3
    assert "".join(pieces) == resp.message.content


async def test_token_callback_never_streams_past_a_stop(model) -> None:
    msgs = [Message.user(PROMPTS[6])]
    full = (await model.chat(msgs, config=GenerationConfig(max_new_tokens=30))).message.content
    stop = full[10:13]
    pieces: list[str] = []
    resp = await model.chat(
        msgs, config=GenerationConfig(max_new_tokens=30, stop=[stop]), on_token=pieces.append
    )
    assert "".join(pieces) == resp.message.content == full[: full.index(stop)]


async def test_batched_greedy_equals_one_by_one(varied_model_dir) -> None:
    """Left padding + attention mask + per-row limits must not change any greedy token."""
    one_by_one = HFChatModel.from_pretrained(varied_model_dir, max_batch_size=1)
    batched = HFChatModel.from_pretrained(varied_model_dir, window_s=0.05, max_batch_size=32)
    configs = [GenerationConfig(max_new_tokens=8 + 3 * (i % 4)) for i in range(len(PROMPTS))]
    conversations = [[Message.user(p)] for p in PROMPTS]
    conversations[0] = [
        Message.system("You are terse."),
        Message.user("hi"),
        Message.assistant("ok"),
        Message.user("again"),
    ]

    sequential = [await one_by_one.chat(c, config=cfg) for c, cfg in zip(conversations, configs, strict=True)]
    together = await asyncio.gather(
        *(batched.chat(c, config=cfg) for c, cfg in zip(conversations, configs, strict=True))
    )

    assert batched.batcher.stats.largest == len(PROMPTS)  # really one generate call
    assert one_by_one.batcher.stats.largest == 1
    assert len({r.message.content for r in sequential}) > len(PROMPTS) // 2  # outputs differ per prompt
    for seq, bat, cfg in zip(sequential, together, configs, strict=True):
        assert bat.message.content == seq.message.content
        assert bat.usage == seq.usage
        assert bat.usage.completion_tokens == cfg.max_new_tokens
    await one_by_one.aclose()
    await batched.aclose()


async def test_batched_sampling_groups_by_config_and_seed_reproduces(model) -> None:
    hot = GenerationConfig(temperature=1.0, max_new_tokens=10, seed=7)
    msgs = [Message.user("sample")]
    a, b, greedy = await asyncio.gather(
        model.chat(msgs, config=hot),
        model.chat(msgs, config=hot),
        model.chat(msgs, config=GenerationConfig(max_new_tokens=10)),
    )
    assert a.message.content == b.message.content  # seeded requests run alone, so the seed decides
    other = await model.chat(msgs, config=hot.model_copy(update={"seed": 8}))
    assert other.message.content != a.message.content
    assert (
        greedy.message.content
        == (await model.chat(msgs, config=GenerationConfig(max_new_tokens=10))).message.content
    )


async def test_json_mode_adds_instruction(model) -> None:
    ids = model.render_prompt([Message.user("give json")], json_mode=True)
    assert JSON_MODE_INSTRUCTION in model.tokenizer.decode(ids)
    with_system = model.render_prompt([Message.system("S."), Message.user("x")], json_mode=True)
    text = model.tokenizer.decode(with_system)
    assert text.count("<|system|>") == 1 and "S.\n" + JSON_MODE_INSTRUCTION in text


async def test_tool_template_enables_tools_and_parses_calls(tools_model_dir) -> None:
    model = load_model(f"hf:{tools_model_dir}")
    assert model.supports_tools is True
    tools = [
        {
            "type": "function",
            "function": {"name": "add", "description": "add", "parameters": {"type": "object"}},
        }
    ]
    prompt = model.tokenizer.decode(model.render_prompt([Message.user("1+2")], tools=tools))
    assert '"name": "add"' in prompt
    text = 'Sure. <tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
    resp = model._to_response(GenResult(text=text), tools, json_mode=False)
    assert resp.finish_reason == "tool_calls"
    assert resp.message.content == "Sure."
    assert json.loads(resp.message.tool_calls[0].arguments) == {"a": 1, "b": 2}
    plain = model._to_response(GenResult(text='{"name": "other", "arguments": {}}'), tools, json_mode=False)
    assert plain.message.tool_calls == [] and "other" in plain.message.content


def test_bad_hf_specs(tmp_path, tiny_model_dir) -> None:
    with pytest.raises(ModelSpecError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nowhere'}")
    with pytest.raises(ModelSpecError, match="no config.json"):
        load_model(f"hf:{tmp_path}")
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(ModelSpecError, match="is a file"):
        load_model(f"hf:{tmp_path / 'weights.bin'}")
    with pytest.raises(ModelSpecError, match="unknown hf: option"):
        load_model(f"hf:{tiny_model_dir}?speed=fast")
    with pytest.raises(ModelSpecError, match="max_batch must be >= 1"):
        load_model(f"hf:{tiny_model_dir}?max_batch=0")
    with pytest.raises(ModelSpecError, match="bad number"):
        load_model(f"hf:{tiny_model_dir}?window_ms=soon")
    with pytest.raises(ModelSpecError, match="dtype must be one of auto, float32, bfloat16"):
        load_model(f"hf:{tiny_model_dir}?dtype=float8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelUnavailable, match="no CUDA GPU"):
            load_model(f"hf:{tiny_model_dir}?device=cuda")
    with pytest.raises(ModelSpecError, match="neither a local directory nor in the local"):
        load_model("hf:some-org/not-a-cached-model")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelSpecError, match="cannot load hf model"):
        load_model(f"hf:{tmp_path}")


def test_spec_options(tiny_model_dir) -> None:
    model = load_model(f"hf:{tiny_model_dir}?window_ms=20&max_batch=4&device=cpu&name=tiny")
    assert model.batcher.window_s == pytest.approx(0.02)
    assert model.batcher.max_batch_size == 4
    assert model.name == "tiny"


async def test_bad_requests_are_clear_errors(varied_model_dir) -> None:
    model = HFChatModel.from_pretrained(varied_model_dir, context_limit=64)
    with pytest.raises(ModelRequestError, match="at least one message"):
        await model.chat([])
    with pytest.raises(ModelRequestError, match="exceeds the context limit 64"):
        await model.chat([Message.user("x " * 80)], config=GenerationConfig(max_new_tokens=4))
    assert (
        await model.chat([Message.user("short")], config=GenerationConfig(max_new_tokens=4))
    ).usage.completion_tokens
    model.tokenizer.chat_template = "{{ raise_exception('only user turns') }}"
    with pytest.raises(ModelRequestError, match="only user turns"):
        model.render_prompt([Message.user("x")])
    unlimited = HFChatModel(model.model, model.tokenizer, context_limit=None)
    assert unlimited.context_limit is None


def test_dtype_auto_keeps_half_precision_only_where_the_cpu_computes_it(monkeypatch) -> None:
    from phalanx.models.hf import compute_dtype

    assert compute_dtype("auto", "cpu", "float32") is torch.float32
    assert compute_dtype("auto", "cpu", None) is torch.float32
    assert compute_dtype("float16", "cpu", "float32") is torch.float16
    assert compute_dtype("auto", "cuda", "bfloat16") == "auto"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert compute_dtype("auto", "cpu", "bfloat16") is torch.bfloat16
    assert compute_dtype("auto", "cpu", "gguf") is torch.bfloat16
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert compute_dtype("auto", "cpu", "bfloat16") is torch.float32
    with pytest.raises(ModelSpecError, match="dtype must be one of"):
        compute_dtype("int4", "cpu", None)


def test_dtype_option_loads_the_weights_in_that_dtype(tiny_model_dir) -> None:
    model = load_model(f"hf:{tiny_model_dir}?dtype=bfloat16&engine=off")
    assert next(model.model.parameters()).dtype is torch.bfloat16
    assert next(load_model(f"hf:{tiny_model_dir}").model.parameters()).dtype is torch.float32


async def test_constrain_off_leaves_json_mode_to_the_prompt(varied_model_dir) -> None:
    free = load_model(f"hf:{varied_model_dir}?constrain=off")
    assert free.supports_json_schema is False
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    reply = await free.chat([Message.user("x")], config=GenerationConfig(max_new_tokens=8), json_mode=schema)
    with pytest.raises(json.JSONDecodeError):  # random weights write no JSON unless constrained
        json.loads(reply.message.content or "")
    with pytest.raises(ModelSpecError, match="constrain must be on or off"):
        load_model(f"hf:{varied_model_dir}?constrain=maybe")
