"""`scripted:longagent-reader`: an offline, rule-based leader/member for demos and NIAH smoke runs.

As a member it reads its chunk extractively: the sentence sharing the most
content words with the instruction (at least two) is its evidence, and the first
number in it (or, one hop further, in a sentence linked to it) is its answer.
As a leader it forwards the question, answers with the most common numeric member
answer, and when members only found evidence (a first hop) re-instructs with it. It exists so that `phalanx longagent ask` and
`phalanx longagent niah` run end to end without any model weights.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

from phalanx.models import Message
from phalanx.models.scripted import ScriptedModel, register_scripted_model

_STOP = set(
    "the a an of is in on at to and or what which who whom does do did with only answer number "
    "this that from for by be it its as are was were your you find please".split()
)
_NOT_FOUND = "The document does not contain the answer."


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 2}


def _section(text: str, name: str) -> str:
    m = re.search(rf"# {name}\n(.*?)(?=\n# [A-Z]|\Z)", text, re.DOTALL)
    return m.group(1).strip() if m else ""


def read_member(messages: Sequence[Message]) -> str:
    """A member's extractive answer to the last turn's instruction about its document."""
    turn = messages[-1].content or ""
    doc, instruction = _section(turn, "Document"), _section(turn, "Instruction")
    query = _words(instruction)
    sentences = re.split(r"(?<=[.!?])\s+", doc)
    scored = sorted(((len(query & _words(s)), i) for i, s in enumerate(sentences)), reverse=True)
    if not scored or scored[0][0] < 2:
        return _NOT_FOUND
    best = sentences[scored[0][1]]
    number = re.search(r"\d+", best)
    if number:
        return number.group(0)
    # One hop further: the numeric sentence sharing the most words with the evidence.
    link = _words(best)
    hops = sorted(
        ((len(link & _words(s)), i) for i, s in enumerate(sentences) if re.search(r"\d", s)), reverse=True
    )
    number = re.search(r"\d+", sentences[hops[0][1]]) if hops and hops[0][0] >= 1 else None
    if number:
        return number.group(0)
    return best


def lead(messages: Sequence[Message]) -> dict[str, str]:
    """The leader's next move from the conversation so far."""
    first = next((m.content or "" for m in messages if m.role == "user"), "")
    question = (_section(first, "Task Objective") or _section(first, "Question")).split("\n\n")[0]
    last = messages[-1].content or ""
    if "# Member Responses" not in last:
        return {"type": "instruction", "content": question}
    answers = re.findall(r"^- (.+)$", last, re.MULTILINE)
    numeric = [a.strip() for a in answers if re.fullmatch(r"\s*\d+\s*", a)]
    final = "last round" in last
    if numeric or (answers and final):
        return {"type": "answer", "content": Counter(numeric or answers).most_common(1)[0][0].strip()}
    if final:
        return {"type": "answer", "content": "unknown"}
    if answers:
        # Evidence without an answer (a first hop): ask the members to follow it.
        return {"type": "instruction", "content": f"{question} Known so far: {' '.join(answers)}"}
    return {"type": "instruction", "content": question}


def _reply(messages: Sequence[Message], tools: object = None) -> str:
    system = messages[0].content or "" if messages else ""
    if "leader of a team" in system:
        return json.dumps(lead(messages))
    return json.dumps({"type": "response", "content": read_member(messages)})


@register_scripted_model("longagent-reader")
def reader_model() -> ScriptedModel:
    """The rule-based LongAgent reader (both roles)."""
    return ScriptedModel(_reply, name="scripted:longagent-reader")
