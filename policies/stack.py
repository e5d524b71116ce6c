"""`PolicyStack`: a compiled policy that runs its guards at each stage and applies their actions.

The stack is the single decision point; adapters (`phalanx.policies.hooks`) put it on the
tool-call path (a `ToolHook`) and on the agent's turns (user input, final answer).
Fail closed: a guard that raises produces a blocking verdict (`error=True`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phalanx.policies.config import PolicyConfig, load_policy
from phalanx.policies.guard import Guard, GuardResources, build_guard, registered_guards
from phalanx.policies.output_guards import ERROR_MARK
from phalanx.policies.types import Finding, GuardAction, GuardContext, GuardVerdict, Stage, ToolSpec

REFUSAL_MESSAGE = "I can't help with that: the request was blocked by the phalanx safety policy ({reason})."
WITHHELD_MESSAGE = "[tool output withheld by phalanx policy: {reason}]"


@dataclass
class Decision:
    """Outcome of one stage check."""

    verdicts: list[GuardVerdict] = field(default_factory=list)
    action: GuardAction = GuardAction.ALLOW
    """The strongest action taken (block > ask-human > redact > annotate > allow)."""
    content: str | None = None
    """The text to pass on (rewritten when redacted / annotated / withheld)."""
    reason: str = ""
    question: str | None = None
    """For ask-human: what to ask."""

    @property
    def blocked(self) -> bool:
        return self.action == GuardAction.BLOCK


_RANK = {
    GuardAction.ALLOW: 0,
    GuardAction.ANNOTATE: 1,
    GuardAction.REDACT: 2,
    GuardAction.ASK_HUMAN: 3,
    GuardAction.BLOCK: 4,
}


class PolicyStack:
    """Guards of one policy, built once (embeddings and tool verdicts are cached across calls).

    Args:
        policy: `default`, `none`, a YAML path or a `PolicyConfig`.
        judge: a `ChatModel` used by guards whose config says `judge: default`.
        sandbox: a `phalanx.sandbox.Sandbox` the error-conflict guard re-computes arithmetic in.
        embedder: a shared `SentenceEmbedder` (the process-wide one by default).
    """

    def __init__(
        self,
        policy: str | PolicyConfig | None = "default",
        *,
        judge: Any = None,
        sandbox: Any = None,
        embedder: Any = None,
    ) -> None:
        from phalanx.policies.embedder import SentenceEmbedder
        from phalanx.policies.seeds import load_seeds

        self.config = load_policy(policy)
        needs_embedder = bool(self.config.active)
        resources = GuardResources(
            embedder=embedder or (SentenceEmbedder.shared() if needs_embedder else None),
            seeds=load_seeds(self.config.seeds) if needs_embedder else None,
            judge=judge,
            sandbox=sandbox,
        )
        stages = registered_guards()
        self.guards: dict[Stage, list[tuple[Guard, Any]]] = {s: [] for s in Stage}
        for name, gcfg in self.config.active.items():
            self.guards[stages[name]].append((build_guard(name, gcfg, resources), gcfg))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def is_empty(self) -> bool:
        return not any(self.guards.values())

    async def _run(self, stage: Stage, ctx: GuardContext) -> list[GuardVerdict]:
        verdicts = []
        for guard, gcfg in self.guards[stage]:
            try:
                found = await guard.check(ctx)
            except Exception as exc:  # fail closed: no decision is a block
                if not self.config.fail_closed:
                    continue
                verdicts.append(
                    GuardVerdict(
                        guard=guard.name,
                        stage=stage,
                        flagged=True,
                        action=GuardAction.BLOCK,
                        reason=f"guard failed ({type(exc).__name__}: {exc}); failing closed",
                        error=True,
                    )
                )
                continue
            verdicts.append(_verdict(guard, stage, found, gcfg.action))
        return verdicts

    async def screen_input(self, text: str) -> Decision:
        """Input stage: check a user turn. Blocked -> `content` is a refusal to send back."""
        verdicts = await self._run(Stage.INPUT, GuardContext(stage=Stage.INPUT, text=text))
        decision = _combine(verdicts, text)
        if decision.blocked:
            decision.content = REFUSAL_MESSAGE.format(reason=decision.reason)
        return decision

    async def check_call(
        self,
        tool: ToolSpec,
        arguments: dict[str, Any],
        *,
        query: str = "",
        tools: list[ToolSpec] | None = None,
    ) -> Decision:
        """Execution stage: check a tool call before it runs."""
        ctx = GuardContext(
            stage=Stage.EXECUTION, tool=tool, arguments=arguments, query=query, tools=tools or []
        )
        verdicts = await self._run(Stage.EXECUTION, ctx)
        decision = _combine(verdicts, None)
        if decision.action == GuardAction.ASK_HUMAN:
            decision.question = f"Allow {tool.name}({_short_args(arguments)})? {decision.reason}"
        return decision

    async def check_result(
        self, tool: ToolSpec, arguments: dict[str, Any], result: str, *, query: str = ""
    ) -> Decision:
        """Output stage: check a tool result before the model sees it; `content` is what to pass on."""
        ctx = GuardContext(stage=Stage.OUTPUT, tool=tool, arguments=arguments, result=result, query=query)
        verdicts = await self._run(Stage.OUTPUT, ctx)
        return _apply_output(_combine(verdicts, result), result, verdicts, withheld=WITHHELD_MESSAGE)

    async def check_answer(
        self, answer: str, *, query: str = "", tool_results: list[str] | None = None
    ) -> Decision:
        """Output stage: check the final answer (harmful content; errors passed on without a warning)."""
        ctx = GuardContext(stage=Stage.OUTPUT, text=answer, query=query, tool_results=tool_results or [])
        verdicts = await self._run(Stage.OUTPUT, ctx)
        decision = _combine(verdicts, answer)
        return _apply_output(
            decision,
            answer,
            verdicts,
            withheld="I can't share that answer: it was blocked by the phalanx safety policy ({reason}).",
        )


def _verdict(guard: Guard, stage: Stage, found: Finding, action: GuardAction) -> GuardVerdict:
    return GuardVerdict(
        guard=guard.name,
        stage=stage,
        flagged=found.flagged,
        action=action if found.flagged else GuardAction.ALLOW,
        reason=found.reason,
        score=found.score,
        category=found.category,
        spans=found.spans,
    )


def _combine(verdicts: list[GuardVerdict], content: str | None) -> Decision:
    decision = Decision(verdicts=verdicts, content=content)
    for v in verdicts:
        if v.flagged and _RANK[v.action] > _RANK[decision.action]:
            decision.action = v.action
            decision.reason = f"{v.guard}: {v.reason}"
    return decision


def _apply_output(decision: Decision, text: str, verdicts: list[GuardVerdict], *, withheld: str) -> Decision:
    if decision.action in (GuardAction.BLOCK, GuardAction.ASK_HUMAN):
        decision.content = withheld.format(reason=decision.reason)
        return decision
    content = text
    for v in verdicts:
        if not v.flagged:
            continue
        if v.action == GuardAction.REDACT:
            for span in v.spans:
                content = content.replace(span, "[redacted]")
        elif v.action == GuardAction.ANNOTATE:
            if v.guard == "error_conflict":
                content = f"{content}\n{ERROR_MARK}: {v.reason}. Do not present it as correct.]"
            else:
                content = f"{content}\n[phalanx {v.guard}: {v.reason}]"
    decision.content = content
    return decision


def _short_args(arguments: dict[str, Any]) -> str:
    import json

    text = json.dumps(arguments, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
