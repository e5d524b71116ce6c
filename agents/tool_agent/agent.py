"""`ToolAgent`: a ReAct / function-calling loop over any `ChatModel` and a `Toolset`.

Each step asks the model for its next move. Native tool calls are used when the
backend has them (`model.supports_tools`); otherwise the JSON text protocol of
`phalanx.agents.tool_agent.protocol`, asked for with its JSON schema so that a
backend with constrained decoding can only reply with a valid move. A reply with no
JSON at all is the final answer (a plain chat reply); one that echoes a placeholder
of the instructions is re-asked. Tool calls of one reply run in parallel,
each through `Toolset.call` (so hooks and the audit log see every one). The loop
stops at a final answer or at a limit (`max_steps`, `max_tool_errors`,
`max_repairs`), always with a `stop_reason` and a `detail` in words.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from phalanx.agents.tool_agent.protocol import (
    FINAL_ANSWER_SCHEMA,
    ParsedReply,
    has_json_object,
    is_placeholder,
    parse_reply,
    protocol_schema,
    protocol_system_prompt,
    render_for_text_model,
    repair_request,
)
from phalanx.agents.tool_agent.types import (
    AgentResult,
    AgentStats,
    StopReason,
    ToolCallRecord,
    TurnContext,
    TurnGuard,
)
from phalanx.models import ChatModel, GenerationConfig, Message, ModelError, ModelOutputError, ToolCall
from phalanx.models.base import load_model
from phalanx.tools import HookVerdict, Tool, ToolResult, Toolset, tool

DEFAULT_SYSTEM_PROMPT = "You are a careful assistant. Use the tools when they help, then answer the user."

FINAL_TURN_NATIVE = "Give your final answer to the user now, without calling a tool."
"""The user turn that asks a native-tools model for its final answer (see `final_turn`)."""


def _call_key(call: ToolCall) -> tuple[str, str]:
    """A call's identity: its tool and its arguments, whatever their key order or spacing."""
    try:
        args = json.dumps(json.loads(call.arguments or "{}"), sort_keys=True)
    except ValueError:
        args = call.arguments
    return call.name, args


def _emitter() -> Callable[..., None]:
    try:
        from phalanx.agents.graph.events import emit
    except ImportError:  # the runtime is optional for direct use: events are then dropped
        return lambda kind, **data: None
    return emit


class ToolAgent:
    """A tool-calling agent.

    Args:
        model: a `ChatModel` or a model spec (`hf:DIR`, `scripted:NAME`, ...).
        tools: a `Toolset` (hooks and audit log included) or a list of tools.
        system_prompt: instructions put before the conversation.
        protocol: `auto` (native tool calls when the model supports them), `native` or `json`.
        max_steps: most model calls in one run (re-asks included).
        max_tool_errors: the run stops once this many tool calls failed (bad arguments,
            blocked, errors).
        max_repairs: most re-asks after replies that did not parse.
        config: generation settings for every model call.
        turn_guards: async checks of the user input and of the final answer.
        refusal_text: the answer given when a turn guard blocks.
        name: shown in audit metadata and events.
        final_turn: on the last allowed model call, and after the model repeated a call it
            had already made, ask for the final answer only (no tools offered; on a
            constrained backend the reply can then only be a final answer). Small models
            otherwise call the same tool again and again until `max_steps`.
    """

    def __init__(
        self,
        model: ChatModel | str,
        tools: Toolset | Sequence[Tool] = (),
        *,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        protocol: Literal["auto", "native", "json"] = "auto",
        max_steps: int = 8,
        max_tool_errors: int = 3,
        max_repairs: int = 2,
        config: GenerationConfig | None = None,
        turn_guards: Sequence[TurnGuard] = (),
        refusal_text: str = "I can't help with that request.",
        name: str = "tool_agent",
        final_turn: bool = True,
    ) -> None:
        if max_steps < 1 or max_tool_errors < 1 or max_repairs < 0:
            raise ValueError(
                f"limits must be positive: max_steps={max_steps}, max_tool_errors={max_tool_errors}, "
                f"max_repairs={max_repairs} (>= 0)"
            )
        if protocol not in ("auto", "native", "json"):
            raise ValueError(f"protocol must be 'auto', 'native' or 'json', got {protocol!r}")
        self.model = load_model(model)
        if protocol == "native" and not getattr(self.model, "supports_tools", False):
            raise ValueError(
                f"model {self.model.name!r} has no native tool calls (supports_tools=False); "
                "use protocol='json' or 'auto'"
            )
        self.toolset = tools if isinstance(tools, Toolset) else Toolset(tools)
        self.system_prompt = system_prompt
        self.native = protocol == "native" or (
            protocol == "auto" and bool(getattr(self.model, "supports_tools", False))
        )
        self.max_steps = max_steps
        self.max_tool_errors = max_tool_errors
        self.max_repairs = max_repairs
        self.config = config
        self.turn_guards = list(turn_guards)
        self.refusal_text = refusal_text
        self.name = name
        self.final_turn = final_turn

    async def run(
        self, query: str | Sequence[Message], *, metadata: Mapping[str, Any] | None = None
    ) -> AgentResult:
        """Answer `query` (a user message, or a conversation whose last message is the user's)."""
        run = _Run(self, dict(metadata or {}))
        return await run.execute(query)

    def as_node(
        self,
        *,
        input_key: str = "query",
        output_key: str = "answer",
        result_key: str | None = None,
    ) -> Callable[[Any], Any]:
        """An async graph node: reads `state[input_key]`, returns `{output_key: answer}`.

        Args:
            input_key: state field with the query (text or a list of messages).
            output_key: state field receiving the final answer.
            result_key: optional state field receiving the whole `AgentResult` as a dict.
        """

        async def tool_agent_node(state: Any) -> dict[str, Any]:
            value = state.get(input_key) if isinstance(state, Mapping) else getattr(state, input_key, None)
            if value is None:
                raise KeyError(f"{self.name}: the graph state has no {input_key!r} to answer")
            result = await self.run(value)
            update: dict[str, Any] = {output_key: result.answer}
            if result_key:
                update[result_key] = result.model_dump(mode="json")
            return update

        tool_agent_node.__name__ = f"{self.name}_node"
        return tool_agent_node

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool:
        """This agent as a tool another agent can call (its calls inherit the caller's hooks)."""
        agent = self

        async def ask(task: str) -> str:
            result = await agent.run(task)
            return result.answer if result.answer is not None else f"(no answer: {result.detail})"

        return tool(
            ask, name=name or self.name, description=description or f"Ask the {self.name} agent to do a task."
        )


class _Run:
    """State of one `ToolAgent.run` call."""

    def __init__(self, agent: ToolAgent, metadata: dict[str, Any]) -> None:
        self.agent = agent
        self.metadata = {"agent": agent.name, **metadata}
        self.stats = AgentStats()
        self.transcript: list[Message] = []
        self.records: list[ToolCallRecord] = []
        self.turn_verdicts: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.emit = _emitter()
        self.schema: dict[str, Any] | None = None
        self.plain_text_answer = False
        self.force_final = False
        """Set when the model repeated a call: the next call asks for the final answer only."""
        self.seen_calls: dict[tuple[str, str], ToolCallRecord] = {}

    def finish(self, reason: StopReason, detail: str, answer: str | None = None) -> AgentResult:
        self.stats.duration_s = time.perf_counter() - self.started
        if reason == "final_answer" and self.plain_text_answer:
            detail += " (a reply without JSON, taken as the final answer)"
        return AgentResult(
            answer=answer,
            stop_reason=reason,
            detail=detail,
            messages=self.transcript,
            tool_calls=self.records,
            stats=self.stats,
            turn_verdicts=self.turn_verdicts,
        )

    async def execute(self, query: str | Sequence[Message]) -> AgentResult:
        agent = self.agent
        tools = agent.toolset.openai_schemas()
        system = agent.system_prompt if agent.native else protocol_system_prompt(tools, agent.system_prompt)
        if not agent.native:
            self.schema = protocol_schema(tools)
        if isinstance(query, str):
            history = [Message.user(query)]
        else:
            history = [m for m in query if m.role != "system"]
            if not history or history[-1].role != "user":
                raise ValueError("a conversation given to ToolAgent.run must end with a user message")
        if system:
            self.transcript.append(Message.system(system))
        self.transcript.extend(history)

        user_text = history[-1].content or ""
        verdict = await self.guard("input", user_text)
        if verdict.action == "block":
            return self.finish("blocked_input", f"input blocked: {verdict.reason}", agent.refusal_text)
        if verdict.action == "rewrite":
            self.transcript[-1] = Message.user(str(verdict.result))

        for step in range(1, agent.max_steps + 1):
            self.stats.steps = step
            final_only = agent.final_turn and (self.force_final or step == agent.max_steps)
            try:
                reply = await self.ask_model(tools, final_only)
            except ModelError as exc:
                return self.finish("model_error", f"model call {step} failed: {type(exc).__name__}: {exc}")
            try:
                parsed = self.parse(reply)
            except ModelOutputError as exc:
                if self.is_plain_answer(reply):
                    self.plain_text_answer = True
                    self.transcript.append(Message.assistant(reply.content))
                    return await self.final((reply.content or "").strip())
                stop = self.repair(reply, str(exc))
                if stop is not None:
                    return stop
                continue
            if parsed.final_answer is not None and is_placeholder(parsed.final_answer):
                stop = self.repair(
                    reply,
                    f"the final answer {parsed.final_answer.strip()!r} is the placeholder of the instructions, "
                    "not an answer; write the actual answer",
                )
                if stop is not None:
                    return stop
                continue
            if parsed.final_answer is not None:
                self.transcript.append(reply if agent.native else Message.assistant(reply.content))
                return await self.final(parsed.final_answer)
            if final_only:
                # Only a final answer was asked for: the calls are not run.
                self.transcript.append(Message.assistant(reply.content or None, tool_calls=parsed.tool_calls))
                self.transcript.extend(
                    Message.tool("Not run: give your final answer now.", tool_call_id=c.id, name=c.name)
                    for c in parsed.tool_calls
                )
                continue
            stop = await self.run_tools(step, reply, parsed.tool_calls)
            if stop is not None:
                return stop
        return self.finish(
            "max_steps",
            f"no final answer after {agent.max_steps} model calls (max_steps={agent.max_steps}); "
            f"{self.stats.tool_calls} tool calls, {self.stats.tool_errors} failed",
        )

    def is_plain_answer(self, reply: Message) -> bool:
        """A JSON-protocol reply with no JSON at all: a plain chat answer, accepted as final."""
        text = reply.content or ""
        return (
            not self.agent.native
            and bool(text.strip())
            and not has_json_object(text)
            and not is_placeholder(text)
        )

    def repair(self, reply: Message, error: str) -> AgentResult | None:
        """Re-ask after an unusable reply; the finished result once `max_repairs` is spent."""
        agent = self.agent
        self.stats.repairs += 1
        self.transcript.append(Message.assistant(reply.content or ""))
        if self.stats.repairs > agent.max_repairs:
            return self.finish(
                "malformed_output",
                f"the model's reply could not be used {self.stats.repairs} times "
                f"(max_repairs={agent.max_repairs}); last error: {error}",
            )
        self.transcript.append(Message.user(repair_request(error)))
        return None

    async def ask_model(self, tools: list[dict[str, Any]], final_only: bool = False) -> Message:
        agent = self.agent
        if agent.native:
            messages = self.transcript + ([Message.user(FINAL_TURN_NATIVE)] if final_only else [])
            offered = None if final_only else (tools or None)
            response = await agent.model.chat(messages, tools=offered, config=agent.config)
        else:
            messages = render_for_text_model(self.transcript, final_only=final_only)
            schema = FINAL_ANSWER_SCHEMA if final_only else (self.schema or True)
            response = await agent.model.chat(messages, config=agent.config, json_mode=schema)
        self.stats.prompt_tokens += response.usage.prompt_tokens
        self.stats.completion_tokens += response.usage.completion_tokens
        return response.message

    def parse(self, reply: Message) -> ParsedReply:
        if not self.agent.native:
            return parse_reply(reply.content)
        if reply.tool_calls:
            return ParsedReply(tool_calls=list(reply.tool_calls))
        if not (reply.content or "").strip():
            raise ModelOutputError("the reply had neither text nor tool calls")
        return ParsedReply(final_answer=reply.content)

    async def run_tools(self, step: int, reply: Message, calls: list[ToolCall]) -> AgentResult | None:
        agent = self.agent
        self.transcript.append(Message.assistant(reply.content or None, tool_calls=calls))
        for c in calls:
            self.emit("tool_call", name=c.name, arguments=c.arguments, call_id=c.id, agent=agent.name)
        # A call equal to an earlier successful one, or to one before it in this reply, is not run.
        keys = [_call_key(c) for c in calls]
        fresh = [c for i, c in enumerate(calls) if keys[i] not in self.seen_calls and keys[i] not in keys[:i]]
        results = await agent.toolset.call_many(
            fresh, messages=self.transcript, metadata={**self.metadata, "step": step}
        )
        done = iter(results)
        this_reply: dict[tuple[str, str], ToolCallRecord] = {}
        for c, key in zip(calls, keys, strict=True):
            earlier = self.seen_calls.get(key) or this_reply.get(key)
            if earlier is None:
                this_reply[key] = self.record(step, c, next(done))
            else:
                self.record_repeat(step, c, earlier)
        if self.stats.tool_errors >= agent.max_tool_errors:
            return self.finish(
                "max_tool_errors",
                f"{self.stats.tool_errors} tool calls failed (max_tool_errors={agent.max_tool_errors}); "
                f"last: {next((r.error for r in reversed(results) if r.is_error), None)}",
            )
        return None

    def record(self, step: int, call: ToolCall, result: ToolResult) -> ToolCallRecord:
        self.transcript.append(Message.tool(result.content, tool_call_id=call.id, name=call.name))
        record = ToolCallRecord(
            step=step,
            call_id=call.id,
            name=call.name,
            arguments=call.arguments,
            status=result.status,
            content=result.content,
            error=result.error,
        )
        self.records.append(record)
        if result.status == "ok":
            self.seen_calls[_call_key(call)] = record
        self.stats.tool_calls += 1
        if result.is_error:
            self.stats.tool_errors += 1
        if result.status == "invalid_args":
            self.stats.argument_errors += 1
        elif result.status == "blocked":
            self.stats.blocked_calls += 1
        self.emit("tool_result", name=call.name, call_id=call.id, status=result.status)
        return record

    def record_repeat(self, step: int, call: ToolCall, earlier: ToolCallRecord) -> None:
        """A call identical to an earlier successful one: not run again; its result is repeated.

        The result is repeated as it was (a small model tends to echo the latest message,
        so a reminder in words would become its answer); the next turn asks for the answer.
        """
        content = earlier.content
        self.transcript.append(Message.tool(content, tool_call_id=call.id, name=call.name))
        self.records.append(
            ToolCallRecord(
                step=step,
                call_id=call.id,
                name=call.name,
                arguments=call.arguments,
                status="repeated",
                content=content,
            )
        )
        self.stats.tool_calls += 1
        self.stats.repeated_calls += 1
        self.force_final = True
        self.emit("tool_result", name=call.name, call_id=call.id, status="repeated")

    async def final(self, answer: str) -> AgentResult:
        verdict = await self.guard("output", answer)
        if verdict.action == "block":
            return self.finish("blocked_output", f"answer blocked: {verdict.reason}", self.agent.refusal_text)
        if verdict.action == "rewrite":
            answer = str(verdict.result)
        return self.finish("final_answer", f"answered after {self.stats.steps} model calls", answer)

    async def guard(self, stage: Literal["input", "output"], text: str) -> HookVerdict:
        """Run the turn guards in order; the first block wins, rewrites chain."""
        rewritten = False
        for guard in self.agent.turn_guards:
            name = getattr(guard, "name", None) or getattr(guard, "__name__", type(guard).__name__)
            try:
                verdict = await guard(TurnContext(stage, text, list(self.transcript), dict(self.metadata)))
                if not isinstance(verdict, HookVerdict):
                    raise TypeError(f"returned {type(verdict).__name__}, not a HookVerdict")
                if verdict.action == "ask_human" or (verdict.action == "rewrite" and not verdict.has_result):
                    raise ValueError("turn guards answer allow, block or rewrite(result=text)")
            except Exception as exc:
                verdict = HookVerdict.block(
                    f"turn guard {name} failed ({type(exc).__name__}: {exc}); blocked to fail safe"
                )
            self.turn_verdicts.append(
                {"hook": name, "stage": stage, "action": verdict.action, "reason": verdict.reason}
            )
            if verdict.action == "block":
                return verdict
            if verdict.action == "rewrite":
                text, rewritten = str(verdict.result), True
        if rewritten:
            return HookVerdict.rewrite(result=text)
        return HookVerdict.allow()
