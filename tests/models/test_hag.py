"""HAG: a tiny model SFT-trained here to emit decoding configurations picks them per request and
decodes with them; malformed stage-1 output takes the documented fallback; values are clamped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from phalanx.models import ChatResponse, GenerationConfig, Message
from phalanx.models.hag import (
    BOUNDS,
    FALLBACK_CONFIG,
    HagChatModel,
    HagConfig,
    HagSettings,
    on_hag_choice,
    parse_choice,
    stage_one_messages,
)
from phalanx.models.hf import HFChatModel
from phalanx.models.scripted import ScriptedModel

CREATIVE = {
    "strategy": "sample",
    "temperature": 0.9,
    "top_p": 0.95,
    "top_k": 50,
    "repetition_penalty": 1.1,
    "max_new_tokens": 7,
}
FACTUAL = {
    "strategy": "greedy",
    "temperature": 0,
    "top_p": 1,
    "top_k": 0,
    "repetition_penalty": 1,
    "max_new_tokens": 5,
}
SETTINGS = HagSettings(instruction="Choose decoding settings.")
"""A short stage-1 instruction keeps the tiny model's training sequences short (fast SFT)."""
TRAINING = [
    ("Write a poem about the sea.", CREATIVE),
    ("Tell a story about a fox.", CREATIVE),
    ("What is 12 + 30?", FACTUAL),
    ("Who is the mother of Bob?", FACTUAL),
]


@pytest.fixture(scope="module")
def hag_tuned(tmp_path_factory) -> HFChatModel:
    """A tiny random Llama fine-tuned (plain torch, ~100 steps) to answer HAG's stage 1 with fixed configs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from phalanx.models.tiny import build_tiny_checkpoint

    path = build_tiny_checkpoint(tmp_path_factory.mktemp("hag-sft"), seed=1)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    renderer = HFChatModel(model, tokenizer, engine=False)
    rows = []
    for question, config in TRAINING:
        messages = stage_one_messages([Message.user(question)], SETTINGS.instruction)
        prompt = renderer.render_prompt(messages, json_mode=True)
        # Compact JSON: the schema-constrained decoder allows no optional whitespace.
        target = tokenizer(json.dumps(config, separators=(",", ":")), add_special_tokens=False)["input_ids"]
        rows.append((prompt + target + [tokenizer.eos_token_id], len(prompt)))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, prompt_len) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, prompt_len : len(row)] = torch.tensor(row[prompt_len:])
        mask[i, : len(row)] = 1
    torch.manual_seed(0)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matmuls: one thread beats two on a shared CPU
    try:
        for _ in range(300):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if loss.item() < 0.005:
                break
    finally:
        torch.set_num_threads(threads)
    assert loss.item() < 0.05, f"SFT did not fit the configurations (loss {loss.item():.3f})"
    model.eval()
    return HFChatModel(model, tokenizer, name="hag-tuned")


def test_tuned_model_chooses_its_configuration_and_decodes_with_it(hag_tuned) -> None:
    node = HagChatModel(hag_tuned, SETTINGS)
    seen: list[Any] = []
    unsubscribe = on_hag_choice(seen.append)

    async def go():
        out = {}
        for question, _ in TRAINING:
            messages = [Message.user(question)]
            caller = GenerationConfig(seed=7, max_new_tokens=64)
            reply = await node.chat(messages, config=caller)
            chosen = HagConfig.model_validate(reply.details["hag"]["config"])
            direct = await hag_tuned.chat(messages, config=chosen.generation_config(caller))
            out[question] = (reply, chosen, direct)
        return out

    try:
        results = asyncio.run(go())
    finally:
        unsubscribe()
    for question, expected in TRAINING:
        reply, chosen, direct = results[question]
        assert reply.details["hag"]["source"] == "model" and reply.details["hag"]["problem"] is None
        assert chosen == HagConfig.model_validate(expected)
        # Stage 2 decoded with exactly that configuration (and the caller's seed): same text as a direct call.
        assert reply.message.content == direct.message.content
        assert direct.usage.completion_tokens <= expected["max_new_tokens"]
        assert reply.usage.completion_tokens > direct.usage.completion_tokens  # both stages counted
    assert [c.config.strategy for c in seen] == ["sample", "sample", "greedy", "greedy"]


class _Recording:
    """An inner chat model with scripted replies that records the config of every call."""

    name = "recording"
    supports_tools = False

    def __init__(self, stage_one: str) -> None:
        self.inner = ScriptedModel(lambda msgs, tools: stage_one if msgs[0].role == "system" else "an answer")
        self.configs: list[GenerationConfig | None] = []

    async def chat(self, messages: Sequence[Message], **kwargs: Any) -> ChatResponse:
        self.configs.append(kwargs.get("config"))
        return await self.inner.chat(messages)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("stage_one", "problem"),
    [
        ("I would use a temperature of 0.8.", "not JSON"),
        ('{"strategy": "sample", "temperature": 0.8}', "top_p: Field required"),
        (
            '{"strategy": "beam", "temperature": 0, "top_p": 1, "top_k": 0, "repetition_penalty": 1, '
            '"max_new_tokens": 9}',
            "strategy",
        ),
        (
            '{"strategy": "greedy", "temperature": "hot", "top_p": 1, "top_k": 0, "repetition_penalty": 1, '
            '"max_new_tokens": 9}',
            "temperature",
        ),
        ("[0.7, 0.9]", "not a JSON object"),
    ],
)
def test_malformed_stage_one_takes_the_fallback(stage_one: str, problem: str) -> None:
    inner = _Recording(stage_one)
    reply = asyncio.run(
        HagChatModel(inner).chat([Message.user("hi")], config=GenerationConfig(max_new_tokens=300))
    )
    record = reply.details["hag"]
    assert record["source"] == "fallback" and problem in record["problem"] and record["raw"] == stage_one
    assert HagConfig.model_validate(record["config"]) == FALLBACK_CONFIG
    stage_two = inner.configs[1]
    assert stage_two is not None and not stage_two.sampling
    assert stage_two.max_new_tokens == FALLBACK_CONFIG.max_new_tokens  # under the caller's 300
    assert reply.message.content == "an answer"


def test_out_of_range_values_are_clamped_not_refused() -> None:
    text = json.dumps({**CREATIVE, "temperature": 7, "top_k": -3, "max_new_tokens": 99999})
    choice = parse_choice(text)
    assert choice.source == "model"
    assert (choice.config.temperature, choice.config.top_k, choice.config.max_new_tokens) == (2.0, 0, 4096)
    assert choice.problem == "clamped temperature, top_k, max_new_tokens"


def test_stage_two_config_mapping() -> None:
    greedy = HagConfig.model_validate({**FACTUAL, "temperature": 1.5, "max_new_tokens": 500})
    mapped = greedy.generation_config(GenerationConfig(max_new_tokens=40, stop=["\n"], seed=3))
    assert not mapped.sampling and mapped.temperature == 0.0 and mapped.top_k == 0
    assert mapped.max_new_tokens == 40 and mapped.stop == ["\n"] and mapped.seed == 3
    sample = HagConfig.model_validate(CREATIVE).generation_config()
    assert sample.sampling and (sample.temperature, sample.top_p, sample.top_k) == (0.9, 0.95, 50)
    assert sample.max_new_tokens == 7 and sample.repetition_penalty == 1.1


numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False), st.text(max_size=4))


@given(
    st.fixed_dictionaries(
        {k: numbers for k in BOUNDS}, optional={"strategy": st.sampled_from(["greedy", "sample", "x"])}
    )
)
def test_parse_choice_never_raises_and_stays_in_bounds(data: dict) -> None:
    choice = parse_choice(json.dumps(data))
    for key, (low, high) in BOUNDS.items():
        assert low <= getattr(choice.config, key) <= high
    assert (choice.source == "fallback") == (
        choice.problem is not None and not choice.problem.startswith("clamped")
    )
