"""Records of an audit replay concurrently (bounded), with the same verdicts as one at a time."""

from __future__ import annotations

import asyncio
import json

from phalanx.agents.audit import audit_toolsword
from phalanx.agents.audit.scripted_agents import _comply
from phalanx.models.scripted import ScriptedModel


def _slow_comply(in_flight: list[int], peak: list[int]) -> ScriptedModel:
    async def reply(messages, tools):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await asyncio.sleep(0.01)
        in_flight[0] -= 1
        return _comply(messages, tools)

    model = ScriptedModel(reply, name="slow-comply")
    model.supports_tools = True
    return model


async def test_concurrent_records_give_the_verdicts_of_a_sequential_audit(small_data, tmp_path) -> None:
    verdicts = {}
    for concurrency in (1, 4):
        in_flight, peak = [0], [0]
        out = tmp_path / f"c{concurrency}"
        await audit_toolsword(
            _slow_comply(in_flight, peak),
            "default",
            "rules",
            ["MQ", "NM", "HF", "EC"],
            small_data,
            out,
            concurrency=concurrency,
            report=False,
        )
        assert peak[0] == concurrency  # never more records in flight than allowed, and really that many
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        verdicts[concurrency] = {r["key"]: (r["unsafe"], r["stop_reason"], r["answer"]) for r in rows}
    assert len(verdicts[1]) == 16 and verdicts[1] == verdicts[4]
