"""A team run that stops on an error resumes from its checkpoint without redoing finished work."""

from __future__ import annotations

import json

import pytest

from phalanx.agents import ThreadNotFound
from phalanx.agents.longagent import LongAgentRunError, LongAgentTeam
from phalanx.models.scripted import ScriptedModel


def two_round_leader(messages, tools=None):
    last = messages[-1].content or ""
    if "# Member Responses (round 1)" in last:
        return json.dumps({"type": "instruction", "content": "Check again."})
    if "# Member Responses" in last:
        return json.dumps({"type": "answer", "content": "4711"})
    return json.dumps({"type": "instruction", "content": "Find the code."})


def flaky_member(kit):
    """Crashes once, in round 2, on the needle's chunk."""
    state = {"failed": False}

    def member(messages, tools=None):
        round2 = len(messages) > 2
        if round2 and "4711" in kit.document_of(messages) and not state["failed"]:
            state["failed"] = True
            raise RuntimeError("GPU fell off the bus")
        return kit.needle_member(messages)

    return member


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_resume_after_a_member_crash(kit, tmp_path, store):
    doc = kit.needle_document(n_chunks=8, needle_at=5, decoys=())
    member = ScriptedModel(flaky_member(kit), name="member")
    ckpt = "memory" if store == "memory" else f"sqlite:{tmp_path / 'team.sqlite'}"
    team = LongAgentTeam(ScriptedModel(two_round_leader), member, chunk_tokens=50, checkpointer=ckpt)
    with pytest.raises(LongAgentRunError, match="resume") as err:
        await team.arun(doc, "What is the code?", thread_id="t1")
    assert err.value.thread_id == "t1"
    first_calls = len(member.calls)
    assert sum(1 for c in member.calls if len(c) == 2) == len(team.chunk(doc)) == 8

    # Sqlite: resume from a brand-new team object (a new process would do the same).
    if store == "sqlite":
        team = LongAgentTeam(ScriptedModel(two_round_leader), member, chunk_tokens=50, checkpointer=ckpt)
    result = await team.aresume("t1")
    assert result.status == "answered" and result.answer == "4711" and result.rounds == 2
    resumed = member.calls[first_calls:]
    assert all(len(c) > 2 for c in resumed), "round 1 must not be re-run after resume"
    # Round-2 members that finished before the crash are kept: only the crashed one is asked again.
    assert sum(1 for c in member.calls if len(c) > 2) == 8 + 1
    # Every member has exactly one round-2 response in the final history.
    r2 = [e["member"] for e in result.events if e["kind"] == "member_response" and e["round"] == 2]
    assert sorted(r2) == list(range(result.num_members))


async def test_resume_unknown_thread_is_a_clear_error(kit):
    team = LongAgentTeam(ScriptedModel(two_round_leader), ScriptedModel(kit.needle_member))
    with pytest.raises(ThreadNotFound, match="no run recorded"):
        await team.aresume("nope")
