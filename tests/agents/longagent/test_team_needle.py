"""The team finds a needle that 1 of 32 members sees, while 3 members hallucinate."""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest

from phalanx.agents.longagent import LongAgentTeam
from phalanx.models.scripted import ScriptedModel

QUESTION = "What is the secret code of the harbour vault?"


def distinct_hallucinations(kit):
    """Like `needle_member`, but the decoy chunks hallucinate three different codes."""

    def member(messages, tools=None):
        reply = json.loads(kit.needle_member(messages))
        if reply["content"] == "1234":
            doc = kit.document_of(messages)
            decoy = int(re.search(r"\bd(\d+)\b", doc).group(1))
            reply["content"] = {3: "1234", 9: "5555", 26: "9090"}[decoy]
        return json.dumps(reply)

    return member


@pytest.mark.parametrize("distinct", [False, True], ids=["same-hallucination", "distinct-hallucinations"])
async def test_communication_recovers_needle_and_plain_team_is_misled(kit, distinct):
    member_fn = distinct_hallucinations(kit) if distinct else kit.needle_member
    doc = kit.needle_document(n_chunks=32, chunk_words=50, needle_at=17, decoys=(3, 9, 26))
    answers = {}
    for communication in (True, False):
        member = ScriptedModel(member_fn, name="member")
        team = LongAgentTeam(
            ScriptedModel(kit.majority_leader), member, chunk_tokens=50, communication=communication
        )
        result = await team.arun(doc, QUESTION)
        assert result.num_members == 32
        assert result.status == "answered"
        answers[communication] = result.answer
        # Exactly one member's chunk held the needle and three held the decoy.
        round1 = [e for e in result.events if e["kind"] == "member_response" and e["round"] == 1]
        assert sorted(e["member"] for e in round1) == list(range(32))
        assert [e["member"] for e in round1 if e["content"] == "4711"] == [17]
    assert answers[True] == "4711"
    assert answers[False] != "4711"
    assert answers[False] in {"1234", "5555", "9090"}


async def test_merger_decisions_are_recorded_and_form_the_conflict_graph(kit):
    doc = kit.needle_document(decoys=(3, 9, 26))
    member = ScriptedModel(distinct_hallucinations(kit), name="member")
    result = await LongAgentTeam(ScriptedModel(kit.majority_leader), member, chunk_tokens=50).arun(
        doc, QUESTION
    )
    mergers = [e for e in result.events if e["kind"] == "merger"]
    assert mergers, "conflicting answers must trigger at least one merger"
    # Every merger call read two chunks; the one that saw chunk 17 answered the truth.
    merger_calls = [
        c for c in member.calls if kit.DECOY in (c[-1].content or "") and "4711" in (c[-1].content or "")
    ]
    assert merger_calls
    g = result.conflict_graph()
    assert isinstance(g, nx.DiGraph)
    survivors = [n for n, d in g.nodes(data=True) if d.get("kind") == "cluster" and not d["dropped"]]
    assert [g.nodes[n]["answer"] for n in survivors] == ["4711"]
    dropped = {
        g.nodes[n]["answer"] for n, d in g.nodes(data=True) if d.get("kind") == "cluster" and d["dropped"]
    }
    assert dropped and "4711" not in dropped
    # Each dropped cluster has a merger edge saying who dropped it.
    for n, d in g.nodes(data=True):
        if d.get("kind") == "cluster" and d["dropped"]:
            assert any(g.edges[p, n]["kind"] == "dropped" for p in g.predecessors(n))
    assert ("member:17", "r1/cluster:" + str(survivors[0].split(":")[-1])) in g.edges or any(
        g.nodes[c]["answer"] == "4711" for c in g.successors("member:17")
    )
    report = result.report()
    json.dumps(report)  # JSON-ready
    assert report["mergers"] and report["conflict_graph"]["nodes"]
    assert result.report(with_graph=False) == {k: v for k, v in report.items() if k != "conflict_graph"}
    assert result.failure is None  # it answered


def test_a_run_without_answer_says_why():
    from phalanx.agents.longagent import TeamResult

    def leader(error: str | None) -> dict:
        return {"kind": "leader_message", "round": 1, "error": error}

    events = [leader("no JSON object in the reply"), leader(None), leader("'type' must be one of ...")]
    kw = {"question": "q", "rounds": 2, "num_members": 3, "thread_id": "t", "answer": None}
    assert TeamResult(status="no_answer", events=events, **kw).failure == "'type' must be one of ..."
    assert TeamResult(status="no_answer", events=[], **kw).failure == "no valid reply"
    assert TeamResult(status="forced_answer", events=events, **{**kw, "answer": "x"}).failure is None


async def test_members_see_last_round_and_older_chunks_become_placeholders(kit):
    """Round 2 prompts carry last round's aggregated answers; round 1's chunk copy is omitted."""
    from phalanx.agents.longagent.protocol import DOCUMENT_PLACEHOLDER

    turns = {"n": 0}

    def two_round_leader(messages, tools=None):
        turns["n"] += 1
        if turns["n"] < 3:
            return json.dumps({"type": "instruction", "content": f"instruction {turns['n']}"})
        return json.dumps({"type": "answer", "content": "done"})

    member = ScriptedModel(kit.needle_member)
    doc = kit.needle_document(n_chunks=4, needle_at=2, decoys=())
    result = await LongAgentTeam(ScriptedModel(two_round_leader), member, chunk_tokens=50).arun(doc, QUESTION)
    assert result.rounds == 2 and result.answer == "done"
    round2 = [c for c in member.calls if len(c) > 2]
    assert len(round2) == 4
    for convo in round2:
        first_turn, last_turn = convo[1].content, convo[-1].content
        assert (
            DOCUMENT_PLACEHOLDER in first_turn and "w" not in first_turn.split("# Document")[1].split("#")[0]
        )
        assert "# Member Response Last Round\n- 4711" in last_turn
        assert "instruction 2" in last_turn


async def test_last_round_forces_an_answer(kit):
    def stubborn(messages, tools=None):
        if "last round" in (messages[-1].content or ""):
            return json.dumps({"type": "answer", "content": "forced"})
        return json.dumps({"type": "instruction", "content": "keep looking"})

    doc = kit.needle_document(n_chunks=3, needle_at=1, decoys=())
    result = await LongAgentTeam(
        ScriptedModel(stubborn), ScriptedModel(kit.needle_member), chunk_tokens=50, max_rounds=2
    ).arun(doc, QUESTION)
    assert (result.status, result.answer, result.rounds) == ("forced_answer", "forced", 2)


async def test_astream_yields_events_live_then_the_result(kit):
    doc = kit.needle_document(n_chunks=6, needle_at=4, decoys=(1,))
    team = LongAgentTeam(
        ScriptedModel(kit.majority_leader), ScriptedModel(kit.needle_member), chunk_tokens=50
    )
    seen = [ev async for ev in team.astream(doc, QUESTION)]
    kinds = [ev["kind"] for ev in seen]
    assert kinds[0] == "leader_message" and kinds[-1] == "result"
    assert kinds.count("member_response") == 6 and "merger" in kinds and "final" in kinds
    result = seen[-1]["result"]
    # What was streamed is what the checkpointed state recorded, in the same order.
    assert [e["kind"] for e in result.events] == kinds[:-1]
    assert result.answer == "4711"


async def test_inconclusive_merger_keeps_the_minority_for_the_leader(kit):
    """A merger that cannot decide drops nothing: the leader sees both answers, flagged as a conflict."""

    def confused(messages, tools=None):
        doc = kit.document_of(messages)
        if "4711" in doc and kit.DECOY in doc:  # the merger, reading both chunks
            return json.dumps({"type": "response", "content": "The document does not contain the answer."})
        return kit.needle_member(messages)

    leader = ScriptedModel(kit.majority_leader)
    doc = kit.needle_document(n_chunks=8, needle_at=6, decoys=(1, 2, 3))
    result = await LongAgentTeam(leader, ScriptedModel(confused), chunk_tokens=50).arun(doc, QUESTION)
    prompt = leader.calls[1][-1].content
    assert "- 1234" in prompt and "- 4711" in prompt and "still conflict" in prompt
    merger = next(e for e in result.events if e["kind"] == "merger")
    assert merger["decision"] == "inconclusive"
    assert next(e for e in result.events if e["kind"] == "aggregate")["unresolved"] is True


async def test_a_refused_member_request_costs_only_that_member(kit):
    from phalanx.models import ModelRequestError

    def picky(messages, tools=None):
        if "w5 " in kit.document_of(messages) and "4711" not in kit.document_of(messages):
            raise ModelRequestError("prompt exceeds the context limit")
        return kit.needle_member(messages)

    doc = kit.needle_document(n_chunks=6, needle_at=3, decoys=())
    result = await LongAgentTeam(
        ScriptedModel(kit.majority_leader), ScriptedModel(picky), chunk_tokens=50
    ).arun(doc, QUESTION)
    assert result.answer == "4711"
    refused = [e for e in result.events if e["kind"] == "member_response" and e["attempts"] == 0]
    assert refused and all("request refused" in e["error"] for e in refused)


async def test_leader_prompts_carry_the_official_task_slots_and_concise_answer_rule(kit):
    from phalanx.agents.longagent import DEFAULT_TASK_DESCRIPTION

    leader = ScriptedModel(kit.majority_leader, name="leader")
    member = ScriptedModel(kit.needle_member, name="member")
    doc = kit.needle_document(n_chunks=4, chunk_words=50, needle_at=2, decoys=())
    team = LongAgentTeam(leader, member, chunk_tokens=50)
    await team.arun(doc, QUESTION)
    first = leader.calls[0][1].content
    assert first.startswith(f"# Task Description\n{DEFAULT_TASK_DESCRIPTION}\n\n# Task Objective\n{QUESTION}")
    second = leader.calls[1][-1].content
    assert "# Task Objective\n" + QUESTION in second
    assert "as concisely as you can, in a single phrase if possible" in second
    leader = ScriptedModel(kit.majority_leader, name="leader")
    task = "Find the answer to the question in the document, there is a lot of distracting information."
    await LongAgentTeam(leader, member, chunk_tokens=50).arun(doc, QUESTION, task_description=task)
    assert f"# Task Description\n{task}\n" in leader.calls[0][1].content


def test_default_chunk_size_is_the_official_one():
    team = LongAgentTeam("scripted:longagent-reader", "scripted:longagent-reader")
    assert team.chunk_tokens == 1500 and team.max_merges == 200
    with pytest.raises(ValueError, match="'fill' or None"):
        LongAgentTeam("scripted:longagent-reader", "scripted:longagent-reader", chunk_tokens=0)


async def test_a_binding_merge_budget_is_reported(kit):
    doc = kit.needle_document(decoys=(3, 9, 26))
    member = ScriptedModel(distinct_hallucinations(kit), name="member")
    team = LongAgentTeam(ScriptedModel(kit.majority_leader), member, chunk_tokens=50, max_merges=1)
    result = await team.arun(doc, QUESTION)
    budget = result.report()["merge_budget"]
    assert budget and budget[0]["max_merges"] == 1 and budget[0]["round"] == 1
    assert any(e["kind"] == "aggregate" and e.get("budget_exhausted") for e in result.events)


async def test_text_replies_and_the_question_as_first_instruction(kit):
    """Members write prose (wrapped by phalanx); round 1 asks the question itself, no leader call."""
    leader_calls: list[str] = []

    def prose_member(messages, tools=None):
        assert "JSON" not in (messages[0].content or "")  # the text-mode member prompt
        return json.loads(kit.needle_member(messages))["content"]

    def leader(messages, tools=None):
        leader_calls.append(messages[-1].content or "")
        if "last round" in leader_calls[-1]:
            return "The code is 4711."  # the last answer is prose too
        return kit.majority_leader(messages)

    doc = kit.needle_document(n_chunks=8, chunk_words=50, needle_at=5, decoys=())
    team = LongAgentTeam(
        ScriptedModel(leader),
        ScriptedModel(prose_member),
        chunk_tokens=50,
        first_instruction="question",
        replies="text",
        max_rounds=1,
    )
    result = await team.arun(doc, QUESTION)
    first = [e for e in result.events if e["kind"] == "member_response" and e["round"] == 1]
    assert {e["instruction"] for e in first} == {QUESTION}
    assert [e["content"] for e in first if e["content"] == "4711"] and result.answer == "The code is 4711."
    assert result.status == "forced_answer" and len(leader_calls) == 1  # round 0 made no leader call
    with pytest.raises(ValueError, match="replies must be"):
        LongAgentTeam(ScriptedModel(leader), ScriptedModel(prose_member), replies="yaml")  # type: ignore[arg-type]
