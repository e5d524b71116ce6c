"""Scripted agents for the embedded datasets, so `phalanx evolve` runs offline and deterministically.

Registered names (use them as model specs):
  * `scripted:evolve-generator`: generator, option generator and pre-filter; produces a correct
    reframing for every mode on `embedded:kinship` and `embedded:arithmetic`.
  * `scripted:evolve-verifier`: a verifier that re-derives the answer with the independent solvers.
  * `scripted:evolve-solver`: a model under evaluation that answers with the solvers (strong).
  * `scripted:evolve-guesser`: a model under evaluation that reads only the first sentences (weak).
They read the prompts written from the default templates (the instance JSON block and the
`Operation:` header), and the evaluation chats: the official ones (`Context:`/`Question:`, or the
A/B choice), answered in the format their judges read (`The answer is N.`, `Conclusion: X`, a
bare letter), or phalanx's zero-shot template (`Answer: X`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from phalanx.agents.selfevolve.operations import OPERATION_NAMES, normalise
from phalanx.agents.selfevolve.reframe import reference_answer, reframe, wrong_option
from phalanx.models import Message
from phalanx.models.scripted import ScriptedModel, register_scripted_model

_HEADER = re.compile(r"Operation: (.+)")
_BLOCK = re.compile(r"```json\s*(\{.*?\})\s*```", re.S)
_MODES_BY_NAME = {name: mode for mode, name in OPERATION_NAMES.items()}


def _first_user(messages: Sequence[Message]) -> str:
    return next((m.content or "" for m in messages if m.role == "user"), "")


def read_agent_prompt(text: str) -> tuple[str, dict[str, str]] | None:
    """(operation, instance) from an agent prompt rendered from the default templates."""
    header, block = _HEADER.search(text), _BLOCK.search(text)
    if not header or not block:
        return None
    return header.group(1).strip(), json.loads(block.group(1))


def generator_reply(messages: Sequence[Message], tools: object = None) -> str:
    """The scripted generator / option generator / pre-filter reply (JSON text)."""
    parsed = read_agent_prompt(_first_user(messages))
    if parsed is None:
        return "I can only work on prompts written from phalanx's default evolve templates."
    operation, inst = parsed
    ctx, q, a = inst["context"], inst["question"], inst["answer"]
    if operation == "answering":
        ref = reference_answer(ctx, q)
        return json.dumps({"reasoning": "solved step by step", "answer": ref or "unknown"})
    if operation == "wrong option generation":
        return json.dumps({"option": wrong_option(ctx, q, a)})
    mode = _MODES_BY_NAME.get(operation)
    out = reframe(ctx, q, a, mode) if mode else None
    if out is None:
        return "I do not know how to reframe this instance."
    return json.dumps(out)


def verifier_reply(messages: Sequence[Message], tools: object = None) -> str:
    """The scripted verifier's verdict: recompute the answer and compare."""
    parsed = read_agent_prompt(_first_user(messages))
    if parsed is None:
        return json.dumps({"analysis": "unreadable prompt", "judgement": "no"})
    _, inst = parsed
    ref = reference_answer(inst["context"], inst["question"])
    ok = ref is not None and normalise(ref) == normalise(inst["answer"])
    return json.dumps({"analysis": f"recomputed answer: {ref}", "judgement": "yes" if ok else "no"})


_EVAL = re.compile(
    r"Context:\s*(?P<c>.*?)\nQuestion:\s*(?P<q>.*?)\n(?:Options:\nA\. (?P<a>.*?)\nB\. (?P<b>.*?)\n)?", re.S
)
_OFFICIAL_QA = re.compile(r"^(?:Context: (?P<c>.*?)\n)?Question: (?P<q>.*)$", re.S)
_OFFICIAL_CHOICE = re.compile(
    r"^Question: (?:(?P<c>.*)\n)?(?P<q>[^\n]*)\nA\. (?P<a>.*?)\nB\. (?P<b>.*)$", re.S
)


def read_eval_prompt(messages: Sequence[Message] | str) -> tuple[str, str, list[str], str] | None:
    """(context, question, options, style) of an evaluation chat.

    `style` names the answer format the chat asks for: `choice`, `math`, `kinship`, `yes_no`
    (the official evaluation chats) or `answer` (phalanx's zero-shot template).
    """
    if isinstance(messages, str):
        messages = [Message.user(messages)]
    system = next((m.content or "" for m in messages if m.role == "system"), "")
    last = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
    if "Just output 'B' or 'A'" in system:
        m = _OFFICIAL_CHOICE.match(last.strip())
        if m:
            return (m.group("c") or "").strip(), m.group("q").strip(), [m.group("a"), m.group("b")], "choice"
    elif system:
        m = _OFFICIAL_QA.match(last.strip())
        if m:
            style = "math" if "math" in system else "kinship" if "kinship" in system else "yes_no"
            return (m.group("c") or "").strip(), m.group("q").strip(), [], style
    m = _EVAL.search(_first_user(messages))
    if not m:
        return None
    options = [m.group("a"), m.group("b")] if m.group("a") is not None else []
    return m.group("c").strip(), m.group("q").strip(), options, "answer"


def _format(answer: str | None, style: str) -> str:
    """A reply in the format the evaluation chat asks for (the official judges read these)."""
    if style == "choice":
        return answer or "A"
    if style == "math":
        return f"Working it through step by step. The answer is {answer or 'unknown'}."
    if style == "kinship":
        return f"Following the relations in the story.\nConclusion: {answer or 'unknown'}"
    if style == "yes_no":
        return f"The answer is {answer or 'unknown'}."
    return f"Answer: {answer or 'unknown'}"


def solver_reply(messages: Sequence[Message], tools: object = None) -> str:
    """A strong model under evaluation: answers with the solvers."""
    parsed = read_eval_prompt(messages)
    if parsed is None:
        return "Answer: unknown"
    ctx, q, options, style = parsed
    ref = reference_answer(ctx, q)
    if options:
        hit = [i for i, o in enumerate(options) if ref is not None and normalise(o) == normalise(ref)]
        letter = "AB"[hit[0]] if hit else "A"
        return letter if style == "choice" else f"Answer: {letter}"
    return _format(ref, style)


def guesser_reply(messages: Sequence[Message], tools: object = None) -> str:
    """A weak model under evaluation: reads only the first three sentences; picks the shorter option."""
    parsed = read_eval_prompt(messages)
    if parsed is None:
        return "Answer: unknown"
    ctx, q, options, style = parsed
    if options:
        letter = "A" if len(options[0]) <= len(options[1]) else "B"
        return letter if style == "choice" else f"Answer: {letter}"
    short = " ".join(re.findall(r"[^.?!]+[.?!]", ctx)[:3])
    return _format(reference_answer(short, q), style)


@register_scripted_model("evolve-generator")
def _generator() -> ScriptedModel:
    return ScriptedModel(generator_reply, name="scripted:evolve-generator")


@register_scripted_model("evolve-verifier")
def _verifier() -> ScriptedModel:
    return ScriptedModel(verifier_reply, name="scripted:evolve-verifier")


@register_scripted_model("evolve-solver")
def _solver() -> ScriptedModel:
    return ScriptedModel(solver_reply, name="scripted:evolve-solver")


@register_scripted_model("evolve-guesser")
def _guesser() -> ScriptedModel:
    return ScriptedModel(guesser_reply, name="scripted:evolve-guesser")
