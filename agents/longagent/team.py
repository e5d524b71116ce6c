"""`LongAgentTeam`: a leader and one member per chunk, run as a checkpointed graph.

Protocol (methods.md Part A, LongAgent 2-6): the leader sees only the question and
sends an instruction; every member answers it on its own chunk, all in parallel
(one Send per member, so a micro-batching backend serves a round with one batched
generate); conflicting answers are settled by inter-member communication; the
leader answers or re-instructs; after `max_rounds` rounds it must answer.

The graph is a `phalanx.agents.GraphBuilder` graph (checkpointed, resumable). Each
node returns its events, which are kept in the checkpointed state (so a resumed run
keeps its full history) and also emitted live as `custom` run events.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel

from phalanx.agents import END, START, GraphBuilder, GraphError, Send, ThreadNotFound, emit
from phalanx.agents.longagent.chunking import chunk_document, resolve_chunk_tokens, tokenizer_for
from phalanx.agents.longagent.communication import DEFAULT_MAX_MERGES, is_not_found, resolve_conflicts
from phalanx.agents.longagent.protocol import (
    DOCUMENT_PLACEHOLDER,
    PROMPT_VERSION,
    Exchange,
    FinalLeaderReply,
    LeaderReply,
    MemberReply,
    ask_json,
    ask_text,
    fixed_type,
    render,
)
from phalanx.agents.longagent.types import DEFAULT_TASK_DESCRIPTION, LongAgentRunError, TeamResult, TeamState
from phalanx.models import ChatModel, GenerationConfig, Message, ModelRequestError, load_model


def _ev(kind: str, round_: int, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "round": round_, **data}


def _emitted(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stream `events` live (a no-op outside a streaming run) and return them for the state."""
    for ev in events:
        emit("longagent", event=ev)
    return events


class LongAgentTeam:
    """A LongAgent team over long documents.

    Args:
        leader: model spec or `ChatModel` of the leader (never sees the document).
        member: model spec or `ChatModel` shared by every member and merger.
        chunk_tokens: tokens per member chunk. Default: the official 1,500
            (`chunking.DEFAULT_CHUNK_TOKENS`), less when the member's context is smaller;
            `"fill"`: the member's context minus room for instructions.
        chunk_align: `token` cuts every `chunk_tokens` tokens (official); `sentence` moves
            each cut back to a sentence start (at most a quarter chunk) so facts are not split.
        max_rounds: rounds before the leader must answer (official: 3).
        communication: settle conflicting member answers with mergers; when False
            every non-"not found" response goes to the leader as is.
        max_reasks: re-asks on a malformed JSON reply, per call.
        max_merges: merger calls per round (official: 200); a round where it stops the
            conflict loop records a `merge_budget` event and `budget_exhausted` in its aggregate.
        member_concurrency: members answered at once (None = all; 1 = one by one).
        checkpointer: `"memory"`, `"sqlite:PATH"` (resumable across processes) or `"sqlite"`
            (the runtime's default path); a bad spec raises `CheckpointerSpecError`.
        leader_config / member_config: decoding settings (default greedy, 512 / 256 tokens).
        seed: seeds the choice of the member each merger reads from a cluster.
        prompt_version: version of the shipped prompt templates.
        first_instruction: `leader` (official): the leader writes the first instruction;
            `question`: the first instruction is the question itself, verbatim (the paper
            allows an instruction that "contains the question itself"). A small leader model
            tends to answer its own question with invented content instead of instructing
            the members; `question` keeps that out of round 1.
        replies: `json` (official): every reply is a JSON object (schema-constrained where
            the backend can); `text`: replies whose type is fixed (members, mergers, the
            leader's last answer) are written as prose and wrapped by phalanx
            (`protocol.ask_text`), the leader's instruction-or-answer turns stay JSON.
    """

    def __init__(
        self,
        leader: str | ChatModel,
        member: str | ChatModel,
        *,
        chunk_tokens: int | Literal["fill"] | None = None,
        chunk_align: Literal["token", "sentence"] = "token",
        max_rounds: int = 3,
        communication: bool = True,
        max_reasks: int = 2,
        max_merges: int = DEFAULT_MAX_MERGES,
        member_concurrency: int | None = None,
        checkpointer: str = "memory",
        leader_config: GenerationConfig | None = None,
        member_config: GenerationConfig | None = None,
        seed: int = 0,
        prompt_version: str = PROMPT_VERSION,
        first_instruction: Literal["leader", "question"] = "leader",
        replies: Literal["json", "text"] = "json",
    ) -> None:
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        if chunk_align not in ("token", "sentence"):
            raise ValueError(f"chunk_align must be 'token' or 'sentence', got {chunk_align!r}")
        if max_merges < 0:
            raise ValueError(f"max_merges must be >= 0, got {max_merges}")
        self.leader = load_model(leader)
        self.member = self.leader if member == leader else load_model(member)
        self.chunk_tokens = resolve_chunk_tokens(chunk_tokens, self.member)
        self.chunk_align = chunk_align
        self.max_rounds = max_rounds
        self.communication = communication
        self.max_reasks = max_reasks
        self.max_merges = max_merges
        self.member_concurrency = member_concurrency
        self.checkpointer = checkpointer
        self.leader_config = leader_config or GenerationConfig(max_new_tokens=512)
        self.member_config = member_config or GenerationConfig(max_new_tokens=256)
        self.seed = seed
        self.prompt_version = prompt_version
        if first_instruction not in ("leader", "question"):
            raise ValueError(f"first_instruction must be 'leader' or 'question', got {first_instruction!r}")
        self.first_instruction = first_instruction
        if replies not in ("json", "text"):
            raise ValueError(f"replies must be 'json' or 'text', got {replies!r}")
        self.replies = replies
        self.builder = self._build()
        # leader -> members -> communicate is one round; +2 for the first and last leader turns.
        self.runtime = self.builder.compile(
            checkpointer=checkpointer, max_concurrency=member_concurrency, step_limit=3 * max_rounds + 3
        )

    # ----------------------------------------------------------------- graph
    def _build(self) -> GraphBuilder[TeamState]:
        g = GraphBuilder(TeamState, name="longagent")
        g.add_node("leader", self._leader_node)
        g.add_node("member", self._member_node)
        g.add_node("communicate", self._communicate_node)
        g.add_edge(START, "leader")
        g.add_conditional_edges("leader", self._fan_out, ["member", END])
        g.add_edge("member", "communicate")
        g.add_edge("communicate", "leader")
        return g

    def _fan_out(self, state: TeamState) -> list[Send] | str:
        if state.status:
            return END
        r = state.round
        # One Send per member: the members of a round run concurrently, so a
        # micro-batching backend serves them with one batched generate.
        return [
            Send(
                "member",
                {
                    "task": {
                        "member": i,
                        "round": r,
                        "chunk": chunk,
                        "instruction": state.instruction,
                        "last_round": state.aggregated if r > 1 else [],
                        "history": state.member_history.get(str(i), []),
                    }
                },
            )
            for i, chunk in enumerate(state.chunks)
        ]

    async def _ask(
        self, model: ChatModel, msgs: list[Message], schema: type[BaseModel], config: GenerationConfig
    ) -> Exchange:
        ask = ask_text if self.replies == "text" and fixed_type(schema) is not None else ask_json
        try:
            return await ask(
                model, msgs, schema, max_reasks=self.max_reasks, config=config, version=self.prompt_version
            )
        except ModelRequestError as exc:
            if model is self.leader and schema is not MemberReply:
                raise
            # One member's request the backend refuses (say, a prompt past its context after
            # a few rounds of history) costs that member's answer, not the whole run.
            return Exchange(reply=None, raw=[], error=f"request refused: {exc}")

    def _render(self, name: str, **values: Any) -> str:
        return render(name, self.prompt_version, **values)

    async def _leader_node(self, state: TeamState) -> dict[str, Any]:
        r = state.round
        msgs = [Message.model_validate(m) for m in state.leader_messages]
        final = r >= self.max_rounds
        task = {"question": state.question, "task_description": state.task_description}
        if r == 0:
            msgs = [
                Message.system(self._render("leader_system", num_members=len(state.chunks))),
                Message.user(self._render("leader_first", **task)),
            ]
        else:
            template = "leader_end" if final else "leader_next"
            if final and self.replies == "text":
                template = "leader_end_text"
            conflict = bool(state.events) and state.events[-1].get("unresolved", False)
            prompt = self._render(template, round=r, responses=state.aggregated, conflict=conflict, **task)
            msgs.append(Message.user(prompt))
        schema = FinalLeaderReply if final else LeaderReply
        if r == 0 and self.first_instruction == "question":
            ex = Exchange(reply={"type": "instruction", "content": state.question}, raw=[])
        else:
            ex = await self._ask(self.leader, msgs, schema, self.leader_config)
        events = [
            _ev("leader_message", r, prompt=msgs[-1].content, raw=ex.raw, reply=ex.reply, error=ex.error)
        ]
        update: dict[str, Any] = {}
        if ex.reply is None:
            if final:
                update = {"answer": None, "status": "no_answer"}
            else:
                # Keep the team going: the question itself is a usable instruction.
                update = {"instruction": state.instruction or state.question, "round": r + 1}
                events.append(_ev("leader_invalid", r, fallback_instruction=update["instruction"]))
            msgs.append(Message.assistant(ex.raw[-1]))
        else:
            msgs.append(Message.assistant(LeaderReply.model_validate(ex.reply).model_dump_json()))
            if ex.reply["type"] == "answer":
                update = {"answer": ex.reply["content"], "status": "forced_answer" if final else "answered"}
            else:
                update = {"instruction": ex.reply["content"], "round": r + 1}
        if update.get("status"):
            events.append(_ev("final", r, answer=update["answer"], status=update["status"]))
        update["leader_messages"] = [m.model_dump() for m in msgs]
        update["events"] = _emitted(events)
        return update

    def _member_messages(self, doc: str, instruction: str, last_round: list[str], history: list[dict]):
        msgs = [
            Message.system(self._render("member_system_text" if self.replies == "text" else "member_system"))
        ]
        for turn in history:
            # Older copies of the chunk become a placeholder (official code), which keeps
            # a member's context at one chunk however many rounds it has seen.
            msgs.append(
                Message.user(
                    self._render(
                        "member_turn",
                        document=DOCUMENT_PLACEHOLDER,
                        last_round=turn["last_round"],
                        instruction=turn["instruction"],
                    )
                )
            )
            msgs.append(Message.assistant(turn["reply"]))
        msgs.append(
            Message.user(
                self._render("member_turn", document=doc, last_round=last_round, instruction=instruction)
            )
        )
        return msgs

    async def _member_node(self, state: TeamState) -> dict[str, Any]:
        task = state.task or {}
        i, r = task["member"], task["round"]
        msgs = self._member_messages(task["chunk"], task["instruction"], task["last_round"], task["history"])
        ex = await self._ask(self.member, msgs, MemberReply, self.member_config)
        content = ex.reply["content"] if ex.reply else None
        turn = {
            "instruction": task["instruction"],
            "last_round": task["last_round"],
            "reply": MemberReply(type="response", content=content).model_dump_json()
            if content
            else (ex.raw[-1] if ex.raw else ""),
        }
        return {
            "responses": [{"member": i, "round": r, "content": content, "error": ex.error}],
            "member_history": {str(i): [*task["history"], turn]},
            "events": _emitted(
                [
                    _ev(
                        "member_response",
                        r,
                        member=i,
                        instruction=task["instruction"],
                        raw=ex.raw,
                        content=content,
                        error=ex.error,
                        attempts=len(ex.raw),
                        prompt_tokens=ex.prompt_tokens,
                    ),
                ]
            ),
        }

    async def _communicate_node(self, state: TeamState) -> dict[str, Any]:
        r = state.round
        current = sorted((x for x in state.responses if x["round"] == r), key=lambda x: x["member"])
        valid = [(x["member"], x["content"]) for x in current if x["content"] is not None]
        events: list[dict[str, Any]] = []
        if not self.communication:
            kept = [a for _, a in valid if not is_not_found(a)]
            events.append(_ev("aggregate", r, responses=kept, communication=False, unresolved=False))
            return {"aggregated": kept, "events": _emitted(events)}

        async def merge(a: int, b: int) -> str | None:
            doc = state.chunks[a] + "\n" + state.chunks[b]
            msgs = self._member_messages(doc, state.instruction, [], [])
            ex = await self._ask(self.member, msgs, MemberReply, self.member_config)
            events.append(
                _ev("merger_response", r, members=[a, b], raw=ex.raw, reply=ex.reply, error=ex.error)
            )
            return ex.reply["content"] if ex.reply else None

        res = await resolve_conflicts(
            valid,
            merge,
            max_merges=self.max_merges,
            rng=random.Random(self.seed * 1_000_003 + r),
            record=lambda kind, **data: events.append(_ev(kind, r, **data)),
        )
        kept = [c.answer for c in res.survivors]
        events.append(
            _ev(
                "aggregate",
                r,
                responses=kept,
                communication=True,
                unresolved=res.unresolved,
                dropped=res.dropped,
                not_found=res.not_found,
                merges=res.merges,
                budget_exhausted=res.budget_exhausted,
            )
        )
        return {"aggregated": kept, "events": _emitted(events)}

    # ------------------------------------------------------------------- run
    def chunk(self, document: str) -> list[str]:
        """The chunks the members would read (one member per chunk)."""
        return [
            c.text
            for c in chunk_document(
                document, self.chunk_tokens, tokenizer_for(self.member), align=self.chunk_align
            )
        ]

    async def astream(
        self,
        document: str | None,
        question: str | None,
        *,
        thread_id: str | None = None,
        task_description: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Run (or, with `document=None`, resume) the team, yielding each event as it happens.

        `task_description` fills the leader's first-turn "# Task Description" slot (official
        protocol; `DEFAULT_TASK_DESCRIPTION` when None); the question is the task objective.
        The last item is `{"kind": "result", "result": TeamResult}`.
        """
        thread_id = thread_id or uuid.uuid4().hex
        inp: dict[str, Any] | None = None
        if document is not None:
            if not question or not question.strip():
                raise ValueError("the question is empty; pass what the team should answer")
            inp = {
                "question": question,
                "task_description": task_description or DEFAULT_TASK_DESCRIPTION,
                "chunks": self.chunk(document),
                "round": 0,
            }
        state: TeamState | None = None
        try:
            async for ev in self.runtime.stream(inp, thread_id=thread_id, resume=inp is None):
                if ev.kind == "custom" and ev.data.get("type") == "longagent":
                    yield ev.data["event"]
                elif ev.kind == "done":
                    state = ev.data["state"]
        except ThreadNotFound:
            raise
        except GraphError as exc:
            raise LongAgentRunError(
                f"team run stopped: {exc}; its checkpoint is kept, continue with `resume({thread_id!r})`",
                thread_id,
            ) from exc
        assert state is not None
        yield {
            "kind": "result",
            "result": TeamResult(
                question=state.question,
                answer=state.answer,
                status=state.status or "no_answer",
                rounds=state.round,
                num_members=len(state.chunks),
                thread_id=thread_id,
                events=state.events,
            ),
        }

    async def arun(
        self,
        document: str,
        question: str,
        *,
        thread_id: str | None = None,
        task_description: str | None = None,
    ) -> TeamResult:
        """Answer `question` about `document` with the team (async); see `astream` for `task_description`."""
        return await _final(
            self.astream(document, question, thread_id=thread_id, task_description=task_description)
        )

    async def aresume(self, thread_id: str) -> TeamResult:
        """Continue a stopped run from its last checkpoint (completed member answers are kept)."""
        return await _final(self.astream(None, None, thread_id=thread_id))

    async def aclose(self) -> None:
        """Close the leader and member models (stops a batching backend's worker)."""
        await self.leader.aclose()
        if self.member is not self.leader:
            await self.member.aclose()

    def run(
        self,
        document: str,
        question: str,
        *,
        thread_id: str | None = None,
        task_description: str | None = None,
    ) -> TeamResult:
        """Answer `question` about `document` (blocking; use `arun` inside an event loop)."""
        _no_running_loop("run")
        return asyncio.run(
            self.arun(document, question, thread_id=thread_id, task_description=task_description)
        )

    def resume(self, thread_id: str) -> TeamResult:
        """Blocking `aresume`."""
        _no_running_loop("resume")
        return asyncio.run(self.aresume(thread_id))


async def _final(events: AsyncIterator[dict[str, Any]]) -> TeamResult:
    result = None
    async for ev in events:
        if ev["kind"] == "result":
            result = ev["result"]
    assert result is not None  # astream always ends with the result (or raises)
    return result


def _no_running_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"LongAgentTeam.{name}() was called inside an event loop; use `await team.a{name}(...)`"
    )
