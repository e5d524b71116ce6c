"""Scripted leader and members for LongAgent tests (deterministic, offline)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

import pytest

from phalanx.models import Message
from phalanx.models.scripted import ScriptedModel

NEEDLE = "The secret code of the harbour vault is 4711."
DECOY = "rumours about a vault"


def document_of(messages: Sequence[Message]) -> str:
    """The chunk a member (or merger) was given in its last turn."""
    text = messages[-1].content or ""
    m = re.search(r"# Document\n(.*?)(?:\n# Member Response Last Round|\n# Instruction)", text, re.DOTALL)
    return m.group(1) if m else ""


def needle_member(messages: Sequence[Message], tools=None) -> str:
    """Right on the needle's chunk; hallucinates '1234' on decoy chunks; else 'not found'."""
    doc = document_of(messages)
    if "4711" in doc:
        answer = "4711"
    elif DECOY in doc:
        answer = "1234"
    else:
        answer = "The document does not contain the answer."
    return json.dumps({"type": "response", "content": answer})


def majority_leader(messages: Sequence[Message], tools=None) -> str:
    """Instructs with the question, then answers with the most common member response."""
    last = messages[-1].content or ""
    if "# Member Responses" not in last:
        return json.dumps({"type": "instruction", "content": "What is the secret code of the harbour vault?"})
    answers = re.findall(r"^- (.+)$", last, re.MULTILINE)
    if not answers and "last round" not in last:
        return json.dumps({"type": "instruction", "content": "Look again for the secret code."})
    best = Counter(answers).most_common(1)[0][0] if answers else "unknown"
    return json.dumps({"type": "answer", "content": best})


def filler(n_words: int, start: int = 0) -> str:
    words = [f"w{(start + i) % 97}" for i in range(n_words)]
    return " ".join(words) + "."


def needle_document(n_chunks: int = 32, chunk_words: int = 50, needle_at: int = 17, decoys=(3, 9, 26)) -> str:
    """`n_chunks` chunks of exactly `chunk_words` regex tokens; needle and decoys planted."""
    parts = []
    for i in range(n_chunks):
        if i == needle_at:
            body = NEEDLE + " " + filler(chunk_words - 11, i)  # NEEDLE is 10 tokens, '.' is 1
        elif i in decoys:
            body = f"There are {DECOY} d{i} " + filler(chunk_words - 8, i)
        else:
            body = filler(chunk_words - 1, i)
        parts.append(body)
    return " ".join(parts)


@pytest.fixture
def scripted_team_models():
    return ScriptedModel(majority_leader, name="leader"), ScriptedModel(needle_member, name="member")


class Kit:
    """Helpers shared by the LongAgent tests (test modules cannot import conftest)."""

    NEEDLE = NEEDLE
    DECOY = DECOY
    document_of = staticmethod(document_of)
    needle_member = staticmethod(needle_member)
    majority_leader = staticmethod(majority_leader)
    needle_document = staticmethod(needle_document)
    filler = staticmethod(filler)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
