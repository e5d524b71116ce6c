"""Inter-member communication: find conflicting member answers and settle them with mergers.

Follows the official LongAgent conflict detection (methods.md Part A, LongAgent 5):
drop "not found"-style responses, cluster the rest, and while two or more clusters
remain let a *merger* agent read the chunks of one member from each of two clusters
together and answer the same instruction. Of the two clusters the merger read, those
whose answer differs from the merger's are dropped (as in the official loop, no other
cluster is compared with it); an answer matching neither becomes a new cluster that
inherits the members of the more similar cluster. The merger budget defaults to the
official 200 tries; `Resolution.budget_exhausted` says when it stopped the loop.

Deliberate departures, documented in the README:
  * clustering compares normalised answers (case, punctuation and articles ignored,
    either containing the other); the official code tests raw substring containment;
  * the "not found" markers add close variants ("could not find", "no relevant", ...)
    to the official five;
  * an inconclusive merger (invalid JSON or "not found") drops nothing; the pair is
    marked as tried and the next untried pair is compared (the official loop always
    takes the first two clusters and would drop both for a "not found" merger).
Every decision is reported through `record` and kept in `Resolution`.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import networkx as nx
from pydantic import BaseModel, Field

NOT_FOUND_MARKERS = (
    "not contain",
    "no information",
    "not found",
    "not mentioned",
    "couldn't find",
    "could not find",
    "cannot find",
    "can't find",
    "no relevant",
    "does not mention",
    "doesn't mention",
    "does not say",
    "no mention",
)
"""Phrases that mark a response as "my chunk has nothing" (official list plus close variants)."""


def is_not_found(text: str) -> bool:
    """True when a response says its chunk holds nothing relevant (or is empty)."""
    low = " ".join(text.lower().replace("’", "'").split())
    return not low or any(marker in low for marker in NOT_FOUND_MARKERS)


def normalise(text: str) -> str:
    """Lowercase, strip punctuation and articles, collapse whitespace (for comparing answers)."""
    low = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in low.split() if w not in {"a", "an", "the"})


def same_answer(a: str, b: str) -> bool:
    """Two answers agree when one normalised answer contains the other."""
    na, nb = normalise(a), normalise(b)
    return bool(na) and bool(nb) and (na in nb or nb in na)


class Cluster(BaseModel):
    """Members that gave the same answer."""

    id: int
    answer: str
    members: list[int]
    origin: str = "members"
    """`members` (clustered from responses) or `merger:<n>` (created by a merger's answer)."""


class Resolution(BaseModel):
    """Outcome of conflict resolution for one round."""

    survivors: list[Cluster]
    dropped: list[dict[str, Any]] = Field(default_factory=list)
    """`{cluster, reason, by_merger}` for every dropped cluster (nothing is dropped silently)."""
    not_found: list[int] = Field(default_factory=list)
    """Members whose response was "not found" or invalid."""
    merges: int = 0
    unresolved: bool = False
    """True when two or more clusters survive (tries exhausted or every merger inconclusive)."""
    budget_exhausted: bool = False
    """True when `max_merges` stopped the loop while two or more clusters had pairs left to compare."""


def cluster_responses(responses: Iterable[tuple[int, str]]) -> tuple[list[Cluster], list[int]]:
    """Cluster `(member, answer)` pairs by containment; returns (clusters, not-found members)."""
    clusters: list[Cluster] = []
    empty: list[int] = []
    for member, answer in responses:
        if is_not_found(answer):
            empty.append(member)
            continue
        for c in clusters:
            if same_answer(answer, c.answer):
                c.members.append(member)
                break
        else:
            clusters.append(Cluster(id=len(clusters), answer=answer, members=[member]))
    return clusters, empty


DEFAULT_MAX_MERGES = 200
"""Merger calls per round (the official loop's `try_time < 200`): at 1,500-token chunks a
128K-token document has about 85 members, so up to 84 mergers may be needed."""

Merger = Callable[[int, int], Awaitable[str | None]]
"""`merge(member_a, member_b)` answers the instruction on both chunks; None if inconclusive."""
Recorder = Callable[..., None]


async def resolve_conflicts(
    responses: Iterable[tuple[int, str]],
    merge: Merger,
    *,
    max_merges: int = DEFAULT_MAX_MERGES,
    rng: random.Random | None = None,
    record: Recorder | None = None,
) -> Resolution:
    """Cluster member answers and run mergers until at most one cluster remains.

    Args:
        responses: `(member index, answer)` of the members with a valid response.
        merge: runs a merger agent over two members' chunks.
        max_merges: bound on merger calls (official: 200 tries).
        rng: picks the member of each cluster whose chunk the merger reads.
        record: `record(kind, **data)` is called for each cluster and merger decision.
    """
    rng = rng or random.Random(0)
    note = record or (lambda kind, **data: None)
    clusters, empty = cluster_responses(responses)
    for c in clusters:
        note("cluster", cluster=c.id, answer=c.answer, members=list(c.members), origin=c.origin)
    result = Resolution(survivors=[], not_found=empty)
    tried: set[tuple[int, int]] = set()
    next_id = len(clusters)
    while len(clusters) >= 2 and result.merges < max_merges:
        pair = next(
            ((a, b) for i, a in enumerate(clusters) for b in clusters[i + 1 :] if (a.id, b.id) not in tried),
            None,
        )
        if pair is None:
            break
        a, b = pair
        tried.add((a.id, b.id))
        ma, mb = rng.choice(a.members), rng.choice(b.members)
        merged = await merge(ma, mb)
        n = result.merges
        result.merges += 1
        pair_info = {"merger": n, "clusters": [a.id, b.id], "members": [ma, mb], "answer": merged}
        if merged is None or is_not_found(merged):
            note("merger", **pair_info, decision="inconclusive")
            continue
        losers = [c for c in (a, b) if not same_answer(c.answer, merged)]
        new: Cluster | None = None
        if len(losers) == 2:
            # A third answer: it inherits the members of the closer cluster (official code).
            ratio = [difflib.SequenceMatcher(None, merged, c.answer).ratio() for c in (a, b)]
            heir = a if ratio[0] >= ratio[1] else b
            new = Cluster(id=next_id, answer=merged, members=list(heir.members), origin=f"merger:{n}")
            next_id += 1
        for c in losers:
            clusters.remove(c)
            reason = f"merger {n} read members {ma} and {mb} together and answered {merged!r}"
            result.dropped.append({"cluster": c.model_dump(), "reason": reason, "by_merger": n})
        note(
            "merger",
            **pair_info,
            decision="new_cluster" if new else "kept",
            dropped=[c.id for c in losers],
            new_cluster=new.id if new else None,
        )
        if new is not None:
            clusters.append(new)
            note("cluster", cluster=new.id, answer=new.answer, members=list(new.members), origin=new.origin)
    result.survivors = clusters
    result.unresolved = len(clusters) >= 2
    result.budget_exhausted = (
        result.unresolved
        and result.merges >= max_merges
        and any((a.id, b.id) not in tried for i, a in enumerate(clusters) for b in clusters[i + 1 :])
    )
    if result.budget_exhausted:
        note("merge_budget", merges=result.merges, max_merges=max_merges, clusters=[c.id for c in clusters])
    return result


def conflict_graph(events: Iterable[dict[str, Any]]) -> nx.DiGraph:
    """The conflict graph of a run from its events.

    Nodes: `member:<i>` (kind member), `r<round>/cluster:<id>` (kind cluster, answer,
    dropped), `r<round>/merger:<n>` (kind merger, answer, decision). Edges:
    member -> cluster (`answered`), cluster -> merger (`compared`, via member),
    merger -> cluster (`created`, `dropped` or `agreed`).
    """
    g = nx.DiGraph()
    for ev in events:
        kind, r = ev.get("kind"), ev.get("round")
        if kind == "member_response":
            g.add_node(f"member:{ev['member']}", kind="member")
        elif kind == "cluster":
            node = f"r{r}/cluster:{ev['cluster']}"
            g.add_node(node, kind="cluster", round=r, answer=ev["answer"], origin=ev["origin"], dropped=False)
            for m in ev["members"]:
                g.add_node(f"member:{m}", kind="member")
                if ev["origin"] == "members":
                    g.add_edge(f"member:{m}", node, kind="answered")
        elif kind == "merger":
            node = f"r{r}/merger:{ev['merger']}"
            g.add_node(node, kind="merger", round=r, answer=ev.get("answer"), decision=ev["decision"])
            for cid, m in zip(ev["clusters"], ev["members"], strict=True):
                g.add_edge(f"r{r}/cluster:{cid}", node, kind="compared", member=m)
            for cid in ev.get("dropped", []):
                g.add_edge(node, f"r{r}/cluster:{cid}", kind="dropped")
                g.nodes[f"r{r}/cluster:{cid}"]["dropped"] = True
            if ev.get("new_cluster") is not None:
                g.add_edge(node, f"r{r}/cluster:{ev['new_cluster']}", kind="created")
            for cid in ev["clusters"]:
                if cid not in ev.get("dropped", []) and ev["decision"] != "inconclusive":
                    g.add_edge(node, f"r{r}/cluster:{cid}", kind="agreed")
    return g
