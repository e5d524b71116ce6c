"""Conflict resolution between members: clustering, mergers, minority protection."""

from __future__ import annotations

import random

from phalanx.agents.longagent.communication import (
    cluster_responses,
    conflict_graph,
    is_not_found,
    resolve_conflicts,
    same_answer,
)


def test_not_found_and_containment_clustering():
    assert is_not_found("The document does NOT contain the answer.")
    assert is_not_found("I couldn’t find it") and is_not_found("  ")
    assert not is_not_found("The code is 4711")
    assert same_answer("The code is 4711.", "4711") and not same_answer("4711", "1234")
    clusters, empty = cluster_responses(
        [(0, "4711"), (1, "not found"), (2, "The code is 4711."), (3, "1234"), (4, "No information.")]
    )
    assert [(c.answer, c.members) for c in clusters] == [("4711", [0, 2]), ("1234", [3])]
    assert empty == [1, 4]


async def test_merger_drops_the_cluster_it_disagrees_with():
    seen = []

    async def merge(a, b):
        seen.append((a, b))
        return "4711"

    events = []
    res = await resolve_conflicts(
        [(0, "1234"), (1, "1234"), (5, "4711")], merge, record=lambda k, **d: events.append((k, d))
    )
    assert [c.answer for c in res.survivors] == ["4711"] and not res.unresolved
    assert res.dropped[0]["cluster"]["answer"] == "1234" and "answered '4711'" in res.dropped[0]["reason"]
    assert seen[0][0] in (0, 1) and seen[0][1] == 5
    assert [k for k, _ in events] == ["cluster", "cluster", "merger"]


async def test_new_answer_becomes_a_cluster_inheriting_the_closer_members():
    async def merge(a, b):
        return "code is 4712"

    res = await resolve_conflicts([(0, "code 4711"), (1, "banana")], merge)
    assert len(res.survivors) == 1
    new = res.survivors[0]
    assert new.answer == "code is 4712" and new.origin == "merger:0" and new.members == [0]


async def test_inconclusive_merger_keeps_the_minority_and_reports_unresolved():
    async def merge(a, b):
        return None  # invalid JSON from the merger

    res = await resolve_conflicts([(0, "1234"), (1, "1234"), (2, "4711")], merge, max_merges=5)
    assert {c.answer for c in res.survivors} == {"1234", "4711"}
    assert res.unresolved and res.merges == 1  # the one pair was tried once, nothing dropped
    assert res.dropped == []


async def test_merges_are_bounded():
    calls = []

    async def merge(a, b):
        calls.append((a, b))
        return f"fresh answer {len(calls)}"  # always a third answer: never converges

    res = await resolve_conflicts(
        [(i, f"answer {i}") for i in range(6)], merge, max_merges=4, rng=random.Random(1)
    )
    assert len(calls) == 4 and res.merges == 4
    assert res.budget_exhausted and res.unresolved  # the budget, not convergence, ended the loop


async def test_default_budget_is_the_official_200_and_says_when_it_binds():
    from phalanx.agents.longagent.communication import DEFAULT_MAX_MERGES

    assert DEFAULT_MAX_MERGES == 200

    # 85 members at 1,500-token chunks of a 128K document, every member a different answer:
    # each merger settles one pair, so 84 mergers end the loop within the default budget
    async def settle(a, b):
        return f"k{a:03d}z"

    many = [(i, f"k{i:03d}z") for i in range(85)]
    res = await resolve_conflicts(many, settle)
    assert res.merges == 84 and len(res.survivors) == 1 and not res.budget_exhausted
    events = []
    res = await resolve_conflicts(many, settle, max_merges=16, record=lambda k, **d: events.append((k, d)))
    assert res.budget_exhausted and res.merges == 16 and len(res.survivors) == 69
    assert events[-1] == (
        "merge_budget",
        {"merges": 16, "max_merges": 16, "clusters": [c.id for c in res.survivors]},
    )


async def test_merger_compares_only_the_two_clusters_it_read():
    # As the official loop: the merger's answer can drop the two clusters it read, no other one.
    async def merge(a, b):
        return "4711"

    res = await resolve_conflicts([(0, "1234"), (1, "555"), (2, "999")], merge, max_merges=1)
    assert {c.answer for c in res.survivors} == {"999", "4711"}
    assert sorted(d["cluster"]["answer"] for d in res.dropped) == ["1234", "555"]


def test_conflict_graph_from_events():
    events = [
        {"kind": "member_response", "round": 1, "member": 0},
        {"kind": "cluster", "round": 1, "cluster": 0, "answer": "x", "members": [0], "origin": "members"},
        {"kind": "cluster", "round": 1, "cluster": 1, "answer": "y", "members": [1], "origin": "members"},
        {
            "kind": "merger",
            "round": 1,
            "merger": 0,
            "clusters": [0, 1],
            "members": [0, 1],
            "answer": "y",
            "decision": "kept",
            "dropped": [0],
            "new_cluster": None,
        },
    ]
    g = conflict_graph(events)
    assert g.nodes["r1/cluster:0"]["dropped"] and not g.nodes["r1/cluster:1"]["dropped"]
    assert g.edges["r1/merger:0", "r1/cluster:0"]["kind"] == "dropped"
    assert g.edges["r1/merger:0", "r1/cluster:1"]["kind"] == "agreed"
    assert g.edges["member:1", "r1/cluster:1"]["kind"] == "answered"
