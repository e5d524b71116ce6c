"""A tiny random `hf:` model produces garbage; the loop must stop at its limits with a clear reason.

The `hf:` backend constrains the JSON protocol's replies to its schema, so even random
weights only ever produce valid moves: a known tool with arguments of its schema, or a
final answer; nothing is re-asked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx.agents.tool_agent import ToolAgent
from phalanx.models import GenerationConfig, load_model
from phalanx.tools import tool


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key


@pytest.fixture(scope="module")
def tiny_hf(tiny_model_dir: Path):
    try:
        import phalanx.models.hf  # noqa: F401
    except ModuleNotFoundError:  # pragma: no cover - depends on the models layer landing
        pytest.skip("phalanx.models.hf (the hf: backend) is not in this checkout yet")
    return load_model(f"hf:{tiny_model_dir}")


@pytest.mark.parametrize("protocol", ["json", "auto"])
async def test_garbage_model_stops_at_a_limit(tiny_hf, protocol: str) -> None:
    agent = ToolAgent(
        tiny_hf,
        [lookup],
        protocol=protocol,  # type: ignore[arg-type]
        max_steps=3,
        max_repairs=1,
        max_tool_errors=2,
        config=GenerationConfig(max_new_tokens=12, temperature=0.0),
    )
    result = await agent.run("Look up the key 'alpha' and tell me the value.")
    limits = {"malformed_output", "max_steps", "max_tool_errors", "final_answer"}
    assert result.stop_reason in limits, result.detail
    assert result.detail and result.stats.steps <= 3
    if protocol == "json":
        assert result.stats.repairs == 0, result.detail  # every reply was a valid protocol move
        assert result.stop_reason != "malformed_output"
        assert all(c.name == "lookup" and c.status in {"ok", "invalid_args"} for c in result.tool_calls)
        for message in result.messages:
            if message.role == "assistant":
                json.loads(message.content or "")  # schema-valid JSON, never prose
    assert result.messages[-1].role in {"assistant", "tool", "user"}
