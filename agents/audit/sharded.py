"""A ToolSword audit sharded over a Ray cluster: every node replays and judges its own records.

`audit_toolsword(..., ray=RayExecutor(...))` comes here. Each node loads the model under test,
the judge and the policies once, and replays the records it is given exactly as
`harness._Replay` does in-process; the driver appends each judged line to the same
`results.jsonl` (keyed `run/record id`, so a rerun resumes) as it streams in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phalanx.agents.audit.harness import BASELINE, ProgressFn, _judged, _read_done, run_record
from phalanx.agents.sharded import RayExecutor, run_sharded
from phalanx.models import load_model
from phalanx.policies import PolicyStack
from phalanx.policies.config import PolicyConfig
from phalanx.policies.toolsword_data import ToolSwordRecord


@dataclass
class AuditShardWork:
    """One node's part of an audit: its own model, judge and policy stack, loaded once.

    Attributes:
        model: spec of the model under test (each node loads it; `openai:URL#NAME` shares one server).
        judge: spec of the answer judge, or None for the rules.
        guard_judge: spec of the model behind guards set to `judge: default`, or None.
        policy: the policy configuration (shipped as data, so no file has to exist on the nodes).
        mode: replay mode (`agent` or `paper`).
        overlap: the rule judge's containment threshold.
        max_new_tokens: reply budget of every model turn.
        concurrency: records replayed at once on each node.
    """

    model: str
    judge: str | None
    guard_judge: str | None
    policy: PolicyConfig
    mode: str
    overlap: float
    max_new_tokens: int
    concurrency: int
    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    def key(self, item: tuple[str, ToolSwordRecord]) -> str:
        return f"{item[0]}/{item[1].id}"

    async def open(self) -> None:
        guard_llm = None if self.guard_judge is None else load_model(self.guard_judge)
        stack = PolicyStack(self.policy, judge=guard_llm)
        self._state.update(
            model=load_model(self.model),
            judge=None if self.judge in (None, "rules") else load_model(self.judge),
            stack=None if stack.is_empty else stack,
        )

    async def run(self, item: tuple[str, ToolSwordRecord]) -> dict[str, Any]:
        run, record = item
        stack = None if run == BASELINE else self._state["stack"]
        row = await run_record(
            record, self._state["model"], stack, mode=self.mode, max_new_tokens=self.max_new_tokens
        )
        return await _judged(self.key(item), run, record, row, self._state["judge"], self.overlap)

    async def close(self) -> None:
        for name in ("model", "judge"):
            model = self._state.pop(name, None)
            if model is not None:
                await model.aclose()


async def replay_on_ray(
    work: AuditShardWork,
    runs: Sequence[str],
    records: Sequence[ToolSwordRecord],
    results_path: Path,
    executor: RayExecutor,
    progress: ProgressFn | None = None,
) -> dict[str, dict[str, Any]]:
    """Every (run, record) result line, replaying on the cluster those `results_path` does not hold."""
    done = _read_done(results_path)
    items = [(run, r) for run in runs for r in records]
    count = sum(1 for item in items if work.key(item) in done)
    with results_path.open("a", encoding="utf-8") as sink:

        def on_result(key: str, line: dict[str, Any]) -> None:
            nonlocal count
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
            sink.flush()
            done[key] = line
            count += 1
            if progress:
                progress(count, len(items), f"{line['run']} {line['id']} (ray)")

        await run_sharded(work, items, executor, on_result, done=set(done))
    return done
