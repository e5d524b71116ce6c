"""phalanx.agents.longagent: LongAgent teams (leader + one member per chunk) for long documents.

`LongAgentTeam(leader=..., member=...).run(document, question)` answers a question
about a document far longer than any member's context; `run_niah` evaluates a team
on needle-in-a-haystack tests. Algorithm: methods.md Part A (LongAgent).
"""

from phalanx.agents.longagent import reader as _reader  # noqa: F401  (registers scripted:longagent-reader)
from phalanx.agents.longagent.chunking import (
    Chunk,
    HFTokenizer,
    RegexTokenizer,
    chunk_document,
    default_chunk_tokens,
    fill_chunk_tokens,
    resolve_chunk_tokens,
    tokenizer_for,
)
from phalanx.agents.longagent.communication import (
    DEFAULT_MAX_MERGES,
    Cluster,
    Resolution,
    cluster_responses,
    conflict_graph,
    is_not_found,
    resolve_conflicts,
    same_answer,
)
from phalanx.agents.longagent.corpus import generate_corpus, load_corpus
from phalanx.agents.longagent.niah import (
    NiahCase,
    NiahResult,
    NiahSummary,
    build_case,
    parse_depths,
    parse_length,
    parse_lengths,
    run_niah,
)
from phalanx.agents.longagent.protocol import LeaderReply, MemberReply, ask_json, parse_reply
from phalanx.agents.longagent.team import LongAgentTeam
from phalanx.agents.longagent.types import DEFAULT_TASK_DESCRIPTION, LongAgentRunError, TeamResult, TeamState

__all__ = [
    "DEFAULT_MAX_MERGES",
    "DEFAULT_TASK_DESCRIPTION",
    "Chunk",
    "Cluster",
    "HFTokenizer",
    "LeaderReply",
    "LongAgentRunError",
    "LongAgentTeam",
    "MemberReply",
    "NiahCase",
    "NiahResult",
    "NiahSummary",
    "RegexTokenizer",
    "Resolution",
    "TeamResult",
    "TeamState",
    "ask_json",
    "build_case",
    "chunk_document",
    "cluster_responses",
    "conflict_graph",
    "default_chunk_tokens",
    "fill_chunk_tokens",
    "generate_corpus",
    "is_not_found",
    "load_corpus",
    "parse_depths",
    "parse_length",
    "parse_lengths",
    "parse_reply",
    "resolve_chunk_tokens",
    "resolve_conflicts",
    "run_niah",
    "same_answer",
    "tokenizer_for",
]
