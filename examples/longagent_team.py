"""A LongAgent team answers a question about a document 30x longer than one member reads.

Runs offline in about a second: the leader and members are the rule-based
`scripted:longagent-reader`; swap in `hf:./my-model` or `openai:URL#NAME` for real models.

    python examples/longagent_team.py
"""

from __future__ import annotations

from phalanx.agents.longagent import LongAgentTeam, build_case


def main() -> None:
    # A 30K-token haystack with a needle 55% of the way in (built-in offline corpus).
    case = build_case(30_000, 55, "single", seed=7)
    team = LongAgentTeam(
        leader="scripted:longagent-reader",
        member="scripted:longagent-reader",
        chunk_tokens=1_000,  # 30 members
        max_rounds=3,
        communication=True,
    )
    result = team.run(case.document, case.question)
    graph = result.conflict_graph()
    print(f"question: {case.question}")
    print(f"answer:   {result.answer} (gold {case.answer}) status={result.status} rounds={result.rounds}")
    print(f"members:  {result.num_members}, events: {len(result.events)}, conflict graph: {graph}")


if __name__ == "__main__":
    main()
